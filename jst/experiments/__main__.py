"""`python -m jst.experiments`: the reproduction grid (see jst.experiments.grid)."""
import sys

from jst.experiments.grid import main

sys.exit(main())

"""`python -m jst.book`: build the Jupyter Book (and check it in Chromium with --check)."""
import sys

from jst.book.build import main

sys.exit(main())

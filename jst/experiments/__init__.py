"""What writes ``results/``: the comparison runner (methods x seeds x FLOPs targets), the reproduction grid,
per-layer sensitivity, and CPU latency of exported networks (``python -m jst.experiments``)."""

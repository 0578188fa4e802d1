"""The structured-pruning substrate every method shares: the architectures (``models``) and their prunable
layers (``prunable``), sub-network extraction, FLOPs, channel importance, budgets, and export."""

"""JST: joint search-and-training for network pruning (Lu et al., IJCAI 2020), reproduced in PyTorch."""
__version__ = "0.1.0"

"""The paper's method, Algorithms 1-2: filter weights (one learnable gate per filter), the sampler, the learned
thresholds, the updater, and search-and-training. Everything here is what JST adds to an ordinary network."""

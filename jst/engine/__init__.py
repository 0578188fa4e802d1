"""How any method runs: data and batches, training loops, randomness, checkpoints, the run log, torchrun,
the run folder, provenance, and the pipeline that runs one method end to end."""

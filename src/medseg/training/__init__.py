"""Training: the fit loop, checkpoints, history, optimisers and schedules."""

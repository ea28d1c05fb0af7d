"""Training: batches, the fit loop, supervised and distillation tasks, checkpoints."""

"""Fitting a model: the epoch loop and one epoch's work, the training state and checkpoints, lr schedules,
starting weights, the checks made before training, stopping on signals, and torchrun's processes."""

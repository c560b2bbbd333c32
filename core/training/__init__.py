"""Fitting a model: starting and stopping runs (launch), setting a run up, the epoch loop and one epoch's work, the
training state and checkpoints, lr schedules, starting weights, the checks made before training, stopping on
signals, torchrun's processes, time budgets and duration estimates."""

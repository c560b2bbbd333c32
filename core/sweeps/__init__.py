"""Sweeps: an Optuna study whose every trial is an ordinary run (its own run folder, started like `seglab train`),
over a search space checked against the train options' field specs, with pruning fed by the epochs' val Dice,
stored in an Optuna journal file beside the runs or a shared database, and resumed after a kill. A layer above
training."""

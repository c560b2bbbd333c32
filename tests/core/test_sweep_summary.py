"""A sweep's summary (core/sweeps/summary.py): parameter importances are shown without Optuna's warnings."""

from __future__ import annotations

import warnings


def test_importances_of_trials_with_equal_values_print_no_library_warning():
    """Two trials with the same Dice: Optuna's evaluator warns that its quantiles select the same trials, and
    `seglab sweep show` printed that line of Optuna's source in its table."""
    import optuna

    from core.sweeps.summary import importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for lr in (1e-3, 3e-3):
        study.enqueue_trial({"lr": lr})
        study.optimize(lambda trial: 0.5 + 0 * trial.suggest_float("lr", 1e-4, 1e-2, log=True), n_trials=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        found = importances(study)
    assert set(found) <= {"lr"}

"""Run folders and what they hold: creating and finding them, config.json, status.json, the event log, curves and
run filters. Starting a run's training is core/training/launch.py, above this record of it."""

"""Run folders and what they hold: creating and finding them, status.json, the event log, curves, and starting
or stopping a run's training (launch)."""

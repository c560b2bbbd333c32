"""Using a trained run: scoring a checkpoint on a split (evaluation), predicting masks and overlays, the
predictions folder's files, comparing runs, and exporting a model (test-time augmentation is core/models/tta.py)."""

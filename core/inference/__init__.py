"""Using a trained run: scoring a checkpoint on a split (evaluation), predicting masks and overlays, the
predictions folder's files, and test-time augmentation."""

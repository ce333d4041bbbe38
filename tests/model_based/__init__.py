"""The model-based test of the money paths, its state machine split by area."""

"""crosskd: cross-modal knowledge distillation for wearable human-action recognition."""

__version__ = "0.1.0"

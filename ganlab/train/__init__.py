"""Training: the generic loop, checkpoints and multi-process support."""
from ganlab.train.loop import Trainer, resume_config, train

__all__ = ["Trainer", "train", "resume_config"]

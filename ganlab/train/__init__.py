"""Training: the generic loop, checkpoints and multi-process support. ``resume_config`` (the config of a run to
continue) lives with the run folder, in ``ganlab.runs.prepare``; it is named here too, beside ``train``."""
from ganlab.runs.prepare import resume_config
from ganlab.train.loop import Trainer, train

__all__ = ["Trainer", "train", "resume_config"]

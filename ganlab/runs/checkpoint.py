"""Checkpoint files: written atomically (``ganlab.files.save_atomic``), read back with one error for any
unreadable file, and the random-number state they carry."""
from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import torch

from ganlab.errors import RunError
from ganlab.files import copy_atomic, save_atomic  # noqa: F401 - checkpoints are written with them


def load(path: Path, map_location="cpu") -> dict:
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the same to the user
        raise RunError(f"cannot read checkpoint {path}: {e}") from None
    return state


def load_run_state(path: Path, map_location="cpu") -> dict:
    """A training checkpoint (what ``Trainer.state`` saved), refused with the path when it is anything else."""
    state = load(path, map_location)
    if not isinstance(state, dict) or not {"config", "modules", "data_info"} <= set(state):
        raise RunError(f"{path} is not a ganlab checkpoint (it holds {type(state).__name__})")
    return state


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the random streams a checkpoint carries. The CUDA states (one per GPU the saving process saw) are
    restored for the GPUs this machine has, in order; a checkpoint from a machine with more GPUs (or resumed on a
    CPU-only one) restores what fits and says once what it left."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    saved = list(state.get("cuda") or [])
    if not saved:
        return
    here = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for i, s in enumerate(saved[:here]):
        torch.cuda.set_rng_state(s, i)
    if len(saved) > here:
        warnings.warn(f"the checkpoint carries the random state of {len(saved)} CUDA device(s) and this machine has "
                      f"{here}: restored {min(here, len(saved))}, left {len(saved) - here}; a run on the CPU or on "
                      "the first GPUs continues as it would have, one that used the others draws anew",
                      UserWarning, stacklevel=2)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

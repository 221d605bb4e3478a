"""A training step queues its work on the device and returns: no tensor made from host numbers (a copy to the GPU)
and no value read back to the host (a wait for the GPU) in any method's step, tricks on. On a CPU this is seen in
the operators a step dispatches (``lift_fresh``: a tensor from Python data; ``_local_scalar_dense``: ``.item()``,
``float()``, ``bool()`` of a tensor); on a GPU bench/gpu.sh runs a step under torch.cuda.set_sync_debug_mode."""
import traceback

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

HOST = {"lift_fresh", "lift_fresh_copy", "_local_scalar_dense"}
# host reads that happen only on the CPU: Adam's step counter is a CPU tensor on every device (read on the host by
# design), and one_hot checks its classes on the host only for CPU tensors
CPU_ONLY = ("torch/optim/", "one_hot(")


class HostSyncs(TorchDispatchMode):
    """The host syncs dispatched inside the block, each with the ganlab line it came from."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in HOST:
            stack = traceback.extract_stack()
            where = [f"{f.filename.split('/ganlab/')[-1]}:{f.lineno} {f.line}" for f in stack
                     if "/ganlab/" in f.filename]
            if not any(c in f"{f.filename} {f.line}" for f in stack for c in CPU_ONLY):
                self.found.append(f"{func.overloadpacket.__name__} at {where[-1] if where else '?'}")
        return func(*args, **(kwargs or {}))


TRICKS = {"tricks.ema": 0.99, "tricks.ema_stats": "recompute", "tricks.diffaug": ["color", "translation", "cutout"],
          "tricks.instance_noise": 0.1}
CASES = {
    "gan": {**TRICKS, "tricks.label_noise_beta": [1, 5], "tricks.pack": 2, "objective.r1_gamma": 1.0,
            "objective.lecam_weight": 0.1, "model.d_norm": "none"},
    "gan-soft-labels": {"tricks.real_label": [0.7, 1.0], "tricks.fake_label": [0.0, 0.3]},
    "gan-wgan-gp": {"objective.loss": "wgan-gp", "model.d_norm": "none"},
    "gan-wgan-clip": {"objective.loss": "wgan", "objective.clip": 0.01},
    "cgan": {**TRICKS, "tricks.label_noise_beta": [1, 5], "cond.mismatch": True, "objective.lecam_weight": 0.1},
    "acgan": {**TRICKS},
    "infogan": {"tricks.ema": 0.99},
    "bigan": {"tricks.ema": 0.99},
    "lsgan": {**TRICKS},
    "msggan": {"tricks.ema": 0.99, "tricks.diffaug": ["color", "translation"]},
    "vae": {},
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_training_step_never_waits_for_the_device(case, build, batch):
    method = case.split("-")[0]
    m = build(method, **{"train.batch_size": 16, **CASES[case]})
    m.train(True)
    m.train_step(batch(n=16))  # the first step makes what is kept (optimizer state, cached tensors)
    with HostSyncs() as seen:
        for i in range(1, 3):
            m.train_step(batch(n=16, start=16 * i))
    assert seen.found == []


def test_the_detector_sees_what_it_looks_for():
    """The two kinds of sync it reports, as the label noise and the mismatched codes once made them every step."""
    with HostSyncs() as seen:
        torch.distributions.Beta(torch.tensor(1.0), torch.tensor(5.0))
    assert any(f.startswith("lift_fresh") for f in seen.found)
    assert any(f.startswith("_local_scalar_dense") for f in seen.found)


@pytest.mark.cuda
@pytest.mark.parametrize("case", list(CASES))
def test_a_training_step_on_the_gpu_never_synchronizes(case, tiny_config, dataset):
    """The same, as CUDA sees it: a step after two warm-up steps under torch.cuda.set_sync_debug_mode("error")."""
    from ganlab.data import to_float
    from ganlab.methods import Batch, DataInfo, build_method
    ds = dataset()
    cfg = tiny_config(method=case.split("-")[0], **{"train.batch_size": 16, "train.device": "cuda", **CASES[case]})
    info = DataInfo(ds.kind, tuple(ds.image_shape), {a.name: list(a.values) for a in ds.attributes.values()},
                    cfg.model.output)
    m = build_method(cfg, info, "cuda")
    m.train(True)
    batches = [Batch(to_float(ds.data[16 * i:16 * i + 16], cfg.model.output).cuda(),
                     {k: a.codes[16 * i:16 * i + 16].cuda() for k, a in ds.attributes.items()}) for i in range(3)]
    for b in batches[:2]:
        m.train_step(b)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        m.train_step(batches[2])
    finally:
        torch.cuda.set_sync_debug_mode("default")

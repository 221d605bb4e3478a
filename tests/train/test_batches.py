"""data.loading: the in-memory batch source and the streaming one (a memory-mapped cache read ahead on a thread)
give the same batches, the same runs and the same resumes; auto streams a set over data.max_memory, and a
streamed set is never read whole."""
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganlab.data.cache as cache_mod
from ganlab.data import load_dataset
from ganlab.runs.folder import RunDir
from ganlab.train import Trainer, resume_config, train
from ganlab.train.batches import InMemory, Streaming
from ganlab.train.loop import epoch_permutation

QUIET = {"log": lambda *a: None}
TINY = 1e-5  # GiB: 10 KiB, far below the 48 KiB of 64 RGB images at 16x16


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """64 different 16x16 RGB images (PNG: lossless, so every path decodes the same bytes)."""
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for i in range(64):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


@pytest.fixture
def config(tiny_config, folder):
    """``config(loading, **values)``: the tiny run on the generated folder, 4 batches of 16 per epoch."""
    def make(loading="auto", **values):
        return tiny_config(**{"data.source": str(folder), "data.format": "folder", "data.limit": 64,
                              "train.batch_size": 16, "data.loading": loading, "data.max_memory": TINY, **values})
    return make


def _weights(run):
    state = torch.load(RunDir(run).checkpoint("latest"), weights_only=False)
    return state, {f"{net}/{k}": v for net, m in state["modules"].items() for k, v in m.items()}


def _same_run(a, b):
    (sa, wa), (sb, wb) = _weights(a), _weights(b)
    return ((sa["epoch"], sa["global_iter"]) == (sb["epoch"], sb["global_iter"]) and wa.keys() == wb.keys()
            and all(torch.equal(wa[k], wb[k]) for k in wa))


def _losses(run):
    return [json.loads(line) for line in RunDir(run).metrics_path.read_text().splitlines()]


def _mapped_from(tensor: torch.Tensor, path: Path) -> bool:
    """Whether the tensor's memory lies in a memory map of ``path`` (read from /proc/self/maps)."""
    ptr = tensor.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5] == str(path):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= ptr < hi:
                return True
    return False


# --------------------------------------------------------------------------------------------- which path
@pytest.mark.parametrize("loading, max_memory, streams", [
    ("auto", TINY, True), ("auto", None, False), ("stream", None, True), ("memory", TINY, False)])
def test_the_path_follows_data_loading_and_max_memory(tmp_path, config, loading, max_memory, streams):
    said = []
    trainer = Trainer(config(loading, **{"data.max_memory": max_memory}), RunDir(tmp_path / "run"),
                      log=said.append)
    assert trainer.dataset.mapped == streams
    assert isinstance(trainer.source, Streaming if streams else InMemory)
    line = said[0]
    assert line.startswith("data: streaming 48 KiB from the memory-mapped cache" if streams else
                           "data: 48 KiB in memory on cpu"), line
    why = {("auto", True): "(over data.max_memory=1e-05 GiB)", ("auto", False): "(within half the available RAM, ",
           ("stream", True): "(data.loading=stream)", ("memory", False): "(data.loading=memory)"}[loading, streams]
    assert why in line, line


def test_digits_stay_in_memory_whatever_data_loading_says(tmp_path, tiny_config):
    said = []
    trainer = Trainer(tiny_config(**{"data.loading": "stream"}), RunDir(tmp_path / "run"), log=said.append)
    assert isinstance(trainer.source, InMemory) and not trainer.dataset.mapped
    assert "held in memory" in said[0]


def test_a_streamed_set_is_never_read_whole(tmp_path, folder, config, monkeypatch):
    """The first decode writes into the mapped cache file and a later load maps it: the images are never loaded
    with np.load without mmap_mode, and the data set's tensor is the memory map of the cache file."""
    calls = []
    real_load = np.load

    def recording_load(file, mmap_mode=None, **kw):
        calls.append((Path(file).name, mmap_mode))
        return real_load(file, mmap_mode=mmap_mode, **kw)

    monkeypatch.setattr(cache_mod.np, "load", recording_load)
    cache = tmp_path / "cache"
    cfg = config("stream", **{"data.cache_dir": str(cache)}).data
    first = load_dataset(cfg, progress=False)  # decodes
    again = load_dataset(cfg, progress=False)  # from the cache
    images = [mode for name, mode in calls if not name.endswith((".codes.npy",))]
    assert images and all(mode == "r" for mode in images), calls
    npy = next(p for p in cache.glob("*.npy") if not p.name.endswith(".codes.npy"))
    assert sorted(p.name for p in cache.iterdir()) == sorted([npy.name, npy.stem + ".codes.npy",
                                                              npy.stem + ".json"])  # no temporary file is left
    for ds in (first, again):
        assert ds.mapped and _mapped_from(ds.data, npy)
    memory = load_dataset(config("memory", **{"data.cache_dir": str(cache)}).data, progress=False)
    assert not memory.mapped and not _mapped_from(memory.data, npy)
    assert torch.equal(first.data, memory.data) and torch.equal(again.data, memory.data)


# --------------------------------------------------------------------------------------------- same batches
@pytest.mark.parametrize("channels_last", [True, False])
def test_streaming_gives_the_in_memory_batches_batch_for_batch(tmp_path, config, channels_last):
    trainers = {loading: Trainer(config(loading, **{"train.channels_last": channels_last}),
                                 RunDir(tmp_path / loading), **QUIET) for loading in ("memory", "stream")}
    mem, stream = trainers["memory"], trainers["stream"]
    assert isinstance(stream.source, Streaming) and isinstance(mem.source, InMemory)
    gathered_on = []
    gather = stream.source._gather
    stream.source._gather = lambda idx: (gathered_on.append(threading.current_thread().name), gather(idx))[1]
    bs = mem.batch_size
    for epoch, first in ((0, 0), (1, 2)):  # a whole epoch, and one resumed at its third step
        perm = epoch_permutation(mem.n, 0, epoch)
        stream.source.start_epoch(perm, bs, first)
        for i in range(first, mem.n // bs):
            a, b = mem.batch(perm[i * bs:(i + 1) * bs]), stream.batch(perm[i * bs:(i + 1) * bs])
            assert a.x.dtype == b.x.dtype and a.x.stride() == b.x.stride() and torch.equal(a.x, b.x), (epoch, i)
            assert b.x.is_contiguous(memory_format=torch.channels_last) == channels_last
            assert a.labels.keys() == b.labels.keys() and all(torch.equal(a.labels[k], b.labels[k]) for k in a.labels)
    assert gathered_on and all(name.startswith("ganlab-batches") for name in gathered_on)  # all read ahead
    share = epoch_permutation(mem.n, 0, 2)[1::2]  # the second of two processes' share: a strided view
    stream.source.start_epoch(share, 8)
    for i in range(len(share) // 8):
        assert torch.equal(mem.batch(share[i * 8:(i + 1) * 8]).x, stream.batch(share[i * 8:(i + 1) * 8]).x)
    assert not stream.source._ahead and all(name.startswith("ganlab-batches") for name in gathered_on)
    odd = torch.tensor([5, 63, 0, 5])  # indices that are not a step of the plan: served at once
    assert torch.equal(mem.batch(odd).x, stream.batch(odd).x)
    stream.source.close()


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory, folder, tiny_config):
    """The uninterrupted tiny run on the folder, in memory and streamed (auto over data.max_memory). (Made before
    the per-test isolation applies: hence its own cache folder.)"""
    root = tmp_path_factory.mktemp("full")
    return {loading: train(tiny_config(**{"data.source": str(folder), "data.format": "folder", "data.limit": 64,
                                          "train.batch_size": 16, "data.loading": loading,
                                          "data.max_memory": TINY, "data.cache_dir": str(root / "cache")}),
                           out=root / loading, **QUIET).path
            for loading in ("memory", "auto")}


def test_a_streamed_run_is_bit_identical_to_an_in_memory_run(full_runs):
    mem, stream = full_runs["memory"], full_runs["auto"]
    assert RunDir(stream).read_config()["data"]["loading"] == "auto"
    assert _same_run(mem, stream) and _losses(mem) == _losses(stream)


def test_resume_under_streaming_is_bit_identical_to_an_uninterrupted_run(tmp_path, config, monkeypatch, full_runs):
    """Stopped mid-epoch (a signal after step 6 of 8), resumed: the streamed run ends as the uninterrupted one;
    a run switched from memory to streaming on resume too."""
    full = full_runs["memory"]
    for name, first, then in (("stream", "stream", "stream"), ("switched", "memory", "auto")):
        trainer = Trainer(config(first), RunDir(tmp_path / name), **QUIET)
        step, calls = trainer.method.train_step, []

        def stopping(batch, trainer=trainer, step=step, calls=calls):
            calls.append(1)
            if len(calls) == 6:
                trainer._stop_signal = 15
            return step(batch)

        monkeypatch.setattr(trainer.method, "train_step", stopping)
        with pytest.raises(KeyboardInterrupt):
            trainer.fit()
        state, _ = _weights(tmp_path / name)
        assert (state["epoch"], state["iter_in_epoch"]) == (1, 2)
        train(resume_config(RunDir(tmp_path / name), {"data.loading": then}), resume=tmp_path / name, **QUIET)
        assert _same_run(full, tmp_path / name), name
        assert [r["iter"] for r in _losses(tmp_path / name)] == list(range(8))

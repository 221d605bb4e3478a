"""Where the training loop's batches come from, one interface for both ``data.loading`` paths:

- :class:`InMemory`: the whole data set on the device (channels-last once, for images); a batch is one indexing
  op. The fast path, whenever the set fits.
- :class:`Streaming`: a set too large for memory, memory-mapped from its cache file (``Dataset.mapped``). A
  background thread gathers the next batches of the epoch's order ahead of the step (rows read in file order,
  then put in the batch's order, channels-last, into pinned memory on a GPU); the step copies its batch to the
  device without blocking.

The loop calls ``start_epoch(order, batch_size, first)`` with the epoch's order, then ``rows(order[i*b:(i+1)*b])``
for each step i; any other ``rows(idx)`` is served too, just not ahead. Either source gives the same tensors (the
same values, layout and dtype) for the same indices, so a run does not depend on the path.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

import numpy as np
import torch

from ganlab.data.budget import size_text


# bytes of the data set converted to channels-last on the host at a time, on the way to a device
CHUNK_BYTES = 64 * 2 ** 20


def to_device_once(data: torch.Tensor, device: torch.device, channels_last: bool,
                   chunk_bytes: int = CHUNK_BYTES) -> torch.Tensor:
    """``data`` on ``device`` (channels-last for ``channels_last``), held there once: a device copy is allocated in
    its final layout and filled a chunk of rows at a time, each chunk made channels-last on the host first (a copy
    from a host tensor into a differently laid out device tensor would go through a whole temporary device copy).
    So a set near ``data/budget.py``'s limit (half the free device memory) fits at start. Without a device change
    the tensor is kept as it is, or made channels-last once."""
    device = torch.device(device)
    fmt = torch.channels_last if channels_last and data.dim() == 4 else torch.contiguous_format
    if data.device == device:
        return data.contiguous(memory_format=fmt)  # no copy where it is already so
    if fmt is torch.contiguous_format:
        return data.contiguous().to(device)
    return fill_by_chunks(torch.empty(data.shape, dtype=data.dtype, device=device, memory_format=fmt), data,
                          chunk_bytes)


def fill_by_chunks(out: torch.Tensor, data: torch.Tensor, chunk_bytes: int = CHUNK_BYTES) -> torch.Tensor:
    """Copy ``data`` into ``out`` (of its shape, in the layout ``out`` has) about ``chunk_bytes`` at a time, each chunk
    put in ``out``'s layout where ``data`` is, so that every copy to ``out``'s device is a plain transfer."""
    fmt = torch.channels_last if out.dim() == 4 and out.is_contiguous(memory_format=torch.channels_last) \
        else torch.contiguous_format
    rows = max(1, chunk_bytes // max(1, data[:1].numel() * data.element_size()))
    for i in range(0, len(data), rows):
        out[i:i + rows].copy_(data[i:i + rows].contiguous(memory_format=fmt))
    return out


class InMemory:
    streaming = False

    def __init__(self, data: torch.Tensor, device: torch.device, channels_last: bool):
        # channels-last once here: rows indexed out of an NHWC tensor stay NHWC, so batches need no copy
        self.data = to_device_once(data, device, channels_last)

    def start_epoch(self, order: torch.Tensor, batch_size: int, first: int = 0) -> None:
        pass

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        return self.data[idx.to(self.data.device)]

    def close(self) -> None:
        pass


class Streaming:
    """Batches gathered from a CPU tensor (a memory map of the cache file), ``READ_AHEAD`` steps ahead."""

    streaming = True
    READ_AHEAD = 2

    def __init__(self, data: torch.Tensor, device: torch.device, channels_last: bool):
        self.data, self.device = data, device
        self.array = data.numpy()  # numpy copies rows on one thread, without the GIL: the step runs on beside it
        self.pin = device.type == "cuda"
        # the strides an InMemory batch of these rows has (NHWC or not), so both paths give identical tensors
        probe = torch.zeros((2, *data.shape[1:]), dtype=data.dtype)
        if channels_last:
            probe = probe.contiguous(memory_format=torch.channels_last)
        self._row_strides = probe[torch.tensor([0, 1])].stride()[1:]
        self._pool: Optional[ThreadPoolExecutor] = None
        self._order: Optional[torch.Tensor] = None
        self._ahead: dict[int, Future] = {}

    # ------------------------------------------------------------------------------------ the epoch's plan
    def start_epoch(self, order: torch.Tensor, batch_size: int, first: int = 0) -> None:
        self._drop_ahead()
        self._order, self._batch_size = order, batch_size
        self._order_cpu = order.cpu()  # one host sync per epoch
        self._steps = len(order) // batch_size
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganlab-batches")
        for k in range(first, min(first + self.READ_AHEAD, self._steps)):
            self._schedule(k)

    def _schedule(self, k: int) -> None:
        if k < self._steps and k not in self._ahead:
            idx = self._order_cpu[k * self._batch_size:(k + 1) * self._batch_size]
            self._ahead[k] = self._pool.submit(self._gather, idx)

    def _step_of(self, idx: torch.Tensor) -> Optional[int]:
        """k when ``idx`` is the view order[k*b:(k+1)*b] of the planned order (no look at its values: no sync)."""
        o = self._order
        if (o is None or idx.dim() != 1 or len(idx) != self._batch_size or idx.device != o.device
                or idx.stride() != o.stride() or idx.untyped_storage().data_ptr() != o.untyped_storage().data_ptr()):
            return None
        k, rest = divmod(idx.storage_offset() - o.storage_offset(), self._batch_size * o.stride(0))
        return k if rest == 0 and 0 <= k < self._steps else None

    # ------------------------------------------------------------------------------------ batches
    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        k = self._step_of(idx)
        if k is None:
            x = self._gather(idx.cpu())
        else:
            future = self._ahead.pop(k, None)
            for j in range(k + 1, k + 1 + self.READ_AHEAD):
                self._schedule(j)
            x = future.result() if future is not None else self._gather(self._order_cpu[
                k * self._batch_size:(k + 1) * self._batch_size])
        return x.to(self.device, non_blocking=True) if self.pin else x

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` of the data, read in ascending order (the file's order: the disk reads ahead) and written
        to their places in the batch, with the in-memory path's layout; pinned when bound for a GPU."""
        idx_np = idx.numpy()
        shape = (len(idx_np), *self.array.shape[1:])
        strides = (int(np.prod(self.array.shape[1:])), *self._row_strides)
        out = torch.empty_strided(shape, strides, dtype=self.data.dtype, pin_memory=self.pin)
        dest = out.numpy()
        for pos in np.argsort(idx_np, kind="stable"):
            dest[pos] = self.array[idx_np[pos]]
        return out

    def _drop_ahead(self) -> None:
        for f in self._ahead.values():
            f.cancel()
        self._ahead.clear()

    def close(self) -> None:
        self._drop_ahead()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def batch_source(dataset, device: torch.device, channels_last: bool):
    """Streaming for a memory-mapped data set (``Dataset.mapped``), else InMemory."""
    return (Streaming if dataset.mapped else InMemory)(dataset.data, device, channels_last)


def describe(dataset, source, loading: str, device: torch.device) -> str:
    """One line for the run's log: which path was taken and why."""
    size = size_text(dataset.data.numel() * dataset.data.element_size())
    why = dataset.loading_reason
    if not source.streaming and loading == "stream" and not dataset.mapped:
        why = "data.loading=stream applies to image sets read through the cache; this one is held in memory"
    if source.streaming:
        where = "from the memory-mapped cache" + (f" to {device}" if device.type != "cpu" else "")
        return f"data: streaming {size} {where} ({why})"
    return f"data: {size} in memory on {device}" + (f" ({why})" if why else "")

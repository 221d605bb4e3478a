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


class InMemory:
    streaming = False

    def __init__(self, data: torch.Tensor, device: torch.device, channels_last: bool):
        data = data.to(device)
        if channels_last:  # once here: rows indexed out of an NHWC tensor stay NHWC, so batches need no copy
            data = data.contiguous(memory_format=torch.channels_last)
        self.data = data

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

"""The one training loop. It knows nothing about any method: it takes batches from the data set in memory
or streamed from its memory-mapped cache (ganlab.train.batches), hands them to ``method.train_step``, and
keeps the run folder (samples, metrics, plots, checkpoints) up to date. Losses stay on the device until they
are flushed every ``log_every`` iterations with one host transfer.

What is written between steps is scheduled so that a small run spends its time training: latest.pt on a
clock (``train.checkpoint_minutes``) and always at the end, on a stop, with each numbered checkpoint and before
an evaluation; the sample grid every ``train.sample_every`` epochs (and the last); the loss plot on a clock
(``train.plot_minutes``) and at the end. None of them touches the training's random streams, so the schedule
never changes the weights. The run's last line says where its time went.
"""
from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm import tqdm

from ganlab import devices, plots, precision
from ganlab.config import Config, flatten
from ganlab.devices import resolve as resolve_device
from ganlab.errors import ConfigError, Interrupted, RunError, printable
from ganlab.methods import METHODS, AdversarialMethod, Batch, DataInfo, build_method, tricks
from ganlab.models import count_parameters, unwrap
from ganlab.runs import checkpoint as ckpt
from ganlab.runs import prepare
from ganlab.runs.folder import RunDir
from ganlab.train import distributed as dist
from ganlab.train import budget, health
from ganlab.train.budget import Budget
from ganlab.train.batches import batch_source
from ganlab.train.batches import describe as describe_loading


def _recorded_precision(run: RunDir) -> str | None:
    try:
        value = (run.read_config().get("train") or {}).get("precision")
    except (RunError, OSError, AttributeError):
        return None
    return value if value in ("fp32", "bf16") else None


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of an epoch depends only on (seed, epoch), so a resumed epoch sees the same batches."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


class Trainer:
    def __init__(self, cfg: Config, run: RunDir, resume: bool = False, dataset=None, log=print):
        self.cfg, self.run, self.resume = cfg, run, resume
        self.log = lambda *a: log(*(printable(x) if isinstance(x, str) else x for x in a))  # byte names
        tc = cfg.train
        # the time budget's clock starts here: loading the data and building the networks are the run's time
        self.budget = Budget(tc.minutes) if tc.minutes else None
        device = resolve_device(tc.device)  # first: the run's device picks the process group's backend
        self.rank, self.world = dist.setup(tc.dist_timeout, device)
        self.device = dist.device_for_rank(device, self.rank)
        devices.use_cudnn_autotuner(self.device)  # the training's batches keep one shape
        # config.yaml records the precision chosen, so a resumed run keeps it on any machine
        if resume and tc.precision == "auto":  # auto asks for what auto chose when the run began
            tc.precision = _recorded_precision(run) or "auto"
        tc.precision, self.precision_reason = precision.choose(tc.precision, self.device)
        if dataset is None:
            from ganlab.data import load_dataset
            dataset = load_dataset(cfg.data, progress=tc.progress and self.rank == 0, device=self.device)
        self.dataset = dataset
        if METHODS[cfg.method].capabilities.needs_labels and not dataset.attributes:
            raise ConfigError(f"method {cfg.method} needs labels, but {dataset.name} has none "
                              "(use class folders, --labels CSV, CelebA, MNIST or digits)")
        self.data_info = DataInfo(dataset.kind, tuple(dataset.image_shape),
                             {a.name: list(a.values) for a in dataset.attributes.values()}, cfg.model.output)
        ckpt.seed_everything(tc.seed)
        self.method = build_method(cfg, self.data_info, self.device)
        self.channels_last = tc.channels_last and dataset.kind == "images"
        if self.channels_last:  # before any DDP wrapping, which must see the final parameter layout
            self.method.to_channels_last()
        if tc.compile:  # in place, so parameter names (and checkpoints) are those of the plain modules
            for m in self.method.networks().values():
                m.compile()
        self.source = batch_source(dataset, self.device, self.channels_last)  # in memory, or streamed
        if self.rank == 0:
            self.log(describe_loading(dataset, self.source, cfg.data.loading, self.device))
        self.codes = {name: a.codes.to(self.device) for name, a in dataset.attributes.items()}
        self.train_index = self.method.training_indices(len(dataset))
        if self.train_index is not None:
            self.train_index = self.train_index.to(self.device)
        self.n = len(dataset) if self.train_index is None else len(self.train_index)
        self.batch_size = min(tc.batch_size, self.n // self.world)
        if self.batch_size < 1:
            held = ("" if self.train_index is None else
                    f" once {len(dataset) - self.n} of its {len(dataset)} are held out of training")
            raise ConfigError(f"the data set has {self.n} items to train on{held}: too few for {self.world} "
                              "process(es); use more images")
        if self.batch_size < 2 and any(isinstance(layer, torch.nn.modules.batchnorm._BatchNorm)
                                       for m in self.method.modules().values() for layer in m.modules()):
            raise ConfigError(f"batches of {self.batch_size} item cannot be used with batch norm ({self.n} items to "
                              "train on); use more images or set model.g_norm/model.d_norm to none")
        d_held = self.method.d_held_out_indices(len(dataset))
        if d_held is not None:  # images D is checked on for memorising, never trained on (ADA's rv heuristic)
            self.method.hold_out_for_d(self.batch(d_held.to(self.device)))
            if self.rank == 0:
                self.log(f"held out of training: {len(d_held)} of the {len(dataset)} images, to tell whether D "
                         "has memorised the others (tricks.ada_heuristic=rv)")
        self.iters_per_epoch = (self.n // self.world) // self.batch_size
        self.epoch, self.iter_in_epoch, self.global_iter = 0, 0, 0
        self.history: list[dict] = []
        self._buffer: list[tuple[int, int, int, dict]] = []
        self.fixed = self.method.fixed_inputs(tc.n_samples, tc.seed + 1)
        self.writer = None
        self.trackers: list = []  # MLflow, W&B (train.trackers), rank 0 only
        self.evaluator = None
        self._stop_signal = None   # the signal that asked the loop to stop after its current step
        self._in_eval = False      # a signal during evaluation stops at once (the epoch's checkpoint is written)
        self._forced = False       # a second signal: stop at once, without saving
        self._eval_cut = False     # the stop came during an evaluation
        self._saved_at = self._plotted_at = _now()
        self._scatter = None       # the points' figure, kept from one grid to the next
        self.timing = dict.fromkeys(TIMED, 0.0)  # seconds spent in each part of the run, for its last line
        self.counts = dict.fromkeys(TIMED, 0)
        self.lock = None
        self.health = self._health_monitor()  # None when train.health is off (and on ranks other than 0)
        self._findings: list = []     # found since the loop last acted on findings
        self._found: list = []        # every finding of this process, for the run's last line
        self._rollbacks = 0
        self._health_ref = None       # (spread, mean-image error) of a fixed real sample, computed once

    # ------------------------------------------------------------------------------------ batches
    def batch(self, idx: torch.Tensor) -> Batch:
        x = self.source.rows(idx)
        if self.dataset.kind == "images":
            from ganlab.data import to_float
            x = to_float(x, self.cfg.model.output)
        return Batch(x, {k: v[idx] for k, v in self.codes.items()})

    # ------------------------------------------------------------------------------------ state
    def state(self) -> dict:
        self.method.prepare_output()  # a checkpoint's EMA generator is saved as it samples
        return {
            "config": self.cfg.to_dict(),
            "data_info": self.data_info.to_dict(),
            "modules": {k: unwrap(m).state_dict() for k, m in self.method.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.method.optimizers().items()},
            "method_state": self.method.extra_state(),
            "epoch": self.epoch, "iter_in_epoch": self.iter_in_epoch, "global_iter": self.global_iter,
            "rng": ckpt.rng_state(),
            "fixed": {k: (v.cpu() if torch.is_tensor(v) else v) for k, v in flatten(self.fixed, sep="/").items()},
            **({"budget": self.budget.state()} if self.budget is not None else {}),
        }

    def load_state(self, state: dict) -> None:
        for k, m in self.method.modules().items():
            unwrap(m).load_state_dict(state["modules"][k])
        for k, o in self.method.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        self.method.load_extra_state(state["method_state"])
        self.epoch, self.iter_in_epoch = state["epoch"], state["iter_in_epoch"]
        self.global_iter = state["global_iter"]
        self.fixed = _unflat_tensors(state["fixed"], self.device)
        ckpt.set_rng_state(state["rng"])

    def save_checkpoint(self, numbered: bool = False) -> None:
        if self.rank != 0:
            self._saved_at = _now()
            return
        with self.timed("checkpoints"):
            self.flush()
            self.check_weights()
            state = self.state()
            ckpt.save_atomic(state, self.run.latest)
            if numbered:  # bytes copied, not re-serialised
                ckpt.copy_atomic(self.run.latest, self.run.epoch_checkpoint(self.epoch))
        self._saved_at = _now()  # the clock runs from the end of a write, so slow disks cannot fill it

    def keep_rng(self):
        """A block after which the training's random streams (CPU, and the run's GPU) are as they were before."""
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])

    def checkpoint_due(self) -> bool:
        """Whether latest.pt is due on the clock: ``train.checkpoint_minutes`` since it was last written (with
        null or 0, at every epoch end; this is only asked mid-epoch when the clock is set)."""
        every = (self.cfg.train.checkpoint_minutes or 0) * 60
        return not every or _now() - self._saved_at >= every

    @contextmanager
    def timed(self, part: str):
        self._settle()  # what the steps queued on the GPU is their time, not this part's
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timing[part] += time.perf_counter() - start
            self.counts[part] += 1

    def _settle(self) -> None:
        """At a measuring point of the run's time (a flush, the start of a timed part): wait for the work the steps
        queued on a CUDA device and count the wait as step time. A CUDA step returns once its kernels are queued,
        so the per-step clock alone measures launches; one synchronize here, not one per step, puts the rest where
        it belongs. Nothing to wait for on a CPU."""
        start = time.perf_counter()
        devices.synchronize(self.device)
        self.timing["steps"] += time.perf_counter() - start

    def time_report(self, total: float) -> str:
        """Where the run's time went: the steps against everything written between them."""
        t, c = self.timing, self.counts
        other = max(0.0, total - sum(t.values()))
        share = 100 * t["steps"] / total if total > 0 else 100.0
        parts = [f"{TIMED[k]} {t[k]:.1f} s" + (f" ({c[k]})" if k != "steps" and c[k] else "")
                 for k in TIMED if k != "steps"]
        return (f"time: {total:.1f} s training, {share:.1f}% in the steps ({t['steps']:.1f} s); "
                + ", ".join(parts) + f", other {other:.1f} s")

    # ------------------------------------------------------------------------------------ logging
    def flush(self) -> None:
        """Move buffered per-step statistics to the host in one transfer and append them to metrics.jsonl."""
        if not self._buffer:
            return
        self._settle()
        self._check_stat_devices()
        keys = [list(s) for *_, s in self._buffer]
        flat = torch.stack([v.float().reshape(()) for *_, s in self._buffer for v in s.values()]).tolist()
        records, i = [], 0
        for (it, ep, gs, _), ks in zip(self._buffer, keys):
            rec = {"iter": it, "epoch": ep, "g_step": gs}
            for k in ks:
                rec[k] = flat[i]
                i += 1
            records.append(rec)
        for rec in records:  # divergence: stop before anything non-finite reaches the logs or a checkpoint
            bad = next((k for k, v in rec.items() if isinstance(v, float) and not math.isfinite(v)), None)
            if bad is not None:
                self._buffer.clear()
                self.diverged(f"{bad} is {rec[bad]} at iteration {rec['iter']} (generator step {rec['g_step']})")
        self._buffer.clear()
        self._log(records)
        if self.health is not None:
            if "mse" in records[-1] and "mean_image_mse" not in self.health.settings:
                self._health_reference()
            self.health.settings["lr_now"] = self.method.learning_rates()
            self._findings += self.health.observe(records, self._d_fingerprint())
        last = records[-1]
        self._postfix = {k: f"{last[k]:.3g}" for k in ("d_loss", "g_loss", "wasserstein") if k in last}

    def _log(self, records: list[dict]) -> None:
        """Where every logged value goes (the per-step losses of ``flush``, the held-out score): the history (for
        the loss plot), and on rank 0 metrics.jsonl, the TensorBoard event files and the trackers. A failed write
        of metrics.jsonl is a RunError."""
        self.history.extend(records)
        if self.rank != 0:
            return
        try:
            with open(self.run.metrics_path, "a") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)
        except OSError as e:
            raise RunError(f"cannot write {self.run.metrics_path}: {e.strerror or e}") from None
        if self.writer is not None:
            for r in records:
                for k, v in r.items():
                    if k not in ("iter", "epoch", "g_step"):
                        self.writer.add_scalar(f"train/{k}", v, r["iter"])
        for t in self.trackers:
            t.metrics(records)

    def _check_stat_devices(self) -> None:
        """Every value a training step returned must be a tensor on the method's device (a GPU run would otherwise
        fail inside ``torch.stack`` with a message that names no statistic): one loud error naming the first."""
        want = self.method.device
        for it, _, _, stats in self._buffer:
            for k, v in stats.items():
                if not torch.is_tensor(v):
                    raise RuntimeError(f"{type(self.method).__name__}.train_step returned {k}={v!r} at iteration {it}, "
                                       f"not a tensor on the method's device {want}")
                if not _same_device(v.device, want):
                    raise RuntimeError(f"{type(self.method).__name__}.train_step returned {k} on {v.device} at "
                                       f"iteration {it}, not on the method's device {want}: every statistic of a "
                                       "step must stay on its device")

    def check_weights(self) -> None:
        """Refuse to save networks with non-finite weights (one host sync per network, at checkpoints only)."""
        bad = self._nonfinite_networks()
        if bad:
            self.diverged(f"the weights of {', '.join(bad)} are not finite at iteration {self.global_iter}")

    def _nonfinite_networks(self) -> list[str]:
        """The names of the networks with a weight that is NaN or infinite."""
        return [k for k, m in self.method.modules().items()
                if not bool(torch.stack([torch.isfinite(p).all() for p in m.parameters()]).all())]

    def diverged(self, what: str) -> None:
        nets = self._nonfinite_networks()
        kept = (f"{self.run.latest} keeps the last good state" if self.run.latest.exists()
                else "no checkpoint was written")
        raise RunError(f"training diverged: {what}" + (f"; non-finite weights in {', '.join(nets)}" if nets else "")
                       + f"; {kept}; lower optim.g_lr / optim.d_lr (or add tricks) and train again")

    def end_of_epoch_outputs(self) -> None:
        """The held-out score (every epoch: it is a metric), and the sample grid and loss plot when they are due."""
        if self.rank != 0:
            return
        tc = self.cfg.train
        with self.timed("samples"):
            if self.done() or self.epoch % self.grid_every() == 0:
                self.write_samples()
            if self.method.capabilities.held_out:
                self.log_held_out_score()
        if self.done() or not tc.plot_minutes or _now() - self._plotted_at >= tc.plot_minutes * 60:
            self.draw_losses()

    def write_samples(self) -> None:
        """The grid of the fixed inputs, in the epoch's file (a run stopped by train.steps within an epoch writes
        the last completed epoch's name with its final state)."""
        self.method.train(False)
        try:
            with self.keep_rng():  # generating must not move the training's random streams
                out = self.method.generate(self.fixed)
        finally:
            self.method.train(True)
        if self.data_info.kind == "points":
            pick = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.epoch))[: out.shape[0] * 4]
            real = self.source.rows(pick.to(self.device))
            if self._scatter is None:
                self._scatter = plots.ScatterSeries()
            self._scatter.save(real, out, self.run.sample_grid(self.epoch), title=f"epoch {self.epoch}")
        else:
            plots.save_grid(out, self.run.sample_grid(self.epoch), self.data_info.output)
        if self.health is not None:  # mode collapse: the grid's spread against the real data's
            real_spread, _ = self._health_reference()
            self._findings += self.health.grid(health.spread(out), real_spread, self.global_iter - 1,
                                               self.method.g_steps)
        if self.data_info.kind != "points":
            if self.writer is not None:
                self.writer.add_image("samples", plots.grid_tensor(out, self.data_info.output), self.global_iter)
        for t in self.trackers:
            t.image(self.run.sample_grid(self.epoch), self.global_iter)

    def draw_losses(self) -> None:
        """Redraw losses.png from the whole history (and flush the event files)."""
        if self.rank != 0:
            return
        with self.timed("plot"):
            plots.plot_losses(self.history, self.run.losses_png, title=self.run.path.name)
            if self.writer is not None:
                self.writer.flush()
        self._plotted_at = _now()

    def log_held_out_score(self) -> None:
        """The method's score on its held-out items (the VAE's test MSE), one record per epoch, logged like the
        losses (metrics.jsonl, TensorBoard, the trackers)."""
        from ganlab.data import to_float
        idx = self.method.held_out_indices(len(self.dataset))[:2048].to(self.device)
        scores = []
        for i in range(0, len(idx), 256):  # a chunk at a time: a streamed data set is read only as far as needed
            x = self.source.rows(idx[i:i + 256])
            x = to_float(x, self.cfg.model.output) if self.dataset.kind == "images" else x
            scores.append(self.method.held_out_score(x) * len(x))
        rec = {"iter": self.global_iter - 1, "epoch": self.epoch, "g_step": self.method.g_steps,
               self.method.capabilities.held_out: float(torch.stack(scores).sum()) / len(idx)}
        self._log([rec])

    # ------------------------------------------------------------------------------------ main
    def prepare_run_folder(self) -> None:
        """The run folder, on rank 0 (``ganlab.runs.prepare``): a new run's created with config.yaml and data.json;
        a resumed run's reopened, its checkpoint's state loaded and its logs cut back to it. Both under the run
        lock, held until the run ends. Then the TensorBoard writer."""
        if self.rank != 0:
            return
        if not self.resume:
            self.lock = prepare.create(self.run, self.cfg, self.data_info.to_dict(), self.log)
        else:
            self.lock = prepare.reopen(self.run, self.cfg, self.log)
            state = prepare.resume_state(self.run, self.log)
            if state is not None:
                self.load_state(state)
                if self.budget is not None:  # the time the run's earlier sessions used counts against the budget
                    self.budget.used_before = float((state.get("budget") or {}).get("used_s", 0.0))
                self.history = prepare.cut_back(self.run, state)
            prepare.write_run_files(self.run, self.cfg, self.data_info.to_dict())
        if self.cfg.train.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(self.run.tb))
            except ImportError:
                self.log("tensorboard is not installed: no event files will be written")

    def done(self) -> bool:
        return self.cfg.train.reached(self.epoch, self.method.g_steps) or (
            self.budget is not None and self.budget.stopped_at is not None)

    def out_of_time(self) -> bool:
        """Whether the budget ends the run at this step. With several processes, rank 0's clock decides, at the
        flushes (every train.log_every iterations), so that every rank stops at the same step."""
        if self.world == 1:
            return self.budget.out_of_time()
        if self.global_iter % self.cfg.train.log_every:
            return False
        return dist.rank0_value(float(self.budget.out_of_time()), self.device) > 0

    def planned_epochs(self) -> float | None:
        """Under a time budget, the epochs the run is expected to reach (from its plan); None otherwise."""
        total = self.method.schedule.total_steps
        if self.budget is None or total is None:
            return None
        iters = (total - self.method.g_steps) / self.method.schedule.g_per_iteration
        return self.epoch + (self.iter_in_epoch + iters) / self.iters_per_epoch

    def grid_every(self) -> int:
        """Epochs between sample grids: ``train.grid_every()``, or under a time budget about 25 grids over the
        epochs the budget is expected to hold."""
        tc = self.cfg.train
        epochs = self.planned_epochs()
        if tc.sample_every or epochs is None:
            return tc.grid_every()
        return max(1, math.ceil(epochs / 25))

    def checkpoint_every(self) -> int:
        """Epochs between numbered checkpoints: ``train.checkpoint_every``, and under a time budget at most about
        10 of them over the epochs it is expected to hold (a small set's epochs take seconds)."""
        epochs = self.planned_epochs()
        every = self.cfg.train.checkpoint_every
        return every if epochs is None else max(every, math.ceil(epochs / 10))

    def plan_budget(self, bar=None, announce: bool = False) -> None:
        """Under a time budget: plan the run's generator steps (learning-rate decay, annealing, grids) over the
        iterations the time left holds at the measured rate; ``announce`` says so once."""
        left = self.budget.iterations_left()
        if left is None:
            return
        if self.world > 1:  # every process plans rank 0's steps: the same learning rates on every rank
            left = int(dist.rank0_value(left, self.device))
        tc = self.cfg.train
        by_epochs = (tc.epochs - self.epoch) * self.iters_per_epoch - self.iter_in_epoch
        iters = self.method.schedule.plan(self.method.g_steps, min(by_epochs, left))
        if bar is not None:
            bar.total = bar.n + iters * self.batch_size * self.world
        if announce and self.rank == 0:
            total = self.method.schedule.total_steps
            self.log(f"budget: {tc.minutes:g} minutes, {self.budget.left() / 60:.1f} left; "
                     f"{self.budget.per_iteration():.3g} s per iteration so far (with what is written between "
                     f"steps): about {total:,} generator steps in all, ending near epoch "
                     f"{self.epoch + (self.iter_in_epoch + iters) / self.iters_per_epoch:.1f}")

    def describe(self) -> None:
        if self.rank != 0:
            return
        parts = ", ".join(f"{k} {count_parameters(unwrap(m)):,}" for k, m in self.method.modules().items())
        self.log(f"ganlab: {self.cfg.method} on {self.dataset.name}: {self.n} items of shape "
                 f"{tuple(self.data_info.shape)}, device {self.device}" + (f" x{self.world}" if self.world > 1 else ""))
        self.log(f"parameters: {parts}")
        self.log(f"precision: {self.cfg.train.precision} ({self.precision_reason})"
                 + (", networks compiled (the first steps wait for the compiler)" if self.cfg.train.compile else ""))
        self.log(f"run folder: {self.run.path}")

    def fit(self) -> RunDir:
        try:
            return self._fit()
        finally:
            if self.lock is not None:
                self.lock.release()

    def _fit(self) -> RunDir:
        self.prepare_run_folder()
        if self.rank == 0 and self.cfg.train.trackers:
            from ganlab.train.trackers import open_trackers
            self.trackers = open_trackers(self.cfg.train.trackers, self.run, self.cfg)
        dist.broadcast_state(self)
        self.method = dist.wrap_method(self.method, self.device) if self.world > 1 else self.method
        self.describe()
        tc = self.cfg.train
        # the method's schedule plans the run's generator steps (for its learning-rate decay and annealing)
        total_iters = self.method.schedule.plan(
            self.method.g_steps, (tc.epochs - self.epoch) * self.iters_per_epoch - self.iter_in_epoch)
        bar = tqdm(total=total_iters * self.batch_size * self.world, unit="img", unit_scale=True,
                   disable=not tc.progress or self.rank != 0, dynamic_ncols=True, file=sys.stderr)
        self._postfix = {}
        handlers = self._catch_signals()
        self.method.train(True)
        started = time.perf_counter()
        watchdog = dist.Watchdog(tc.dist_timeout, self._peer_lost).start() if self.world > 1 else None
        if self.budget is not None:
            self.budget.start_loop()
            # resumed with no time left: the run ends with its outputs as they are; a new run whose start-up took
            # the whole budget says so and leaves a checkpoint at step 0, which --resume continues
            if self.budget.out_of_time():
                self.budget.stopped_at = self.method.g_steps
                fresh, used = not self.run.latest.exists(), self.budget.used()
                self.log(f"budget: {tc.minutes:g} minutes used up ({used / 60:.1f})"
                         + (f" by the start-up ({used:.1f} s), before the first step" if fresh else "")
                         + "; give a larger --minutes to continue")
                if fresh:
                    self.save_checkpoint()
        try:
            if self.resume:
                self.maybe_evaluate(missing_only=True)  # an evaluation cut short by a signal runs again
            while not self.done():
                perm = epoch_permutation(self.n, tc.seed, self.epoch).to(self.device)
                if self.train_index is not None:
                    perm = self.train_index[perm]
                perm = perm[self.rank::self.world]
                self.source.start_epoch(perm, self.batch_size, self.iter_in_epoch)  # a stream reads ahead along it
                rolled_back = False
                bar.set_description(f"epoch {self.epoch + 1}/{tc.epochs}")
                while self.iter_in_epoch < self.iters_per_epoch:
                    if self._stop_signal is not None:
                        raise Interrupted(self._stop_signal)
                    i = self.iter_in_epoch
                    t0 = time.perf_counter()
                    if self.rank:  # each rank its own noise (rank 0's streams are a single process's)
                        dist.seed_rank_streams(tc.seed, self.rank, self.global_iter, self.device)
                    stats = self.method.train_step(self.batch(perm[i * self.batch_size:(i + 1) * self.batch_size]))
                    if watchdog is not None:
                        watchdog.beat()
                    self.timing["steps"] += time.perf_counter() - t0
                    self._buffer.append((self.global_iter, self.epoch, self.method.g_steps, stats))
                    self.iter_in_epoch += 1
                    self.global_iter += 1
                    bar.update(self.batch_size * self.world)
                    if self.global_iter % tc.log_every == 0:
                        self.flush()
                        bar.set_postfix(self._postfix, refresh=False)
                        if self._findings and self.act_on_findings():
                            rolled_back = True
                            break  # the epoch loop starts again from the checkpoint's place
                    if tc.checkpoint_minutes and self.checkpoint_due():
                        self.save_checkpoint()  # mid-epoch: a kill now loses at most checkpoint_minutes
                    if tc.steps is not None and self.method.g_steps >= tc.steps:
                        break
                    if self.budget is not None:
                        self.budget.step()
                        first = self.budget.loop_iters == budget.WARMUP_ITERATIONS
                        if first or (self.budget.loop_iters > budget.WARMUP_ITERATIONS
                                     and self.global_iter % tc.log_every == 0):
                            self.plan_budget(bar, announce=first)  # re-estimated at each flush
                        if self.out_of_time():  # at a step boundary, with room left for the final outputs
                            self.budget.stopped_at = self.method.g_steps
                            break
                if rolled_back:
                    continue
                if self.iter_in_epoch >= self.iters_per_epoch:
                    self.epoch += 1
                    self.iter_in_epoch = 0
                self.flush()
                if self._findings and self.act_on_findings():
                    continue
                outputs_from = time.perf_counter()
                self.end_of_epoch_outputs()
                if self._findings and self.act_on_findings():
                    continue
                ended = self.iter_in_epoch == 0  # (not ended: train.steps stopped the run within the epoch)
                numbered = ended and (self.epoch % self.checkpoint_every() == 0 or self.done())
                if numbered or self.done() or self.checkpoint_due() or (ended and self.eval_due()):
                    self.save_checkpoint(numbered=numbered)  # an evaluation cut short resumes from this epoch's end
                self.maybe_evaluate()
                if self.budget is not None:  # the final outputs cost about this much: keep room for them
                    self.budget.measured_final(time.perf_counter() - outputs_from)
                if self._findings:
                    self.act_on_findings()
        except KeyboardInterrupt:
            bar.close()
            self._stopped()
            raise
        except OSError as e:  # a full or read-only disk, while writing a grid, the plot, the event files...
            bar.close()
            raise RunError(self._write_failed(e)) from None
        except RuntimeError as e:
            if self.world > 1 and dist.peer_failure(e):  # a node died or hangs: stop instead of waiting forever
                bar.close()
                raise RunError(self._peer_lost(reason=dist.first_line(e))) from None
            raise
        finally:
            if watchdog is not None:
                watchdog.stop()
            for t in self.trackers:
                t.close(finished=self.done())
            bar.close()
            self.source.close()
            if self._scatter is not None:
                self._scatter.close()
            self._restore_signals(handlers)
            if self.writer is not None:
                try:
                    self.writer.close()
                except OSError:
                    pass
        if self.rank == 0:
            last = self.run.sample_grids()
            self.log(f"done: {self.global_iter} iterations, {self.method.g_steps} generator steps; "
                     f"samples {last[-1] if last else '-'}" + self._health_summary() + self._budget_summary())
            self.log(self.time_report(time.perf_counter() - started))
        dist.cleanup()
        return self.run

    # ------------------------------------------------------------------------------------ health
    def _health_monitor(self):
        """The run's health monitor (``ganlab.train.health``), on rank 0 when ``train.health`` is on. It reads the
        loss table's entry of an adversarial method (what its logged D scores mean)."""
        cfg = self.cfg
        if not cfg.train.health or self.rank != 0:
            return None
        loss = self.method.loss if isinstance(self.method, AdversarialMethod) else None
        settings = {"d_lr": cfg.optim.d_lr, "g_lr": cfg.optim.g_lr, "n_critic": cfg.train.n_critic,
                    "clip": cfg.objective.clip, "kl_weight": cfg.vae.kl_weight,
                    "augmented": tricks.augments_d_inputs(cfg.tricks)}
        return health.HealthMonitor(None if loss is None else health.LossTraits.of(loss), settings,
                                    cfg.eval.patience)

    def _d_fingerprint(self):
        """The sums of D's weight tensors (one host transfer per flush), for the monitor to see whether D learns;
        None where the method trains no network called D."""
        D = self.method.networks().get("D")
        if D is None:
            return None
        with torch.no_grad():
            return torch.stack([p.detach().double().sum() for p in D.parameters()]).tolist()

    def _health_reference(self) -> tuple[float, float]:
        """The mean pairwise distance and the mean image's error of a fixed sample of the training data (at most
        256 items, drawn with a generator of its own: the training's random streams are not touched)."""
        if self._health_ref is None:
            pick = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.cfg.train.seed + 7))[:256]
            if self.train_index is not None:
                pick = self.train_index[pick.to(self.train_index.device)]
            x = self.source.rows(pick.to(self.device))
            if self.dataset.kind == "images":
                from ganlab.data import to_float
                x = to_float(x, self.cfg.model.output)
            mse = health.mean_image_mse(x)
            if self.cfg.vae.reduction == "sum":  # a summed error is over the batch's pixels
                mse *= self.batch_size * x[0].numel()
            self._health_ref = (health.spread(x), mse)
            self.health.settings["mean_image_mse"] = mse
        return self._health_ref

    def act_on_findings(self) -> bool:
        """Say each new finding (a line, and RUN/health.jsonl), then follow train.on_failure for the first hard
        one: warn, stop (a checkpoint, then a RunError), or rollback. Returns True after a rollback."""
        found, self._findings = self._findings, []
        for f in found:
            self.log(f.line())
            self._found.append(f)
            try:
                with open(self.run.health_path, "a") as fh:
                    fh.write(json.dumps(f.to_dict()) + "\n")
            except OSError as e:
                raise RunError(f"cannot write {self.run.health_path}: {e.strerror or e}") from None
        hard = next((f for f in found if f.severity == health.HARD), None)
        how = self.cfg.train.on_failure
        if hard is None or how == "warn" or self.world > 1:  # (several processes: only rank 0 watches; it warns)
            return False
        if how == "rollback" and hard.kind != "no_progress" and self.rollback(hard):
            return True
        self.save_checkpoint()
        raise RunError(f"training failed ({hard.kind}, from iteration {hard.began}): saved {self.run.latest}; "
                       f"after changing what the health line suggests, or to go on anyway with "
                       f"--set train.on_failure=warn, continue with: ganlab train --resume {self.run.path}")

    MAX_ROLLBACKS = 3

    def rollback(self, finding) -> bool:
        """Reload the latest numbered checkpoint saved before ``finding`` began and halve every learning rate (at
        most MAX_ROLLBACKS times). False when there is none to go back to (the loop then stops)."""
        if self._rollbacks >= self.MAX_ROLLBACKS:
            self.log(f"health: rolled back {self._rollbacks} times already; stopping")
            return False
        for path in sorted(self.run.checkpoints.glob("epoch-*.pt"), reverse=True):
            try:
                state = ckpt.load_run_state(path, map_location="cpu")
            except (RunError, OSError):
                continue
            if state["global_iter"] <= finding.began:
                break
        else:
            self.log("health: no checkpoint from before the failure began to roll back to; stopping")
            return False
        self._buffer.clear()
        self.load_state(state)
        self._rollbacks += 1
        scale = 0.5 ** self._rollbacks  # the checkpoint holds the rates from before any rollback: halve them anew
        rates = []
        for name, o in self.method.optimizers().items():
            for g in o.param_groups:
                g["lr"] *= scale
                if "initial_lr" in g:  # a decay's base rate
                    g["initial_lr"] *= scale
            rates.append(f"{name} {o.param_groups[0].get('initial_lr', o.param_groups[0]['lr']):.3g}")
        for k in ("d_lr", "g_lr"):
            if self.health.settings.get(k) is not None:
                self.health.settings[k] = getattr(self.cfg.optim, k) * scale
        self.history = prepare.cut_back(self.run, state)
        self.health.reset()
        self.log(f"health: rolled back to {path.name} (iteration {state['global_iter']}) and halved the learning "
                 f"rates ({', '.join(rates)}); rollback {self._rollbacks} of {self.MAX_ROLLBACKS}")
        self.save_checkpoint()  # latest.pt holds the state the run goes on from, not the failed one
        return True

    def _budget_summary(self) -> str:
        if self.budget is None:
            return ""
        end = "stopped by the budget" if self.budget.stopped_at is not None else "the epochs or steps ended it first"
        return f"; budget: {self.budget.used() / 60:.2f} of {self.cfg.train.minutes:g} minutes used ({end})"

    def _health_summary(self) -> str:
        if self.health is None:
            return ""
        if not self._found:
            earlier = self.run.health_path
            return "; health: no new findings" + (f" (earlier ones in {earlier})" if earlier.exists() else "") \
                if self.resume else "; health: no findings"
        return "; health: " + ", ".join(f"{f.kind} from iteration {f.began}" for f in self._found) + \
            f" (see {self.run.health_path})"

    # ------------------------------------------------------------------------------------ faults
    def _catch_signals(self) -> dict:
        """SIGINT and SIGTERM ask the loop to stop after the step it is in (so a checkpoint is never cut short
        and the saved state is a step boundary); a second one stops at once."""
        if self.rank != 0 or threading.current_thread() is not threading.main_thread():
            return {}
        return {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(s) is not signal.SIG_IGN}  # ignored (nohup, a background job): kept so

    @staticmethod
    def _restore_signals(handlers: dict) -> None:
        for s, h in handlers.items():
            signal.signal(s, h)

    def _on_signal(self, signum, frame):
        # nothing is printed here: a handler that writes to a stream the loop is writing to can fail
        if self._in_eval:
            self._stop_signal, self._eval_cut = signum, True
            raise Interrupted(signum)  # the epoch's checkpoint is on disk; the evaluation runs again on resume
        if self._stop_signal is not None:
            self._forced = True
            raise Interrupted(signum)
        self._stop_signal = signum

    def _stopped(self) -> None:
        """After an interruption: save the state unless that cannot give a clean state, and say how to go on."""
        how = f"continue with: ganlab train --resume {self.run.path}"
        if self._forced:
            kept = f"{self.run.latest} is the last complete checkpoint" if self.run.latest.exists() \
                else "no checkpoint was written"
            self.log(f"\nstopped at once: {kept}; {how}")
        elif self._eval_cut:
            self.log(f"\ninterrupted during the evaluation of epoch {self.epoch}: {self.run.latest} holds the end "
                     f"of that epoch and the evaluation runs again on resume; {how}")
        else:
            self.save_checkpoint()
            try:  # the curves up to the stop; a second signal or a full disk only leaves the previous plot
                self.draw_losses()
            except (OSError, KeyboardInterrupt):
                pass
            self.log(f"\ninterrupted{self._signal_name()}: saved {self.run.latest} at epoch {self.epoch}, iteration {self.iter_in_epoch}; "
                     f"{how}")

    def _peer_lost(self, waited: float | None = None, reason: str | None = None) -> str:
        why = reason or f"no training step finished for {waited:.0f} s, train.dist_timeout"
        kept = (f"{self.run.latest} (epoch {self._saved_epoch()}) is the last checkpoint" if self.run.latest.exists()
                else "no checkpoint was written")
        return (f"process {self.rank} of {self.world}: another process of this run stopped answering "
                f"({why}); {kept}; continue with the same torchrun command and ganlab train --resume {self.run.path}")

    def _saved_epoch(self):
        try:
            return ckpt.load_run_state(self.run.latest, map_location="cpu").get("epoch")
        except Exception:  # noqa: BLE001 - only for the message
            return "?"

    def _signal_name(self) -> str:
        return f" by {signal.Signals(self._stop_signal).name}" if self._stop_signal else ""

    def _write_failed(self, e: OSError) -> str:
        where = e.filename or self.run.path
        try:  # the outputs may have failed where a checkpoint still fits (a read-only samples folder)
            self.save_checkpoint()
            saved = f"; saved {self.run.latest}"
        except (RunError, OSError):
            saved = (f"; {self.run.latest} keeps the last complete checkpoint" if self.run.latest.exists()
                     else "; no checkpoint was written")
        return (f"cannot write {where}: {e.strerror or e}{saved}; free space (or fix the folder's permissions) and "
                f"continue with: ganlab train --resume {self.run.path}")

    def eval_due(self) -> bool:
        """Whether this point is the end of an eval.every-th epoch (or of the last)."""
        every = self.cfg.eval.every
        return not (every is None or self.epoch == 0 or self.iter_in_epoch != 0
                    or (self.epoch % every and not self.done()))

    def maybe_evaluate(self, missing_only: bool = False) -> None:
        """Evaluate at the end of every eval.every-th epoch (and the last). ``missing_only``: only when the rows of
        this epoch are not in eval.jsonl (an evaluation interrupted before it wrote them)."""
        if self.rank != 0 or not self.eval_due():
            return
        if self.evaluator is None:
            from ganlab.eval.during_training import TrainingEvaluator
            self.evaluator = TrainingEvaluator(self.cfg, self.run, self.dataset, self.device, self.log)
        if missing_only and self.evaluator.has_rows(self.epoch):
            return
        if self._stop_signal is not None:
            raise Interrupted(self._stop_signal)
        state = self.state()  # what best.pt holds: the state before evaluation touched any random stream
        self._in_eval = True
        try:
            with self.timed("eval"), self.keep_rng():  # evaluation must not change the training's random streams
                rows = self.evaluator(self.method, self.epoch,
                                      lambda: ckpt.save_atomic(state, self.run.checkpoints / "best.pt"))
        finally:
            self._in_eval = False
        value = next((r["value"] for r in rows if r.get("metric") == self.evaluator.metric), None)
        if self.health is not None and isinstance(value, (int, float)) and math.isfinite(value):
            self._findings += self.health.evaluation(value, self.evaluator.lower, self.evaluator.metric,
                                                     self.global_iter - 1, self.method.g_steps)
        for t in self.trackers:  # this evaluation's rows (eval.jsonl also holds those of ganlab eval)
            t.eval_rows(rows, self.global_iter)


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether ``a`` and ``b`` are one device (``cuda`` without an index is the current one: it matches any index)."""
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def _now() -> float:
    """The clock of the checkpoint and plot schedules (a function, so tests can move it)."""
    return time.monotonic()


# the parts of a run's time that its last line names (the rest is "other": the metrics log, the bar, ...)
TIMED = {"steps": "steps", "samples": "sample grids", "plot": "loss plot", "checkpoints": "checkpoints",
         "eval": "evaluation"}


def _unflat_tensors(flat: dict, device) -> dict:
    out: dict = {}
    for key, v in flat.items():
        parts = key.split("/")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = v.to(device) if torch.is_tensor(v) else v
    return out


def train(cfg: Config, out: str | Path | None = None, resume: str | Path | None = None, dataset=None,
          log=print) -> RunDir:
    """Train ``cfg`` into the run folder ``out`` (or continue the run ``resume``). Returns the RunDir."""
    if resume is not None:
        run = RunDir(resume)
        run.require()
        return Trainer(cfg, run, resume=True, dataset=dataset, log=log).fit()
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{cfg.recipe or cfg.method}-{stamp}"
    return Trainer(cfg, RunDir(out), dataset=dataset, log=log).fit()


"""Training health: says when a run has failed while its numbers stay finite, why, and what to try.

``HealthMonitor`` is pure logic on what the loop already has on the host: the per-step records of
``Trainer.flush`` (one list every ``train.log_every`` iterations), the spread of the fixed-noise grid when it is
drawn, and the evaluation rows. It never touches a network, an optimizer or a random stream, so a run with the
monitor trains exactly as one without it. Each call returns the new ``Finding``s (each kind is reported once
per run):

- ``d_won`` (hard): D separates real from fake (D(real) ~ its separated value, D(fake) ~ its own) with G's loss
  above its chance value, on every record of a window: G gets no gradient it can use;
- ``d_stuck`` (hard): D's weights do not move for a window (no D learning, e.g. ``optim.d_lr=0``);
- ``diverged`` (hard): a logged loss (or the critic's Wasserstein estimate) grows by orders of magnitude from its
  early value, or beyond any loss a sound run logs, over a window, while staying finite (NaN/inf stop in the
  loop already);
- ``mode_collapse`` (soft): the fixed grid's mean pairwise distance is a small share of the same statistic on
  real data;
- ``posterior_collapse`` (soft): a VAE's KL term is near 0 while its reconstruction error is that of the mean
  image (read from the logged ``kl`` / ``mse``, so any method logging them is judged alike);
- ``no_progress`` (soft): ``eval.best`` has not improved for ``eval.patience`` evaluations (or, with no
  patience set, for ``Thresholds.patience_warn``); the loop stops on it only when ``eval.patience`` is set.

The limits are in ``Thresholds``, with the measurements they come from.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Thresholds:
    """Every window and limit of the monitor, from measured runs: ``ganlab train --data digits --image-size 16
    --batch-size 64 --epochs 3`` (84 iterations, log_every 20) healthy and with each broken setting of issue 25,
    and the recipes bench/health.py ran (see the README's reliability part for the table).

    window: iterations a hard condition must hold on every record before it is reported. lr=1000 is separated
      (D(real) 1.00, D(fake) 0.00) from iteration 3 on and must be caught within its 84 iterations (found at the
      flush of iteration 56); d_lr 10x g_lr with n_critic 5 is separated from iteration ~3 on (found at 40).
    separation: (d_real - d_fake) as a share of the loss's separated gap (``Loss.separated``). lr=1000: 1.00;
      d_lr 10x with n_critic 5: 0.99-1.00; the healthy default run: 0.27-0.69 (never above 0.7).
    still_change: D does not learn when every one of its weight tensors' sums changes by less than this share from
      one flush to the next, for a window. d_lr=0: exactly 0. D's outputs cannot tell this case: D(real) ~ D(fake)
      with a flat D(real) is also a healthy D at equilibrium (the toy-ring8 and toy-grid25 recipes: D(real) 0.50,
      range 0.007 over 100 iterations, samples spreading to every mode), and, in the first 40 iterations, the
      healthy cgan-anime-tags-bce recipe.
    explode_ratio / explode_floor / explode_absolute: divergence when a loss's |value| stays over explode_ratio x
      its median over the first window (and over explode_floor), or over explode_absolute, for a window. lr=1000:
      |G loss| 1e7-5e9 (reported as D won first: that explains it); healthy runs: |losses| < 10.
    growth_*: an unbounded critic: the median |wasserstein| grows by ``growth`` from each window of growth_window
      iterations to the next, growth_windows times, to over growth_floor. wgan with objective.clip=1e9 (clipping
      off; clip=null means 0.01 and 0 zeroes the weights): 4 -> 33 over 80 iterations (~2x per 20) and on; a clipped
      critic also grows at first (the dcgan-anime-selu recipe, clip 0.02: 1 -> 13 in its first 80 iterations) but
      levels off, hence the floor of 100.
    grid_ratio: the fixed grid's mean pairwise distance / a real sample's, under which mode collapse is suspected.
      lr=1000, d_lr=0, wgan unclipped and the VAE with kl_weight 1000 after their first epoch: 0.13-0.17; but the
      healthy, slow dcgan-anime-selu recipe (a clipped WGAN) is at 0.19 after 255 iterations, so only a grid of
      nearly identical samples (under 0.1) is reported: the statistic does not separate milder cases.
    grid_warmup: iterations before grids are judged: a freshly initialised G draws nearly alike samples (the
      healthy acgan-celeba-smiling recipe's first grid, iteration 15: ratio 0.08), so early grids say nothing.
    kl_floor / mse_share: posterior collapse when the logged KL is under kl_floor while the reconstruction error is
      at least mse_share of the mean image's (digits 16x16 in [-1, 1]: 0.23). vae with kl_weight 1000: KL 0.31 ->
      0.017 in 20 iterations, MSE 0.31.
    patience_warn: evaluations without improvement after which no_progress warns when eval.patience is unset.
    memorised_epochs: a D that wins from this epoch on, with no augmentation of its inputs, has most likely memorised
      the training set, and the advice says to augment. fast64 at 64x64 on the anime faces and CelebA 10k (one core,
      docs/benchmarks.md, the recipe ladder): healthy for 60 to 90 epochs, then d_won at epochs 62, 74 and 92; with
      DiffAugment the same runs stayed healthy. The broken settings above win within their first 2 epochs.
    """
    window: int = 40
    separation: float = 0.95
    still_change: float = 1e-9
    explode_ratio: float = 1e3
    explode_floor: float = 1.0
    explode_absolute: float = 1e5
    growth_window: int = 20
    growth_windows: int = 3
    growth: float = 1.4
    growth_floor: float = 100.0
    grid_ratio: float = 0.1
    grid_warmup: int = 200
    kl_floor: float = 0.05
    mse_share: float = 0.9
    patience_warn: int = 5
    memorised_epochs: int = 10


THRESHOLDS = Thresholds()
HARD = "hard"
SOFT = "soft"
LOSS_KEYS = ("d_loss", "g_loss", "wasserstein", "loss")  # what divergence watches, where logged


@dataclass(frozen=True)
class LossTraits:
    """What the monitor needs of an adversarial loss: the fields of its loss-table entry (``ganlab.methods.losses``),
    copied so this module depends on nothing above it."""
    name: str
    probabilities: bool = False
    critic: bool = False
    d_loss_chance: Optional[float] = None
    g_loss_chance: Optional[float] = None
    separated: Optional[tuple] = None

    @classmethod
    def of(cls, loss) -> "LossTraits":
        return cls(loss.name, loss.probabilities, loss.critic, loss.d_loss_chance, loss.g_loss_chance,
                   None if loss.separated is None else tuple(loss.separated))


@dataclass
class Finding:
    kind: str
    severity: str          # hard | soft
    step: int              # the generator step when found
    iteration: int         # the iteration when found
    began: int             # the iteration where the condition began
    message: str
    values: dict = field(default_factory=dict)

    def line(self) -> str:
        return f"health: step {self.step}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


def _fmt(v: float) -> str:
    return f"{v:.2f}" if abs(v) < 1e3 else f"{v:.1e}"


class HealthMonitor:
    """Reads the loop's records, grids and evaluations; returns findings. ``settings`` are the learning rates and
    such that the advice names (``d_lr``, ``g_lr``, ``n_critic``, ``clip``...), and ``augmented``: whether D's inputs
    are augmented."""

    def __init__(self, loss: Optional[LossTraits] = None, settings: Optional[dict] = None,
                 patience: Optional[int] = None, thresholds: Thresholds = THRESHOLDS):
        self.loss, self.settings, self.patience, self.t = loss, dict(settings or {}), patience, thresholds
        self.reset()

    def reset(self) -> None:
        """Forget the records (after a rollback: the run continues from an earlier state)."""
        self.records: list[dict] = []
        self.early: dict[str, float] = {}   # the median |value| of each loss over its first window
        self.reported: set[str] = set()
        self.evals: list[float] = []
        self.d_still_since: Optional[int] = None   # the iteration since which D's weights have not moved
        self.d_fingerprint = None                   # D's per-tensor weight sums at the last flush



    # ------------------------------------------------------------------------------ records
    def observe(self, records: list[dict], d_fingerprint=None) -> list[Finding]:
        """The records of one flush (``iter``, ``g_step`` and the logged values), and ``d_fingerprint``: the sums
        of D's weight tensors now (a list of floats; None where there is no D), from which d_stuck is judged."""
        self._note_d_weights(d_fingerprint, records)
        self.records.extend(records)
        keep = 4 * self.t.window  # enough for the window and the early medians
        if len(self.records) > keep:
            del self.records[: len(self.records) - keep]
        self._note_early()
        out = []
        for check in (self._d_won, self._diverged, self._d_stuck, self._posterior):
            f = check()
            if f is not None and f.kind not in self.reported:
                self.reported.add(f.kind)
                out.append(f)
                if f.severity == HARD:
                    break  # one failure at a time: the first explains the rest (lr=1000 is D won, not divergence)
        return out

    def _span(self, ok) -> Optional[tuple[int, list[dict]]]:
        """(first iteration, records) of the latest unbroken run of records for which ``ok(record)``, if it
        covers at least the window."""
        run = []
        for r in reversed(self.records):
            if not ok(r):
                break
            run.append(r)
        if not run:
            return None
        run.reverse()
        if run[-1]["iter"] - run[0]["iter"] + 1 < self.t.window:
            return None
        return run[0]["iter"], run

    def _finding(self, kind, severity, began, message, values) -> Finding:
        last = self.records[-1] if self.records else {"iter": 0, "g_step": 0}
        return Finding(kind, severity, int(last.get("g_step", 0)), int(last["iter"]), int(began), message, values)

    def _lrs(self) -> str:
        """The learning rates as set, and where a schedule (``optim.lr_decay``) has moved them, as they are now
        (``settings["lr_now"]``: {"d_lr": ..., "g_lr": ...}, kept up to date by the loop)."""
        s, now = self.settings, self.settings.get("lr_now") or {}
        said = ", ".join(f"{k}={s[k]:g}" for k in ("d_lr", "g_lr") if s.get(k) is not None)
        moved = [f"{k}={now[k]:.2g}" for k in ("d_lr", "g_lr")
                 if s.get(k) and now.get(k) is not None and abs(now[k] - s[k]) > 0.01 * abs(s[k])]
        return said + (f", decayed to {', '.join(moved)} by now" if said and moved else "")

    def _d_won(self) -> Optional[Finding]:
        L = self.loss
        if L is None or L.separated is None:
            return None
        gap = L.separated[0] - L.separated[1]
        g_chance = L.g_loss_chance if L.g_loss_chance is not None else -math.inf

        def won(r):  # (with train.n_critic > 1, the iterations without a G step log no g_loss)
            return ("d_real" in r and "d_fake" in r and (r["d_real"] - r["d_fake"]) / gap >= self.t.separation
                    and r.get("g_loss", math.inf) > g_chance)
        span = self._span(won)
        g_losses = [r["g_loss"] for r in span[1] if "g_loss" in r] if span else []
        if not g_losses:
            return None
        began, run = span
        last = dict(run[-1], g_loss=g_losses[-1])
        n = last["iter"] - began + 1
        what = "D(real) {}, D(fake) {}".format(_fmt(last["d_real"]), _fmt(last["d_fake"]))
        lrs = self._lrs()
        crit = self.settings.get("n_critic", 1)
        advice = "try lower learning rates" + (f" (you have {lrs})" if lrs else "")
        if crit and crit > 1:
            advice += f", fewer D steps (train.n_critic={crit})"
        advice += ", spectral norm, or R1"
        epoch = run[0].get("epoch")
        if epoch is not None and epoch >= self.t.memorised_epochs and not self.settings.get("augmented"):
            advice = (f"after {epoch} epochs D has most likely memorised the training set: augment its inputs "
                      f"(tricks.diffaug=[translation,cutout], or tricks.ada=true), or {advice}")
        return self._finding(
            "d_won", HARD, began,
            f"the discriminator has won for {n} iterations ({what}, G loss {_fmt(last['g_loss'])}); the generator gets "
            f"no gradient — {advice}",
            {"d_real": last["d_real"], "d_fake": last["d_fake"], "g_loss": last["g_loss"], "d_loss": last.get("d_loss")})

    def _note_d_weights(self, fingerprint, records) -> None:
        """Track since when D's weights have not moved: each tensor's sum the same (to a relative 1e-9) as at the
        previous flush."""
        if fingerprint is None or not records:
            return
        prev, self.d_fingerprint = self.d_fingerprint, list(fingerprint)
        if prev is None or len(prev) != len(fingerprint):
            return
        still = all(abs(a - b) <= self.t.still_change * max(abs(b), 1e-12) for a, b in zip(fingerprint, prev))
        if not still:
            self.d_still_since = None
        elif self.d_still_since is None:
            self.d_still_since = records[0]["iter"]

    def _d_stuck(self) -> Optional[Finding]:
        """D's weights have not moved for a window: D is not learning (``optim.d_lr=0``, a frozen D). D's outputs
        alone cannot tell: a healthy D at equilibrium also scores real and fake alike (the toy recipes)."""
        if self.d_still_since is None or not self.records:
            return None
        last = self.records[-1]["iter"]
        if last - self.d_still_since + 1 < self.t.window:
            return None
        recent = [r for r in self.records if r["iter"] >= self.d_still_since]
        d_real = recent[-1].get("d_real")
        d_loss = sorted(r["d_loss"] for r in recent if "d_loss" in r)
        lr = self.settings.get("d_lr")
        seen = (f" (D(real) {_fmt(d_real)}" + (f", D loss {_fmt(d_loss[len(d_loss) // 2])}" if d_loss else "") + ")"
                if d_real is not None else "")
        return self._finding(
            "d_stuck", HARD, self.d_still_since,
            f"the discriminator is not learning: its weights have not changed for {last - self.d_still_since + 1} "
            f"iterations{seen}; the generator is fooling a D that tells it nothing — check optim.d_lr"
            + (f" (you have d_lr={lr:g})" if lr is not None else "") + " and that D is being updated",
            {"d_real": d_real, "since": self.d_still_since})

    def _note_early(self) -> None:
        w = self.t.window
        first = self.records[0]["iter"] if self.records else 0
        for k in LOSS_KEYS:
            if k in self.early:
                continue
            vals = [abs(r[k]) for r in self.records if k in r and r["iter"] < first + w]
            if vals and self.records[-1]["iter"] >= first + w - 1:
                self.early[k] = sorted(vals)[len(vals) // 2]

    def _diverged(self) -> Optional[Finding]:
        if not self.records:
            return None
        last_iter = self.records[-1]["iter"]
        for k in LOSS_KEYS:
            if k not in self.early or (k == "g_loss" and "d_won" in self.reported):
                continue  # (a D that has won explains G's huge loss)

            def big(r, k=k):
                v = abs(r.get(k, 0.0))
                return v >= self.t.explode_absolute or (
                    v >= self.t.explode_floor and v >= self.t.explode_ratio * max(self.early[k], 1e-12))
            span, growing = self._span(big), False
            if k == "wasserstein" and span is None:
                span, growing = self._growing(k), True
            if span is None or span[1][-1]["iter"] != last_iter:
                continue
            began, run = span
            now = sorted(abs(r[k]) for r in run if k in r)[len(run) // 2]
            how = []
            if self.loss is not None and self.loss.critic and self.settings.get("clip") is not None \
                    and not self.loss.separated and self.settings.get("clip", 0) > 1:
                how.append(f"objective.clip={self.settings['clip']:g} does not bound the critic: use 0.01 or "
                           "objective.loss=wgan-gp")
            lrs = self._lrs()
            how.append("lower the learning rates" + (f" (you have {lrs})" if lrs else ""))
            grew = (f"has kept growing ({self.t.growth:g}x or more every {self.t.growth_window} iterations) to "
                    f"{_fmt(abs(run[-1][k]))}" if growing else
                    f"has grown from about {_fmt(self.early[k])} to {_fmt(now)}" if now >= self.t.explode_ratio
                    * self.early[k] else f"has been about {_fmt(now)} (a sound run stays under "
                    f"{self.t.explode_absolute:.0e})")
            return self._finding(
                "diverged", HARD, began,
                f"training is diverging: |{k}| {grew} for {last_iter - began + 1} iterations — " + "; ".join(how),
                {"key": k, "early": self.early[k], "now": now})
        return None

    def _growing(self, k: str) -> Optional[tuple[int, list[dict]]]:
        """An unbounded critic: the median |k| of each of the last ``growth_windows`` windows of ``growth_window``
        iterations is ``growth`` times the one before, and the last over ``growth_floor``."""
        w, n = self.t.growth_window, self.t.growth_windows
        end = self.records[-1]["iter"]
        meds, first = [], None
        for j in range(n, -1, -1):
            lo, hi = end - (j + 1) * w, end - j * w
            vals = sorted(abs(r[k]) for r in self.records if k in r and lo < r["iter"] <= hi)
            if not vals:
                return None
            meds.append(vals[len(vals) // 2])
            first = lo + 1 if first is None else first
        if meds[-1] < self.t.growth_floor or any(b < self.t.growth * a for a, b in zip(meds, meds[1:])):
            return None
        return first, [r for r in self.records if r["iter"] >= first]

    def _posterior(self) -> Optional[Finding]:
        ref = self.settings.get("mean_image_mse")
        if not self.records or "kl" not in self.records[-1] or "mse" not in self.records[-1] or not ref:
            return None

        def collapsed(r):
            return "kl" in r and r["kl"] < self.t.kl_floor and r.get("mse", 0.0) >= self.t.mse_share * ref
        span = self._span(collapsed)
        if span is None:
            return None
        began, run = span
        last = run[-1]
        kw = self.settings.get("kl_weight")
        return self._finding(
            "posterior_collapse", SOFT, began,
            f"posterior collapse: the KL term is {last['kl']:.1e} and the reconstruction error {_fmt(last['mse'])} is "
            f"{last['mse'] / ref:.2f}x the mean image's; the decoder ignores z and draws the mean image — lower "
            f"vae.kl_weight" + (f" (you have {kw:g})" if kw is not None else ""),
            {"kl": last["kl"], "mse": last["mse"], "mean_image_mse": ref})

    # ------------------------------------------------------------------------------ grids
    def grid(self, fake_spread: float, real_spread: float, iteration: int, step: int) -> list[Finding]:
        """The fixed grid's mean pairwise distance against the real sample's (``spread``), when a grid is drawn."""
        if real_spread <= 0 or "mode_collapse" in self.reported or iteration < self.t.grid_warmup:
            return []
        ratio = fake_spread / real_spread
        if ratio >= self.t.grid_ratio:
            return []
        self.reported.add("mode_collapse")
        return [Finding("mode_collapse", SOFT, step, iteration, iteration,
                        f"mode collapse suspected: the sample grid's spread is {ratio:.2f} of the real data's (mean "
                        f"pairwise distance {fake_spread:.3g} vs {real_spread:.3g}); its samples are nearly alike — "
                        "look at the grid; try minibatch packing (tricks.pack), lower learning rates or R1",
                        {"ratio": ratio, "fake_spread": fake_spread, "real_spread": real_spread})]

    # ------------------------------------------------------------------------------ evaluations
    def evaluation(self, value: float, lower_is_better: bool, metric: str, iteration: int, step: int) -> list[Finding]:
        """One evaluation's ``eval.best`` value. no_progress is hard (the loop stops) only with ``eval.patience``."""
        self.evals.append(value)
        window = self.patience or self.t.patience_warn
        if len(self.evals) <= window or "no_progress" in self.reported:
            return []
        best = min if lower_is_better else max
        before, recent = self.evals[:-window], self.evals[-window:]
        if (best(recent) < best(before)) if lower_is_better else (best(recent) > best(before)):
            return []
        self.reported.add("no_progress")
        sev = HARD if self.patience else SOFT
        return [Finding("no_progress", sev, step, iteration, iteration,
                        f"no progress: {metric} has not improved on {_fmt(best(before))} for {window} evaluations"
                        + (" (eval.patience)" if self.patience else "; set eval.patience to stop such runs"),
                        {"metric": metric, "best": best(before), "last": value})]


def spread(x) -> float:
    """The mean pairwise Euclidean distance of the rows of ``x`` (a batch of images or points), as a float."""
    import torch
    x = x.detach().float().reshape(len(x), -1)
    n = len(x)
    if n < 2:
        return 0.0
    d = torch.cdist(x, x)
    return float(d.sum() / (n * (n - 1)))


def mean_image_mse(x) -> float:
    """The per-pixel mean squared error of the data's mean image on ``x`` (the variance a reconstruction that
    ignores its input cannot go below)."""
    x = x.detach().float()
    return float(((x - x.mean(0, keepdim=True)) ** 2).mean())

"""Pictures: sample grids, point scatters and loss curves (matplotlib with the Agg backend)."""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid, save_image  # noqa: E402

from ganlab.errors import printable  # noqa: E402

# quantities plotted together in one panel
PANELS = {
    "loss": ("d_loss", "g_loss"),
    "D output": ("d_real", "d_fake"),
    "Wasserstein estimate": ("wasserstein",),
    "augmentation p and the overfitting heuristic r (ADA)": ("ada_p", "ada_r"),
}


@contextmanager
def replacing(path):
    """Yield a temporary name beside ``path`` (same suffix, so the image format is kept) and move it over
    ``path`` once written: a kill or a full disk never leaves a half-written picture. OSErrors name ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def to_unit(x: torch.Tensor, output: str = "tanh") -> torch.Tensor:
    """Network-scale images to [0, 1]."""
    x = x.detach().float()
    if output == "tanh":
        x = (x + 1) / 2
    return x.clamp(0, 1)


def save_grid(images: torch.Tensor, path: Path, output: str = "tanh", nrow: int | None = None) -> Path:
    """A grid of network-scale images (torchvision's grid utilities), square by default."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    with replacing(path) as tmp:
        save_image(to_unit(images.cpu(), output), str(tmp), nrow=nrow, padding=2, pad_value=1.0)
    return Path(path)


def grid_tensor(images: torch.Tensor, output: str = "tanh", nrow: int | None = None) -> torch.Tensor:
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    return make_grid(to_unit(images.cpu(), output), nrow=nrow, padding=2, pad_value=1.0)


def save_scatter(real: torch.Tensor, fake: torch.Tensor, path: Path, title: str = "") -> Path:
    """Real vs generated 2-D points (one frame of a ``ScatterSeries``)."""
    series = ScatterSeries()
    try:
        return series.save(real, fake, path, title)
    finally:
        series.close()


class ScatterSeries:
    """``save_scatter`` for a series of frames (a run's epochs): one figure is kept and its points are moved for
    each frame, so a frame costs a savefig instead of a new figure and its layout (half the time)."""

    def __init__(self):
        self.fig = None

    def save(self, real: torch.Tensor, fake: torch.Tensor, path: Path, title: str = "") -> Path:
        r, f = real.detach().cpu().float().numpy(), fake.detach().cpu().float().numpy()
        if self.fig is None:
            self.fig, self.ax = plt.subplots(figsize=(5, 5), dpi=100)
            self.real = self.ax.scatter(r[:, 0], r[:, 1], s=4, alpha=0.4, label="real", c="tab:blue")
            self.fake = self.ax.scatter(f[:, 0], f[:, 1], s=4, alpha=0.4, label="generated", c="tab:orange")
            self.ax.set_aspect("equal")
            self.ax.legend(loc="upper right", markerscale=3)
            self.title = self.ax.set_title(" ")
            self.fig.tight_layout()
        self.real.set_offsets(r)
        self.fake.set_offsets(f)
        self.title.set_text(printable(title))
        both = np.concatenate([r, f]) if len(r) else f
        lo, hi = both.min(0), both.max(0)
        pad = 0.05 * np.maximum(hi - lo, 1e-6)  # matplotlib's own margins
        self.ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        self.ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        with replacing(path) as tmp:
            self.fig.savefig(tmp)
        return Path(path)

    def close(self) -> None:
        if self.fig is not None:
            plt.close(self.fig)
            self.fig = None


def smooth(values: np.ndarray, frac: float = 0.02) -> np.ndarray:
    """Exponential moving average, with bias correction, over about ``frac`` of the series."""
    if len(values) < 3:
        return values
    alpha = min(1.0, 1.0 / max(1.0, frac * len(values)))
    out, avg, w = np.empty_like(values, dtype=float), 0.0, 0.0
    for i, v in enumerate(values):
        avg = (1 - alpha) * avg + alpha * v
        w = (1 - alpha) * w + alpha
        out[i] = avg / w
    return out


def plot_losses(records: list[dict], path: Path, title: str = "") -> Path | None:
    """One panel per quantity group present in the records; raw curves faint, smoothed curves solid."""
    keys = {k for r in records for k in r if k not in ("iter", "epoch", "g_step", "time")}
    panels = [(name, [k for k in ks if k in keys]) for name, ks in PANELS.items()]
    panels = [(n, ks) for n, ks in panels if ks]
    grouped = {k for _, ks in panels for k in ks}
    panels += [(k, [k]) for k in sorted(keys - grouped)]
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), dpi=100, sharex=True, squeeze=False)
    for ax, (name, ks) in zip(axes[:, 0], panels):
        for k in ks:
            pts = [(r["iter"], r[k]) for r in records if k in r and r[k] is not None and math.isfinite(r[k])]
            if not pts:
                continue
            x, y = np.array(pts).T
            line, = ax.plot(x, y, alpha=0.25, linewidth=0.8)
            ax.plot(x, smooth(y), color=line.get_color(), linewidth=1.6, label=k)
        ax.set_ylabel(name)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("iteration (batches)")
    if title:
        axes[0, 0].set_title(printable(title))
    fig.tight_layout()
    try:
        with replacing(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return Path(path)


def save_numbered_sheet(images: torch.Tensor, path: Path, scale: int = 2) -> Path:
    """A grid of [0, 1] images with each tile's index written in its corner, so tiles can be picked by number."""
    from PIL import Image, ImageDraw

    n = images.shape[0]
    nrow = max(1, int(math.ceil(math.sqrt(n))))
    grid = make_grid(images.detach().cpu().float().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    img = Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr).convert("RGB")
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    h, w = images.shape[-2:]
    for i in range(n):
        r, c = divmod(i, nrow)
        x, y = (2 + c * (w + 2)) * scale, (2 + r * (h + 2)) * scale
        draw.rectangle([x, y, x + 7 * len(str(i)) + 2, y + 11], fill=(0, 0, 0))
        draw.text((x + 1, y), str(i), fill=(255, 255, 0))
    with replacing(path) as tmp:
        img.save(tmp)
    return Path(path)


def wrap(title: str, width: int) -> str:
    """A long figure title folded into lines of at most ``width`` characters (matplotlib clips, it never wraps)."""
    import textwrap
    return "\n".join(textwrap.wrap(title, width, break_long_words=True)) if len(title) > width else title


# tag values that name a colour matplotlib does not know
COLOUR_ALIASES = {"blonde": "gold", "blond": "gold", "silver": "#c0c0c0", "grey": "gray"}


def colours_named_by(values: list[str]) -> list | None:
    """When every value names a colour (hair=blonde, eyes=aqua, ...), those colours as RGBA; otherwise None."""
    from matplotlib.colors import is_color_like, to_rgba
    names = [COLOUR_ALIASES.get(str(v).lower(), str(v).lower()) for v in values]
    if not names or not all(is_color_like(n) and not n.replace(".", "").isdigit() for n in names):
        return None
    return [to_rgba(n) for n in names]

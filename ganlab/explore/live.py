"""What the live explorer (``ganlab explore``) computes, apart from the web server: the runs it was given on the
command line, their generators at any checkpoint, and every picture the page asks for as PNG or GIF bytes.

Nothing here takes a path from the page: runs are named by their position on the command line, checkpoints by
``latest``, ``best`` or an epoch number; uploaded images are decoded in memory (size-limited), never written.
"""
from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict

import torch
from PIL import Image
from torchvision.utils import make_grid

from ganlab.errors import ConfigError
from ganlab.explore import common
from ganlab.explore.directions import add_directions, chosen_by_classifier, direction, read_directions
from ganlab.explore.photos import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, decode_upload  # noqa: F401  (live.* too)
from ganlab.explore.project import project
from ganlab.explore.unsupervised import METHODS as LABEL_FREE
from ganlab.explore.unsupervised import sefa

MAX_GRID = 256          # images in one grid
MAX_STEPS = 64          # frames of an interpolation
CACHED_GENERATORS = 4
PAGE_SEFA = 5           # SeFa directions the page finds for a run with no label-free directions saved


def png_bytes(images: torch.Tensor, nrow: int) -> bytes:
    """[n, C, H, W] images in [0, 1] as one PNG grid (2-pixel white gaps)."""
    grid = make_grid(images.float().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    arr = (grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    buf = io.BytesIO()
    Image.fromarray(arr if arr.shape[2] == 3 else arr[:, :, 0]).save(buf, "PNG", compress_level=1)  # fast: local
    return buf.getvalue()


def gif_bytes(frames: torch.Tensor, scale: int = 1, ms: int = 120) -> bytes:
    """[k, C, H, W] images in [0, 1] as an animated GIF that loops, forth and back."""
    arr = frames.float().clamp(0, 1).mul(255).round().to(torch.uint8)
    if scale > 1:
        arr = arr.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    arr = arr.permute(0, 2, 3, 1).numpy()
    imgs = [Image.fromarray(a if a.shape[2] == 3 else a[:, :, 0]) for a in arr]
    buf = io.BytesIO()
    imgs[0].save(buf, "GIF", save_all=True, append_images=imgs[1:], duration=ms, loop=0)
    return buf.getvalue()


def parse_checkpoint(value: str | None) -> str:
    """Only 'latest', 'best' or an epoch number: the page never names a file."""
    v = (value or "latest").strip()
    if v in ("latest", "best") or v.isdigit():
        return v
    raise ConfigError(f"checkpoint {v!r}: give latest, best or an epoch number")


class Explorer:
    """The runs named on the command line, and every picture of them the page can ask for."""

    def __init__(self, runs: list, device: str = "cpu", classifier: str | None = None):
        from ganlab.runs.folder import RunDir
        if not runs:
            raise ConfigError("name at least one run folder")
        self.runs = [RunDir(r).require() for r in runs]
        self.device = device
        self.classifier = classifier
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()  # one generator pass at a time: torch uses every core for each
        self._found: dict[int, dict] = {i: {} for i in range(len(self.runs))}  # directions found in the page
        self._sefa: dict[int, dict] = {}  # run -> SeFa's directions, found on first open where none are saved
        self._photos: dict[tuple, tuple] = {}  # (run, checkpoint) -> (photo, projected inputs): the last upload
        self.generator(0)  # fail now, on the command line, if the first run cannot be loaded

    # --- runs and their generators ------------------------------------------------------------------
    def run_index(self, value) -> int:
        try:
            i = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"run {value!r}: give the run's number") from None
        if not 0 <= i < len(self.runs):
            raise ConfigError(f"run {i}: there are {len(self.runs)} runs (0..{len(self.runs) - 1})")
        return i

    def generator(self, i: int, checkpoint: str | None = None):
        key = (i, parse_checkpoint(checkpoint))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            g = common.load_generator(self.runs[i].path, key[1], self.device)
            self._cache[key] = g
            while len(self._cache) > CACHED_GENERATORS:
                self._cache.popitem(last=False)
            return g

    def checkpoints(self, i: int) -> list[str]:
        ck = self.runs[i].checkpoints
        epochs = sorted(int(p.stem.split("-")[1]) for p in ck.glob("epoch-*.pt") if p.stem.split("-")[1].isdigit())
        return ["latest"] + (["best"] if (ck / "best.pt").is_file() else []) + [str(e) for e in epochs]

    def directions(self, i: int) -> dict[str, dict]:
        saved = read_directions(self.runs[i].path)
        return {**self._label_free(i, saved), **saved, **self._found[i]}

    def _label_free(self, i: int, saved: dict) -> dict[str, dict]:
        """SeFa's top directions of run ``i`` (latest checkpoint), for a run with no label-free directions
        saved by ``ganlab edit --unsupervised``: found the first time they are asked for (well under a second
        at 64x64: one pass of G's first layer) and kept for the session; nothing is written."""
        if any(rec.get("method") in LABEL_FREE for rec in saved.values()):
            return {}
        if i not in self._sefa:
            g = self.generator(i)
            found = {}
            if g.data_info.kind == "images" and torch.is_tensor(g.inputs(1, seed=0).get("z")):
                with self._lock:
                    f = sefa(g, PAGE_SEFA)
                found = {f"sefa-{j + 1}": {"attribute": f"sefa-{j + 1}", "chosen_by": f.describe(j) + "; found by the "
                                           "page (ganlab edit --unsupervised saves them)", "direction": e}
                         for j, e in enumerate(f.directions)}
            self._sefa[i] = found
        return self._sefa[i]

    def describe(self) -> list[dict]:
        """What the page shows for each run: its controls are built from this."""
        out = []
        for i, rd in enumerate(self.runs):
            g = self.generator(i)
            m = g.method
            specs = m.condition_specs()
            images = g.data_info.kind == "images"
            z = g.inputs(1, seed=0).get("z")
            out.append({
                "id": i, "name": rd.path.name, "method": g.cfg.method, "images": images,
                "shape": list(g.data_info.shape), "latent_dim": int(z.shape[1]) if z is not None else None,
                "conditions": [{"name": s.name, "kind": s.kind,
                                "values": None if s.values is None else [str(v) for v in s.values]} for s in specs],
                "checkpoints": self.checkpoints(i),
                "directions": [{"name": k, "attribute": d.get("attribute", k), "chosen_by": d.get("chosen_by", "")}
                               for k, d in self.directions(i).items()],
                "health": self.health(i),
                "encoder": bool(m.capabilities.encoder) and images,
                "classifier": bool(self.classifier) and images,
            })
        return out

    def health(self, i: int) -> list[dict] | None:
        """The training-health monitor's findings for run ``i`` (``RUN/health.jsonl``); None where the monitor was
        off (``train.health=false``) or the run is older than it (no ``train.health`` in its config.yaml), so the
        page claims nothing there."""
        findings = self.runs[i].findings()
        if not findings and (self.runs[i].read_config().get("train") or {}).get("health") is not True:
            return None
        return [{k: f.get(k) for k in ("kind", "severity", "began", "step", "message")} for f in findings]

    # --- inputs -------------------------------------------------------------------------------------
    def inputs(self, g, i: int, n: int, seed: int, scale: float = 1.0, cond: dict | None = None,
               dirs: dict | None = None) -> dict:
        """The generator inputs of the page's settings: the seed's latents (scaled towards the prior's centre
        by ``scale``), the conditions, and the directions added with their strengths."""
        if not 1 <= n <= MAX_GRID:
            raise ConfigError(f"n {n}: show 1 to {MAX_GRID} images")
        if not 0 <= scale <= 3:
            raise ConfigError(f"scale {scale}: give a number between 0 and 3")
        inputs = g.inputs(n, seed=seed, cond=cond or None)
        z = inputs.get("z")
        if z is not None and (scale != 1 or dirs):
            z = z.clone().float()
            if scale != 1:
                centre = torch.zeros_like(z)
                prior = g.method.latent_prior()
                if prior.kind == "mixture":  # towards each latent's nearest centre
                    c = prior.centres.to(z.device, z.dtype)
                    centre = c[torch.cdist(z, c).argmin(1)]
                z = centre + (z - centre) * scale
            inputs["z"] = self.moved(i, z, dirs).to(inputs["z"].dtype)
        return inputs

    def moved(self, i: int, z: torch.Tensor, dirs: dict | None) -> torch.Tensor:
        """Latents ``z`` [n, d] plus each named direction of run ``i`` times its strength."""
        return add_directions(z, dirs, self.directions(i))

    def images(self, g, inputs: dict) -> torch.Tensor:
        with self._lock:
            out = g.generate(inputs)
        if g.data_info.kind != "images":
            return points_picture(out)
        return out

    # --- pictures -------------------------------------------------------------------------------------
    def grid(self, i, checkpoint=None, n=64, seed=0, scale=1.0, cond=None, dirs=None) -> bytes:
        g = self.generator(i, checkpoint)
        x = self.images(g, self.inputs(g, i, n, seed, scale, cond, dirs))
        return png_bytes(x, nrow=cols_for(n) if x.shape[0] == n else 1)

    def attribute_grid(self, i, attribute: str, checkpoint=None, rows=4, seed=0, scale=1.0, cond=None,
                       dirs=None) -> bytes:
        """One column per value of ``attribute`` (or category of an InfoGAN code, or 7 values of a continuous
        one), one row per noise vector, all else fixed."""
        g = self.generator(i, checkpoint)
        specs = {s.name: s for s in g.method.condition_specs()}
        if attribute not in specs:
            raise ConfigError(f"attribute {attribute!r}: this run has {', '.join(specs) or 'no conditions'}")
        s = specs[attribute]
        values = s.values if s.values is not None else [round(-1 + 2 * k / 6, 3) for k in range(7)]
        if not 1 <= rows <= 16:
            raise ConfigError(f"rows {rows}: give 1 to 16")
        base = self.inputs(g, i, rows, seed, scale, cond, dirs)
        cols = []
        for v in values:
            fixed = self.inputs(g, i, rows, seed, scale, {**(cond or {}), attribute: v}, dirs)
            fixed["z"] = base["z"]
            cols.append(self.images(g, fixed))
        x = torch.stack(cols, 1).flatten(0, 1)  # row-major: rows of noise, columns of values
        return png_bytes(x, nrow=len(values))

    def interpolation(self, i, a: int, b: int, checkpoint=None, n=64, seed=0, scale=1.0, cond=None, dirs=None,
                      steps=10, space="latent", fmt="png") -> bytes:
        """From tile ``a`` to tile ``b`` of the grid with these settings: in latent space (the generator's
        inputs blended, categorical codes switching half way) or pixel space (the two images blended)."""
        if space not in ("latent", "pixel"):
            raise ConfigError(f"space {space!r}: latent or pixel")
        if not 2 <= steps <= MAX_STEPS:
            raise ConfigError(f"steps {steps}: give 2 to {MAX_STEPS}")
        if not (0 <= a < n and 0 <= b < n):
            raise ConfigError(f"tiles {a} and {b}: the grid has {n} (0..{n - 1})")
        g = self.generator(i, checkpoint)
        inputs = self.inputs(g, i, n, seed, scale, cond, dirs)
        t = torch.linspace(0, 1, steps)
        if space == "pixel":
            ends = self.images(g, common.slice_inputs(inputs, [a, b]))
            frames = (1 - t)[:, None, None, None] * ends[0] + t[:, None, None, None] * ends[1]
        else:
            walk = {}
            for k, v in inputs.items():
                if not torch.is_tensor(v):
                    walk[k] = v
                elif v.is_floating_point():
                    w = t.view(-1, *([1] * (v.dim() - 1)))
                    walk[k] = ((1 - w) * v[a] + w * v[b]).to(v.dtype)
                else:  # codes: the first half keeps a's, the second b's
                    walk[k] = torch.stack([v[a] if x < 0.5 else v[b] for x in t.tolist()])
            frames = self.images(g, walk)
        if fmt == "gif":
            return gif_bytes(frames, scale=max(1, 128 // frames.shape[-1]))
        if fmt != "png":
            raise ConfigError(f"format {fmt!r}: png or gif")
        return png_bytes(frames, nrow=steps)

    def compare(self, ids: list[int], checkpoint=None, n=16, seed=0, scale=1.0) -> bytes:
        """Two or more runs side by side at the same noise (their latents must have the same size)."""
        if len(ids) < 2:
            raise ConfigError("compare needs two runs")
        gens = [self.generator(i, checkpoint) for i in ids]
        dims = {i: g.inputs(1, 0).get("z", torch.empty(1, 0)).shape[1] for i, g in zip(ids, gens)}
        if len(set(dims.values())) > 1:
            raise ConfigError("the runs' latents differ in size (" + ", ".join(
                f"{self.runs[i].path.name}: {d}" for i, d in dims.items()) + "), so they cannot share noise")
        shapes = {tuple(g.data_info.shape) for g in gens}
        if len(shapes) > 1:
            raise ConfigError(f"the runs make images of different shapes ({', '.join(map(str, shapes))})")
        grids = []
        z = None
        for i, g in zip(ids, gens):
            inputs = self.inputs(g, i, n, seed, scale)
            if z is None:
                z = inputs["z"]
            inputs["z"] = z
            grids.append(self.images(g, inputs))
        cols = cols_for(n)
        per = [make_grid(x.float(), nrow=cols, padding=2, pad_value=1.0) for x in grids]
        gap = torch.ones(per[0].shape[0], per[0].shape[1], 8)
        side = torch.cat([t for p in per for t in (p, gap)][:-1], 2)
        return png_bytes(side[None], nrow=1)

    def reconstruction(self, i, data: bytes, checkpoint=None) -> bytes:
        """An uploaded image beside the run's reconstruction of it (VAE, BiGAN)."""
        g = self.generator(i, checkpoint)
        common.require_images(g, "reconstruction")
        common.require_encoder(g, "reconstruction")
        c, h, w = g.data_info.shape
        x = decode_upload(data, c, h)
        from ganlab.data import to_float
        with self._lock, torch.no_grad():
            r = g.method.reconstruct(to_float((x * 255).round().to(torch.uint8), g.data_info.output).to(g.device))
        from ganlab.plots import to_unit
        return png_bytes(torch.cat([x, to_unit(r.cpu(), g.data_info.output)]), nrow=2)

    PROJECT_STEPS = 100

    def project_upload(self, i, data: bytes, checkpoint=None, dirs=None) -> bytes:
        """An uploaded photo projected into run ``i``'s latent space (``ganlab project``, fewer steps), kept for
        this session so the direction sliders can move it; the photo beside its projection and the edit."""
        g = self.generator(i, checkpoint)
        common.require_images(g, "projecting a photo")
        c, h, w = g.data_info.shape
        x = decode_upload(data, c, h)
        with self._lock:
            r = project(g, x, steps=self.PROJECT_STEPS, starts=2, log=lambda *a: None)
        self._photos[(i, parse_checkpoint(checkpoint))] = (x, r["inputs"])
        return self.photo_edit(i, checkpoint, dirs)

    def photo_edit(self, i, checkpoint=None, dirs=None) -> bytes:
        """The projected photo of this run: photo | projection | projection with the directions added."""
        key = (i, parse_checkpoint(checkpoint))
        if key not in self._photos:
            raise ConfigError("upload a photo first")
        x, inputs = self._photos[key]
        g = self.generator(i, checkpoint)
        proj = self.images(g, inputs)
        edited = proj
        if dirs:
            z = self.moved(i, inputs["z"].float().flatten(1), dirs)
            edited = self.images(g, {**inputs, "z": z.view_as(inputs["z"]).to(inputs["z"].dtype)})
        return png_bytes(torch.cat([x, proj, edited]), nrow=3)

    def find_direction(self, i, attribute: str, checkpoint=None, n=512, seed=0) -> dict:
        """A direction for ``attribute`` from the command line's classifier (as ``ganlab edit --classifier``
        finds it), kept for this session's page under the attribute's name."""
        if not self.classifier:
            raise ConfigError("start ganlab explore with --classifier PATH to find directions in the page")
        from ganlab.explore.scorer import AttributeScorer, load_scorer, parse_attribute
        g = self.generator(i, checkpoint)
        common.require_images(g, "find a direction")
        name, value = parse_attribute(attribute)
        scorer = AttributeScorer(load_scorer(self.classifier, self.device), name, value, g.data_info.attributes)
        inputs = g.inputs(n, seed)
        with self._lock:
            scores = scorer(g.generate(inputs))
        chosen, how = chosen_by_classifier(scores, attribute, seed)
        e = direction(inputs["z"].float().flatten(1), chosen)
        key = "found-" + common.safe_name(attribute)
        self._found[i][key] = {"attribute": attribute, "chosen_by": how, "direction": e}
        return {"name": key, "attribute": attribute, "chosen_by": how}


def cols_for(n: int) -> int:
    return max(1, int(math.ceil(math.sqrt(n))))


def points_picture(points: torch.Tensor, size: int = 256) -> torch.Tensor:
    """2-D samples drawn as a [1, 3, size, size] picture (dots on white), for the toy runs."""
    img = torch.ones(3, size, size)
    p = points.float()
    lo, hi = p.min(0).values, p.max(0).values
    span = (hi - lo).max().clamp_min(1e-6) * 1.1
    mid = (hi + lo) / 2
    xy = ((p - mid) / span + 0.5).clamp(0, 0.999) * size
    img[:, (size - 1 - xy[:, 1].long()), xy[:, 0].long()] = torch.tensor([0.1, 0.3, 0.8])[:, None]
    return img[None]

"""``ganlab project RUN --image PHOTO``: the latent vector (and, for conditional runs, the tags) whose generated
image best matches a real image (GAN inversion).

Every start is optimised with Adam on

    loss(z) = mean((G(z) - x)^2) + feature_weight * mean over layers of mean((f_l(G(z)) - f_l(x))^2) / mean(f_l(x)^2)

(images in [0, 1]; ``f_l`` the activations of D's convolutions, or of a ``ganlab train-classifier`` model's
trunk; none with ``--features none``). Starts: ``--starts`` random draws from the prior, plus the encoder's
estimate E(x) where the run has an encoder (BiGAN, VAE). The best start by final loss is kept. Tags of a
conditional run are given (``--cond``), read by the run's own networks where they can (ACGAN's classifier,
a cgan's classifier head), or searched one attribute at a time: every value tried with a short optimisation
from the same starts, the best kept.

Writes to ``--out`` (default ``RUN/projections/<photo name>/``): ``z.pt`` (the inputs: z and any tags),
``reconstruction.png`` (photo | reconstruction), ``losses.png`` (loss against step) and ``projection.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ganlab.errors import ConfigError
from ganlab.explore import common
from ganlab.explore.photos import read_photo


def differentiable_images(g, inputs: dict) -> torch.Tensor:
    """The sampling generator's images in [0, 1] for ``inputs``, with the graph kept (unclamped)."""
    out = g.method.generate_differentiable(inputs)
    return (out + 1) / 2 if g.data_info.output == "tanh" else out


class Features(nn.Module):
    """Activations of every convolution of a network (D or a classifier), collected by hooks."""

    def __init__(self, g, spec: str):
        super().__init__()
        self.g, self.spec, self.acts = g, spec, []
        self.score = None
        if spec == "d":
            d = g.method.image_features()
            if d is None:
                raise ConfigError(f"--features d: the D of method {g.cfg.method} scores more than one image at a time"
                                  " (pairs, scales or packs), or the method has none; use --features classifier:PATH"
                                  " or none")
            self.net, self.score = d
        elif spec.startswith("classifier:"):
            from ganlab.eval.features.classifier import load_classifier
            path = spec.split(":", 1)[1]
            if not Path(path).is_file():
                raise ConfigError(f"--features {spec}: no such file")
            self.net = load_classifier(path, device=g.device)
        else:
            raise ConfigError(f"--features {spec}: give d, classifier:PATH or none")
        self.net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        convs = [m for m in self.net.modules() if isinstance(m, nn.Conv2d)]
        self.hooks = [c.register_forward_hook(lambda mod, a, out: self.acts.append(out.float())) for c in convs]

    def forward(self, x01: torch.Tensor, inputs: dict) -> list[torch.Tensor]:
        self.acts = []
        if self.spec == "d":
            x = x01 * 2 - 1 if self.g.data_info.output == "tanh" else x01
            self.score(x, inputs)
        else:
            from ganlab.eval.features.classifier import to_input
            self.net(to_input(x01, self.net.config["image_size"], self.net.config["channels"]))
        return self.acts


def feature_loss(fa: list, fb: list) -> torch.Tensor:
    """Per sample: the mean over layers of the squared activation difference, relative to the target's scale."""
    terms = [((a - b) ** 2).flatten(1).mean(1) / (b ** 2).flatten(1).mean(1).clamp_min(1e-8) for a, b in zip(fa, fb)]
    return torch.stack(terms).mean(0)


def project(g, photo: torch.Tensor, steps: int = 300, starts: int = 4, features: str | None = "auto",
            feature_weight: float = 0.1, lr: float = 0.05, cond: dict | None = None, seed: int = 0,
            log=print) -> dict:
    """Invert ``photo`` ([k, C, H, W] in [0, 1]: k images at once) into the run's latent space. Returns
    {"inputs": best inputs for each image, "images": their reconstructions, "loss": [k], "mse": [k],
    "curve": mean best loss per step, "random": the same losses for the prior's first draw, "encoder": ...}."""
    common.require_images(g, "project")
    m = g.method
    if "z" not in g.inputs(1, seed=0):
        raise ConfigError(f"method {g.cfg.method} has no latent vector z to project into")
    if steps < 1 or starts < 1:
        raise ConfigError(f"--steps {steps} / --starts {starts}: give at least 1 of each")
    if features == "auto":
        features = "d" if m.image_features() is not None else "none"
    feat = None if features in (None, "none") else Features(g, features)
    k = photo.shape[0]
    x = photo.to(g.device).float()
    base = g.inputs(k * starts, seed=seed, cond=None)
    base = {n: v.to(g.device) if torch.is_tensor(v) else v for n, v in base.items()}
    z0 = base["z"].float().view(starts, k, -1)
    encoder = None
    if m.capabilities.encoder:
        from ganlab.data import to_float
        with torch.no_grad():
            enc = m.encode(to_float((x * 255).round().to(torch.uint8), g.data_info.output)).float()
        z0 = torch.cat([enc.view(1, k, -1), z0])
        encoder = enc
    s = z0.shape[0]
    target = x.repeat(s, 1, 1, 1)

    wanted: list = []  # (tags, the photos' features under them): one pass over the photos per tag set, not per step

    def losses(z, tags):
        inputs = {**tags, "z": z.view(s * k, *base["z"].shape[1:]).to(base["z"].dtype)}
        img = differentiable_images(g, inputs)
        per = ((img - target) ** 2).flatten(1).mean(1)
        mse = per.detach()
        if feat is not None:
            if not wanted or wanted[-1][0] is not tags:
                with torch.no_grad():
                    wanted[:] = [(tags, [t.detach() for t in feat(target, inputs)])]
            per = per + feature_weight * feature_loss(feat(img, inputs), wanted[-1][1])
        return per, mse, img

    def optimise(tags, n_steps, z_start):
        z = z_start.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        curve = []
        for _ in range(n_steps):
            opt.zero_grad(set_to_none=True)
            per, _, _ = losses(z, tags)
            per.sum().backward()
            opt.step()
            curve.append(per.detach().view(s, k).min(0).values.mean().item())
        with torch.no_grad():
            per, mse, img = losses(z, tags)
        return z.detach(), per.view(s, k), mse.view(s, k), img, curve

    tags = _repeat(_tags(g, base, k, cond, x, log), s)
    if cond is None and _searchable(g):
        tags = _search_tags(g, tags, k, s, lambda t: optimise(t, max(10, steps // 10), z0)[1].min(0).values, log)
    with torch.no_grad():
        p0, mse0, _ = losses(z0, tags)
        p0, mse0 = p0.view(s, k), mse0.view(s, k)
    z, per, mse, img, curve = optimise(tags, steps, z0)
    best = per.argmin(0)
    pick = torch.arange(k, device=best.device)
    z_best = z[best, pick]
    rec = img.view(s, k, *img.shape[1:])[best, pick].detach().clamp(0, 1).cpu()
    one_tags = {n: v.view(s, k, *v.shape[1:])[best, pick].cpu() for n, v in tags.items() if torch.is_tensor(v)}
    out = {"inputs": {"z": z_best.cpu().view(k, *base["z"].shape[1:]), **one_tags}, "images": rec,
           "loss": per[best, pick].cpu(), "mse": mse[best, pick].cpu(), "curve": curve, "features": features,
           "random": {"loss": p0[-1].cpu(), "mse": mse0[-1].cpu()}, "starts": s}
    if encoder is not None:
        out["encoder"] = {"loss": p0[0].cpu(), "mse": mse0[0].cpu()}
    return out


def _repeat(tags: dict, s: int) -> dict:
    return {n: v.repeat(s, *([1] * (v.dim() - 1))) if torch.is_tensor(v) else v for n, v in tags.items()}


def _tags(g, base: dict, k: int, cond: dict | None, x: torch.Tensor, log) -> dict:
    """The non-latent inputs for the k photos: from --cond, from the run's own reader, or the prior's draw (to be
    searched)."""
    rest = {n: v[:k] for n, v in base.items() if n != "z" and torch.is_tensor(v)}
    if not rest:
        return {}
    m = g.method
    if cond:
        fixed = g.inputs(k, seed=0, cond=cond)
        return {n: fixed[n].to(g.device) for n in rest}
    if m.capabilities.reads_conditions:
        with torch.no_grad():
            read = m.read_conditions(x * 2 - 1 if g.data_info.output == "tanh" else x)
        fixed = g.inputs(k, seed=0, cond={name: v.tolist() for name, v in read.items()})
        log("read from the photo by the run's own networks: " + ", ".join(f"{n}={v[0].item():.3g}"
                                                                          for n, v in read.items()))
        return {n: fixed[n].to(g.device) for n in rest}
    return rest


def _searchable(g) -> bool:
    return g.method.capabilities.conditions == "attributes" and not g.method.capabilities.reads_conditions


def _search_tags(g, tags: dict, k: int, s: int, score, log) -> dict:
    """One attribute at a time, every value tried for all photos at once; each photo keeps its best value."""
    codes = tags["codes"].clone()
    names = list(g.data_info.attributes)
    for j, name in enumerate(names):
        values = g.data_info.attributes[name]
        best_loss, best_v = None, None
        for v in range(len(values)):
            trial = codes.clone()
            trial[:, j] = v
            loss = score({**tags, "codes": trial})
            if best_loss is None:
                best_loss, best_v = loss, torch.full_like(loss, v, dtype=torch.long)
            else:
                better = loss < best_loss
                best_loss = torch.where(better, loss, best_loss)
                best_v = torch.where(better, torch.full_like(best_v, v), best_v)
        codes[:, j] = best_v.repeat(s)
        log(f"{name}: " + ", ".join(values[int(v)] for v in best_v[:8]) + (" ..." if k > 8 else ""))
    return {**tags, "codes": codes}


def save(g, photo: torch.Tensor, result: dict, out: Path, name: str) -> dict:
    from ganlab.plots import save_grid
    out.mkdir(parents=True, exist_ok=True)
    torch.save(result["inputs"], out / "z.pt")
    pair = torch.stack([photo[0].cpu(), result["images"][0]])
    save_grid(pair * 2 - 1, out / "reconstruction.png", "tanh", nrow=2)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(result["curve"])
    ax.set_xlabel("step")
    ax.set_ylabel("loss (best start)")
    ax.set_yscale("log")
    ax.set_title(f"projection of {name}")
    fig.tight_layout()
    fig.savefig(out / "losses.png", dpi=100)
    plt.close(fig)
    record = {"command": "project", "run": str(g.run.path), "checkpoint": str(g.checkpoint_path), "epoch": g.epoch,
              "image": name, "features": result["features"], "starts": result["starts"],
              "steps": len(result["curve"]), "loss": float(result["loss"][0]), "mse": float(result["mse"][0]),
              "random_z": {"loss": float(result["random"]["loss"][0]), "mse": float(result["random"]["mse"][0])}}
    if "encoder" in result:
        record["encoder"] = {"loss": float(result["encoder"]["loss"][0]), "mse": float(result["encoder"]["mse"][0])}
    tags = {n: v[0].tolist() for n, v in result["inputs"].items() if n != "z"}
    if "codes" in tags:
        record["tags"] = {a: g.data_info.attributes[a][int(c)] for a, c in zip(g.data_info.attributes, tags["codes"])}
    (out / "projection.json").write_text(json.dumps(record, indent=1))
    return record


def cmd(args) -> int:
    from ganlab.methods.conditioning import parse_cond
    g = common.load_generator(args.run, args.checkpoint, args.device)
    photo = read_photo(args.image, g)
    name = Path(args.image).stem
    result = project(g, photo, steps=args.steps, starts=args.starts, features=args.features,
                     feature_weight=args.feature_weight, lr=args.lr, cond=parse_cond(args.cond) if args.cond else None,
                     seed=args.seed)
    out = Path(args.out) if args.out else g.run.path / "projections" / common.safe_name(name)
    rec = save(g, photo, result, out, name)
    extra = f", encoder {rec['encoder']['mse']:.4f}" if "encoder" in rec else ""
    print(f"pixel MSE {rec['mse']:.4f} (random z {rec['random_z']['mse']:.4f}{extra}); "
          f"features {rec['features']}; wrote {out}/z.pt, reconstruction.png, losses.png, projection.json")
    return 0

"""``ganlab embed``: encoder latents of real images (VAE posterior mean, BiGAN E(x)) projected to 2-D
with t-SNE or PCA, coloured by an attribute.

Also reported: the silhouette score of the attribute's groups in the 2-D projection (-1..1; higher
means the values form separate clusters).
"""
from __future__ import annotations

import numpy as np

from ganlab.errors import ConfigError
from ganlab.explore.common import (
    encode_all,
    figure_paths,
    fmt,
    images_at,
    load_generator,
    load_images,
    pick_subset,
    require_encoder,
    require_images,
    safe_name,
    write_json,
)

PROJECTIONS = ("tsne", "pca")
SMALL_TSNE = 1000


def encoded_labels(g, args, attribute: str, n: int | None, seed: int):
    """(latents [N, D] numpy, codes [N], value names, data set name) for up to ``n`` images of the data."""
    ds = load_images(g, args)
    if not ds.attributes:
        raise ConfigError(f"{ds.name} has no attributes to colour or predict; give --data with labels "
                           "(class folders, a --labels CSV, CelebA, MNIST or digits)")
    if attribute not in ds.attributes:
        raise ConfigError(f"attribute {attribute!r} is not in {ds.name}; it has: {', '.join(ds.attributes)}")
    idx = pick_subset(len(ds), n, seed)
    z = encode_all(g, images_at(g, ds, idx)).numpy().astype(np.float64)
    a = ds.attributes[attribute]
    return z, a.codes[idx].numpy(), list(a.values), ds.name


def project(z: np.ndarray, how: str, seed: int, perplexity: float = 30.0) -> np.ndarray:
    if how == "pca":
        from sklearn.decomposition import PCA
        return PCA(n_components=2, random_state=seed).fit_transform(z)
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits
    perp = min(perplexity, max(1.0, (z.shape[0] - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed)
    if z.shape[0] < SMALL_TSNE:
        # for a few hundred points the OpenMP threads only wait on each other (and on a busy machine their
        # spinning makes t-SNE 100x slower): one thread
        with threadpool_limits(limits=1, user_api="openmp"):
            return tsne.fit_transform(z)
    return tsne.fit_transform(z)


def scatter(xy: np.ndarray, codes: np.ndarray, values: list[str], path, title: str, attribute: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganlab.plots import colours_named_by, wrap
    present = sorted(set(codes.tolist()))
    named = colours_named_by(values)  # hair=blonde is drawn in gold, eyes=blue in blue
    cmap = plt.get_cmap("tab10" if len(values) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    size = 8 if xy.shape[0] > 1000 else 16
    for k in present:
        sel = codes == k
        color = named[k] if named else cmap(k % cmap.N)
        ax.scatter(xy[sel, 0], xy[sel, 1], s=size * (1.5 if named else 1), alpha=0.75, color=color,
                   label=f"{values[k]} ({int(sel.sum())})", linewidths=0.3 if named else 0,
                   edgecolors="#555555" if named else "face")
    ncol = 1 if len(present) <= 12 else 2
    ax.legend(title=attribute, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, ncol=ncol,
              markerscale=1.5, frameon=False)
    ax.set_title(wrap(title, 72), fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def embed(run, args=None, color_by: str = "", method: str = "tsne", n: int | None = 2000, seed: int = 0,
          perplexity: float = 30.0, checkpoint=None, device="cpu", out=None, log=print) -> dict:
    if method not in PROJECTIONS:
        raise ConfigError(f"--method {method!r}: choose tsne or pca")
    if n is not None and n < 3:
        raise ConfigError(f"--n {n}: need at least 3 images to project")
    if not perplexity > 0 or perplexity == float("inf"):
        raise ConfigError(f"--perplexity {perplexity}: must be a positive number (t-SNE's default is 30)")
    g = load_generator(run, checkpoint, device)
    require_images(g, "embed")
    require_encoder(g, "embed")
    z, codes, values, data_name = encoded_labels(g, args, color_by, n, seed)
    if z.shape[0] < 3:
        raise ConfigError(f"only {z.shape[0]} images: too few to project")
    xy = project(z, method, seed, perplexity)
    sil = None
    if 2 <= len(set(codes.tolist())) < len(codes):
        from sklearn.metrics import silhouette_score
        sil = float(silhouette_score(xy, codes))
    name = f"embed-{safe_name(color_by)}-{method}"
    png, js = figure_paths(g, name, out)
    enc = g.method.capabilities.encoder
    title = (f"{g.run.path.name}: {enc} of {z.shape[0]} {data_name} images ({z.shape[1]}-D), "
             f"{method.upper()}, by {color_by}")
    scatter(xy, codes, values, png, title, color_by)
    record = {"command": "embed", "run": str(g.run.path), "checkpoint": str(g.checkpoint_path), "epoch": g.epoch,
              "method": g.cfg.method, "projection": method, "attribute": color_by, "n": int(z.shape[0]),
              "latent_dim": int(z.shape[1]), "data": data_name, "seed": seed, "silhouette_2d": sil,
              "counts": {values[k]: int((codes == k).sum()) for k in sorted(set(codes.tolist()))},
              "png": str(png), "summary": f"{method.upper()} of {z.shape[0]} latents by {color_by}"
              + (f", silhouette {sil:.3f}" if sil is not None else "")}
    write_json(js, record)
    if sil is not None:
        log(f"silhouette of {color_by} in the 2-D {method.upper()}: {fmt(sil)}")
    log(png)
    return record


def cmd(args) -> int:
    embed(args.run, args, args.color_by, args.method, args.n, args.seed, args.perplexity, args.checkpoint,
          args.device, args.out)
    return 0

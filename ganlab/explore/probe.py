"""``ganlab probe``: how much of an attribute the encoder's latents carry.

Latents of real images (VAE posterior mean, BiGAN E(x)) are split into a training and a held-out part
(stratified by the attribute where every value has at least two images); a logistic regression and an
RBF support-vector machine (scikit-learn, on standardised latents) are fitted on the training part and
scored on the held-out part, beside the majority-class baseline (always predict the most common value
of the training part).
"""
from __future__ import annotations

import numpy as np

from ganlab.errors import ConfigError
from ganlab.explore.common import (
    figure_paths,
    fmt,
    load_generator,
    require_encoder,
    require_images,
    safe_name,
    write_json,
)
from ganlab.explore.embed import encoded_labels


def fit_probes(z: np.ndarray, y: np.ndarray, test_size: float = 0.25, seed: int = 0) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ConfigError("the attribute has a single value in these images: nothing to predict")
    stratify = y if counts.min() >= 2 else None
    try:
        z_tr, z_te, y_tr, y_te = train_test_split(z, y, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError:
        z_tr, z_te, y_tr, y_te = train_test_split(z, y, test_size=test_size, random_state=seed)
    if len(np.unique(y_tr)) < 2:
        raise ConfigError("the training split holds a single value of the attribute; use more images (--n)")
    vals, cnt = np.unique(y_tr, return_counts=True)
    majority = vals[cnt.argmax()]
    out = {"n_train": int(len(y_tr)), "n_test": int(len(y_te)), "majority": float((y_te == majority).mean())}
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    out["linear"] = float(linear.fit(z_tr, y_tr).score(z_te, y_te))
    svm = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=1.0, gamma="scale"))
    out["rbf_svm"] = float(svm.fit(z_tr, y_tr).score(z_te, y_te))
    return out


def bar_chart(acc: dict, path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["majority", "linear", "rbf_svm"]
    labels = ["majority class", "logistic regression", "RBF SVM"]
    vals = [acc[k] for k in names]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    bars = ax.bar(labels, vals, color=["#999999", "tab:blue", "tab:orange"])
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.3f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("held-out accuracy")
    from ganlab.plots import wrap
    ax.set_title(wrap(title, 60), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def probe(run, args=None, target: str = "", n: int | None = 2000, test_size: float = 0.25, seed: int = 0,
          checkpoint=None, device="cpu", out=None, log=print) -> dict:
    if not 0 < test_size < 1:
        raise ConfigError(f"--test-size {test_size}: give a share between 0 and 1, e.g. 0.25")
    if n is not None and n < 4:
        raise ConfigError(f"--n {n}: need at least 4 images (a training part and a held-out part)")
    g = load_generator(run, checkpoint, device)
    require_images(g, "probe")
    require_encoder(g, "probe")
    z, codes, values, data_name = encoded_labels(g, args, target, n, seed)
    acc = fit_probes(z, codes, test_size, seed)
    name = f"probe-{safe_name(target)}"
    png, js = figure_paths(g, name, out)
    bar_chart(acc, png, f"{g.run.path.name}: predicting {target} from {z.shape[1]}-D latents "
                        f"({acc['n_train']} train / {acc['n_test']} held out)")
    record = {"command": "probe", "run": str(g.run.path), "checkpoint": str(g.checkpoint_path), "epoch": g.epoch,
              "method": g.cfg.method, "target": target, "values": values, "data": data_name,
              "latent_dim": int(z.shape[1]), "seed": seed, "test_size": test_size, **acc,
              "png": str(png),
              "summary": f"{target}: linear {acc['linear']:.3f}, RBF SVM {acc['rbf_svm']:.3f}, "
                         f"majority {acc['majority']:.3f}"}
    write_json(js, record)
    log(f"held-out accuracy for {target} ({acc['n_test']} images): logistic regression {fmt(acc['linear'])}, "
        f"RBF SVM {fmt(acc['rbf_svm'])}, majority class {fmt(acc['majority'])}")
    log(png)
    return record


def cmd(args) -> int:
    probe(args.run, args, args.target, args.n, args.test_size, args.seed, args.checkpoint, args.device, args.out)
    return 0

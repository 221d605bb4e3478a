"""The command-line parsers of the exploration commands. Pure argparse: the modules that do the work (and
import torch) are imported only when their command runs, so building the parser stays fast."""
from __future__ import annotations

import argparse
import importlib


def _lazy(module: str):
    def run(args) -> int:
        return importlib.import_module(f"ganlab.explore.{module}").cmd(args)
    run.__name__ = f"cmd_{module}"
    return run


def add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a run folder")
    p.add_argument("--checkpoint", help="latest (default), best, an epoch number or a checkpoint path")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    p.add_argument("--out", help="the PNG to write (default RUN/figures/<name>.png); numbers always go to "
                                 "RUN/figures/<name>.json")


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="images to encode (default: the run's own data): a folder, class folders, "
                                  "CelebA, MNIST or digits")
    p.add_argument("--format", help="auto, digits, folder, csv, celeba, mnist (default: auto)")
    p.add_argument("--labels", help="CSV of per-image tags (a 'file' column and one column per attribute)")
    p.add_argument("--limit", type=int, help="read only the first N images")
    p.add_argument("--image-size", type=int, help="must match the run (default: the run's)")
    p.add_argument("--channels", type=int, help="must match the run (default: the run's)")


def add_parsers(sub) -> None:
    p = sub.add_parser("interpolate", help="walk between samples in pixel and latent space (or between tag sets)")
    add_run_flags(p)
    p.add_argument("--pairs", type=int, default=4, help="pairs of samples, default 4")
    p.add_argument("--steps", type=int, default=10, help="images per row including both ends, default 10")
    p.add_argument("--space", default="both", choices=("latent", "pixel", "both"),
                   help="latent, pixel or both (default: a pixel row above a latent row for each pair)")
    p.add_argument("--slerp", action="store_true", help="spherical instead of linear latent interpolation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--between", metavar="A:B",
                   help="conditional models: interpolate the attribute embeddings from tag set A to B at fixed "
                        "noise, e.g. hair=blue,eyes=red:hair=green,eyes=blue")
    p.set_defaults(func=_lazy("interpolate"))

    p = sub.add_parser("edit", help="find an attribute direction in the latent space and remove/add it, or the "
                                    "run's directions without labels (--unsupervised)")
    add_run_flags(p)
    p.add_argument("--attribute", metavar="NAME[=VALUE]",
                   help="the attribute: a name for the figure; with --classifier the output it scores, e.g. "
                        "smiling or digit=0; with --image also a saved direction such as sefa-1")
    p.add_argument("--unsupervised", choices=("sefa", "ganspace"),
                   help="find the top --k directions without labels: sefa (closed form, from G's first layer) or "
                        "ganspace (PCA of G's first features over --n samples, default 2000); saved as "
                        "RUN/directions/<method>-<i>.json with a figure of each from -3 to +3")
    p.add_argument("--k", type=int, default=10, help="with --unsupervised: how many directions (default 10)")
    p.add_argument("--select", metavar="I,J,K",
                   help="tile numbers of 'ganlab sample RUN --numbered --n N --seed S' that show the attribute "
                        "(give the same --n and --seed)")
    p.add_argument("--classifier", metavar="PATH",
                   help="an attribute classifier: the direction comes from the --top-k samples it scores "
                        "highest (with --select it only scores the edits)")
    p.add_argument("--strength", default="1,2,3", help="multiples of the unit direction to add (default 1,2,3; "
                                                       "with --image -2,-1,1,2; with --unsupervised -3..3)")
    p.add_argument("--n", type=int, help="samples drawn: the sheet's N with --select (default 16), the pool "
                                         "the classifier scores otherwise (default 512)")
    p.add_argument("--seed", type=int, default=0, help="the sheet's --seed (default 0)")
    p.add_argument("--top-k", type=int, help="with --classifier: how many top-scored samples (default n/8)")
    p.add_argument("--rows", type=int, help="chosen samples shown (default 8); with --unsupervised samples per "
                                            "direction (default 3)")
    p.add_argument("--image", metavar="PHOTO", help="edit a real photo: project it into the latent space (as "
                                                    "'ganlab project' does) and move it along the direction (the "
                                                    "one saved by an earlier edit, unless --select/--classifier)")
    p.set_defaults(func=_lazy("edit"))

    p = sub.add_parser("conditional", help="conditional models at fixed noise: every value of an attribute "
                                           "(cgan/acgan) or traversals of a code (infogan)")
    add_run_flags(p)
    p.add_argument("--attribute", help="cgan/acgan: the attribute whose values make the columns")
    p.add_argument("--code", help="infogan: the code to traverse, e.g. c1 (default: one figure per code)")
    p.add_argument("--rows", dest="rows_attribute", metavar="ATTRIBUTE",
                   help="cgan/acgan: a second attribute whose values make the rows: one image per tag pair, "
                        "all at the same noise (--seed picks it; --n does not apply)")
    p.add_argument("--n", type=int, default=8, help="rows (noise vectors), default 8")
    p.add_argument("--cond", help="fix the other attributes/codes, e.g. hair=blue or c0=3")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=7, help="infogan continuous codes: columns (default 7)")
    p.add_argument("--range", default="-1,1", help="infogan continuous codes: LO,HI (default -1,1)")
    p.set_defaults(func=_lazy("conditional"))

    p = sub.add_parser("vae-views", help="VAE (or BiGAN): test images over their reconstructions, test MSE, samples")
    add_run_flags(p)
    add_data_flags(p)
    p.add_argument("--n", type=int, default=8, help="test images shown (default 8)")
    p.add_argument("--samples", type=int, default=16, help="random samples shown (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float,
                   help="held-out share at the end of the data (default: the run's vae.test_fraction; 0 with --data)")
    p.set_defaults(func=_lazy("vae_views"))

    p = sub.add_parser("embed", help="encoder latents of real images in 2-D (t-SNE/PCA), coloured by an attribute")
    add_run_flags(p)
    add_data_flags(p)
    p.add_argument("--color-by", required=True, metavar="ATTR", help="the attribute that colours the points")
    p.add_argument("--method", default="tsne", choices=("tsne", "pca"), help="tsne (default) or pca")
    p.add_argument("--n", type=int, default=2000, help="images encoded (a random subset; default 2000)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_lazy("embed"))

    p = sub.add_parser("probe", help="logistic-regression and RBF-SVM accuracy of an attribute from encoder latents")
    add_run_flags(p)
    add_data_flags(p)
    p.add_argument("--target", required=True, metavar="ATTR", help="the attribute to predict")
    p.add_argument("--n", type=int, default=2000, help="images encoded (a random subset; default 2000)")
    p.add_argument("--test-size", type=float, default=0.25, help="held-out share (default 0.25)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_lazy("probe"))

    p = sub.add_parser("export", help="write the generator as an ONNX or TorchScript file (plus a JSON of its "
                                      "inputs) that other tools load without ganlab")
    p.add_argument("run", help="a run folder")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"), help="onnx or torchscript")
    p.add_argument("--checkpoint", help="latest (default), best, an epoch number or a checkpoint path")
    p.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    p.add_argument("--out", help="the file to write (default RUN/export/generator.onnx or .pt); its description "
                                 "goes beside it with .json")
    p.set_defaults(func=_lazy("export"))

    p = sub.add_parser("explore", help="a local web page to explore trained runs live (the explore extra)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (the page can show any of them, and two "
                                                           "side by side)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                                                       "only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    p.add_argument("--classifier", metavar="PATH", help="an attribute classifier (ganlab train-classifier): the "
                                                        "page can then find latent directions with it")
    p.set_defaults(func=_lazy("server"))

    p = sub.add_parser("project", help="find the latent vector (and tags) whose image best matches a real photo")
    p.add_argument("run", help="a run folder")
    p.add_argument("--image", required=True, metavar="PHOTO", help="the photo (PNG, JPEG, ...): centre-cropped and "
                                                                   "resized to the run's images")
    p.add_argument("--checkpoint", help="latest (default), best, an epoch number or a checkpoint path")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    p.add_argument("--steps", type=int, default=300, help="Adam steps (default 300)")
    p.add_argument("--starts", type=int, default=4, help="random starts, plus the encoder's estimate where the run "
                                                         "has one (default 4)")
    p.add_argument("--features", default="auto", help="the feature loss: d (D's convolutions), classifier:PATH "
                                                      "(ganlab train-classifier), none; auto (default): d where D "
                                                      "scores single images, else none")
    p.add_argument("--feature-weight", type=float, default=0.1, help="weight of the feature loss (default 0.1)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam's step size on z (default 0.05)")
    p.add_argument("--cond", help="conditional runs: fix tags, e.g. hair=blue (default: read or searched)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    p.add_argument("--out", help="folder for z.pt, reconstruction.png, losses.png, projection.json (default "
                                 "RUN/projections/<photo name>)")
    p.set_defaults(func=_lazy("project"))

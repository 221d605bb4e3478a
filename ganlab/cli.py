"""The ``ganlab`` command line: a thin layer over the library. Each subcommand parses its flags and
calls one library function; errors a user can fix are printed as one line and exit with status 2."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganlab.config import ConfigError

# flag name -> config key (the common training flags)
TRAIN_FLAGS = {
    "data": "data.source", "format": "data.format", "labels": "data.labels", "image_size": "data.image_size",
    "channels": "data.channels", "limit": "data.limit", "batch_size": "train.batch_size",
    "epochs": "train.epochs", "steps": "train.steps", "latent_dim": "model.latent_dim", "seed": "train.seed",
    "device": "train.device",
}
DEFAULT_RECIPE = "dcgan"


class UserError(Exception):
    """Raised for conditions the user can fix; printed without a traceback."""


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", "-r", help=f"a recipe name (see 'ganlab recipes') or YAML path "
                                          f"(default: {DEFAULT_RECIPE})")
    p.add_argument("--data", help="images: a folder, class folders, a CelebA or MNIST folder, or digits/ring8/grid25")
    p.add_argument("--format", help="auto, digits, folder, csv, celeba, mnist, ring8, grid25 (default: auto)")
    p.add_argument("--labels", help="CSV of per-image tags: a 'file' column and one column per attribute")
    p.add_argument("--image-size", type=int, help="16, 32, 64 or 128")
    p.add_argument("--channels", type=int, help="1 (grey) or 3 (RGB)")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--epochs", type=int, help="total number of epochs (with --resume: the new total)")
    p.add_argument("--steps", type=int, help="stop after this many generator steps in total")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set model.upsample=bilinear (repeatable)")


def _flag_values(args) -> dict:
    return {key: getattr(args, flag) for flag, key in TRAIN_FLAGS.items() if getattr(args, flag, None) is not None}


def cmd_train(args) -> int:
    from ganlab.config import load_config
    from ganlab.rundir import RunDir
    from ganlab.train import resume_config, train

    values = _flag_values(args)
    if args.resume:
        if args.recipe or args.out:
            raise UserError("--resume continues a run with its own recipe and folder; drop --recipe/--out")
        allowed = {"train.epochs", "train.steps", "train.device"}
        bad = sorted(set(values) - allowed)
        if bad:
            raise UserError(f"--resume takes only --epochs, --steps and --device; the run's config fixes {bad}")
        cfg = resume_config(RunDir(args.resume), values, args.set)
        train(cfg, resume=args.resume)
        return 0
    cfg = load_config(args.recipe or DEFAULT_RECIPE, args.set, values)
    train(cfg, out=args.out)
    return 0


def cmd_sample(args) -> int:
    import torch
    from torchvision.utils import save_image

    import ganlab
    from ganlab.plots import save_scatter

    g = ganlab.load(args.run, args.checkpoint, args.device)
    cond = parse_cond(args.cond) if args.cond else None
    samples = g.sample(args.n, seed=args.seed, cond=cond)
    out = Path(args.out) if args.out else g.run.path / f"sample-seed{args.seed}.png"
    as_dir = args.out is not None and (args.out.endswith("/") or out.is_dir())
    if g.info.kind == "points":
        out = out / "points.png" if as_dir else out
        out.parent.mkdir(parents=True, exist_ok=True)
        save_scatter(torch.empty(0, 2), samples, out, title=f"{args.n} samples")
        print(out)
        return 0
    if as_dir:
        out.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(samples):
            save_image(img, str(out / f"{i:05d}.png"))
        print(f"wrote {len(samples)} images to {out}/")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        from ganlab.plots import save_grid
        if args.numbered:
            from ganlab.plots import save_numbered_sheet
            save_numbered_sheet(samples, out)
        else:
            save_grid(samples, out, output="sigmoid")
        print(out)
    return 0


def parse_cond(text: str) -> dict:
    """``hair=blue,eyes=green`` -> {"hair": "blue", "eyes": "green"}."""
    cond = {}
    for part in text.split(","):
        if "=" not in part:
            raise UserError(f"--cond {text!r}: expected NAME=VALUE pairs separated by commas, e.g. hair=blue,eyes=red")
        k, v = part.split("=", 1)
        cond[k.strip()] = v.strip()
    return cond


def cmd_recipes(args) -> int:
    from ganlab.config import list_recipes
    recipes = list_recipes()
    width = max(map(len, recipes), default=0)
    for name, comment in recipes.items():
        print(f"{name:<{width}}  {comment}")
    return 0


def cmd_eval(args) -> int:
    from ganlab.evaluate import ALL_METRICS, EvalError, evaluate
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    for m in metrics or []:
        if m not in ALL_METRICS:
            raise UserError(f"--metrics: unknown metric {m!r}; choose from: {', '.join(ALL_METRICS)}")
    try:
        evaluate(args.run, data=args.data, metrics=metrics, n=args.n, features=args.features, fake_dir=args.fake,
                 checkpoint=args.checkpoint, image_size=args.image_size, labels=args.labels,
                 data_format=args.format, cascade=args.cascade, critic_steps=args.critic_steps, seed=args.seed,
                 device=args.device, weights=args.weights)
    except (EvalError, FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    return 0


def cmd_train_classifier(args) -> int:
    import json as _json

    from ganlab.config import DataConfig
    from ganlab.data import load_dataset
    from ganlab.features.classifier import save_classifier, train_classifier
    dc = DataConfig(source=args.data, labels=args.labels, format=args.format, image_size=args.image_size,
                    channels=args.channels, limit=args.limit)
    ds = load_dataset(dc)
    attrs = [a.strip() for a in args.attributes.split(",")] if args.attributes else None
    try:
        model, report = train_classifier(ds, attrs, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                         seed=args.seed, device=args.device, width=args.width)
    except ValueError as e:
        raise UserError(str(e)) from None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_classifier(model, out, report)
    out.with_suffix(".json").write_text(_json.dumps(report, indent=1))
    print(f"saved {out} (report {out.with_suffix('.json')})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganlab", description="Train, compare, evaluate and explore GANs on image datasets. "
                                   "'ganlab COMMAND --help' explains each command.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model (default: DCGAN on the built-in digits)")
    _add_train_flags(p)
    p.add_argument("--out", help="the run folder to create (default runs/<recipe>-<timestamp>)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its latest checkpoint; --epochs is the total")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="write samples of a trained run")
    p.add_argument("run")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="a PNG grid, or DIR/ for one PNG per sample (default RUN/sample-seedS.png)")
    p.add_argument("--checkpoint", help="latest (default), best, an epoch number or a checkpoint path")
    p.add_argument("--cond", help="attribute values for conditional models, e.g. hair=blue,eyes=green")
    p.add_argument("--numbered", action="store_true", help="number the tiles (to pick samples for 'ganlab edit')")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="metrics between generated samples and real data")
    p.add_argument("run", nargs="?", help="a run folder (or use --fake DIR)")
    p.add_argument("--data", help="real data (default: the run's own data)")
    p.add_argument("--labels", help="tags CSV for the real data")
    p.add_argument("--format", default="auto")
    p.add_argument("--fake", help="a folder of generated images from any tool, instead of a run")
    p.add_argument("--metrics", help="comma-separated: fid,kid,is,prdc,swd,w_critic,faces,cond_acc,toy "
                                     "(default fid,kid,is; toy for 2-D data)")
    p.add_argument("--n", type=int, default=10000, help="generated samples (and at most this many real ones)")
    p.add_argument("--features", default="inception",
                   help="inception, torchvision-inception, or classifier:PATH (from train-classifier)")
    p.add_argument("--weights", help="local Inception weights file (default: the torch hub cache)")
    p.add_argument("--checkpoint", help="latest (default), best, an epoch number or a checkpoint path")
    p.add_argument("--image-size", type=int, help="with --fake: the size both sides are compared at (default 64)")
    p.add_argument("--cascade", help="OpenCV cascade XML for the face metric (default: OpenCV's frontal face)")
    p.add_argument("--critic-steps", type=int, default=500, help="training budget of the independent critic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train-classifier", help="train a domain classifier on labelled real images")
    p.add_argument("--data", required=True)
    p.add_argument("--labels")
    p.add_argument("--format", default="auto")
    p.add_argument("--attributes", help="comma-separated attributes to predict (default: all)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--channels", type=int)
    p.add_argument("--limit", type=int)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=32, help="channels of the first conv layer (doubling per level)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="where to save the classifier (.pt); a .json report is written beside")
    p.set_defaults(func=cmd_train_classifier)

    p = sub.add_parser("recipes", help="list the built-in recipes")
    p.set_defaults(func=cmd_recipes)

    from ganlab.explore import add_explore_commands  # exploration, report and sweep commands (ganlab.explore)
    add_explore_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ganlab.rundir import RunError
    try:
        from ganlab.data import DataError
    except ImportError:  # pragma: no cover
        DataError = ConfigError  # noqa: N806
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, RunError, DataError, UserError) as e:
        print(f"ganlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # run through the imported module, so that error classes other modules import from ganlab.cli are the same
    from ganlab.cli import main as _main
    sys.exit(_main())

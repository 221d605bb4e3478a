"""``ganlab sample``, ``ganlab eval`` and ``ganlab train-classifier``."""
from __future__ import annotations

import sys
from pathlib import Path

from ganlab.config import check_device
from ganlab.errors import ConfigError


def _progress() -> bool:
    """Progress bars only where someone watches them: a log or a pipe gets the result lines alone."""
    return sys.stderr.isatty()


def _writable_parent(out: Path, flag: str = "--out") -> None:
    """Create the folder ``out`` goes in, or say in one line why it cannot be."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{flag} {out}: cannot create its folder: {e.strerror or e}") from None
    if out.is_dir():
        raise ConfigError(f"{flag} {out} is a folder; give a file name")


def cmd_sample(args) -> int:
    import torch
    from torchvision.utils import save_image

    import ganlab
    from ganlab.plots import save_scatter

    if args.n < 1:
        raise ConfigError(f"--n {args.n}: ask for at least 1 sample")
    check_device(args.device, "--device")
    g = ganlab.load(args.run, args.checkpoint, args.device)
    from ganlab.methods.conditioning import parse_cond
    cond = parse_cond(args.cond) if args.cond else None
    samples = g.sample(args.n, seed=args.seed, cond=cond)
    out = Path(args.out) if args.out else g.run.path / f"sample-seed{args.seed}.png"
    as_dir = args.out is not None and (args.out.endswith("/") or out.is_dir())
    _writable_parent(out / "x.png" if as_dir else out)
    if g.data_info.kind == "points":
        out = out / "points.png" if as_dir else out
        save_scatter(torch.empty(0, 2), samples, out, title=f"{args.n} samples")
        print(out)
        return 0
    if as_dir:
        for i, img in enumerate(samples):
            save_image(img, str(out / f"{i:05d}.png"))
        print(f"wrote {len(samples)} images to {out}/")
    else:
        from ganlab.plots import save_grid
        if args.numbered:
            from ganlab.plots import save_numbered_sheet
            save_numbered_sheet(samples, out)
        else:
            save_grid(samples, out, output="sigmoid")
        print(out)
    return 0


def cmd_eval(args) -> int:
    import ganlab
    from ganlab.eval import evaluate
    from ganlab.eval.metrics.registry import metrics as registered
    names = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    for m in names or []:
        if m not in registered():
            raise ConfigError(f"--metrics: unknown metric {m!r}; choose from: {', '.join(registered())}")
    check_device(args.device, "--device")
    g = ganlab.load(args.run, args.checkpoint, args.device) if args.run else None
    evaluate(g, data=args.data, metrics=names, n=args.n, features=args.features, fake_dir=args.fake,
             image_size=args.image_size, labels=args.labels, data_format=args.format, cascade=args.cascade,
             critic_steps=args.critic_steps, seed=args.seed, device=args.device, weights=args.weights,
             progress=_progress())
    return 0


def cmd_train_classifier(args) -> int:
    import json as _json

    from ganlab.config import DataConfig
    from ganlab.data import load_dataset
    from ganlab.eval.features.classifier import choose_precision, save_classifier, train_classifier
    for flag in ("epochs", "batch_size", "width"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be at least 1")
    if not 0 < args.lr < float("inf"):
        raise ConfigError(f"--lr {args.lr}: the learning rate must be a positive number")
    check_device(args.device, "--device")
    choose_precision(args.precision, args.device)  # refused before the data is read
    out = Path(args.out)
    _writable_parent(out)  # before the training, not after it
    dc = DataConfig(source=args.data, labels=args.labels, format=args.format, image_size=args.image_size,
                    channels=args.channels, limit=args.limit)
    ds = load_dataset(dc, progress=_progress())
    attrs = [a.strip() for a in args.attributes.split(",")] if args.attributes else None
    model, report = train_classifier(ds, attrs, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                     seed=args.seed, device=args.device, width=args.width, precision=args.precision,
                                     progress=_progress())
    save_classifier(model, out, report)
    out.with_suffix(".json").write_text(_json.dumps(report, indent=1))
    print(f"saved {out} (report {out.with_suffix('.json')})")
    return 0


def add_parsers(sub) -> None:
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
    p.add_argument("--metrics", help="comma-separated metric names, e.g. fid,kid,is,prdc,swd,w_critic,faces,cond_acc,"
                                     "stacked_modes,toy (default fid,kid,is; toy for 2-D data)")
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
    p.add_argument("--precision", default="auto",
                   help="auto (bf16 where the hardware computes bfloat16 natively, else fp32), fp32 or bf16: the "
                        "network's passes; weights, batch norm and losses stay float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="where to save the classifier (.pt); a .json report is written beside")
    p.set_defaults(func=cmd_train_classifier)

    p = sub.add_parser("weights", help="the Inception feature extractors' weights files: list them, or fetch one "
                                       "(downloads happen only here, never implicitly)")
    p.add_argument("action", choices=("list", "fetch"), help="list: where ganlab looks and what it finds; fetch: "
                                                              "download into the torch hub cache, hash checked")
    p.add_argument("name", nargs="?", help="fetch: inception or torchvision-inception")
    p.add_argument("--from", dest="source", metavar="PATH_OR_URL", help="fetch from a mirror URL or a local copy "
                                                                        "instead of the official release")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_weights)


def cmd_weights(args) -> int:
    from ganlab.eval.features.weights import cmd
    return cmd(args)

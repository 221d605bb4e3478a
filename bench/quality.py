"""Quality at equal wall time: ganlab with a recipe against the pytorch/examples DCGAN script, trained side by
side on the same cores and scored on held-out images.

    python bench/quality.py --script PATH/TO/pytorch-examples/dcgan/main.py \
        [--data ../shared/data/anime-faces/images --labels ../shared/data/anime-faces/tags.csv] \
        [--held-out 1418] [--recipe dcgan] [--set KEY=VALUE ...] [--image-size 64] [--minutes 30] \
        [--snapshot-minutes 5] [--n 5000] [--work /tmp/ganlab-quality] [--seed 0]

The script is not part of ganlab: clone https://github.com/pytorch/examples and give the path of
``dcgan/main.py`` (its networks are built for 64x64 images only). The folder is split once into a training
part and ``--held-out`` images that neither side sees (bench/heldout.py); a feature classifier is trained once
on the training part's tags and cached in ``--work``.

The race: both sides start at the same moment as processes of their own, each pinned to its own core
(``--cores``) with one thread (OMP_NUM_THREADS=1, torch.set_num_threads(1)), and train on the training part
for ``--minutes`` of wall time, counted from that common start (so imports, data loading and model builds
count as a user waits for them; ganlab's decoded-data cache is made before the race, as a second run on a
folder finds it). ganlab runs ``ganlab train --recipe R`` in-process and the script runs its own source
(``exec``, with its own flags: batch 64, ngf = ndf = 64, Adam 2e-4 / 0.5, ``--workers 0``). Every
``--snapshot-minutes`` a snapshot of the generator is written at the next step boundary (ganlab: before a batch
is drawn; the script: after its generator's optimizer step), with its actual time and the images seen (real
images drawn from the data; ganlab: iterations x batch size; the script: rows its data loader yielded). A ganlab
side with a time budget of its own (``--set train.minutes=M``: recipes such as fast64-long plan their schedules over
it) ends itself by its deadline, final checkpoint written, a little before the race's end: that final state is
every snapshot still due, at the time it ended.

Then each snapshot gives ``--n`` samples, each side's generator as the side itself uses it: ganlab's run loaded
with ``ganlab.load`` (eval mode, its EMA generator where the recipe keeps one); the script's ``netG`` in train
mode (batch-norm batch statistics), fed N(0, 1) noise ``[b, nz, 1, 1]`` in batches of the script's batch size,
in a process that runs the script's own source up to its training loop. Every snapshot is scored against the
held-out images with SWD (no features) and with FID, KID and precision/recall/density/coverage in the
classifier's features; the training images' own scores against the held-out ones are the floor. The table
gives, at each equal time, both sides and their ratio (ganlab / script); ``quality.json`` holds every number
and ``quality.png`` plots each metric against wall time. Everything stays in ``--work``: a second call only
does what is missing (a race cut short is run again from its start).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import heldout  # noqa: E402
from data_paths import DEFAULT_DATA  # noqa: E402

METRICS = ["swd", "fid", "kid", "prdc"]
ROWS = ["swd", "fid", "kid", "precision", "recall", "density", "coverage"]
SIDES = ("ganlab", "script")


class Deadline(BaseException):
    """Raised at a step boundary once the last snapshot is written: ends a side's training (not an Exception,
    so nothing in between takes it for a failure)."""


def save(obj, path: Path) -> None:
    """``torch.save`` to ``path`` through a temporary file: a snapshot is whole or absent (both sides alike)."""
    import torch
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def snapshots_in(folder: Path, suffix: str = ".pt") -> list[Path]:
    """A side's snapshots (snap-01.pt, ...; not the samples and scores kept beside them), in order."""
    return sorted(p for p in folder.glob(f"snap-*{suffix}") if "." not in p.stem)


def write_json(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def schedule(minutes: float, every: float) -> list[float]:
    """Planned snapshot times in seconds from the start: every ``every`` minutes, and at ``minutes``."""
    end, step = minutes * 60, every * 60
    times, k = [], 1
    while k * step < end - 1e-6:
        times.append(k * step)
        k += 1
    return times + [end]


class Snapshots:
    """One side's equal-time schedule: snapshot k is due once ``times[k]`` seconds have passed since ``start``
    (the moment the parent launched both sides). ``tick`` is called at step boundaries."""

    def __init__(self, spec: dict):
        self.start, self.times, self.dir = spec["start"], spec["times"], Path(spec["snapshots"])
        self.k = 0

    def tick(self, write, images: int, steps: int) -> None:
        elapsed = time.time() - self.start
        while self.k < len(self.times) and elapsed >= self.times[self.k]:
            stem = self.dir / f"snap-{self.k + 1:02d}"
            write(stem.with_suffix(".pt"))
            write_json({"planned_s": self.times[self.k], "seconds": elapsed, "images": images, "steps": steps},
                       stem.with_suffix(".json"))
            self.k += 1
        if self.k == len(self.times):
            raise Deadline


# ------------------------------------------------------------------------------------------ the sides' processes
def ganlab_child(spec: dict) -> None:
    """``ganlab train`` in this process, with a snapshot of the run's state (a ganlab checkpoint less the
    optimizers) whenever one is due, before the batch of the next step is drawn."""
    import torch
    torch.set_num_threads(1)
    from ganlab.cli import main
    from ganlab.train import loop

    clock = Snapshots(spec)
    draw = loop.Trainer.batch

    def batch(self, idx):
        def write(path):
            state = self.state()
            del state["optimizers"], state["rng"]
            save(state, path)
        clock.tick(write, self.global_iter * self.batch_size * self.world, self.method.g_steps)
        return draw(self, idx)

    loop.Trainer.batch = batch
    try:
        rc = main(["train", *spec["argv"]])
    except Deadline:
        return
    from ganlab.runs import checkpoint as ckpt
    from ganlab.runs.folder import RunDir
    state = ckpt.load(RunDir(spec["argv"][spec["argv"].index("--out") + 1]).latest) if rc == 0 else {}
    if (state.get("budget") or {}).get("stopped_at") is not None:
        # a run with its own time budget (--minutes or train.minutes) ended itself by its deadline, final checkpoint
        # written: what it ended with is every snapshot still due, at the time it ended
        state.pop("optimizers", None), state.pop("rng", None)
        images = int(state["global_iter"]) * int(state["config"]["train"]["batch_size"])
        steps = int(state["method_state"]["g_steps"])
        clock.times = [min(t, time.time() - clock.start) for t in clock.times]
        try:
            clock.tick(lambda path: save(state, path), images, steps)
        except Deadline:
            return
    sys.exit(f"bench: ganlab train ended (status {rc}) before its last snapshot")


def script_child(spec: dict) -> None:
    """The script's own source, run as ``__main__`` with its flags. Training: a snapshot of ``netG``'s
    state_dict whenever one is due, right after the optimizer of netG's parameters stepped. Sampling
    (``spec["mode"] == "sample"``): when the training loop asks for its first batch, ``netG`` (the script's
    module) is loaded with each snapshot and makes ``n`` samples as the script makes its fakes."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.utils.data import dataloader

    script = Path(spec["script"])
    code = compile(script.read_text(), str(script), "exec")
    env = {"__name__": "__main__", "__file__": str(script), "__builtins__": __builtins__}
    sys.argv = [str(script), *spec["argv"]]
    seen = [0, 0]  # real images the data loaders yielded, steps of netG's optimizer
    next_batch = dataloader._BaseDataLoaderIter.__next__
    sampling = spec["mode"] == "sample"
    torch.set_num_threads(len(os.sched_getaffinity(0)) if sampling else 1)

    def counted(it):
        if sampling:
            sample_snapshots(env, spec)
            raise Deadline
        batch = next_batch(it)
        seen[0] += len(batch[0] if isinstance(batch, (list, tuple)) else batch)
        return batch

    dataloader._BaseDataLoaderIter.__next__ = counted
    clock = Snapshots(spec)
    owners: dict[int, bool] = {}

    def after_step(opt, args, kwargs):
        net = env.get("netG")
        if net is None:
            return
        if id(opt) not in owners:
            first = next(net.parameters())
            owners[id(opt)] = any(p is first for group in opt.param_groups for p in group["params"])
        if owners[id(opt)]:
            seen[1] += 1
            clock.tick(lambda path: save(net.state_dict(), path), seen[0], seen[1])

    if not sampling:
        register_optimizer_step_post_hook(after_step)
    try:
        exec(code, env)
    except Deadline:
        return
    sys.exit(f"bench: {script} ended before its last snapshot" if not sampling else
             f"bench: {script} never asked its data loader for a batch (no netG to sample)")


def sample_snapshots(env: dict, spec: dict) -> None:
    import torch
    net, nz = env["netG"], int(env["nz"])
    opt = env.get("opt")
    batch = int(getattr(opt, "batchSize", 64))
    device = next(net.parameters()).device
    for snap in snapshots_in(Path(spec["snapshots"])):
        out = snap.with_name(f"{snap.stem}.samples-n{spec['n']}-s{spec['seed']}.pt")
        if out.is_file():
            continue
        net.load_state_dict(torch.load(snap, map_location=device))
        net.train()  # as the script makes its fakes: batch statistics
        g = torch.Generator().manual_seed(spec["seed"])
        parts = []
        with torch.no_grad():
            for lo in range(0, spec["n"], batch):
                z = torch.randn(min(batch, spec["n"] - lo), nz, 1, 1, generator=g).to(device)
                x = net(z).float().cpu()
                parts.append(((x + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8))
        save(torch.cat(parts), out)
        print(f"{out.name}: {spec['n']} samples", flush=True)


def child(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    (ganlab_child if spec["side"] == "ganlab" else script_child)(spec)


# ------------------------------------------------------------------------------------------ the race
def ganlab_argv(args, train: Path, run: Path) -> list[str]:
    return ["--data", str(train), "--recipe", args.recipe, "--image-size", str(args.image_size),
            "--epochs", "1000000", "--seed", str(args.seed), "--out", str(run),
            "--set", "train.device=cpu", "--set", "train.progress=false", "--set", "train.tensorboard=false",
            # a race measures what the recipe gives in its time: health findings are recorded, not acted on
            "--set", "train.on_failure=warn",
            *[x for s in args.set for x in ("--set", s)]]


def script_argv(args, root: Path, outf: Path) -> list[str]:
    return ["--dataset", "folder", "--dataroot", str(root), "--imageSize", str(args.image_size),
            "--batchSize", str(args.script_batch_size), "--ngf", str(args.script_width),
            "--ndf", str(args.script_width), "--lr", str(args.script_lr), "--beta1", "0.5", "--niter", "1000000",
            "--workers", "0", "--outf", str(outf), "--manualSeed", str(args.seed)]


def warm_cache(args, train: Path) -> float:
    """Decode the training part into ganlab's cache (what the ganlab side then only reads), as the run will."""
    from ganlab.data import load_dataset
    from ganlab.experiment import load_experiment
    t = time.perf_counter()
    cfg = load_experiment(args.recipe, ["train.device=cpu", *args.set],
                          {"data.source": str(train), "data.image_size": args.image_size})
    load_dataset(cfg.data, progress=False)
    return time.perf_counter() - t


def launch(spec: dict, folder: Path, name: str, env: dict, core: int | None) -> subprocess.Popen:
    path = folder / f"{name}.spec.json"
    write_json(spec, path)
    log = open(folder / f"{name}.log", "ab")
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    return subprocess.Popen([sys.executable, __file__, "--child", str(path)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, preexec_fn=pin)


def wait_all(procs: dict, folder: Path) -> None:
    """Wait for every process; when one fails, stop the others (started here) and say which failed."""
    while procs:
        for name, p in list(procs.items()):
            rc = p.poll()
            if rc is None:
                continue
            del procs[name]
            if rc != 0:
                for other in procs.values():
                    other.terminate()
                    other.wait()
                log = (folder / f"{name}.log").read_text(errors="replace").splitlines()
                sys.exit(f"bench: the {name} side exited with {rc}; the end of {folder / (name + '.log')}:\n"
                         + "\n".join(log[-15:]))
        time.sleep(0.2)


def race(args, split: dict, cores: list[int], phases: dict) -> Path:
    """Train both sides for the same wall time (or find them trained); the race's folder."""
    key = {"recipe": args.recipe, "set": args.set, "image_size": args.image_size, "minutes": args.minutes,
           "snapshot_minutes": args.snapshot_minutes, "seed": args.seed, "script": str(Path(args.script).resolve()),
           "script_batch_size": args.script_batch_size, "script_width": args.script_width,
           "script_lr": args.script_lr, "cores": cores, "split": json.loads((args.work / "split.json").read_text())}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    folder = args.work / f"race-{Path(args.recipe).stem}-{args.image_size}px-{args.minutes:g}min-{digest}"
    if (folder / "race.json").is_file():
        print(f"race: done before, in {folder}")
        return folder
    if folder.exists():  # cut short: equal times need both sides from one common start
        shutil.rmtree(folder)
    root = folder / "script-data"  # ImageFolder wants one subfolder per class
    root.mkdir(parents=True)
    (root / "train").symlink_to(split["train"].resolve(), target_is_directory=True)
    phases["ganlab cache"] = warm_cache(args, split["train"])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    times = schedule(args.minutes, args.snapshot_minutes)
    print(f"race: {args.minutes:g} min, snapshots at {', '.join(f'{t / 60:g}' for t in times)} min; ganlab on "
          f"core {cores[0]}, the script on core {cores[1]}, one thread each; logs in {folder}", flush=True)
    start = time.time()
    specs = {"ganlab": {"side": "ganlab", "argv": ganlab_argv(args, split["train"], folder / "ganlab-run")},
             "script": {"side": "script", "mode": "train", "script": str(Path(args.script).resolve()),
                        "argv": script_argv(args, root, folder / "script-out")}}
    procs = {}
    for (name, spec), core in zip(specs.items(), cores):
        snaps = folder / f"{name}-snapshots"
        snaps.mkdir()
        procs[name] = launch({**spec, "start": start, "times": times, "snapshots": str(snaps)}, folder, name, env,
                             core)
    wait_all(procs, folder)
    phases["race"] = time.time() - start
    for f in (folder / "script-out").glob("net[GD]_epoch_*.pth"):  # the script's epoch checkpoints: not used
        f.unlink()
    write_json({**key, "seconds": phases["race"]}, folder / "race.json")
    return folder


def script_samples(args, folder: Path) -> None:
    """The script's samples of each snapshot (a process running the script's source; all cores)."""
    snaps = folder / "script-snapshots"
    want = [p for p in snapshots_in(snaps)
            if not p.with_name(f"{p.stem}.samples-n{args.n}-s{args.seed}.pt").is_file()]
    if not want:
        return
    spec = json.loads((folder / "script.spec.json").read_text())
    spec.update(mode="sample", n=args.n, seed=args.seed)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    wait_all({"script-samples": launch(spec, folder, "script-samples", env, None)}, folder)


# ------------------------------------------------------------------------------------------ scores and output
def scored(args, folder: Path, split: dict, clf: Path) -> dict:
    """Each side's snapshots, in order, with their scores (computed once, kept beside the snapshot)."""
    import torch
    out = {}
    for side in SIDES:
        rows = []
        for info in snapshots_in(folder / f"{side}-snapshots", ".json"):
            snap = json.loads(info.read_text())
            cache = info.with_name(f"{info.stem}.scores-n{args.n}-s{args.seed}.json")
            if cache.is_file():
                scores = json.loads(cache.read_text())
            else:
                if side == "ganlab":
                    scores = heldout.evaluate(folder / "ganlab-run", split["heldout"], clf, METRICS, args.n,
                                              args.seed, checkpoint=str(info.with_suffix(".pt")))
                else:
                    images = torch.load(info.with_name(f"{info.stem}.samples-n{args.n}-s{args.seed}.pt"))
                    if images.shape[-1] != args.image_size:
                        sys.exit(f"bench: the script's generator makes {images.shape[-1]}x{images.shape[-1]} "
                                 f"images, not {args.image_size}x{args.image_size} (pytorch/examples' DCGAN "
                                 "builds 64x64 networks only)")
                    scores = heldout.evaluate_images(images, split["heldout"], clf, METRICS, args.n, args.seed)
                write_json(scores, cache)
            print(f"{side} snapshot {info.stem} at {snap['seconds'] / 60:.2f} min: "
                  + ", ".join(f"{k} {scores[k]:.4g}" for k in ROWS), flush=True)
            rows.append({**snap, "name": info.stem, **scores})
        out[side] = rows
    if len(out["ganlab"]) != len(out["script"]):
        sys.exit(f"bench: {len(out['ganlab'])} ganlab snapshots but {len(out['script'])} of the script in {folder}")
    return out


def ratios(result: dict) -> list[dict]:
    return [{"planned_s": g["planned_s"], "images": g["images"] / s["images"] if s["images"] else None,
             **{m: g[m] / s[m] if s[m] else None for m in ROWS}} for g, s in zip(result["ganlab"], result["script"])]


def table(result: dict, ratio: list[dict], base: dict) -> str:
    from ganlab.eval.metrics.registry import direction

    def cell(v, width=10):
        return f"{v:>{width}.4g}" if v is not None else f"{'-':>{width}}"

    head = f"{'min':>6} {'side':<7} {'images seen':>12}" + "".join(f"{m:>10}" for m in ROWS)
    lines = [head]
    for g, s, r in zip(result["ganlab"], result["script"], ratio):
        for side, x in (("ganlab", g), ("script", s)):
            lines.append(f"{x['seconds'] / 60:6.2f} {side:<7} {x['images']:>12,}" + "".join(cell(x[m]) for m in ROWS))
        img = f"{r['images']:.2f}x" if r["images"] is not None else "-"
        lines.append(f"{'':6} {'g / s':<7} {img:>12}" + "".join(cell(r[m]) for m in ROWS))
    lines.append(f"{'':6} {'floor':<7} {'':>12}" + "".join(cell(base[m]) for m in ROWS)
                 + "   (the training images against the held-out ones)")
    lower = [m for m in ROWS if direction(m) == "lower"]
    lines.append(f"g / s = ganlab / script at the same planned time: below 1 is ganlab better for {', '.join(lower)}; "
                 f"above 1 for {', '.join(m for m in ROWS if m not in lower)}")
    return "\n".join(lines)


def plot(result: dict, base: dict, path: Path, title: str) -> None:
    from ganlab.plots import plt, replacing
    panels = ROWS + ["images"]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    for ax, m in zip(axes.flat, panels):
        for side, colour in zip(SIDES, ("tab:blue", "tab:orange")):
            rows = result[side]
            ax.plot([x["seconds"] / 60 for x in rows], [x[m] for x in rows], "o-", color=colour, label=side)
        if m in base:
            ax.axhline(base[m], color="grey", linestyle="--", label="floor (training images)")
        ax.set_title("images seen" if m == "images" else m)
        ax.set_xlabel("wall time (min)")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def main():
    shared = DEFAULT_DATA.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--script", help="path of pytorch/examples' dcgan/main.py (required)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an image folder (default: the anime faces)")
    ap.add_argument("--labels", type=Path, default=shared / "tags.csv", help="tags CSV for the feature classifier "
                    "(or a CelebA list_attr_celeba.txt: hair colour, sex, smile, glasses, ... are taken from it)")
    ap.add_argument("--held-out", type=int, default=1418, help="images held out for the real side")
    ap.add_argument("--recipe", default="dcgan", help="ganlab recipe name or YAML path")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="ganlab train override "
                                                                                   "(repeatable)")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=30.0, help="wall time of each side")
    ap.add_argument("--snapshot-minutes", type=float, default=5.0)
    ap.add_argument("--n", type=int, default=5000, help="generated samples per snapshot")
    ap.add_argument("--script-batch-size", type=int, default=64)
    ap.add_argument("--script-width", type=int, default=64, help="the script's --ngf and --ndf")
    ap.add_argument("--script-lr", type=float, default=2e-4)
    ap.add_argument("--classifier-epochs", type=int, default=3)
    ap.add_argument("--cores", help="two CPU cores, ganlab's and the script's (default: the first two this "
                                    "process may use)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ganlab-quality"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    if not args.script or not Path(args.script).is_file():
        ap.error(f"--script: no script at {args.script} (clone https://github.com/pytorch/examples; give "
                 "dcgan/main.py)")
    if not args.data.is_dir() or not args.labels.is_file():
        sys.exit(f"bench: needs an image folder and its tags CSV (got {args.data}, {args.labels})")
    if not 0 < args.snapshot_minutes <= args.minutes:
        ap.error("--snapshot-minutes must be above 0 and at most --minutes")
    allowed = sorted(os.sched_getaffinity(0))
    cores = [int(c) for c in args.cores.split(",")] if args.cores else allowed[:2]
    if len(cores) == 1:
        cores = cores * 2
        print(f"bench: only core {cores[0]} is available: both sides share it", file=sys.stderr)
    if len(cores) != 2 or not set(cores) <= set(allowed):
        ap.error(f"--cores: give two of the cores this process may use ({allowed})")
    args.work.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {}

    t = time.perf_counter()
    split = heldout.split_folder(args.data, args.work, args.held_out, args.labels)
    phases["split"] = time.perf_counter() - t
    t = time.perf_counter()
    clf = heldout.classifier(args.work, args.data, split["train_tags"], args.image_size, args.classifier_epochs,
                             {**os.environ})
    phases["classifier"] = time.perf_counter() - t
    folder = race(args, split, cores, phases)
    t = time.perf_counter()
    script_samples(args, folder)
    phases["script samples"] = time.perf_counter() - t
    t = time.perf_counter()
    result = scored(args, folder, split, clf)
    phases["scores"] = time.perf_counter() - t
    t = time.perf_counter()
    floor_path = args.work / f"floor-{args.image_size}px-n{args.n}.json"
    if floor_path.is_file():
        base = json.loads(floor_path.read_text())
    else:
        base = heldout.floor(split["train"], split["heldout"], clf, METRICS, args.n, args.image_size)
        write_json(base, floor_path)
    phases["floor"] = time.perf_counter() - t

    ratio = ratios(result)
    from ganlab.runs.folder import RunDir
    batch = RunDir(folder / "ganlab-run").read_config()["train"]["batch_size"]
    n_train = sum(1 for _ in split["train"].iterdir())
    title = (f"ganlab --recipe {args.recipe} {' '.join(args.set)} (batch {batch}) vs {Path(args.script).name} "
             f"(batch {args.script_batch_size}, width {args.script_width}, lr {args.script_lr:g}); "
             f"{args.image_size}x{args.image_size}, {args.minutes:g} min on one core each; {args.n} samples vs "
             f"{args.held_out} held-out images, {n_train} to train on; features of {clf.name}")
    print(f"\n{title}")
    print(table(result, ratio, base))
    plot(result, base, args.work / "quality.png", title)
    write_json({"title": title, "race": str(folder), "classifier": str(clf), "floor": base, **result,
                "ratios": ratio, "phases_s": phases, "args": {k: str(v) if isinstance(v, Path) else v
                                                              for k, v in vars(args).items() if k != "child"}},
               args.work / "quality.json")
    print("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
          + " (a phase done before takes ~0 s)")
    print(f"wrote {args.work / 'quality.png'} and {args.work / 'quality.json'}")


if __name__ == "__main__":
    main()

"""``ganlab sweep``: train every combination of a grid of config values, then compare them in one report.

    ganlab sweep dcgan --grid model.upsample=deconv,nearest,bilinear --grid train.n_gen=1,2 \\
        --epochs 5 --out runs/upsample-sweep --jobs 2 [--seeds 3]

Each combination is its own run folder under ``--out``, named by the varied values
(``upsample=nearest,n_gen=2``; the full key where two grid keys end alike). Every combination's config
is built and validated with ``load_experiment`` before any run starts, so a bad key or value stops the sweep
with the config error. Then each run is trained in a subprocess (``python -m ganlab train``), one
after another or ``--jobs N`` at a time:

- a run whose latest checkpoint already reached the planned epochs (or ``train.steps``) is skipped;
- a run that was interrupted (a checkpoint short of the plan) is continued with ``--resume``;
- a folder with a config but no checkpoint (stopped before its first checkpoint) is trained again.

The sweep ends by writing ``--out/report.html`` (``ganlab report`` of all its runs) and
``--out/sweep.json`` (the plan and what happened to each run). With ``--jobs N > 1`` each run's output
goes to ``--out/logs/NAME.log``.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# TRAIN_FLAGS: the training flags a sweep passes on to every run, flag -> config key (as 'ganlab train')
from ganlab.config import TRAIN_FLAGS, budget_epochs, parse_override
from ganlab.errors import ConfigError, RunError
from ganlab.experiment import check_resume_config, load_experiment
from ganlab.runs.folder import RunDir


@dataclass
class Job:
    name: str
    overrides: list[str]                  # --set KEY=VALUE of the grid point
    path: Path
    cfg: object = None
    state: str = "new"                    # new | done | resume | restart
    detail: str = ""
    returncode: int | None = None
    log: Path | None = None
    started: float = 0.0
    elapsed: float = 0.0
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- the grid

def split_values(text: str) -> list[str]:
    """Split on commas that are not inside brackets: ``0.5,[0.5,0.9]`` -> ["0.5", "[0.5,0.9]"]."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [v.strip() for v in out]


def parse_grid(specs: list[str], allow_empty: bool = False) -> list[tuple[str, list[str]]]:
    grid, seen = [], set()
    for spec in specs:
        if "=" not in spec:
            raise ConfigError(f"--grid {spec!r}: expected KEY=V1,V2,..., e.g. model.upsample=deconv,nearest")
        key, values = spec.split("=", 1)
        key = key.strip()
        vals = split_values(values)
        if not key or not vals or any(v == "" for v in vals):
            raise ConfigError(f"--grid {spec!r}: expected KEY=V1,V2,... with no empty values")
        if key in seen:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one --grid")
        if len(set(vals)) != len(vals):
            raise ConfigError(f"--grid {spec!r}: a value is listed twice")
        seen.add(key)
        grid.append((key, vals))
    if not grid and not allow_empty:
        raise ConfigError("give at least one --grid KEY=V1,V2,... (or --seeds N)")
    return grid


def parse_seeds(text: str | int | None) -> list[str]:
    """``--seeds``: a count (``3``: seeds 0, 1, 2) or a list (``0,5,9``), as the values of a ``train.seed`` axis."""
    if text is None:
        return []
    t = str(text).replace(" ", "")
    try:
        if "," not in t:
            n = int(t)
            if n < 1:
                raise ValueError
            return [str(i) for i in range(n)]
        seeds = [int(v) for v in t.split(",") if v != ""]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give a count (3: seeds 0, 1, 2) or seeds separated by commas "
                          "(0,5,9)") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds {text!r}: give distinct seeds of 0 or more")
    return [str(v) for v in seeds]


def short_names(keys: list[str]) -> dict[str, str]:
    """The last part of each key, or the whole key where two keys share their last part."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def run_name(point: list[tuple[str, str]], names: dict[str, str]) -> str:
    text = ",".join(f"{names[k]}={v}" for k, v in point)
    return "".join(c if (c.isalnum() or c in "=,.-_+") else "_" for c in text)


def plan(recipe: str, grid: list[tuple[str, list[str]]], sets: list[str], values: dict, out: Path) -> list[Job]:
    """One validated Job per combination; raises ConfigError / ConfigError before anything runs."""
    set_keys = {parse_override(s)[0] for s in sets}
    for key, _ in grid:
        if key in set_keys:
            raise ConfigError(f"{key} is both in --grid and in --set; drop one")
        if key in values:
            flag = next(f for f, k in TRAIN_FLAGS.items() if k == key)
            raise ConfigError(f"{key} is both in --grid and given by --{flag.replace('_', '-')}; drop one")
    names = short_names([k for k, _ in grid])
    jobs = []
    for combo in itertools.product(*[[(k, v) for v in vals] for k, vals in grid]):
        overrides = [f"{k}={v}" for k, v in combo]
        name = run_name(list(combo), names)
        try:
            cfg = load_experiment(recipe, list(sets) + overrides, values)
        except ConfigError as e:
            raise ConfigError(f"sweep point {name}: {e}") from None
        jobs.append(Job(name, overrides, out / name, cfg))
    if len({j.name for j in jobs}) != len(jobs):
        raise ConfigError("two grid points get the same folder name; make the values distinct")
    return jobs


# --------------------------------------------------------------------------- what each run folder holds

def inspect(job: Job) -> None:
    """Set ``job.state`` from what its folder holds; raise ConfigError for a folder we must not touch."""
    rd = RunDir(job.path)
    if not rd.path.exists() or not any(rd.path.iterdir()):
        job.state = "new"
        return
    if not rd.is_run():
        raise ConfigError(f"{rd.path} exists and is not a ganlab run folder; move it away or choose another --out")
    try:
        old = yaml.safe_load(rd.config_path.read_text()) or {}
        check_resume_config(old, job.cfg.to_dict())
    except RunError as e:
        raise ConfigError(f"{rd.path} holds a run with another config, so the sweep cannot continue it: {e}. "
                         "Choose another --out") from None
    ckpts = list(rd.checkpoints.glob("*.pt")) if rd.checkpoints.is_dir() else []
    if not rd.latest.is_file():
        if ckpts:
            raise ConfigError(f"{rd.path} has checkpoints but no latest.pt; continue it by hand or move it away")
        job.state, job.detail = "restart", "stopped before its first checkpoint"
        return
    import torch
    state = torch.load(rd.latest, map_location="cpu", weights_only=False)
    epoch = int(state.get("epoch", 0))
    g_steps = int(state.get("method_state", {}).get("g_steps", 0))
    job.extra = {"epoch": epoch, "g_steps": g_steps}
    spent = state.get("budget") or {}
    if job.cfg.train.reached(epoch, g_steps):
        job.state, job.detail = "done", f"finished (epoch {epoch}, {g_steps} G steps)"
    elif job.cfg.train.minutes and spent.get("stopped_at") is not None and spent.get("minutes") == job.cfg.train.minutes:
        job.state, job.detail = "done", f"finished: its {job.cfg.train.minutes:g} minutes used ({g_steps} G steps)"
    else:
        job.state, job.detail = "resume", f"interrupted at epoch {epoch}, {g_steps} G steps"


def train_command(job: Job, recipe: str, sets: list[str], flags: dict) -> list[str]:
    cmd = [sys.executable, "-m", "ganlab", "train"]
    if job.state == "resume":
        cmd += ["--resume", str(job.path), "--epochs", str(job.cfg.train.epochs)]
        if job.cfg.train.steps is not None:
            cmd += ["--steps", str(job.cfg.train.steps)]
        if job.cfg.train.minutes is not None:  # the rest of its budget
            cmd += ["--minutes", str(job.cfg.train.minutes)]
        if "device" in flags:
            cmd += ["--device", str(flags["device"])]
        return cmd
    cmd += ["--recipe", recipe, "--out", str(job.path)]
    for flag, value in flags.items():
        cmd += [f"--{flag.replace('_', '-')}", str(value)]
    for s in list(sets) + job.overrides:
        cmd += ["--set", s]
    return cmd


# --------------------------------------------------------------------------- running

def _env(jobs: int) -> dict:
    env = dict(os.environ)
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_jobs(todo: list[tuple[Job, list[str]]], n_parallel: int, logs: Path, log=print) -> None:
    env = _env(n_parallel)
    pending = list(todo)
    running: list[tuple[Job, subprocess.Popen, object]] = []
    try:
        while pending or running:
            while pending and len(running) < n_parallel:
                job, cmd = pending.pop(0)
                if job.state == "restart" and job.path.exists():
                    shutil.rmtree(job.path)
                job.started = time.time()
                if n_parallel > 1:
                    logs.mkdir(parents=True, exist_ok=True)
                    job.log = logs / f"{job.name}.log"
                    fh = open(job.log, "w")
                    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
                else:
                    fh = None
                    proc = subprocess.Popen(cmd, env=env)
                log(f"[sweep] start {job.name} ({'resume' if job.state == 'resume' else 'train'})"
                    + (f", log {job.log}" if job.log else ""))
                running.append((job, proc, fh))
            time.sleep(0.2)
            still = []
            for job, proc, fh in running:
                rc = proc.poll()
                if rc is None:
                    still.append((job, proc, fh))
                    continue
                if fh is not None:
                    fh.close()
                job.returncode, job.elapsed = rc, time.time() - job.started
                log(f"[sweep] {'done' if rc == 0 else f'FAILED (exit {rc})'} {job.name} in {job.elapsed:.0f}s"
                    + (f"; see {job.log}" if rc and job.log else ""))
            running = still
    except KeyboardInterrupt:
        # each training run saves its checkpoint on SIGTERM; the next sweep resumes it
        for job, proc, fh in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for job, proc, fh in running:
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
            if fh is not None:
                fh.close()
        raise


def _train_task(cmd: list[str], log_path: str, env: dict, restart: str | None, stop_file: str) -> tuple[int, float]:
    """One grid point, as a Ray task: the same ``python -m ganlab train`` subprocess as the local backend, its
    output in ``log_path``. When ``stop_file`` appears (the sweep was stopped with Ctrl-C; the run folders are on a
    file system every node sees) it stops the run with SIGTERM, which saves a checkpoint the next sweep resumes."""
    if restart and Path(restart).exists():
        shutil.rmtree(restart)
    t = time.time()
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            if Path(stop_file).exists():
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                break
            time.sleep(0.5)
        return proc.wait(), time.time() - t


def run_jobs_ray(todo: list[tuple[Job, list[str]]], logs: Path, address: str | None = None, cpus: float = 1,
                 gpus: float = 0, log=print) -> None:
    """Every grid point as a Ray task asking for ``cpus`` CPUs and ``gpus`` GPUs, on a local Ray instance or the
    cluster at ``address``; the run folders must be on a file system every node sees."""
    try:
        import ray
    except ImportError:
        raise ConfigError('--backend ray needs Ray: pip install -e ".[cluster]"') from None
    env = _env(1)
    env["OMP_NUM_THREADS"] = str(max(1, int(cpus)))
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 **({} if address else {"num_cpus": os.cpu_count()}))
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_train_task)
    stop_file = logs.parent / ".stop-sweep"
    stop_file.unlink(missing_ok=True)
    refs = {}
    try:
        for job, cmd in todo:
            job.started = time.time()
            job.log = logs / f"{job.name}.log"
            ref = task.remote(cmd, str(job.log), env, str(job.path) if job.state == "restart" else None,
                              str(stop_file))
            refs[ref] = job
            log(f"[sweep] queued {job.name} ({'resume' if job.state == 'resume' else 'train'}) on Ray, "
                f"log {job.log}")
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            job = refs[ready[0]]
            try:
                job.returncode, job.elapsed = ray.get(ready[0])
            except ray.exceptions.RayError as e:
                job.returncode, job.elapsed = -1, time.time() - job.started
                log(f"[sweep] {job.name}: the Ray task failed: {str(e).splitlines()[0]}")
            log(f"[sweep] {'done' if job.returncode == 0 else f'FAILED (exit {job.returncode})'} {job.name} in "
                f"{job.elapsed:.0f}s" + (f"; see {job.log}" if job.returncode else ""))
    except KeyboardInterrupt:
        stop_file.touch()  # every running task sends SIGTERM to its run, which saves a checkpoint
        for ref, job in refs.items():
            try:
                ray.get(ref, timeout=150)
            except Exception:  # noqa: BLE001 - a task that failed or never started: its folder says where it is
                pass
        for ref in refs:
            ray.cancel(ref, force=True)  # queued ones that had not started
        raise
    finally:
        stop_file.unlink(missing_ok=True)
        if started_here:
            ray.shutdown()


def sweep(recipe: str, grid_specs: list[str], sets: list[str] | None = None, flags: dict | None = None,
          out: str | Path | None = None, jobs: int = 1, report: bool = True, dry_run: bool = False,
          log=print, backend: str = "local", address: str | None = None, cpus_per_run: float = 1,
          gpus_per_run: float = 0, seeds: str | int | None = None) -> dict:
    """Run the sweep; returns the summary written to OUT/sweep.json. ``flags``: common training flags by
    their ``ganlab train`` name (epochs, steps, data, image_size, ...). ``seeds`` (``--seeds``: a count or a
    list) adds ``train.seed`` as the last grid axis: every grid point is trained once per seed, in folders named
    ``...,seed=S``, and the report groups them into one setting."""
    sets, flags = list(sets or []), dict(flags or {})
    unknown = sorted(set(flags) - set(TRAIN_FLAGS))
    if unknown:
        raise ConfigError(f"unknown training flag(s): {', '.join(unknown)}")
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give at least 1")
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend {backend}: local or ray")
    if backend == "local" and (address or gpus_per_run or cpus_per_run != 1):
        raise ConfigError("--address, --cpus-per-run and --gpus-per-run are for --backend ray")
    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise ConfigError(f"--cpus-per-run {cpus_per_run} / --gpus-per-run {gpus_per_run}: give a positive "
                          "number of CPUs and zero or more GPUs")
    seed_values = parse_seeds(seeds)
    if seed_values and any(spec.split("=", 1)[0].strip() == "train.seed" for spec in grid_specs):
        raise ConfigError("train.seed is both in --grid and given by --seeds; drop one")
    grid = parse_grid(grid_specs, allow_empty=bool(seed_values)) + ([("train.seed", seed_values)] if seed_values else [])
    values = budget_epochs({TRAIN_FLAGS[f]: v for f, v in flags.items()}, sets)  # as ganlab train sizes them
    from ganlab.data.peek import choose_image_size
    values = choose_image_size(values, sets, log=lambda m: log(f"[sweep] {m}"))  # and every run gets that size
    if "data.image_size" in values and "image_size" not in flags:
        flags["image_size"] = values["data.image_size"]
    out = Path(out) if out else Path("runs") / f"sweep-{Path(recipe).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    if backend == "ray":
        out = out.resolve()  # Ray's workers start elsewhere: every path they get is absolute
    all_jobs = plan(recipe, grid, sets, values, out)          # every config validated here
    for job in all_jobs:
        inspect(job)                                          # and every existing folder checked
    n_total = len(all_jobs)
    log(f"[sweep] {n_total} runs in {out}: " + ", ".join(f"{j.name} ({j.state})" for j in all_jobs))
    todo = [(j, train_command(j, recipe, sets, flags)) for j in all_jobs if j.state != "done"]
    for j in all_jobs:
        if j.state == "done":
            log(f"[sweep] skip {j.name}: {j.detail}")
    if dry_run:
        for j, cmd in todo:
            log(" ".join(_quote(c) for c in cmd))
        return {"out": str(out), "runs": [_job_record(j) for j in all_jobs], "dry_run": True}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create {out}: {e.strerror or e}") from None
    summary = {"recipe": recipe, "grid": {k: v for k, v in grid}, "set": sets, "flags": flags, "out": str(out),
               "jobs": jobs, "backend": backend, "runs": [_job_record(j) for j in all_jobs]}
    (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    try:
        if backend == "ray":
            run_jobs_ray(todo, out / "logs", address, cpus_per_run, gpus_per_run, log)
        else:
            run_jobs(todo, jobs, out / "logs", log)
    finally:
        summary["runs"] = [_job_record(j) for j in all_jobs]
        (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    if report:
        from ganlab.report import write_report
        existing = [j.path for j in all_jobs if j.path.is_dir()]
        if existing:
            page = write_report(existing, out / "report.html", title=f"sweep {out.name}: {recipe}, "
                                + " x ".join(f"{k} ({len(v)})" for k, v in grid))
            summary["report"] = str(page)
            log(f"[sweep] report: {page}")
    failed = [j.name for j in all_jobs if j.returncode not in (None, 0)]
    summary["failed"] = failed
    (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    if failed:
        raise ConfigError(f"{len(failed)} of {n_total} runs failed: {', '.join(failed)}"
                         + (f" (logs in {out / 'logs'})" if jobs > 1 or backend == "ray" else ""))
    return summary


def _job_record(j: Job) -> dict:
    return {"name": j.name, "path": str(j.path), "overrides": j.overrides, "state": j.state, "detail": j.detail,
            "returncode": j.returncode, "elapsed_s": round(j.elapsed, 1), **({"log": str(j.log)} if j.log else {})}


def _quote(s: str) -> str:
    import shlex
    return shlex.quote(s)

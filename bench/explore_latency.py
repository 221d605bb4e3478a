"""How long the live explorer takes to show a grid: ``ganlab explore``'s server started on a run, and the page's
request for an N-image grid timed over HTTP (generation in batches, PNG encoding, transfer), for new seeds.

    python bench/explore_latency.py RUN [--n 64] [--repeats 20] [--checkpoint latest] [--threads T]

Prints the median, the spread and the extremes in milliseconds, beside the generator pass alone.
"""
from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--checkpoint", default="latest")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    import torch
    import uvicorn

    from ganlab.explore.live import Explorer
    from ganlab.explore.server import make_app
    if args.threads:
        torch.set_num_threads(args.threads)
    ex = Explorer([args.run])
    g = ex.generator(0, args.checkpoint)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(make_app(ex), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/api/grid?run=0&n={args.n}&checkpoint={args.checkpoint}&seed="
    urllib.request.urlopen(url + "0").read()  # warm-up
    http, gen = [], []
    for k in range(1, args.repeats + 1):
        t = time.perf_counter()
        body = urllib.request.urlopen(url + str(k)).read()
        http.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        g.generate(g.inputs(args.n, seed=k))
        gen.append((time.perf_counter() - t) * 1000)
    srv.should_exit = True
    c, h, w = g.data_info.shape
    print(f"{args.run} ({g.cfg.method}, {c}x{h}x{w}), {args.n}-image grid, {args.repeats} new seeds, "
          f"{torch.get_num_threads()} torch threads; PNG {len(body) / 1024:.0f} KiB")
    for name, v in (("page request (HTTP, generate, PNG)", http), ("generator pass alone", gen)):
        q = statistics.quantiles(v, n=4)
        print(f"  {name:<36} median {statistics.median(v):6.0f} ms  (quartiles {q[0]:.0f}-{q[2]:.0f}, "
              f"min {min(v):.0f}, max {max(v):.0f})")


if __name__ == "__main__":
    main()

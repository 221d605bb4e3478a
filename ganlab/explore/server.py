"""``ganlab explore RUN [RUN ...]``: a local web page for trained runs, served by Starlette under uvicorn (the
``explore`` extra). The page (``page.html``, no scripts or fonts from elsewhere) asks this server for pictures
by URL; every picture is computed by :class:`ganlab.explore.live.Explorer`.

Bound to 127.0.0.1 unless ``--host`` says otherwise (with a warning: the page has no login). The page names
runs only by their number on the command line, checkpoints only as latest/best/an epoch, and uploads are read
in memory with a size limit.
"""
from __future__ import annotations

import hashlib
import json
import sys
from importlib import resources

from ganlab.errors import ConfigError, GanlabError
from ganlab.explore.live import Explorer
from ganlab.explore.photos import MAX_UPLOAD_BYTES

EXTRA = 'pip install -e ".[explore]"'
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _need_starlette():
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigError(f"ganlab explore needs the explore extra (starlette, uvicorn): {EXTRA}") from None


def _int(q, key, default, lo=None, hi=None):
    v = q.get(key)
    if v in (None, ""):
        return default
    try:
        out = int(v)
    except ValueError:
        raise ConfigError(f"{key}={v!r}: expected a whole number") from None
    if (lo is not None and out < lo) or (hi is not None and out > hi):
        raise ConfigError(f"{key}={out}: expected {lo}..{hi}")
    return out


def _float(q, key, default):
    v = q.get(key)
    if v in (None, ""):
        return default
    try:
        return float(v)
    except ValueError:
        raise ConfigError(f"{key}={v!r}: expected a number") from None


def _json(q, key) -> dict:
    v = q.get(key)
    if not v:
        return {}
    try:
        out = json.loads(v)
    except ValueError:
        raise ConfigError(f"{key}: not valid JSON") from None
    if not isinstance(out, dict):
        raise ConfigError(f"{key}: expected an object of name: value")
    return out


def settings(q) -> dict:
    """The common picture settings of a request's query string."""
    return {"checkpoint": q.get("checkpoint") or None, "seed": _int(q, "seed", 0, 0, 2**31 - 1),
            "scale": _float(q, "scale", 1.0), "cond": _json(q, "cond"), "dirs": _json(q, "dirs")}


def make_app(ex: Explorer):
    _need_starlette()
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    page = resources.files("ganlab.explore").joinpath("page.html").read_text(encoding="utf-8")

    def picture(data: bytes, kind: str = "png", name: str = "ganlab") -> Response:
        digest = hashlib.sha1(data).hexdigest()[:16]
        return Response(data, media_type=f"image/{kind}", headers={
            "X-Digest": digest, "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{name}.{kind}"'})

    def guarded(fn):
        async def endpoint(request):
            try:
                return await fn(request)
            except GanlabError as e:
                return JSONResponse({"error": str(e)}, status_code=400)
        return endpoint

    async def index(request):
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def runs(request):
        return JSONResponse(ex.describe())

    async def grid(request):
        q = request.query_params
        i = ex.run_index(q.get("run", 0))
        s = settings(q)
        return picture(ex.grid(i, n=_int(q, "n", 64, 1), **s), name=f"grid-run{i}-seed{s['seed']}")

    async def attribute_grid(request):
        q = request.query_params
        i = ex.run_index(q.get("run", 0))
        s = settings(q)
        attr = q.get("attribute", "")
        s["cond"].pop(attr, None)
        return picture(ex.attribute_grid(i, attr, rows=_int(q, "rows", 4, 1, 16), **s),
                       name=f"over-{attr}-seed{s['seed']}")

    async def interpolate(request):
        q = request.query_params
        i = ex.run_index(q.get("run", 0))
        s = settings(q)
        fmt = q.get("format", "png")
        data = ex.interpolation(i, _int(q, "a", 0), _int(q, "b", 1), n=_int(q, "n", 64, 1),
                                steps=_int(q, "steps", 10), space=q.get("space", "latent"), fmt=fmt, **s)
        return picture(data, "gif" if fmt == "gif" else "png", name=f"interpolation-{q.get('a')}-{q.get('b')}")

    async def compare(request):
        q = request.query_params
        ids = [ex.run_index(v) for v in (q.get("runs") or "0,1").split(",")]
        s = settings(q)
        return picture(ex.compare(ids, checkpoint=s["checkpoint"], n=_int(q, "n", 16, 1), seed=s["seed"],
                                  scale=s["scale"]), name=f"compare-seed{s['seed']}")

    async def upload(request) -> bytes:
        size = int(request.headers.get("content-length") or 0)
        if size > MAX_UPLOAD_BYTES:
            raise ConfigError(f"the upload is {size / 2**20:.1f} MiB; images up to {MAX_UPLOAD_BYTES >> 20} MiB "
                              "are taken")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                raise ConfigError(f"the upload is over {MAX_UPLOAD_BYTES >> 20} MiB")
        return bytes(data)

    async def reconstruct(request):
        q = request.query_params
        i = ex.run_index(q.get("run", 0))
        return picture(ex.reconstruction(i, await upload(request), checkpoint=q.get("checkpoint") or None),
                       name="reconstruction")

    async def project(request):
        q = request.query_params
        i = ex.run_index(q.get("run", 0))
        data = await upload(request)
        return picture(ex.project_upload(i, data, checkpoint=q.get("checkpoint") or None, dirs=_json(q, "dirs")),
                       name="photo-edit")

    async def photo(request):
        q = request.query_params
        i = ex.run_index(q.get("run", 0))
        return picture(ex.photo_edit(i, checkpoint=q.get("checkpoint") or None, dirs=_json(q, "dirs")),
                       name="photo-edit")

    async def find_direction(request):
        q = request.query_params
        i = ex.run_index(q.get("run", 0))
        return JSONResponse(ex.find_direction(i, q.get("attribute", ""), checkpoint=q.get("checkpoint") or None))

    routes = [Route("/", index), Route("/api/runs", guarded(runs)), Route("/api/grid", guarded(grid)),
              Route("/api/attribute", guarded(attribute_grid)), Route("/api/interpolate", guarded(interpolate)),
              Route("/api/compare", guarded(compare)),
              Route("/api/reconstruct", guarded(reconstruct), methods=["POST"]),
              Route("/api/project", guarded(project), methods=["POST"]), Route("/api/photo", guarded(photo)),
              Route("/api/direction", guarded(find_direction), methods=["POST"])]
    return Starlette(routes=routes)


def serve(runs: list, host: str = "127.0.0.1", port: int = 8765, device: str = "cpu", classifier=None,
          log=print) -> None:
    _need_starlette()
    import uvicorn
    ex = Explorer(runs, device, classifier)
    app = make_app(ex)
    if host not in LOCAL_HOSTS:
        print(f"warning: serving on {host}, reachable from other machines; the page has no login and runs "
              "your models for anyone who reaches it. Use the default 127.0.0.1 unless you mean it.",
              file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    log(f"ganlab explore: {len(ex.runs)} run(s) at http://{shown}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def cmd(args) -> int:
    serve(args.runs, args.host, args.port, args.device, args.classifier)
    return 0

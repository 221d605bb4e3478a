"""ganlab weights list / fetch: the Inception weights downloaded only on request, from a local HTTP server here
(a generated file whose hash is patched in as the published one), hash-checked, resumed or restarted."""
import dataclasses
import hashlib
import http.server
import os
import threading

import pytest

from ganlab.cli import main
from ganlab.errors import EvalError
from ganlab.eval.features import weights as W

BLOB = os.urandom(3 * W.CHUNK + 12345)


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves BLOB at any path; honours Range requests unless the server says not to; counts the bytes sent."""

    def do_GET(self):
        start = 0
        rng = self.headers.get("Range")
        if rng and self.server.ranges:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
        else:
            self.send_response(200)
        body = BLOB[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.sent += len(body)
        self.server.ranges_asked.append(rng)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.ranges, srv.sent, srv.ranges_asked = True, 0, []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()


@pytest.fixture
def published(monkeypatch, tmp_path, server):
    """The inception entry pointed at the local server, with BLOB's hash as the published one; an empty hub."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.delenv("GANLAB_INCEPTION_WEIGHTS", raising=False)
    prefix = hashlib.sha256(BLOB).hexdigest()[:8]
    url = f"http://127.0.0.1:{server.server_address[1]}/{W.FID_WEIGHTS}"
    monkeypatch.setitem(W.WEIGHTS, "inception", dataclasses.replace(W.WEIGHTS["inception"], url=url,
                                                                    sha256_prefix=prefix))
    return W.WEIGHTS["inception"]


def test_fetch_downloads_checks_and_lists(published, server, capsys):
    assert W.status("inception")["found"] is None
    assert main(["weights", "fetch", "inception", "--quiet"]) == 0
    dest = W._hub_file(W.FID_WEIGHTS)
    assert dest.read_bytes() == BLOB and not dest.with_name(dest.name + ".part").exists()
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "present, hash ok" in out and str(dest) in out
    assert main(["weights", "fetch", "inception", "--quiet"]) == 0  # already there: nothing downloaded again
    assert server.sent == len(BLOB) and "already there" in capsys.readouterr().out


def test_a_file_with_another_hash_is_refused_and_not_kept(published, monkeypatch, server):
    monkeypatch.setitem(W.WEIGHTS, "inception", dataclasses.replace(published, sha256_prefix="00000000"))
    with pytest.raises(EvalError, match="published with 00000000; the file was not kept"):
        W.fetch("inception", progress=False, log=lambda *a: None)
    dest = W._hub_file(W.FID_WEIGHTS)
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


@pytest.mark.parametrize("ranges", [True, False])
def test_a_partial_download_is_resumed_or_restarted(published, server, ranges):
    server.ranges = ranges
    dest = W._hub_file(W.FID_WEIGHTS)
    dest.parent.mkdir(parents=True)
    have = W.CHUNK + 7
    dest.with_name(dest.name + ".part").write_bytes(BLOB[:have])
    W.fetch("inception", progress=False, log=lambda *a: None)
    assert dest.read_bytes() == BLOB
    assert server.ranges_asked == [f"bytes={have}-"]
    assert server.sent == (len(BLOB) - have if ranges else len(BLOB))


def test_from_a_local_copy_and_offline(published, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "copy.pth"
    copy.write_bytes(BLOB)
    assert W.fetch("inception", source=str(copy), log=lambda *a: None).read_bytes() == BLOB
    W._hub_file(W.FID_WEIGHTS).unlink()
    monkeypatch.setitem(W.WEIGHTS, "inception", dataclasses.replace(published, url="http://127.0.0.1:9/nothing"))
    assert main(["weights", "fetch", "inception", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot download" in err and "--from PATH" in err
    assert main(["weights", "fetch", "resnet"]) == 2
    assert "there are: inception, torchvision-inception" in capsys.readouterr().err


def test_eval_says_how_to_fetch_when_the_weights_are_missing(published):
    from ganlab.errors import WeightsMissing
    from ganlab.eval.features import get_extractor
    with pytest.raises(WeightsMissing, match="run 'ganlab weights fetch inception'"):
        get_extractor("inception")


@pytest.mark.slow
def test_fid_and_is_equal_torch_fidelitys_own(tmp_path, fid_inception_weights):
    """The same images and weights through ganlab's evaluation and torch-fidelity's calculate_metrics."""
    import numpy as np
    import torch
    from PIL import Image
    torch_fidelity = pytest.importorskip("torch_fidelity")
    from ganlab.eval.run import evaluate
    w = tmp_path / W.FID_WEIGHTS
    fid_inception_weights(w, he_init=True)  # features that differ from image to image
    g = torch.Generator().manual_seed(0)
    n = 16
    for name, shift in (("fake", 0.0), ("real", 0.3)):
        (tmp_path / name).mkdir()
        for i in range(n):
            img = (torch.rand(3, 1, 1, generator=g) * 0.5 + shift + 0.3 * torch.rand(3, 32, 32, generator=g)).clamp(0, 1)
            Image.fromarray((img.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / name / f"{i}.png")
    rows = evaluate(data=str(tmp_path / "real"), fake_dir=str(tmp_path / "fake"), metrics=["fid", "is"],
                    features="inception", weights=str(w), n=n, image_size=32, progress=False, log=lambda *a: None)
    ours = {r["metric"]: r["value"] for r in rows}
    theirs = torch_fidelity.calculate_metrics(input1=str(tmp_path / "fake"), input2=str(tmp_path / "real"), fid=True,
                                              isc=True, isc_splits=1, cuda=False, verbose=False,
                                              feature_extractor_weights_path=str(w), save_cpu_ram=True)
    # the same features, the same float64 statistics and scipy square root: equal to rounding (IS with one split,
    # as ganlab takes below 100 images)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert ours["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-9)

"""ganlab export: the generator as an ONNX file (run here with onnxruntime) and a TorchScript file (torch.jit),
each giving what ``ganlab sample`` gives for the same inputs, at any batch size, described by a JSON."""
import json

import pytest
import torch

import ganlab
from ganlab.cli import main

ort = pytest.importorskip("onnxruntime", reason="the export extra is not installed: pip install -e '.[export]'")
pytest.importorskip("onnx", reason="the export extra is not installed: pip install -e '.[export]'")

# float32 through other kernels (onnxruntime's): images in [0, 1] agree to this
ONNX_ATOL = 1e-5


@pytest.fixture(scope="module")
def runs(gan_run, cgan_run, infogan_run, vae_run, ring_mixture_run, trained_run):
    ema = trained_run("ema-msggan", method="msggan", **{"tricks.ema": 0.9})
    return {"gan": gan_run, "cgan": cgan_run, "infogan": infogan_run, "vae": vae_run, "ring": ring_mixture_run,
            "ema": ema}


def exported(run, fmt, capsys):
    assert main(["export", str(run), "--format", fmt]) == 0
    out = capsys.readouterr().out
    path = run / "export" / ("generator.onnx" if fmt == "onnx" else "generator.pt")
    assert str(path) in out and path.is_file()
    return path, json.loads(path.with_suffix(".json").read_text())


# the other generators' exports are left to the full suite (-m "not slow" exports the GAN's;
# test_the_description_names_what_goes_in exports the cgan's, the infogan's and the ring's)
@pytest.mark.parametrize("name", ["gan", *(pytest.param(n, marks=pytest.mark.slow)
                                          for n in ("cgan", "infogan", "vae", "ring", "ema"))])
def test_both_files_give_what_sample_gives(name, runs, capsys):
    run = runs[name]
    onnx_path, info = exported(run, "onnx", capsys)
    ts_path, info_ts = exported(run, "torchscript", capsys)
    assert [i["name"] for i in info["inputs"]] == [i["name"] for i in info_ts["inputs"]]
    g = ganlab.load(run)
    sess = ort.InferenceSession(str(onnx_path))
    script = torch.jit.load(str(ts_path))
    assert [i.name for i in sess.get_inputs()] == [i["name"] for i in info["inputs"]]
    for n, seed in ((5, 3), (1, 4)):  # the file takes any batch size
        want = g.sample(n, seed=seed)
        inputs = list(g.inputs(n, seed=seed).values())
        for item, v in zip(info["inputs"], inputs):
            assert list(v.shape[1:]) == item["shape"][1:] and str(v.dtype).endswith(item["dtype"])
        got = sess.run(None, {i["name"]: v.numpy() for i, v in zip(info["inputs"], inputs)})[0]
        assert got.shape == tuple(want.shape) and list(got.shape[1:]) == info["output"]["shape"][1:]
        assert abs(torch.from_numpy(got) - want).max() <= ONNX_ATOL
        assert torch.allclose(script(*inputs), want, atol=1e-6, rtol=0)
    if info["output"]["name"] == "images":
        assert info["output"]["range"] == [0.0, 1.0] and info["output"]["layout"] == "NCHW"


def test_the_description_names_what_goes_in(runs, capsys):
    _, info = exported(runs["cgan"], "onnx", capsys)
    z, codes = info["inputs"]
    assert z["name"] == "z" and "normal" in z["distribution"]
    g = ganlab.load(runs["cgan"])
    assert [c["attribute"] for c in codes["columns"]] == list(g.data_info.attributes)
    assert codes["columns"][0]["values"] == [str(v) for v in g.data_info.attributes["digit"]]
    _, info = exported(runs["infogan"], "torchscript", capsys)
    assert [i["name"] for i in info["inputs"]] == ["z", "categorical_codes", "continuous_codes"]
    assert info["inputs"][1]["columns"][0]["categories"] == 10
    _, info = exported(runs["ring"], "onnx", capsys)
    centres = torch.tensor(info["inputs"][0]["centres"])
    g = ganlab.load(runs["ring"])
    z = g.inputs(64, seed=0)["z"]  # every latent the run draws lies around one of the listed centres
    d = torch.cdist(z, centres).sort(1).values
    assert bool((d[:, 0] < 0.6 * d[:, 1]).all())
    assert info["output"] == {"name": "points", "shape": ["batch", 2], "dtype": "float32"}


def test_bad_arguments_get_one_line(runs, tmp_path, capsys):
    assert main(["export", str(runs["gan"]), "--format", "onnx", "--out", str(tmp_path / "g.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ends in .onnx" in err
    assert main(["export", str(tmp_path / "nothing"), "--format", "torchscript"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing" in err
    with pytest.raises(SystemExit):
        main(["export", str(runs["gan"]), "--format", "tflite"])
    assert "invalid choice" in capsys.readouterr().err

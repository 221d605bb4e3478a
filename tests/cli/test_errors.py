"""One error family, one line: every error a user can cause exits 2 with one line naming the problem; a bug
(any other exception) is not swallowed and keeps its traceback."""
import pytest

from ganlab.cli import main
from ganlab.eval.metrics import registry

TINY = ["--data", "digits", "--image-size", "16", "--limit", "64", "--batch-size", "32", "--latent-dim", "8",
        "--epochs", "1", "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.progress=false",
        "--set", "train.tensorboard=false"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A GAN and an InfoGAN run on 16x16 digits (one epoch each, a few seconds)."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", *TINY, "--out", str(root / "gan")]) == 0
    assert main(["train", *TINY, "--set", "method=infogan", "--set", "info.categorical=[4]",
                 "--set", "info.continuous=1", "--out", str(root / "info")]) == 0
    return root


def one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


def test_infogan_codes_from_the_command_line(runs, tmp_path, capsys):
    """--cond values are text until the method reads them: c0=3 is InfoGAN's category 3, c1=0.5 a code value."""
    assert main(["sample", str(runs / "info"), "--n", "4", "--cond", "c0=3,c1=0.5", "--out",
                 str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    capsys.readouterr()
    assert main(["sample", str(runs / "info"), "--n", "4", "--cond", "c0=7", "--out", str(tmp_path / "t.png")]) == 2
    one_line_error(capsys, "c0", "4 categories")
    assert main(["sample", str(runs / "info"), "--cond", "c1=big", "--out", str(tmp_path / "t.png")]) == 2
    one_line_error(capsys, "c1", "not a number")


@pytest.mark.parametrize("args, needles", [
    (["sample", "{gan}", "--cond", "hair=blue"], ["unconditional"]),
    (["sample", "{gan}", "--cond", "hair"], ["NAME=VALUE"]),
    (["sample", "{gan}", "--checkpoint", "7"], ["no checkpoint 7"]),
    (["eval", "{gan}", "--metrics", "cond_acc", "--n", "16"], ["cond_acc", "conditioned on attributes"]),
    (["eval", "{gan}", "--metrics", "toy", "--n", "16"], ["toy", "does not apply to images"]),
    (["eval", "{gan}", "--metrics", "fid", "--n", "16", "--features", "bogus"], ["unknown feature extractor"]),
    (["eval", "{gan}", "--metrics", "fid", "--n", "16", "--features", "classifier:/no/such.pt"], ["not found"]),
    (["eval", "{gan}", "--metrics", "nosuch"], ["unknown metric 'nosuch'", "swd"]),
    (["eval", "--fake", "{gan}"], ["--fake needs --data"]),
    (["conditional", "{gan}"], ["unconditional"]),
    (["embed", "{gan}", "--color-by", "digit"], ["needs an encoder"]),
    (["interpolate", "{gan}", "--between", "a=1:b=2"], ["--between"]),
    (["report", "/no/such/run"], ["does not exist"]),
    (["sweep", "dcgan", "--grid", "model.nosuch=1,2", "--dry-run"], ["unknown config key"]),
    (["train-classifier", "--data", "digits", "--attributes", "hair", "--out", "{tmp}/c.pt"], ["hair"]),
])
def test_user_errors_are_one_line_with_exit_2(runs, tmp_path, capsys, args, needles):
    args = [a.format(gan=runs / "gan", tmp=tmp_path) for a in args]
    assert main(args) == 2
    one_line_error(capsys, *needles)


def test_a_bug_inside_a_metric_is_not_swallowed(runs, monkeypatch):
    """A TypeError raised by a metric's code is a bug: it reaches the caller with its traceback, not as a
    one-line message with exit 2."""
    swd = registry.get_metric("swd")

    def broken(inputs):
        raise TypeError("deliberate bug in a metric")

    monkeypatch.setitem(registry._REGISTRY, "swd", type(swd)(**{**swd.__dict__, "compute": broken}))
    with pytest.raises(TypeError, match="deliberate bug"):
        main(["eval", str(runs / "gan"), "--metrics", "swd", "--n", "32"])

"""``ganlab train`` without --recipe: the classic DCGAN on the built-in data, the recommended recipe for the
image size on a user's own images, and the start of the run says which and why."""
import pytest
import yaml
from PIL import Image

from ganlab.cli import main
from ganlab.config import DEFAULT_RECIPE, RECIPE_LADDER, RECOMMENDED_RECIPES, ladder_rung
from ganlab.experiment import default_recipe, load_experiment


@pytest.mark.parametrize("flags,sets,recipe", [
    ({}, [], DEFAULT_RECIPE),
    ({"data.source": "digits", "data.image_size": 64}, [], DEFAULT_RECIPE),
    ({"data.source": "ring8"}, [], DEFAULT_RECIPE),
    ({"data.source": "/my/faces"}, [], "fast32"),
    ({"data.source": "/my/faces", "data.image_size": 16}, [], "fast32"),
    ({"data.source": "/my/faces", "data.image_size": 64}, [], "fast64"),
    ({"data.source": "/my/faces"}, ["data.image_size=128"], "fast64"),
    ({}, ["data.source=/my/faces", "data.image_size=64"], "fast64"),
    ({"data.source": "/my/faces", "data.image_size": 48}, [], DEFAULT_RECIPE),  # refused later, by name
    ({"data.source": "/my/faces"}, ["method=vae"], DEFAULT_RECIPE),  # the fast recipes are GAN recipes
    ({"data.source": "/my/faces"}, ["method=gan"], "fast32"),
    # a budget climbs the shipped ladder: at 64x64 fast64-long from 30 minutes (measured, docs/benchmarks.md);
    # the other sizes have one rung
    ({"data.source": "/my/faces", "data.image_size": 64, "train.minutes": 10}, [], "fast64"),
    ({"data.source": "/my/faces", "data.image_size": 64, "train.minutes": 29}, [], "fast64"),
    ({"data.source": "/my/faces", "data.image_size": 64}, ["train.minutes=30"], "fast64-long"),
    ({"data.source": "/my/faces", "data.image_size": 128, "train.minutes": 120}, [], "fast64"),
    ({"data.source": "/my/faces", "data.image_size": 32, "train.minutes": 60}, [], "fast32"),
])
def test_which_recipe(flags, sets, recipe):
    assert default_recipe(flags, sets)[0] == recipe


LONG_BUDGET = 20.0


@pytest.fixture
def two_rungs(monkeypatch):
    """A ladder of two rungs at 64x64 whose second starts at LONG_BUDGET, so these tests do not hang on the
    shipped ladder's measured thresholds."""
    import ganlab.config as config
    monkeypatch.setitem(config.RECIPE_LADDER, 64, ((0.0, "fast64"), (LONG_BUDGET, "fast64-long")))


def test_the_ladder_starts_with_the_recipe_without_a_budget_and_climbs_with_it(two_rungs):
    """Every size's ladder: its first rung is the recipe without a budget, and each rung starts where the one
    before it ends (at 64x64 the fixture's two rungs)."""
    assert len(RECIPE_LADDER[64]) == 2
    for size, rungs in RECIPE_LADDER.items():
        assert rungs[0] == (0.0, RECOMMENDED_RECIPES[size])
        starts = [start for start, _ in rungs]
        assert starts == sorted(set(starts))
        for k, (start, recipe) in enumerate(rungs):
            assert ladder_rung(size, start)[0] == recipe
            assert ladder_rung(size, start + 1e-3)[0] == recipe
            if k:
                assert ladder_rung(size, start - 1e-3)[0] == rungs[k - 1][1]


def test_the_start_says_which_rung_and_why(two_rungs):
    assert default_recipe({"data.source": "/my/f", "data.image_size": 64}, ["train.minutes=120"])[0] == "fast64-long"
    recipe, why = default_recipe({"data.source": "/my/faces", "data.image_size": 64, "train.minutes": 90})
    assert recipe == "fast64-long"
    assert f"a budget of 90 minutes (the ladder's rung from {LONG_BUDGET:g} minutes on)" in why
    recipe, why = default_recipe({"data.source": "/my/faces", "data.image_size": 64, "train.minutes": 3})
    assert recipe == "fast64" and f"(the ladder's rung under {LONG_BUDGET:g} minutes)" in why


def test_recommended_recipes_exist_and_differ_from_the_classic_one():
    for size, name in {(size, name) for size, rungs in RECIPE_LADDER.items() for _, name in rungs}:
        cfg = load_experiment(name, flags={"data.source": "digits", "data.image_size": size})
        assert cfg.recipe == name and cfg.data.image_size == size
        classic = load_experiment(DEFAULT_RECIPE, flags={"data.image_size": size})
        assert cfg.to_dict() != classic.to_dict()


def test_own_folder_trains_with_the_recommended_recipe_and_says_so(tmp_path, capsys):
    images = tmp_path / "faces"
    images.mkdir()
    for i in range(16):
        Image.new("RGB", (20, 20), (i * 15, 100, 200 - i * 10)).save(images / f"{i}.png")
    run = tmp_path / "run"
    args = ["train", "--data", str(images), "--image-size", "16", "--steps", "2", "--batch-size", "8",
            "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.progress=false",
            "--set", "train.tensorboard=false", "--out", str(run)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("recipe: fast32 (recommended for your own images at 16x16")
    assert yaml.safe_load((run / "config.yaml").read_text())["recipe"] == "fast32"
    # a recipe named on the command line is used as it is, without the line
    assert main([*args[:-1], str(tmp_path / "run2"), "--recipe", "dcgan"]) == 0
    assert "recipe: fast32" not in capsys.readouterr().out


def test_a_budget_on_the_command_line_climbs_the_ladder_and_says_so(tmp_path, capsys, two_rungs, monkeypatch):
    """The command line times a step of the ladder's first recipe (here a stand-in as fast as the ladder's core,
    so that the test does not hang on this machine's load) and reads the budget with it."""
    import ganlab.methods.speed as speed
    from ganlab.config import LADDER_STEP_S
    timed = []
    monkeypatch.setattr(speed, "step_seconds", lambda cfg, device: timed.append((cfg.recipe, device))
                        or LADDER_STEP_S[64])
    images = tmp_path / "faces"
    images.mkdir()
    for i in range(16):
        Image.new("RGB", (64, 64), (i * 15, 100, 200 - i * 10)).save(images / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--data", str(images), "--image-size", "64", "--minutes", "90", "--steps", "2",
                 "--batch-size", "8", "--set", "model.g_width=4", "--set", "model.d_width=4",
                 "--set", "train.progress=false", "--set", "train.tensorboard=false", "--out", str(run)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("recipe: fast64-long (recommended for your own images at 64x64 and a budget of 90 "
                            "minutes, which trains about as much as 90 minutes of the core the ladder was measured "
                            f"on (fast64's step took {LADDER_STEP_S[64]:.3g} s here")
    assert timed == [("fast64", "auto")]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["recipe"] == "fast64-long" and cfg["train"]["minutes"] == 90


FACES64 = {"data.source": "/my/faces", "data.image_size": 64}


@pytest.mark.parametrize("minutes, speed, recipe, there", [
    (40, 1.0, "fast64-long", 40),   # as fast as the ladder's core: minutes as given
    (40, 0.5, "fast64", 20),        # half as fast: 40 minutes here train as much as 20 there
    (20, 2.0, "fast64-long", 40),   # twice as fast (more threads, a GPU): 20 minutes here are 40 there
    (10, 2.0, "fast64", 20),
])
def test_a_budget_is_read_as_the_training_it_buys_on_this_machine(minutes, speed, recipe, there):
    """The rungs are minutes of the core the ladder was raced on; the probe's step time here converts a budget."""
    from ganlab.config import LADDER_STEP_S
    probed = []

    def probe(cfg):
        probed.append(cfg.recipe)
        return LADDER_STEP_S[64] / speed
    got, why = default_recipe({**FACES64, "train.minutes": minutes}, probe=probe)
    assert got == recipe and probed == ["fast64"]  # the first rung's recipe is what is timed
    assert f"a budget of {minutes} minutes, which trains about as much as {there} minutes of the core the ladder " \
           f"was measured on (fast64's step took {LADDER_STEP_S[64] / speed:.3g} s here" in why


def test_the_probe_times_the_first_rung_as_raced_on_the_runs_device():
    """The machine is measured, not the user's settings: a larger batch or wider networks would read as a slower
    machine. The device, precision and layout are the run's."""
    timed = []
    default_recipe({**FACES64, "train.minutes": 40, "train.batch_size": 256, "train.device": "cpu"},
                   ["model.g_width=128", "train.precision=fp32", "train.channels_last=false"],
                   probe=lambda cfg: timed.append(cfg) or 1.0)
    cfg, = timed
    raced = load_experiment("fast64", flags=FACES64)
    assert cfg.recipe == "fast64" and cfg.train.batch_size == raced.train.batch_size == 64
    assert cfg.model.g_width == raced.model.g_width
    assert (cfg.train.device, cfg.train.precision, cfg.train.channels_last) == ("cpu", "fp32", False)


@pytest.mark.parametrize("flags, recipe", [
    (FACES64, "fast64"),                                                                   # no budget
    ({"data.source": "/my/faces", "data.image_size": 32, "train.minutes": 60}, "fast32"),  # one rung: no choice
    ({"data.source": "digits", "data.image_size": 64, "train.minutes": 60}, DEFAULT_RECIPE),  # the built-in data
])
def test_nothing_is_timed_where_the_budget_chooses_nothing(flags, recipe):
    def probe(cfg):
        raise AssertionError("timed")
    assert default_recipe(flags, probe=probe)[0] == recipe


def test_under_torchrun_the_budget_is_read_as_given(monkeypatch):
    """Each process would time its own steps and might choose another rung than the others."""
    from ganlab.cli.train import ladder_probe
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert ladder_probe() is not None
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert ladder_probe() is None



def test_a_probe_that_fails_leaves_the_minutes_as_given():
    """A step that fails while timed (out of memory on a busy GPU, say) does not stop the command."""
    def probe(cfg):
        raise RuntimeError("CUDA out of memory")
    recipe, why = default_recipe({**FACES64, "train.minutes": 40}, probe=probe)
    assert recipe == "fast64-long" and "trains about as much" not in why

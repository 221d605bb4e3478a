"""Every built-in recipe starts and trains a few steps (shrunk: 16x16 images, thin networks, a few images;
on the built-in digits when the recipe's data set is not on this machine)."""
import json
import math
from pathlib import Path

import pytest
import torch

from ganlab.config import list_recipes, read_yaml, recipe_path, resolve_data_paths
from ganlab.experiment import load_experiment
from ganlab.train import train

TOYS = ("ring8", "grid25")


def shrunk(name: str):
    raw = resolve_data_paths(read_yaml(recipe_path(name)))
    data = raw.get("data", {})
    source = str(data.get("source", "digits"))
    values = {"train.steps": 2, "train.epochs": 2, "train.batch_size": 8, "train.progress": False,
              "train.tensorboard": False, "train.n_samples": 4, "train.log_every": 1,
              "model.g_width": 4, "model.d_width": 4, "model.mlp_hidden": 16}
    if source not in TOYS:
        values.update({"data.image_size": 16, "data.limit": 32})
        missing = source != "digits" and not Path(source).exists()
        labels = data.get("labels")
        if missing or (labels is not None and not Path(labels).exists()):
            values.update({"data.source": "digits", "data.format": "auto", "data.labels": None,
                           "data.channels": None, "cond.attributes": None})
    else:
        values["data.limit"] = 64
    return load_experiment(name, flags=values)


# -m "not slow" starts one recipe of each method (and the 2-D points); every other recipe is left to the full suite
FAST_RECIPES = ("dcgan", "lsgan-digits", "wgan-gp-lambda10", "cwgan-mnist-conv", "infogan-mnist", "bigan-latent100",
                "vae-celeba", "toy-ring8")


@pytest.mark.parametrize("name", [n if n in FAST_RECIPES else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(list_recipes())])
def test_recipe_starts_and_trains(name, tmp_path):
    cfg = shrunk(name)
    full = load_experiment(name)
    assert cfg.method == full.method and cfg.objective.loss == full.objective.loss
    run = train(cfg, out=tmp_path / "run", log=lambda *a: None)
    state = torch.load(run.path / "checkpoints" / "latest.pt", weights_only=False)
    assert state["method_state"]["g_steps"] >= 1
    recs = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert recs and all(math.isfinite(v) for r in recs for v in r.values())

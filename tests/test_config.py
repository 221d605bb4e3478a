import pytest

from ganlab.config import Config, list_recipes, parse_override
from ganlab.errors import ConfigError
from ganlab.experiment import load_experiment


def test_defaults_are_the_dcgan_paper():
    c = Config()
    assert (c.optim.g_lr, c.optim.d_lr) == (2e-4, 2e-4)
    assert c.optim.g_betas == [0.5, 0.999] and c.train.batch_size == 128 and c.model.latent_dim == 100
    assert c.model.g_width == c.model.d_width == 64


def test_recipe_then_flags_then_set():
    c = load_experiment("dcgan", ["model.upsample=bilinear", "optim.g_betas=[0.0, 0.9]"], {"train.epochs": 3})
    assert c.model.upsample == "bilinear" and c.train.epochs == 3 and c.optim.g_betas == [0.0, 0.9]
    assert c.recipe == "dcgan" and c.data.source == "digits"


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"model\.upsampl.*did you mean 'upsample'"):
        load_experiment(None, ["model.upsampl=nearest"])
    with pytest.raises(ConfigError, match="unknown config key 'nosuch'"):
        load_experiment(None, ["nosuch.x=1"])


def test_bad_values_name_key_and_choices():
    with pytest.raises(ConfigError, match=r"model\.upsample: 'cubic' is not allowed; choose one of: deconv, nearest"):
        load_experiment(None, ["model.upsample=cubic"])
    with pytest.raises(ConfigError, match=r"data\.image_size.*16, 32, 64, 128"):
        load_experiment(None, [], {"data.image_size": 48})
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected a whole number"):
        load_experiment(None, ["train.batch_size=many"])
    with pytest.raises(ConfigError, match=r"train\.epochs.*at least 1"):
        load_experiment(None, ["train.epochs=0"])


def test_incompatible_options_are_refused_with_reason():
    with pytest.raises(ConfigError, match="weight clipping"):
        load_experiment(None, ["objective.clip=0.01"])
    with pytest.raises(ConfigError, match="gradient penalty"):
        load_experiment(None, ["objective.gp_lambda=10"])
    with pytest.raises(ConfigError, match="batch norm"):
        load_experiment(None, ["objective.loss=wgan-gp"])
    with pytest.raises(ConfigError, match="one network only"):
        load_experiment(None, ["train.n_critic=5", "train.n_gen=2"])


def test_dependent_defaults_are_resolved():
    assert load_experiment(None, ["objective.loss=wgan"]).objective.clip == 0.01
    c = load_experiment(None, ["objective.loss=wgan-gp", "model.d_norm=none"])
    assert c.objective.gp_lambda == 10.0 and c.objective.clip is None


def test_override_parsing():
    assert load_experiment(None, ["optim.d_lr=1e-3"]).optim.d_lr == 1e-3  # YAML reads 1e-3 as text
    assert parse_override("a.b=none") == ("a.b", "none")
    assert parse_override("a.b=null") == ("a.b", None)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("model.upsample")


def test_every_recipe_loads_and_has_a_comment():
    recipes = list_recipes()
    assert "dcgan" in recipes
    for name, comment in recipes.items():
        assert comment, f"recipe {name} has no one-line comment"
        load_experiment(name)


def test_missing_recipe_lists_known_ones():
    with pytest.raises(ConfigError, match="dcgan"):
        load_experiment("no-such-recipe")


@pytest.mark.parametrize("values,match", [
    ({"model.latent_components": 8}, "no effect without model.latent_dist=mixture"),
    ({"model.latent_spread": 1.0, "model.latent_dist": "uniform"}, "no effect without model.latent_dist=mixture"),
    ({"tricks.ema_stats": "recompute"}, "no effect without tricks.ema"),
])
def test_a_knob_without_its_option_is_refused(tiny_config, values, match):
    with pytest.raises(ConfigError, match=match):
        tiny_config(**values)
    # with the option on, the same knob is taken
    on = {"model.latent_dist": "mixture"} if "model" in next(iter(values)) else {"tricks.ema": 0.9}
    tiny_config(**{**values, **on})

"""Every method: trains through the loop, saves, loads and samples; and what makes each one what it is."""
import json
import math

import pytest
import torch

import ganlab
from ganlab.errors import ConfigError
from ganlab.methods import METHODS, DataInfo, build_method
from ganlab.train import train

QUIET = {"log": lambda *a: None}

LOOP_CASES = {
    "gan": {},
    "gan-ema": {"tricks.ema": 0.9},
    "cgan-labelmap": {"method": "cgan"},
    "cgan-broadcast-wgan": {"method": "cgan", "cond.map_mode": "broadcast", "objective.loss": "wgan"},
    "cgan-projection": {"method": "cgan", "cond.d_mode": "projection"},
    "cgan-concat-mismatch": {"method": "cgan", "cond.d_mode": "concat", "cond.mismatch": True},
    "cgan-dense-wgan": {"method": "cgan", "model.arch": "mlp", "objective.loss": "wgan", "model.mlp_hidden": 32},
    "cgan-wgan-gp": {"method": "cgan", "objective.loss": "wgan-gp", "model.d_norm": "none"},
    "acgan": {"method": "acgan"},
    "cgan-cbn-classifier-ema": {"method": "cgan", "cond.d_mode": "projection", "cond.g_mode": "cbn",
                                "cond.classifier_weight": 1.0, "tricks.ema": 0.9},
    "acgan-cbn": {"method": "acgan", "cond.g_mode": "cbn"},
    "infogan": {"method": "infogan"},
    "bigan": {"method": "bigan", "model.mlp_hidden": 32},
    "bigan-wgan-gp": {"method": "bigan", "model.mlp_hidden": 32, "objective.loss": "wgan-gp", "model.d_norm": "none"},
    "vae": {"method": "vae"},
    "msggan": {"method": "msggan"},
    "msggan-wgan-gp": {"method": "msggan", "objective.loss": "wgan-gp", "model.d_norm": "none"},
    "gan-resnet-r1-lecam": {"model.arch": "resnet", "model.upsample": "nearest", "model.d_norm": "none",
                            "objective.loss": "hinge", "objective.r1_gamma": 1.0, "objective.r1_every": 2,
                            "objective.lecam_weight": 0.1, "optim.lr_decay": "cosine"},
    "cgan-resnet-projection": {"method": "cgan", "model.arch": "resnet", "model.upsample": "bilinear",
                               "cond.d_mode": "projection"},
    "gan-ring8": {"data.source": "ring8", "model.arch": "mlp", "model.mlp_hidden": 32},
    "gan-ring8-mixture-latent": {"data.source": "ring8", "model.arch": "mlp", "model.mlp_hidden": 32,
                                 "model.latent_dist": "mixture", "model.latent_components": 4},
    "cgan-grid25": {"method": "cgan", "data.source": "grid25", "model.arch": "mlp", "model.mlp_hidden": 32},
}


# -m "not slow" trains every case in fp32; the bf16 twins are left to the full suite
@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", list(LOOP_CASES))
def test_every_method_trains_saves_loads_and_samples(case, precision, tmp_path, tiny_config):
    values = {"data.limit": 64, "train.epochs": 1, "train.precision": precision, **LOOP_CASES[case]}
    cfg = tiny_config(**values)
    run = train(cfg, out=tmp_path / "run", **QUIET)
    recs = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert len(recs) == 2
    numbers = {k: v for r in recs for k, v in r.items()}
    assert all(math.isfinite(v) for v in numbers.values()), numbers
    assert ("loss" if cfg.method == "vae" else "d_loss") in numbers
    g = ganlab.load(run.path)
    x = g.sample(5, seed=0)
    if cfg.data.source in ("ring8", "grid25"):
        assert x.shape == (5, 2)
    else:
        assert x.shape == (5, 1, 16, 16) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, g.sample(5, seed=0))
    if "tricks.ema" in values:
        state = torch.load(run.path / "checkpoints" / "latest.pt", weights_only=False)
        assert "G_ema" in state["modules"] and "G_ema" not in state["optimizers"]


def test_all_methods_are_registered(build):
    """Every class that declares a method name is in METHODS under that name (none left out, no two sharing a
    name, which would silently drop one), and a config naming it builds that class."""
    from ganlab.methods import Method
    assert {"gan", "cgan", "acgan", "infogan", "bigan", "vae", "msggan"} <= set(METHODS)
    declared, todo = [], list(Method.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "name" in vars(cls) and cls.__module__.startswith("ganlab.methods"):
            declared.append(cls)
    assert sorted(c.name for c in declared) == sorted(METHODS)
    assert all(METHODS[c.name] is c for c in declared)
    for name, cls in METHODS.items():
        assert cls.description and type(build(name)) is cls


# --------------------------------------------------------------------------- cgan

@pytest.mark.parametrize("mode", [{"cond.d_mode": "labelmap"}, {"cond.map_mode": "broadcast"},
                                  {"cond.d_mode": "projection"}, {"cond.d_mode": "concat"},
                                  {"model.arch": "mlp", "model.mlp_hidden": 32},
                                  {"model.arch": "mlp", "model.mlp_hidden": 32, "cond.d_mode": "projection"}])
def test_cgan_discriminator_and_generator_see_the_condition(mode, batch, build):
    m = build("cgan", **mode)
    m.train(False)
    b = batch(n=8)
    codes = m.cond.codes(b.labels)
    other = (codes + 1) % 10
    with torch.no_grad():
        a, _ = m.D(b.x, codes)
        c, _ = m.D(b.x, other)
        z = m.latent(8)
        ga, gc = m.G(z, codes), m.G(z, other)
    assert a.shape == (8,) and not torch.allclose(a, c)
    assert ga.shape == (8, 1, 16, 16) and not torch.allclose(ga, gc)


def test_cgan_label_maps_enter_after_the_first_convolution(build):
    m = build("cgan")
    assert m.D.trunk.extra_channels == 1  # one projected map for the one attribute
    assert m.D.to_map[0].out_features == 8 * 8  # the resolution after the first conv of a 16x16 input
    m = build("cgan", **{"cond.map_mode": "broadcast", "cond.embed_dim": 3})
    assert m.D.trunk.extra_channels == 3


def test_cgan_sample_inputs_by_value_name_or_code(build, dataset, tiny_config):
    ds = dataset()
    info = DataInfo("images", (1, 16, 16), {"hair": ["blonde", "blue", "red"], "eyes": ["green", "brown"]})
    m = build_method(tiny_config(method="cgan"), info, "cpu")
    inp = m.sample_inputs(6, torch.Generator().manual_seed(0), {"hair": "blue"})
    assert inp["z"].shape == (6, 16) and inp["codes"].shape == (6, 2)
    assert (inp["codes"][:, 0] == 1).all()
    inp = m.sample_inputs(200, torch.Generator().manual_seed(0), {"eyes": 0})
    assert (inp["codes"][:, 1] == 0).all() and set(inp["codes"][:, 0].tolist()) == {0, 1, 2}  # others random
    inp = m.sample_inputs(3, None, {"hair": ["red", 0, "blue"]})
    assert inp["codes"][:, 0].tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match="unknown attribute 'mouth'.*hair, eyes"):
        m.sample_inputs(2, None, {"mouth": "open"})
    with pytest.raises(ValueError, match="no value 'pink'.*blonde, blue, red"):
        m.sample_inputs(2, None, {"hair": "pink"})
    with pytest.raises(ValueError, match="out of range"):
        m.sample_inputs(2, None, {"eyes": 5})
    out = m.generate({k: v for k, v in m.sample_inputs(2, None, {"hair": "red"}).items()})
    assert out.shape == (2, 1, 16, 16)
    # digits: value names are the digits themselves
    m = build("cgan", ds)
    assert (m.sample_inputs(4, None, {"digit": "7"})["codes"][:, 0] == 7).all()


def test_cgan_attributes_must_exist_and_data_must_have_labels(build, tiny_config):
    with pytest.raises(ConfigError, match="'hair' is not an attribute.*digit"):
        build("cgan", **{"cond.attributes": ["hair"]})
    with pytest.raises(ConfigError, match="has none"):
        build_method(tiny_config(method="cgan"), DataInfo("images", (1, 16, 16), {}), "cpu")
    assert METHODS["cgan"].capabilities.needs_labels and METHODS["acgan"].capabilities.needs_labels
    assert not METHODS["gan"].capabilities.needs_labels


def test_cgan_classifier_head_learns_real_tags_and_asks_G_for_them(batch, build):
    """cond.classifier_weight: ACGAN's classifier on top of a conditioned D, trained on real images only."""
    import torch.nn.functional as F

    from ganlab.methods.gan import Scores
    m = build("cgan", **{"cond.classifier_weight": 0.5, "cond.d_mode": "projection"})
    assert len(m.D.heads["aux"].heads) == 1 and m.D.heads["aux"].heads[0].out_features == 10
    b = batch(n=16)
    codes = m.cond.codes(b.labels)
    _, real_heads = m.D(b.x, codes)
    fake_heads = {"aux": [torch.zeros(16, 10, requires_grad=True)]}
    real, _ = m.D(b.x, codes)
    loss, stats = m.d_extra(b, Scores(b.x, real, real_heads, real, fake_heads, {"codes": (codes + 1) % 10}))
    assert torch.allclose(loss, 0.5 * F.cross_entropy(real_heads["aux"][0], codes[:, 0]))
    assert "aux_acc_real" in stats and "d_aux_fake" not in stats
    loss.backward()
    assert fake_heads["aux"][0].grad is None  # D's head never learns from G's fakes
    g_loss, g_stats = m.g_extra(Scores(None, None, {}, real, fake_heads, {"codes": codes}))
    assert torch.allclose(g_loss, torch.tensor(0.5 * math.log(10))) and "aux_acc_fake" in g_stats
    # with mismatch on too, both terms add up
    m = build("cgan", **{"cond.classifier_weight": 1.0, "cond.mismatch": True})
    real, real_heads = m.D(b.x, codes)
    loss, stats = m.d_extra(b, Scores(b.x, real, real_heads, real, fake_heads, {"codes": codes}))
    assert {"d_mismatch", "d_aux_real"} <= set(stats)
    assert torch.allclose(loss, stats["d_mismatch"] + stats["d_aux_real"])
    # off by default: no head, no extra loss
    off = build("cgan")
    assert "aux" not in off.D.heads and off.g_extra(Scores(None, None, {}, real, fake_heads, {"codes": codes})) == (None, {})


def test_generator_conditioning_options_are_checked(build):
    with pytest.raises(ConfigError, match="acgan's D classifies already"):
        build("acgan", **{"cond.classifier_weight": 1.0})
    with pytest.raises(ConfigError, match="g_mode=cbn.*g_norm=none"):
        build("cgan", **{"cond.g_mode": "cbn", "model.g_norm": "none"})
    with pytest.raises(ConfigError, match="g_mode"):
        build("cgan", **{"cond.g_mode": "film"})
    m = build("acgan", **{"cond.g_mode": "cbn"})
    assert len(m.G.cbn) == len(m.G.net.blocks) + 1  # the stem's norm and each block's
    m.train(False)
    inputs = m.sample_inputs(4, torch.Generator().manual_seed(0))
    other = (inputs["codes"] + 1) % 10
    x = m.generate(inputs)
    assert torch.allclose(m.generate_mixed(inputs, other, 1.0), x, atol=1e-5)  # tag interpolation reaches the norms
    assert not torch.allclose(m.generate_mixed(inputs, other, 0.0), x, atol=1e-3)


def test_mismatched_tags_are_shown_to_D_as_fakes(batch, build, tiny_config):
    info = DataInfo("images", (1, 16, 16), {"hair": ["a", "b", "c"], "eyes": ["x", "y"]})
    m = build_method(tiny_config(method="cgan", **{"cond.mismatch": True}), info, "cpu")
    codes = m.cond.random(500)
    wrong = m.cond.mismatched(codes)
    assert ((wrong != codes).sum(1) == 1).all()  # exactly one attribute changed, always to another value
    assert (wrong[:, 0] < 3).all() and (wrong[:, 1] < 2).all()
    m = build("cgan", **{"cond.mismatch": True})
    seen = []
    m.D.register_forward_hook(lambda mod, args, out: seen.append(args[1].clone()))
    b = batch()
    stats, _ = m.d_step(b)
    assert "d_mismatch" in stats and torch.isfinite(stats["d_mismatch"])
    real_codes = m.cond.codes(b.labels)
    assert len(seen) == 3 and torch.equal(seen[0], real_codes) and (seen[2] != real_codes).all()
    plain = build("cgan")
    assert "d_mismatch" not in plain.d_step(b)[0]


@pytest.mark.parametrize("method", ["cgan", "acgan"])
def test_conditional_wgan_clips_every_critic_weight(method, batch, build):
    m = build(method, **{"objective.loss": "wgan", "objective.clip": 0.01})
    for b in [batch(start=0), batch(start=32)]:
        m.train_step(b)
    assert max(p.abs().max().item() for p in m.D.parameters()) <= 0.01 + 1e-7


# --------------------------------------------------------------------------- acgan

def test_acgan_has_a_classifier_per_attribute_binary_is_two_classes(finite, tiny_config):
    info = DataInfo("images", (3, 16, 16), {"Smiling": ["no", "yes"], "Male": ["no", "yes"], "hair": list("abcd")})
    m = build_method(tiny_config(method="acgan", **{"cond.attributes": ["Smiling", "hair"]}), info, "cpu")
    x = torch.randn(6, 3, 16, 16)
    logit, heads = m.D(x)
    assert logit.shape == (6,) and [h.shape for h in heads["aux"]] == [(6, 2), (6, 4)]
    labels = {"Smiling": torch.randint(0, 2, (6,)), "Male": torch.zeros(6, dtype=torch.long),
              "hair": torch.randint(0, 4, (6,))}
    from ganlab.methods import Batch
    stats = m.train_step(Batch(x.tanh(), labels))
    assert {"d_aux_real", "d_aux_fake", "g_aux", "aux_acc_real"} <= set(stats) and finite(stats)


def test_acgan_classification_loss_reaches_G_with_its_weight(batch, build):
    b = batch()
    losses = {}
    for w in (0.0, 1.0):
        m = build("acgan", **{"cond.aux_weight": w})
        torch.manual_seed(3)
        loss, stats = m.g_objective(b)
        losses[w] = (loss.item(), stats["g_aux"].item())
    assert losses[1.0][0] == pytest.approx(losses[0.0][0] + losses[1.0][1], rel=1e-5)


# --------------------------------------------------------------------------- infogan

def test_infogan_codes_named_and_fixed(build, tiny_config):
    m = build("infogan", **{"info.categorical": [10, 4], "info.continuous": 2})
    assert m.code_names == ["c0", "c1", "c2", "c3"]
    assert m.G.in_dim == 16 + 14 + 2
    inp = m.sample_inputs(5, torch.Generator().manual_seed(0), {"c0": 3, "c1": [0, 1, 2, 3, 0], "c3": 0.5})
    assert (inp["cat"][:, 0] == 3).all() and inp["cat"][:, 1].tolist() == [0, 1, 2, 3, 0]
    assert (inp["cont"][:, 1] == 0.5).all() and (inp["cont"][:, 0].abs() <= 1).all()
    assert m.generate(inp).shape == (5, 1, 16, 16)
    with pytest.raises(ValueError, match="unknown code 'c9'.*c0, c1, c2, c3"):
        m.sample_inputs(2, None, {"c9": 1})
    with pytest.raises(ValueError, match="4 categories"):
        m.sample_inputs(2, None, {"c1": 4})
    # the CelebA setting: five 10-way codes, no continuous ones
    m = build("infogan", **{"info.categorical": [10] * 5, "info.continuous": 0, "model.latent_dim": 64})
    assert m.G.in_dim == 64 + 50 and m.sample_inputs(3)["cat"].shape == (3, 5)
    with pytest.raises(ConfigError, match="at least one code"):
        tiny_config(method="infogan", **{"info.categorical": [], "info.continuous": 0})


def test_infogan_q_head_shares_the_trunk_and_mi_loss_trains_g_and_q(batch, build, finite):
    m = build("infogan")
    q = m.D.heads["q"]
    assert q[-1].out_features == 10 + 2 * 2
    trunk_before = [p.clone() for p in m.D.trunk.parameters()]
    q_before = [p.clone() for p in q.parameters()]
    b = batch()
    stats = m.train_step(b)
    assert {"mi_cat", "mi_cont", "q_acc", "d_mi_cat"} <= set(stats) and finite(stats)
    assert any(not torch.equal(a, p) for a, p in zip(q_before, q.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(trunk_before, m.D.trunk.parameters()))
    # MI loss alone gives G a gradient
    m.opt_g.zero_grad()
    inp = m.train_inputs(8, b)
    loss, _ = m.mi_loss(m.D(m.run_G(m.G, inp))[1], inp)
    loss.backward()
    assert sum(p.grad.abs().sum() for p in m.G.parameters() if p.grad is not None) > 0


# --------------------------------------------------------------------------- bigan

def test_bigan_encoder_critic_of_pairs_and_joint_training(batch, build, finite):
    m = build("bigan", **{"model.mlp_hidden": 32})
    assert set(m.modules()) == {"G", "E", "D"} and set(m.optimizers()) == {"G", "E", "D"}
    b = batch()
    z = m.encode(b.x)
    assert z.shape == (32, 16)
    with torch.no_grad():
        s1 = m.D(b.x, z)
        s2 = m.D(b.x, torch.randn_like(z))
    assert s1.shape == (32,) and not torch.allclose(s1, s2)  # D scores the pair, not the image alone
    e_before = [p.clone() for p in m.E.parameters()]
    stats = m.train_step(b)
    assert finite(stats) and {"g_part", "e_part"} <= set(stats)
    assert any(not torch.equal(a, p) for a, p in zip(e_before, m.E.parameters()))
    assert m.reconstruct(b.x[:4]).shape == (4, 1, 16, 16)


# --------------------------------------------------------------------------- vae

def test_vae_encoder_decoder_and_losses(batch, build, finite):
    m = build("vae")
    assert set(m.modules()) == {"G", "E"}
    b = batch()
    m.train(False)
    mu = m.encode(b.x)
    assert mu.shape == (32, 16) and torch.equal(mu, m.encode(b.x))
    m.train(True)
    g0 = m.g_steps
    stats = m.train_step(b)
    assert m.g_steps == g0 + 1 and {"loss", "mse", "kl"} <= set(stats) and finite(stats)
    assert stats["loss"].item() == pytest.approx(stats["mse"].item() + stats["kl"].item(), rel=1e-5)
    t = m.held_out_score(b.x)
    assert t.dim() == 0 and t > 0 and all(mod.training for mod in m.modules().values())
    s = build("vae", **{"vae.reduction": "sum", "vae.kl_weight": 0.5}).train_step(b)
    assert s["mse"] > 100 * stats["mse"]  # summed over pixels and the batch
    assert s["loss"].item() == pytest.approx(s["mse"].item() + 0.5 * s["kl"].item(), rel=1e-5)


@pytest.mark.parametrize("bad,match", [({"tricks.instance_noise": 0.1}, "VAE has none"),
                                       ({"tricks.ema": 0.9}, "VAE has none"),
                                       ({"model.latent_dist": "uniform"}, "prior"),
                                       ({"train.n_gen": 2}, "leave them at 1")])
def test_vae_refuses_adversarial_settings(bad, match, tiny_config):
    with pytest.raises(ConfigError, match=match):
        tiny_config(method="vae", **bad)


# --------------------------------------------------------------------------- msggan

def test_msggan_every_scale_reaches_D(batch, build, tiny_config):
    m = build("msggan")
    z = m.latent(4)
    outs = m.G(z)
    assert [tuple(o.shape[-2:]) for o in outs] == [(4, 4), (8, 8), (16, 16)]
    assert all(o.shape[:2] == (4, 1) for o in outs)
    assert m.generate({"z": z}).shape == (4, 1, 16, 16)
    real = m.real_input(batch(n=4))
    assert [tuple(r.shape[-2:]) for r in real] == [(4, 4), (8, 8), (16, 16)]
    assert torch.allclose(real[1], torch.nn.functional.avg_pool2d(real[2], 2))
    xs = [r.clone().requires_grad_(True) for r in real]
    m.D(xs).sum().backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in xs)
    # G's early blocks get gradient straight from D through their own image outputs
    m.opt_g.zero_grad()
    loss, _ = m.g_objective(batch(n=4))
    loss.backward()
    assert all(rgb[0].weight.grad.abs().sum() > 0 for rgb in m.G.to_rgb)
    with pytest.raises(ConfigError, match="model.arch=dcgan"):
        tiny_config(method="msggan", **{"model.arch": "mlp"})


# --------------------------------------------------------------------------- architecture switches

SWITCHES = {"model.g_norm": "none", "model.d_norm": "none", "model.g_act": "selu", "model.d_act": "selu",
            "model.output": "sigmoid", "model.latent_dist": "uniform", "model.mlp_hidden": 32}


@pytest.mark.parametrize("method", ["gan", "cgan", "acgan", "infogan", "bigan", "vae", "msggan"])
def test_architecture_switches_work_with_every_method(method, batch, build, finite):
    values = dict(SWITCHES)
    if method == "vae":
        values.pop("model.latent_dist")
    m = build(method, **values)
    b = batch(output="sigmoid")
    assert 0 <= b.x.min() and b.x.max() <= 1
    for _ in range(2):
        assert finite(m.train_step(b))
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for net in m.modules().values() for mod in net.modules())
    assert any(isinstance(mod, torch.nn.SELU) for mod in m.G.modules())
    m.train(False)
    x = m.generate(m.sample_inputs(4, torch.Generator().manual_seed(0)))
    assert 0 <= x.min() and x.max() <= 1
    if method != "vae":
        z = m.sample_inputs(100)["z"]
        assert z.min() >= -1 and z.max() <= 1  # uniform latent


def test_mixture_latent_draws_around_fixed_centres(build):
    from ganlab.methods.gan import mixture_centres
    m = build("gan", **{"model.latent_dist": "mixture", "model.latent_components": 5, "model.latent_spread": 10.0})
    z = m.latent(2000, generator=torch.Generator().manual_seed(0), device="cpu")
    assert z.shape == (2000, 16)
    centres = mixture_centres(5, 16, 10.0)
    d, k = torch.cdist(z, centres).min(1)
    assert d.max() < 10 and set(k.tolist()) == set(range(5))  # every sample is near a centre, every centre used
    assert (z - centres[k]).std().item() == pytest.approx(1.0, abs=0.05)  # unit Gaussians around them
    # the same centres for every run and every load (a saved run samples the same z from the same seed)
    again = build("gan", seed=3, **{"model.latent_dist": "mixture", "model.latent_components": 5,
                                    "model.latent_spread": 10.0})
    assert torch.equal(again.latent(7, generator=torch.Generator().manual_seed(1), device="cpu"),
                       m.latent(7, generator=torch.Generator().manual_seed(1), device="cpu"))
    with pytest.raises(ConfigError, match="latent_dist=mixture with method=vae"):
        build("vae", **{"model.latent_dist": "mixture"})

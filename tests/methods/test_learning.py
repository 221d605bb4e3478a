"""Small problems each method must actually learn in a few seconds of CPU training."""
import pytest
import torch

from ganlab.data import to_float
from ganlab.precision import cpu_bf16_native

# every method must learn in bfloat16 as well as in float32 (train.precision=bf16: autocast around the networks);
# the bf16 twins are left to the full suite (-m "not slow" learns in fp32 only)
precisions = pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=pytest.mark.slow)])


def mode_stats(points: torch.Tensor, modes: torch.Tensor, std: float):
    """(number of modes hit by a high-quality sample, share of samples within 3 std of their nearest mode)."""
    d, k = torch.cdist(points, modes).min(1)
    good = d < 3 * std
    return len(set(k[good].tolist())), good.float().mean().item()


# the ring's 1,800 steps of batch 512 take about 25 s in fp32 but over 200 s in bf16 on a CPU that only emulates
# bfloat16 (no AVX512-BF16 or AMX, where auto never picks bf16): there its bf16 twin is skipped, and bf16 learning
# is still tested by the digit problems below
ring_precisions = pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=[
    pytest.mark.slow, pytest.mark.skipif(not cpu_bf16_native()[0], reason="bfloat16 is emulated on this CPU")])])


@ring_precisions
@pytest.mark.slow
def test_plain_gan_covers_the_ring(build, dataset, random_batches, precision):
    ds = dataset("ring8", limit=None)
    m = build("gan", ds, **{"model.latent_dim": 8, "model.mlp_hidden": 128, "model.mlp_layers": 3,
                            "model.g_norm": "batch", "optim.g_lr": 2e-4, "optim.d_lr": 1e-3,
                            "optim.g_betas": [0.5, 0.9], "optim.d_betas": [0.5, 0.9], "tricks.ema": 0.98, "train.precision": precision})
    for b in random_batches(ds, 512, 1800):
        m.train_step(b)
    m.train(False)
    x = m.generate(m.sample_inputs(2000, torch.Generator().manual_seed(5)))
    modes, precise = mode_stats(x, ds.modes, ds.mode_std)
    assert modes >= 6 and precise > 0.5, (modes, precise)


@pytest.mark.slow
def test_a_mixture_latent_puts_the_ring_samples_on_its_modes(build, dataset, random_batches):
    """model.latent_dist=mixture: G need not stretch one connected blob of z across the gaps between modes."""
    ds = dataset("ring8", limit=None)
    m = build("gan", ds, **{"model.latent_dim": 8, "model.mlp_hidden": 128, "model.mlp_layers": 3,
                            "model.g_norm": "batch", "optim.g_lr": 2e-4, "optim.d_lr": 1e-3,
                            "optim.g_betas": [0.5, 0.9], "optim.d_betas": [0.5, 0.9], "tricks.ema": 0.98,
                            "model.latent_dist": "mixture", "train.precision": "fp32"})
    for b in random_batches(ds, 512, 1800):
        m.train_step(b)
    m.train(False)
    x = m.generate(m.sample_inputs(2000, torch.Generator().manual_seed(5)))
    modes, precise = mode_stats(x, ds.modes, ds.mode_std)
    assert modes == 8 and precise > 0.7, (modes, precise)


@precisions
@pytest.mark.parametrize("cond", [{"cond.d_mode": "projection"},
                                  pytest.param({"cond.g_mode": "cbn", "cond.classifier_weight": 1.0},
                                               marks=pytest.mark.slow)], ids=["projection", "cbn-clf"])
def test_class_conditional_gan_draws_the_asked_digit(build, dataset, random_batches, precision, cond):
    sklearn = pytest.importorskip("sklearn.linear_model")
    ds = dataset(limit=None)
    x = to_float(ds.data).flatten(1).numpy()
    y = ds.attributes["digit"].codes.numpy()
    from threadpoolctl import threadpool_limits  # installed with scikit-learn
    with threadpool_limits(1):  # BLAS threads fighting over 2 shared cores make this fit 100x slower
        clf = sklearn.LogisticRegression(max_iter=1000).fit(x, y)
    m = build("cgan", ds, **{"model.arch": "mlp", "model.mlp_hidden": 128, "model.mlp_layers": 2,
                             "train.precision": precision, **cond})
    for b in random_batches(ds, 64, 200):
        m.train_step(b)
    m.train(False)
    asked = [i % 10 for i in range(500)]
    out = m.generate(m.sample_inputs(500, torch.Generator().manual_seed(5), {"digit": asked}))
    acc = (clf.predict(out.flatten(1).numpy()) == asked).mean()
    assert acc > 0.5, acc  # chance is 0.1


@precisions
def test_infogan_q_recovers_its_categorical_code(build, dataset, random_batches, precision):
    ds = dataset(limit=None)
    m = build("infogan", ds, **{"info.categorical": [10], "info.continuous": 2, "train.precision": precision})
    for b in random_batches(ds, 64, 150):
        m.train_step(b)
    m.train(False)
    inputs = m.sample_inputs(500, torch.Generator().manual_seed(5))
    cat, _ = m.predict_codes(m.generate(inputs))
    acc = (cat[:, 0] == inputs["cat"][:, 0]).float().mean().item()
    assert acc > 0.5, acc  # chance is 0.1


@precisions
def test_vae_reconstructs_held_out_digits(batch, build, dataset, precision):
    ds = dataset(limit=None)
    m = build("vae", ds, **{"vae.kl_weight": 1e-2, "optim.g_lr": 1e-3, "train.precision": precision})
    train_idx, test_idx = m.holdout(len(ds))
    assert len(test_idx) == 180 and torch.equal(torch.cat([train_idx, test_idx]), torch.arange(len(ds)))
    assert torch.equal(m.held_out_indices(len(ds)), test_idx)
    g = torch.Generator().manual_seed(1)
    for _ in range(150):
        m.train_step(batch(ds, idx=train_idx[torch.randint(0, len(train_idx), (64,), generator=g)]))
    test = batch(ds, idx=test_idx).x
    baseline = ((test - test.mean(0)) ** 2).mean().item()  # the error of always answering the mean image
    mse = m.held_out_score(test).item()
    assert mse < 0.4 * baseline, (mse, baseline)


@pytest.mark.slow
def test_residual_networks_with_r1_learn_the_digits_pixel_statistics(build, dataset, random_batches):
    """model.arch=resnet with spectral norm, hinge and lazy R1: in 150 steps G's samples match the digits' mean
    image and per-pixel spread far better than at the start (measured: 0.39 -> 0.05 and 0.060 -> 0.015)."""
    ds = dataset(limit=None)
    real = ds.data.float() / 127.5 - 1
    m = build("gan", ds, **{"model.arch": "resnet", "model.upsample": "nearest", "model.d_norm": "none",
                            "model.spectral_norm": True, "objective.loss": "hinge", "objective.r1_gamma": 1.0,
                            "objective.r1_every": 4, "optim.g_lr": 1e-3, "optim.d_lr": 1e-3,
                            "optim.g_betas": [0.0, 0.9], "optim.d_betas": [0.0, 0.9]})

    def errors():
        m.train(False)
        x = m.generate(m.sample_inputs(500, torch.Generator().manual_seed(5)))
        m.train(True)
        return ((x.mean(0) - real.mean(0)) ** 2).mean().item(), ((x.std(0) - real.std(0)) ** 2).mean().item()

    mean0, std0 = errors()
    for b in random_batches(ds, 64, 150):
        m.train_step(b)
    mean1, std1 = errors()
    assert mean1 < 0.3 * mean0 and std1 < 0.6 * std0, (mean0, mean1, std0, std1)

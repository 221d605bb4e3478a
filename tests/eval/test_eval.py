import json

import pytest
import torch
from PIL import Image

import ganlab
from ganlab.cli import main
from ganlab.config import DataConfig
from ganlab.data import load_dataset
from ganlab.errors import WeightsMissing
from ganlab.eval.features import (
    Extractor,
    get_extractor,
    load_classifier,
    train_classifier,
)
from ganlab.eval.run import compute, evaluate
from ganlab.train import train


@pytest.fixture(scope="module")
def digits16():
    return load_dataset(DataConfig(source="digits", image_size=16), progress=False)


@pytest.fixture(scope="module")
def classifier(digits16, tmp_path_factory):
    from ganlab.eval.features.classifier import save_classifier
    model, report = train_classifier(digits16, epochs=4, batch_size=64, progress=False, log=lambda *a: None)
    path = tmp_path_factory.mktemp("clf") / "digits.pt"
    save_classifier(model, path, report)
    return path, report


def test_classifier_learns_digits_and_reports_heldout_accuracy(classifier):
    path, report = classifier
    assert report["heldout_accuracy"]["digit"] > 0.85 > report["majority_baseline"]["digit"] + 0.5
    model = load_classifier(path)
    assert model.report["n_test"] == report["n_test"] and list(model.attributes) == ["digit"]


@pytest.mark.slow
def test_classifier_features_rank_real_above_noise(classifier, digits16):
    ext = get_extractor(f"classifier:{classifier[0]}")
    real = digits16.data
    a, b = real[:600], real[600:1200]
    noise = torch.randint(0, 256, (600, 1, 16, 16), dtype=torch.uint8)
    same = {r["metric"]: r["value"] for r in compute(["fid", "kid", "is", "prdc"], a, b, ext, progress=False)}
    diff = {r["metric"]: r["value"] for r in compute(["fid", "kid", "is", "prdc"], a, noise, ext, progress=False)}
    assert same["fid"] < diff["fid"] / 5 and same["kid"] < diff["kid"]
    assert same["is"] > diff["is"]  # real digits are confidently and diversely classified
    assert same["precision"] > 0.5 > diff["precision"]


def test_eval_command_writes_eval_jsonl_and_caches_real_features(classifier, tmp_path, monkeypatch, capsys,
                                                                  tiny_config):
    run = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "run", log=lambda *a: None)
    import ganlab.eval.features as F
    calls = []
    real_extract = F.extract
    monkeypatch.setattr(F, "extract", lambda *a, **k: calls.append(k.get("desc")) or real_extract(*a, **k))
    args = ["eval", str(run.path), "--n", "200", "--features", f"classifier:{classifier[0]}",
            "--metrics", "fid,kid,is,swd"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fid" in out and "kid" in out
    assert main(args) == 0
    assert calls.count("real features") == 1 and calls.count("generated features") == 2
    rows = [json.loads(x) for x in (run.path / "eval.jsonl").read_text().splitlines()]
    assert {r["metric"] for r in rows} == {"fid", "kid", "is", "swd"} and len(rows) == 8
    assert all(r["checkpoint_step"] == 4 and r["n"] == 200 for r in rows)
    assert rows[0]["value"] == rows[4]["value"]  # same seed, same samples, same number


def test_eval_fake_folder_compares_any_tool(classifier, digits16, tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir(), bad.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(150):
        Image.fromarray(digits16.data[1000 + i, 0].numpy()).save(good / f"{i}.png")
        Image.fromarray(torch.randint(0, 256, (16, 16), generator=g, dtype=torch.uint8).numpy()).save(bad / f"{i}.png")
    kw = dict(data="digits", metrics=["fid"], n=300, features=f"classifier:{classifier[0]}", image_size=16,
              progress=False, log=lambda *a: None)
    fid_good = evaluate(fake_dir=str(good), **kw)[0]["value"]
    fid_bad = evaluate(fake_dir=str(bad), **kw)[0]["value"]
    assert fid_good < fid_bad / 5


def test_toy_metrics_on_a_ring_run(tmp_path, tiny_config):
    cfg = tiny_config(**{"data.source": "ring8", "data.limit": 512, "model.arch": "mlp", "model.g_norm": "none",
                         "model.mlp_hidden": 16, "model.mlp_layers": 1, "train.epochs": 1})
    run = train(cfg, out=tmp_path / "ring", log=lambda *a: None)
    rows = {r["metric"]: r for r in ganlab.evaluate(run.path, n=500, progress=False, log=lambda *a: None)}
    assert rows["toy/modes"]["of"] == 8 and 0 <= rows["toy/modes"]["value"] <= 8
    assert 0 <= rows["toy/high_quality"]["value"] <= 1


def test_inception_weights_are_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.delenv("GANLAB_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(WeightsMissing, match=r"pt_inception-2015-12-05-6726825d\.pth.*never downloads"):
        get_extractor("inception")
    with pytest.raises(WeightsMissing, match="inception_v3_google"):
        get_extractor("torchvision-inception")


@pytest.mark.slow
def test_inception_extractors_load_local_weights(tmp_path, fid_inception_weights):
    pytest.importorskip("torch_fidelity")
    w = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    fid_inception_weights(w)
    ext = get_extractor("inception", weights=str(w))
    imgs = torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8)
    f, p = ext.features_and_probs(imgs)
    assert f.shape == (3, 2048) and p.shape == (3, 1008) and torch.allclose(p.sum(1), torch.ones(3), atol=1e-4)
    from torchvision.models import inception_v3
    tv = tmp_path / "inception_v3_google-0cc3c7bd.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), tv)
    f2, p2 = get_extractor("torchvision-inception", weights=str(tv)).features_and_probs(imgs)
    assert f2.shape == (3, 2048) and p2.shape == (3, 1000)


def test_eval_errors(tmp_path, capsys):
    assert main(["eval", "--fake", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--metrics", "fid,nope"]) == 2
    assert "unknown metric 'nope'" in capsys.readouterr().err


def test_evaluation_during_training_keeps_best_checkpoint(classifier, tmp_path, tiny_config):
    cfg = tiny_config(**{"train.epochs": 3, "eval.every": 1, "eval.metrics": ["fid", "kid"], "eval.n": 64,
                         "eval.features": f"classifier:{classifier[0]}"})
    run = train(cfg, out=tmp_path / "r", log=lambda *a: None)
    rows = [json.loads(x) for x in run.eval_path.read_text().splitlines()]
    fids = [r["value"] for r in rows if r["metric"] == "fid"]
    assert [r["epoch"] for r in rows if r["metric"] == "fid"] == [1, 2, 3]
    best = torch.load(run.checkpoints / "best.pt", weights_only=False)
    assert best["epoch"] == 1 + fids.index(min(fids))
    import ganlab
    assert ganlab.load(run.path, "best").epoch == best["epoch"]


def test_eval_config_is_checked(tiny_config):
    from ganlab.errors import ConfigError
    with pytest.raises(ConfigError, match="eval.metrics"):
        tiny_config(**{"eval.every": 1, "eval.metrics": ["fidd"]})
    with pytest.raises(ConfigError, match="eval.best"):
        tiny_config(**{"eval.every": 1, "eval.best": "kid"})
    with pytest.raises(ConfigError, match="choose from: prdc, recall, precision"):
        tiny_config(**{"eval.every": 1, "eval.metrics": ["prdc"], "eval.best": "fid"})
    # a metric's own rows may rank checkpoints: prdc's recall, one attribute's condition accuracy
    assert tiny_config(**{"eval.every": 1, "eval.metrics": ["prdc"], "eval.best": "precision"}).eval.best == "precision"
    assert tiny_config(**{"eval.every": 1, "eval.metrics": ["cond_acc"], "eval.best": "cond_acc/hair"})


def test_metrics_with_other_row_names_still_rank_checkpoints(classifier, tmp_path, tiny_config):
    """eval.metrics=[prdc] with no eval.best ranks by recall (prdc gives no row named prdc)."""
    cfg = tiny_config(**{"train.epochs": 2, "eval.every": 1, "eval.metrics": ["prdc"], "eval.n": 64,
                         "eval.features": f"classifier:{classifier[0]}"})
    run = train(cfg, out=tmp_path / "p", log=lambda *a: None)
    rows = [json.loads(x) for x in run.eval_path.read_text().splitlines()]
    recalls = [r["value"] for r in rows if r["metric"] == "recall"]
    assert len(recalls) == 2
    assert torch.load(run.checkpoints / "best.pt", weights_only=False)["epoch"] == 1 + recalls.index(max(recalls))


def test_stacked_mnist_mode_counting(classifier):
    from ganlab.errors import DataError
    stacked = load_dataset(DataConfig(source="digits", format="stacked-mnist", image_size=16, limit=1500),
                           progress=False)
    assert stacked.data.shape == (1500, 3, 16, 16) and len(stacked.attributes["mode"].values) == 1000
    ext = get_extractor(f"classifier:{classifier[0]}")
    real = {r["metric"]: r["value"] for r in compute(["stacked_modes"], stacked.data[:750], stacked.data[750:], ext,
                                                     progress=False)}
    true_modes = len(set(stacked.attributes["mode"].codes[750:].tolist()))
    assert real["stacked_modes"] > 0.8 * true_modes > 400  # the classifier reads most triples right
    collapsed = stacked.data[:1].expand(750, -1, -1, -1)
    bad = {r["metric"]: r["value"] for r in compute(["stacked_modes"], stacked.data[:750], collapsed, ext,
                                                    progress=False)}
    assert bad["stacked_modes"] == 1 and bad["stacked_modes/kl"] > real["stacked_modes/kl"]
    with pytest.raises(DataError, match="RGB"):
        load_dataset(DataConfig(source="digits", format="stacked-mnist", image_size=16, channels=1))


def test_condition_accuracy_of_a_class_conditional_run(classifier, tmp_path, tiny_config):
    cfg = tiny_config(**{"method": "cgan", "train.epochs": 1})
    run = train(cfg, out=tmp_path / "c", log=lambda *a: None)
    rows = {r["metric"]: r for r in ganlab.evaluate(run.path, n=200, metrics=["cond_acc"],
                                             features=f"classifier:{classifier[0]}", progress=False,
                                             log=lambda *a: None)}
    assert set(rows) == {"cond_acc/digit", "cond_acc/all"}
    assert 0 <= rows["cond_acc/digit"]["value"] <= 1 and 0 <= rows["cond_acc/digit"]["shuffled"] <= 1


def test_condition_accuracy_during_training(classifier, tmp_path, tiny_config):
    """eval.every with cond_acc: the evaluator hands the requested labels on, and best.pt follows the accuracy."""
    cfg = tiny_config(**{"method": "cgan", "train.epochs": 2, "eval.every": 1, "eval.metrics": ["cond_acc"],
                         "eval.best": "cond_acc/digit", "eval.n": 64,
                         "eval.features": f"classifier:{classifier[0]}"})
    run = train(cfg, out=tmp_path / "c", log=lambda *a: None)
    rows = [json.loads(x) for x in run.eval_path.read_text().splitlines()]
    accs = [r["value"] for r in rows if r["metric"] == "cond_acc/digit"]
    assert len(accs) == 2 and all(0 <= a <= 1 for a in accs)
    assert torch.load(run.checkpoints / "best.pt", weights_only=False)["epoch"] == 1 + accs.index(max(accs))


def test_condition_accuracy_has_a_shuffled_control():
    """A generator that follows its tags perfectly scores 1.0; the same samples against shuffled tags sit near
    chance, which is what tells 'follows the tags' from 'the classifier says one class a lot'."""
    asked = torch.arange(1000) % 10
    fake = torch.zeros(1000, 1, 8, 8, dtype=torch.uint8)

    class Reader(Extractor):  # reads back exactly what was asked
        predicts = True

        def predict(self, images):
            return {"digit": torch.nn.functional.one_hot(asked, 10).float()}

    rows = {r["metric"]: r for r in compute(["cond_acc"], fake, fake, Reader(), requested={"digit": asked},
                                            progress=False)}
    assert rows["cond_acc/digit"]["value"] == 1.0
    assert 0.05 < rows["cond_acc/digit"]["shuffled"] < 0.2
    assert rows["cond_acc/digit"]["per_value"] == {str(d): 1.0 for d in range(10)}

    class NamedReader(Reader):  # a classifier that knows its value names: per_value is keyed by them
        attributes = {"digit": [f"d{i}" for i in range(10)]}

    (row, *_) = compute(["cond_acc"], fake, fake, NamedReader(), requested={"digit": asked}, progress=False)
    assert row["per_value"] == {f"d{i}": 1.0 for i in range(10)}


def test_condition_accuracy_per_asked_value():
    from ganlab.eval.metrics.condition import per_value_accuracy
    asked = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 1, 0, 0, 0])  # value 0 always read back, 1 half the time, 2 never
    assert per_value_accuracy(pred, asked, ["red", "blue", "green"]) == {"red": 1.0, "blue": 0.5, "green": 0.0}
    assert per_value_accuracy(torch.nn.functional.one_hot(pred, 3).float(), asked) == {"0": 1.0, "1": 0.5, "2": 0.0}


def test_kid_gives_no_spread_when_every_subset_is_the_whole_set(classifier, digits16):
    ext = get_extractor(f"classifier:{classifier[0]}")
    x = digits16.data
    (same,) = compute(["kid"], x[:64], x[64:128], ext, progress=False)
    assert same["std"] is None  # 64 vs 64: each subset of 64 is both whole sets, a std would be 0 by construction
    (more,) = compute(["kid"], x[:200], x[200:264], ext, progress=False)
    assert more["std"] is not None and more["std"] > 0  # real subsets of 64 from 200 do vary


def test_stacked_modes_during_training(classifier, tmp_path, tiny_config):
    """eval.metrics=[stacked_modes] during training: the registry says it needs a classifier, so the hook
    loads one (it was left out of the hook's own list of extractor metrics before the registry)."""
    cfg = tiny_config(**{"data.format": "stacked-mnist", "train.epochs": 1, "eval.every": 1,
                         "eval.metrics": ["stacked_modes"], "eval.n": 64,
                         "eval.features": f"classifier:{classifier[0]}"})
    run = train(cfg, out=tmp_path / "s", log=lambda *a: None)
    rows = {r["metric"]: r for r in map(json.loads, run.eval_path.read_text().splitlines())}
    assert 1 <= rows["stacked_modes"]["value"] <= 64 and rows["stacked_modes"]["of"] == 1000
    assert (run.checkpoints / "best.pt").is_file()

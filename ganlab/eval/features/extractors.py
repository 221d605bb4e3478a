"""Feature extractors for the metrics, all loaded from local files (nothing is downloaded).

- ``inception``: the FID Inception-v3 weights that pytorch-fid and torch-fidelity use
  (``pt_inception-2015-12-05-6726825d.pth``), run by torch-fidelity's network definition.
- ``torchvision-inception``: torchvision's ImageNet Inception-v3 (``inception_v3_google-0cc3c7bd.pth``).
- ``classifier:PATH``: a classifier made by ``ganlab train-classifier``.

Each gives ``features`` (pool / penultimate layer) and ``probs`` (class probabilities, for the
Inception Score) for uint8 images [N, C, H, W].
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ganlab.errors import EvalError, WeightsMissing

FID_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
TV_WEIGHTS = "inception_v3_google-0cc3c7bd.pth"


def _hub_file(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def find_weights(kind: str, path: str | None = None) -> Path:
    """The local weights file for ``kind``: an explicit path, $GANLAB_INCEPTION_WEIGHTS (FID) /
    $GANLAB_TV_INCEPTION_WEIGHTS (torchvision), or the torch hub cache."""
    fname, env = (FID_WEIGHTS, "GANLAB_INCEPTION_WEIGHTS") if kind == "inception" else (
        TV_WEIGHTS, "GANLAB_TV_INCEPTION_WEIGHTS")
    if path and not Path(path).is_file():  # a file named explicitly is the one to use: no silent fallback
        raise WeightsMissing(f"--weights {path}: no such file (the {kind} extractor's weights are {fname})")
    candidates = [Path(path)] if path else []
    if os.environ.get(env):
        candidates.append(Path(os.environ[env]))
    candidates.append(_hub_file(fname))
    for c in candidates:
        if c.is_file():
            return c
    raise WeightsMissing(
        f"the {kind} feature extractor needs its weights file {fname}, and ganlab never downloads at run time: "
        f"run 'ganlab weights fetch {kind}' (or place the file at {_hub_file(fname)}, or point ${env} at it), "
        "or use --features classifier:PATH with a classifier from 'ganlab train-classifier'.")


def _file_id(p: Path) -> str:
    st = p.stat()
    return f"{p.name}:{st.st_size}:{int(st.st_mtime)}"


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class Extractor:
    """Features (and class probabilities) of uint8 images. ``predicts``: the extractor is a domain classifier
    whose ``predict`` reads the data's attributes (``attributes``: name -> value names) from images."""
    name = "base"
    id = "base"
    predicts = False
    attributes: dict = {}
    batch_size = 64  # images per pass in ``extract`` (an extractor may set its own)

    def features_and_probs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        raise EvalError(f"the {self.name} features read no attributes; use --features classifier:PATH")


class FIDInception(Extractor):
    def __init__(self, device="cpu", weights: str | None = None):
        from torch_fidelity.feature_extractor_inceptionv3 import (
            FeatureExtractorInceptionV3,
        )
        path = find_weights("inception", weights)
        self.name, self.id, self.device = "inception", "inception:" + _file_id(path), torch.device(device)
        self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                               feature_extractor_weights_path=str(path)).to(self.device).eval()

    @torch.no_grad()
    def features_and_probs(self, images):
        x = _rgb(images.to(self.device))
        if x.dtype != torch.uint8:
            x = (x.float().clamp(0, 1) * 255).round().to(torch.uint8)
        feats, logits = self.net(x)
        return feats.float(), F.softmax(logits.double(), dim=1).float()


class TorchvisionInception(Extractor):
    def __init__(self, device="cpu", weights: str | None = None):
        from torchvision.models import inception_v3
        path = find_weights("torchvision-inception", weights)
        self.name, self.id, self.device = "torchvision-inception", "tv-inception:" + _file_id(path), torch.device(device)
        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.fc = net.fc
        net.fc = torch.nn.Identity()
        self.net = net.to(self.device).eval()
        self.fc = self.fc.to(self.device)
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(1, 3, 1, 1)

    @torch.no_grad()
    def features_and_probs(self, images):
        x = _rgb(images.to(self.device)).float()
        x = x / 255 if images.dtype == torch.uint8 else x
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        feats = self.net((x - self.mean) / self.std)
        return feats.float(), F.softmax(self.fc(feats).double(), dim=1).float()


class ClassifierFeatures(Extractor):
    """A ganlab classifier's penultimate features, channels-last (1.2-1.5x as fast as NCHW on a CPU), in float32.
    Batches of 64 on a CPU: larger ones were slower on a quiet 2-core machine (their activations leave the
    cache: 1000 at a time took 1.4-1.6x as long) and only up to 10% faster with the other core busy; on CUDA
    512 (not measured). Not bfloat16, though it extracts 1.7x as fast at 64x64: on the same images it raised
    FID by 0.2% (more than two generator seeds differ), real-vs-real FID by 0.5% and PRDC density by 5%,
    always upwards (measured on a 2-core CPU when this was written)."""
    predicts = True

    def __init__(self, path: str, device="cpu", attribute: str | None = None):
        from ganlab.eval.features.classifier import load_classifier
        p = Path(path)
        self.model = load_classifier(p, device).to(memory_format=torch.channels_last)
        self.name, self.id, self.device = f"classifier:{p}", "classifier:" + _file_id(p), torch.device(device)
        attrs = list(self.model.attributes)
        if attribute is not None and attribute not in attrs:
            raise EvalError(f"classifier {p} has no attribute {attribute!r}; it has: {', '.join(attrs)}")
        self.attribute = attribute or attrs[0]
        self.attributes = self.model.attributes
        self.batch_size = 512 if self.device.type == "cuda" else 64

    def _input(self, images):
        from ganlab.eval.features.classifier import to_input
        cfg = self.model.config
        x = to_input(images.to(self.device), cfg["image_size"], cfg["channels"])
        return x.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def features_and_probs(self, images):
        x = self._input(images)
        h = self.model.features(x)
        return h.float(), F.softmax(self.model.heads[self.attribute](h).double(), dim=1).float()

    def predict(self, images) -> dict[str, torch.Tensor]:
        parts = {a: [] for a in self.attributes}
        with torch.inference_mode():
            for i in range(0, max(1, len(images)), self.batch_size):
                for a, v in self.model(self._input(images[i:i + self.batch_size])).items():
                    parts[a].append(v.argmax(1).cpu())
        return {a: torch.cat(v) for a, v in parts.items()}  # outside inference mode: ordinary tensors


def get_extractor(name: str, device="cpu", weights: str | None = None, attribute: str | None = None) -> Extractor:
    """The feature extractor ``name`` on ``device`` (cpu, auto, cuda, cuda:N or a torch.device)."""
    from ganlab.devices import resolve
    device = resolve(device, "--device")
    if name == "inception":
        return FIDInception(device, weights)
    if name == "torchvision-inception":
        return TorchvisionInception(device, weights)
    if name.startswith("classifier:"):
        return ClassifierFeatures(name.split(":", 1)[1], device, attribute)
    raise EvalError(f"unknown feature extractor {name!r}; choose inception, torchvision-inception or "
                     "classifier:PATH")


def extract(extractor: Extractor, images: torch.Tensor, batch_size: int | None = None, progress: bool = False,
            desc: str = "features") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features and probabilities of uint8 images, ``batch_size`` at a time (default: the extractor's own),
    with a progress bar."""
    from tqdm import tqdm
    batch_size = batch_size or extractor.batch_size
    feats, probs = [], []
    with torch.no_grad():
        for i in tqdm(range(0, len(images), batch_size), desc=desc, disable=not progress, unit="batch"):
            f, p = extractor.features_and_probs(images[i:i + batch_size])
            feats.append(f.cpu())
            if p is not None:
                probs.append(p.cpu())
    return torch.cat(feats), (torch.cat(probs) if probs else None)

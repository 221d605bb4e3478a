"""A domain classifier trained on labelled real images (``ganlab train-classifier``).

It gives every metric a feature space and class probabilities without any download, on domains
Inception was never trained on (anime faces, digits). One head per attribute; the penultimate
layer is the feature vector. The saved file holds the weights, the attributes with their value
names, the input size and the held-out accuracy per attribute.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganlab.errors import DataError, EvalError


class DomainClassifier(nn.Module):
    def __init__(self, channels: int, image_size: int, attributes: dict[str, list[str]], width: int = 32,
                 feature_dim: int = 256):
        super().__init__()
        self.config = {"channels": channels, "image_size": image_size, "attributes": attributes, "width": width,
                       "feature_dim": feature_dim}
        layers, c = [], channels
        n_down = int(math.log2(image_size // 4))
        for i in range(n_down):
            cout = width * 2 ** min(i, 3)
            layers += [nn.Conv2d(c, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = cout
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
                                   nn.Linear(c, feature_dim), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({name: nn.Linear(feature_dim, len(values)) for name, values in attributes.items()})

    @property
    def attributes(self) -> dict[str, list[str]]:
        return self.config["attributes"]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float in [0, 1], [N, C, S, S] -> [N, feature_dim]."""
        return self.trunk(x * 2 - 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(x)
        return {name: head(h) for name, head in self.heads.items()}


def save_classifier(model: DomainClassifier, path: Path, report: dict) -> None:
    from ganlab.files import save_atomic
    save_atomic({"config": model.config, "state_dict": model.state_dict(), "report": report}, Path(path))


def load_classifier(path, device="cpu") -> DomainClassifier:
    p = Path(path)
    if not p.is_file():
        raise EvalError(f"classifier {p} not found (make one with 'ganlab train-classifier')")
    try:
        state = torch.load(p, map_location=device, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise EvalError(f"{p} cannot be read as a ganlab classifier file ({e})") from None
    if not isinstance(state, dict) or "config" not in state:
        raise EvalError(f"{p} is not a ganlab classifier file")
    model = DomainClassifier(**state["config"]).to(device)
    model.load_state_dict(state["state_dict"])
    model.report = state.get("report", {})
    return model.eval()


def to_input(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """uint8 or [0, 1] float images -> float [0, 1] at the classifier's size and channel count."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def train_classifier(dataset, attributes: list[str] | None = None, epochs: int = 10, batch_size: int = 128,
                     lr: float = 2e-3, holdout: float = 0.1, seed: int = 0, device="cpu", width: int = 32,
                     progress: bool = True, log=print) -> tuple[DomainClassifier, dict]:
    """Train on a labelled ganlab Dataset; returns the model and a report with held-out accuracy per attribute."""
    if dataset.kind != "images":
        raise DataError("a classifier needs images")
    if not dataset.attributes:
        raise DataError(f"{dataset.name} has no attributes to learn; give labelled data (class folders, a --labels "
                        "CSV, CelebA, MNIST or digits)")
    if len(dataset) < 2:
        raise DataError(f"{dataset.name} has {len(dataset)} image(s): a classifier needs at least 2 (one to train "
                        "on, one held out)")
    names = attributes or list(dataset.attributes)
    missing = [a for a in names if a not in dataset.attributes]
    if not names or missing:
        have = ", ".join(dataset.attributes) or "none"
        raise DataError(f"attributes {missing or names} not in the data (it has: {have})")
    attrs = {a: list(dataset.attributes[a].values) for a in names}
    c, s, _ = dataset.image_shape
    torch.manual_seed(seed)
    model = DomainClassifier(c, s, attrs, width=width).to(device)
    n = len(dataset)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(n * holdout))
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    data = dataset.data.to(device)
    codes = {a: dataset.attributes[a].codes.to(device) for a in names}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, len(train_idx) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.time()
    bar = tqdm(total=steps, desc="train-classifier", disable=not progress, unit="step")
    for ep in range(epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx))].to(device)
        for i in range(max(1, len(order) // batch_size)):
            idx = order[i * batch_size:(i + 1) * batch_size]
            x = data[idx].float() / 255
            # light augmentation: random shifts by up to 1/16 of the size
            shift = max(1, s // 16)
            dx, dy = (int(v) for v in torch.randint(-shift, shift + 1, (2,)))
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            out = model(x)
            loss = sum(F.cross_entropy(out[a], codes[a][idx]) for a in names)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    acc = accuracy(model, data[test_idx.to(device)], {a: codes[a][test_idx.to(device)] for a in names})
    majority = {a: float(torch.bincount(codes[a][test_idx.to(device)]).max()) / n_test for a in names}
    report = {"heldout_accuracy": acc, "majority_baseline": majority, "n_train": len(train_idx),
              "n_test": n_test, "epochs": epochs, "seconds": round(time.time() - t0, 1), "data": dataset.name}
    log("held-out accuracy: " + ", ".join(f"{a} {acc[a]:.3f} (majority {majority[a]:.3f})" for a in names))
    return model, report


@torch.no_grad()
def accuracy(model: DomainClassifier, images: torch.Tensor, codes: dict, batch_size: int = 512) -> dict:
    model.eval()
    right = {a: 0 for a in codes}
    for i in range(0, len(images), batch_size):
        out = model(images[i:i + batch_size].float() / 255)
        for a in codes:
            right[a] += int((out[a].argmax(1) == codes[a][i:i + batch_size]).sum())
    return {a: right[a] / len(images) for a in codes}

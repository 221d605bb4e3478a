"""A domain classifier trained on labelled real images (``ganlab train-classifier``).

It gives every metric a feature space and class probabilities without any download, on domains
Inception was never trained on (anime faces, digits). One head per attribute; the penultimate
layer is the feature vector. The saved file holds the weights, the attributes with their value
names, the input size and the held-out accuracy per attribute.

Training runs like ``ganlab train``: the images stay one uint8 tensor in memory (channels-last) and
batches are sliced out of it, the network is channels-last, its passes run in bfloat16 autocast under
``precision`` bf16 (``auto``: where the hardware computes bfloat16 natively, see ``ganlab.precision``)
while the weights, batch-norm statistics and losses stay float32, and the running loss stays on the
device until it is shown.

The network is the one earlier versions trained (two 3x3 convolutions per resolution level), so files
keep their format: one conv per level trained 2-3x as fast but lost 6 points of held-out eye-colour
accuracy on the anime faces and 20 on 16x16 digits (measured on a 2-core CPU when this was written).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganlab import precision as _precision
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
    state = {k: v.contiguous() for k, v in model.state_dict().items()}  # plain layout, whatever trained it
    save_atomic({"config": model.config, "state_dict": state, "report": report}, Path(path))


def load_classifier(path, device="cpu") -> DomainClassifier:
    from ganlab.devices import resolve
    device = resolve(device, "--device")
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


def choose_precision(name: str, device) -> tuple[str, str]:
    """(fp32 or bf16, the reason) for the classifier's ``--precision name`` on ``device``."""
    return _precision.choose(name, device, key="--precision")


def train_classifier(dataset, attributes: list[str] | None = None, epochs: int = 10, batch_size: int = 128,
                     lr: float = 2e-3, holdout: float = 0.1, seed: int = 0, device="cpu", width: int = 32,
                     progress: bool = True, log=print, precision: str = "auto", channels_last: bool = True,
                     log_every: int = 25) -> tuple[DomainClassifier, dict]:
    """Train on a labelled ganlab Dataset; returns the model and a report with held-out accuracy per attribute.
    ``precision``: auto, fp32 or bf16 (the network's passes; weights, batch norm and losses stay float32)."""
    from ganlab.devices import resolve
    device = resolve(device, "--device")
    chosen, why = choose_precision(precision, device)  # before any work
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
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    n = len(dataset)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(n * holdout))
    test_idx, train_idx = perm[:n_test].to(device), perm[n_test:]
    # one uint8 tensor on the device; rows indexed out of a channels-last tensor stay channels-last
    data = dataset.data.to(device).contiguous(memory_format=layout)
    codes = {a: dataset.attributes[a].codes.to(device) for a in names}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    per_epoch = max(1, len(train_idx) // batch_size)
    steps = epochs * per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    shift = max(1, s // 16)  # light augmentation: random shifts by up to 1/16 of the size
    log(f"train-classifier: {sum(p.numel() for p in model.parameters()):,} parameters (width {width}), precision "
        f"{chosen} ({why}), {len(train_idx)} images to train on, {steps} steps")
    t0 = time.time()
    bar = tqdm(total=steps, desc="train-classifier", disable=not progress, unit="step")
    for ep in range(epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx))].to(device)
        shifts = torch.randint(-shift, shift + 1, (per_epoch, 2)).tolist()  # host RNG, once an epoch
        loss_sum, loss_n, shown = torch.zeros((), device=device), 0, torch.zeros((), device=device)
        for i, (dy, dx) in enumerate(shifts):
            idx = order[i * batch_size:(i + 1) * batch_size]
            x = torch.roll(data[idx], shifts=(dy, dx), dims=(2, 3)).float().div_(255)
            with _precision.autocast(chosen, device):
                out = model(x)
            loss = sum(F.cross_entropy(out[a].float(), codes[a][idx]) for a in names)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach()
            loss_n += 1
            bar.update(1)
            if progress and loss_n % log_every == 0:  # the one host sync, only where a bar is shown
                bar.set_postfix(loss=f"{float(loss_sum - shown) / log_every:.3f}")
                shown = loss_sum.clone()
        log(f"epoch {ep + 1}/{epochs}: mean loss {float(loss_sum) / max(1, loss_n):.4f} "
            f"({time.time() - t0:.0f} s)")
    bar.close()
    train_seconds = time.time() - t0
    acc = accuracy(model, data[test_idx], {a: codes[a][test_idx] for a in names})
    majority = {a: float(torch.bincount(codes[a][test_idx]).max()) / n_test for a in names}
    report = {"heldout_accuracy": acc, "majority_baseline": majority, "n_train": len(train_idx),
              "n_test": n_test, "epochs": epochs, "seconds": round(time.time() - t0, 1),
              "seconds_per_step": round(train_seconds / steps, 4), "precision": chosen,
              "data": dataset.name}
    log("held-out accuracy: " + ", ".join(f"{a} {acc[a]:.3f} (majority {majority[a]:.3f})" for a in names))
    return model, report


@torch.inference_mode()
def accuracy(model: DomainClassifier, images: torch.Tensor, codes: dict, batch_size: int = 1024) -> dict:
    """Share of ``images`` (uint8) whose predicted value is ``codes[a]``, per attribute, in float32 (as the
    metrics run the classifier)."""
    model.eval()
    right = {a: torch.zeros((), dtype=torch.long, device=images.device) for a in codes}
    for i in range(0, len(images), batch_size):
        out = model(images[i:i + batch_size].float() / 255)
        for a in codes:
            right[a] += (out[a].argmax(1) == codes[a][i:i + batch_size]).sum()
    return {a: int(right[a]) / len(images) for a in codes}

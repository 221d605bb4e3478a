"""Attribute scorers: a classifier, as ``ganlab edit`` uses it to score samples for an attribute.

The protocol (``ganlab edit --classifier PATH``): ``load_scorer(PATH)`` gives a callable that takes
float images in [0, 1], shape [N, C, H, W] at the run's resolution, and returns either

- a dict attribute name -> logits [N, K] over that attribute's values (or [N] / [N, 1]: one logit), or
- a tensor: [N, K] logits over the values of the attribute asked for, or [N] / [N, 1] one logit of
  "the attribute is present".

A file written by ``ganlab train-classifier`` (``ganlab.eval.features.classifier``: a DomainClassifier with a
head per attribute) is loaded with ``ganlab.eval.features.load_classifier``, and images are resized to its input
size; any other PATH is read with ``torch.load`` and must hold an ``nn.Module`` (saved whole) with that
behaviour. A classifier may carry ``attributes`` (name -> list of value names) to name its output
columns; without it the run's attribute values are assumed.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ganlab.devices import resolve as resolve_device
from ganlab.errors import ConfigError
from ganlab.eval.features.classifier import load_classifier

ON_VALUES = ("1", "yes", "true", "on", "y", "t", "present")


def load_scorer(path, device="cpu"):
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--classifier {path}: no such file")
    device = resolve_device(device, "--device")  # "auto" is not a torch device
    try:
        obj = torch.load(p, map_location=device, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise ConfigError(f"--classifier {path}: cannot be read with torch.load ({e})") from None
    if isinstance(obj, dict) and "config" in obj and "state_dict" in obj:  # from 'ganlab train-classifier'
        return load_classifier(p, device=device)
    if isinstance(obj, dict) and isinstance(obj.get("model"), torch.nn.Module):
        obj = obj["model"]
    if not isinstance(obj, torch.nn.Module):
        raise ConfigError(f"--classifier {path}: expected a saved torch.nn.Module (or a file from "
                           f"'ganlab train-classifier'), found {type(obj).__name__}")
    obj.eval()
    return obj


def parse_attribute(text: str) -> tuple[str, str | None]:
    """``smiling`` -> ("smiling", None); ``digit=0`` -> ("digit", "0")."""
    if "=" in text:
        name, value = (s.strip() for s in text.split("=", 1))
        return name, value
    return text.strip(), None


def value_index(values: list[str] | None, name: str, value: str | None, k: int) -> int:
    """The output column of ``value`` among ``k`` columns: the named value, or for two values the 'on' one."""
    if value is None:
        if k == 2:
            if values and len(values) == 2 and values[0].lower() in ON_VALUES and values[1].lower() not in ON_VALUES:
                return 0
            return 1
        shown = f": {', '.join(values)}" if values else ""
        raise ConfigError(f"attribute {name!r} has {k} values{shown}; say which one to score, "
                           f"e.g. --attribute {name}={values[0] if values else 0}")
    if values and value in values:
        return values.index(value)
    if value.isdigit() and int(value) < k:
        return int(value)
    known = f"; known: {', '.join(values)}" if values else ""
    raise ConfigError(f"attribute {name!r} has no value {value!r}{known}")


class AttributeScorer:
    """P(attribute = value) for [0, 1] images, from a classifier of the protocol above."""

    def __init__(self, classifier, name: str, value: str | None, run_attributes: dict):
        self.clf, self.name, self.value = classifier, name, value
        own = getattr(classifier, "attributes", None)
        self.values = (own or {}).get(name) if isinstance(own, dict) else None
        if self.values is None:
            self.values = run_attributes.get(name)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        outs = []
        dev = _device_of(self.clf)
        cfg = getattr(self.clf, "config", None)
        for i in range(0, images.shape[0], batch_size):
            x = images[i:i + batch_size].float()
            if isinstance(cfg, dict) and "image_size" in cfg and "channels" in cfg:
                from ganlab.eval.features.classifier import to_input
                x = to_input(x, cfg["image_size"], cfg["channels"])
            out = self.clf(x.to(dev))
            outs.append(self._score(out).float().cpu())
        return torch.cat(outs)

    def _score(self, out) -> torch.Tensor:
        if isinstance(out, dict):
            if self.name not in out:
                raise ConfigError(f"the classifier has no output for attribute {self.name!r}; it scores: "
                                   f"{', '.join(map(str, out))}")
            out = out[self.name]
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not torch.is_tensor(out):
            raise ConfigError(f"the classifier returned {type(out).__name__}; expected logits (a tensor or a dict "
                               "of tensors per attribute)")
        out = out.float()
        if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
            return torch.sigmoid(out.reshape(-1))  # one logit: "the attribute (value) is present"
        k = out.shape[1]
        j = value_index(self.values if self.values and len(self.values) == k else None, self.name, self.value, k)
        return torch.softmax(out, 1)[:, j]


def _device_of(m):
    try:
        return next(m.parameters()).device
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")

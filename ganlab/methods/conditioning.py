"""Conditions as users give them (``hair=blue,eyes=red``, ``c0=3``) and the attributes a conditional method
is conditioned on: their value names, and conversion from data labels and conditions to code tensors."""
from __future__ import annotations

import torch

from ganlab.errors import ConfigError


def parse_cond(text: str | None) -> dict:
    """``hair=blue,eyes=red`` -> {"hair": "blue", "eyes": "red"}. Values stay text: the method reads them (a
    value name, or a code: ``digit=3`` is the value named "3", ``c0=3`` InfoGAN's category 3)."""
    out = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ConfigError(f"{text!r}: expected NAME=VALUE pairs separated by commas, e.g. hair=blue,eyes=red")
        k, v = (x.strip() for x in part.split("=", 1))
        out[k] = v
    return out


class Conditioning:
    """The attributes a conditional method uses, their value names, and conversion from labels/conditions
    to a [B, A] code tensor (one column per attribute, in ``names`` order)."""

    def __init__(self, wanted, info_attributes: dict):
        known = list(info_attributes)
        if not known:
            raise ConfigError("this method conditions on attributes, but the data has none (use class folders, "
                              "a labels CSV, CelebA, MNIST or digits)")
        names = list(wanted) if wanted else known
        missing = [n for n in names if n not in info_attributes]
        if missing:
            raise ConfigError(f"cond.attributes: {missing[0]!r} is not an attribute of the data; it has: "
                              f"{', '.join(known)}")
        self.names = names
        self.values = {n: list(info_attributes[n]) for n in names}
        self.sizes = [len(self.values[n]) for n in names]
        self._sizes_on: dict = {}  # device -> sizes as a tensor there (sizes_on)
        for n, k in zip(names, self.sizes):
            if k < 2:
                raise ConfigError(f"attribute {n!r} has only {k} value ({self.values[n]}); nothing to condition on")

    def __len__(self):
        return len(self.names)

    def codes(self, labels: dict) -> torch.Tensor:
        return torch.stack([labels[n] for n in self.names], 1)

    def random(self, n: int, generator=None, device="cpu") -> torch.Tensor:
        return torch.stack([torch.randint(0, k, (n,), generator=generator, device=device) for k in self.sizes], 1)

    def sizes_on(self, device) -> torch.Tensor:
        """The attributes' value counts as a tensor on ``device``, made once per device (made at every step, it
        would be a host-to-device copy each time)."""
        device = torch.device(device)
        if device not in self._sizes_on:
            self._sizes_on[device] = torch.tensor(self.sizes, device=device)
        return self._sizes_on[device]

    def mismatched(self, codes: torch.Tensor) -> torch.Tensor:
        """The same codes with one randomly chosen attribute per row changed to a different random value."""
        n, a = codes.shape
        sizes = self.sizes_on(codes.device)
        which = torch.randint(0, a, (n,), device=codes.device)
        k = sizes[which]
        shift = 1 + (torch.rand(n, device=codes.device) * (k - 1).float()).long().clamp(max=k - 2)
        out = codes.clone()
        rows = torch.arange(n, device=codes.device)
        out[rows, which] = (codes[rows, which] + shift) % k
        return out

    def value_code(self, name: str, value) -> int:
        values = self.values[name]
        if isinstance(value, str):
            if value in values:
                return values.index(value)
            if not value.strip().lstrip("-").isdigit():
                raise ConfigError(f"attribute {name!r} has no value {value!r}; known values: {', '.join(values)}")
            value = int(value)  # a code given as text (--cond hair=3)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"attribute {name!r}: give a value name or code, got {value!r}; "
                             f"known values: {', '.join(values)}")
        if not 0 <= value < len(values):
            raise ConfigError(f"attribute {name!r}: code {value} is out of range 0..{len(values) - 1}; "
                             f"known values: {', '.join(values)}")
        return value

    def parse(self, cond: dict | None, n: int, generator=None) -> torch.Tensor:
        """[n, A] codes on the CPU: the attributes named in ``cond`` fixed (a value name, a code, or a list of
        n of them), the others drawn at random."""
        codes = self.random(n, generator)
        for name, value in (cond or {}).items():
            if name not in self.values:
                raise ConfigError(f"unknown attribute {name!r}; this model is conditioned on: {', '.join(self.names)}")
            j = self.names.index(name)
            if torch.is_tensor(value):
                value = value.tolist()
            if isinstance(value, (list, tuple)):
                if len(value) != n:
                    raise ConfigError(f"attribute {name!r}: {len(value)} values for {n} samples")
                codes[:, j] = torch.tensor([self.value_code(name, v) for v in value])
            else:
                codes[:, j] = self.value_code(name, value)
        return codes

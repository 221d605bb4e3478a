"""``ganlab export RUN --format onnx|torchscript``: the generator as one file that other tools load without
ganlab, and a JSON beside it that says what goes in and what comes out.

The exported graph takes the sampling generator's inputs as plain tensors, in the order the JSON lists them
(the latent ``z``; ``codes`` for cgan/acgan: one column per attribute, the value's index; ``cat`` and ``cont``
for InfoGAN), any batch size, and returns what ``ganlab sample`` returns: float32 images in [0, 1], NCHW
(points for the 2-D toys). The latent has to be drawn as the JSON says (normal, uniform in [-1, 1], or the
mixture around the centres it lists) for the samples to look like the run's.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from ganlab.errors import ConfigError
from ganlab.explore import common
from ganlab.plots import to_unit

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
# the file's names for the generator's inputs (the methods' own short names clash with ONNX's node names)
PUBLIC_NAMES = {"cat": "categorical_codes", "cont": "continuous_codes"}
OPSET = 18
# how the JSON describes each kind of latent prior (``Method.latent_prior``)
PRIOR_WORDS = {"normal": "standard normal N(0, I)",
               "uniform": "uniform on [-1, 1] per coordinate",
               "mixture": "a centre drawn uniformly from 'centres', plus N(0, I)"}


class ExportedGenerator(nn.Module):
    """The run's sampling generator as a module of positional tensors: ``forward(*inputs) -> outputs``."""

    def __init__(self, g, names: list[str]):
        super().__init__()
        self.method, self.names = g.method, names
        self.kind, self.output = g.data_info.kind, g.data_info.output
        g.method.prepare_output()  # measures the EMA generator's statistics now if they are stale, not in the trace
        # the networks as submodules, so that tracing and scripting see their weights as this module's own
        self.nets = nn.ModuleDict({k: m for k, m in g.method.modules().items()})

    def forward(self, *tensors):
        out = self.method.generate(dict(zip(self.names, tensors)))
        return out if self.kind != "images" else to_unit(out, self.output).clamp(0, 1)


def describe(g) -> dict:
    """The inputs and output of the exported graph, in words and numbers a user of the file needs."""
    m = g.method
    example = g.inputs(2, seed=0)
    inputs = []
    for name, v in example.items():
        item = {"name": PUBLIC_NAMES.get(name, name), "key": name, "shape": ["batch", *v.shape[1:]],
                "dtype": str(v.dtype).replace("torch.", "")}
        if name == "z":
            prior = m.latent_prior()
            item["distribution"] = PRIOR_WORDS[prior.kind]
            if prior.kind == "mixture":
                item["centres"] = prior.centres.tolist()
        inputs.append(item)
    specs = m.condition_specs()
    by_kind = {"attribute": "codes", "categorical": "cat", "continuous": "cont"}
    for item in inputs:
        cols = [s for s in specs if by_kind[s.kind] == item["key"]]
        if not cols:
            continue
        if item["key"] == "codes":
            item["columns"] = [{"attribute": s.name, "values": [str(v) for v in s.values],
                                "meaning": "the index of the value in 'values'"} for s in cols]
        elif item["key"] == "cat":
            item["columns"] = [{"code": s.name, "categories": len(s.values)} for s in cols]
        else:
            item["columns"] = [{"code": s.name, "trained_range": [-1.0, 1.0]} for s in cols]
    c, h, w = g.data_info.shape if g.data_info.kind == "images" else (None, None, None)
    output = ({"name": "images", "shape": ["batch", c, h, w], "dtype": "float32", "range": [0.0, 1.0],
               "layout": "NCHW", "channels": "grey" if c == 1 else "RGB"}
              if g.data_info.kind == "images" else
              {"name": "points", "shape": ["batch", *g.data_info.shape], "dtype": "float32"})
    return {"method": g.cfg.method, "run": str(g.run.path), "checkpoint": str(g.checkpoint_path),
            "epoch": g.epoch, "generator": "moving average of G" if "G_ema" in m.modules() else "G",
            "inputs": inputs, "output": output}


def export(g, fmt: str, out: Path) -> dict:
    """Write the generator of loaded run ``g`` to ``out`` in ``fmt``; the description, also written beside it
    as ``out`` with ``.json``."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    if g.device.type != "cpu":
        raise ConfigError("export runs on the CPU (the file runs anywhere); drop --device")
    info = describe(g)
    example = tuple(g.inputs(2, seed=0).values())
    names = [i["name"] for i in info["inputs"]]
    module = ExportedGenerator(g, [i.pop("key") for i in info["inputs"]]).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        if fmt == "torchscript":
            with warnings.catch_warnings():  # TorchScript is deprecated in favour of torch.export, and still asked for
                warnings.simplefilter("ignore", FutureWarning)
                torch.jit.trace(module, example, check_trace=False).save(str(out))
        else:
            _onnx(module, example, names, info["output"]["name"], out)
    info.update(format=fmt, file=out.name)
    out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    return info


def _onnx(module, example, names, output_name, out: Path) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ConfigError("--format onnx needs the onnx package: pip install -e \".[export]\"") from None
    batch = torch.export.Dim("batch", min=1)
    torch.onnx.export(module, example, str(out), input_names=names, output_names=[output_name],
                      dynamic_shapes=(tuple({0: batch} for _ in example),), opset_version=OPSET, dynamo=True,
                      external_data=False, verbose=False)


def cmd(args) -> int:
    g = common.load_generator(args.run, args.checkpoint, args.device)
    out = Path(args.out) if args.out else g.run.path / "export" / f"generator{FORMATS.get(args.format, '')}"
    if out.suffix != FORMATS.get(args.format, out.suffix):
        raise ConfigError(f"--out {out}: a {args.format} file ends in {FORMATS[args.format]}")
    info = export(g, args.format, out)
    ins = ", ".join(f"{i['name']} {list(i['shape'])}" for i in info["inputs"])
    print(f"wrote {out} ({args.format}; inputs {ins}; output {info['output']['name']} "
          f"{list(info['output']['shape'])}) and {out.with_suffix('.json')}")
    return 0

"""Latent directions found without labels, for any image run: SeFa and GANSpace.

**SeFa** (Shen & Zhou, "Closed-form factorization of latent semantics in GANs", 2021). The first layer z
passes through is affine: y = A z + b (A is [m, d], the layer's weight restricted to z's inputs; the other
inputs, such as a conditional generator's embeddings, only move b). A unit direction e moves that layer's
output by |A e|, and the directions that move it most are the top eigenvectors of AᵀA. A is read by feeding
the layer the inputs of z = 0 and z = each basis vector (so every generator family works without knowing
how it lays out its weight) and computed in float32.

**GANSpace** (Härkönen et al., "GANSpace: discovering interpretable GAN controls", 2020). PCA of G's first
non-linear features (after the first layer's normalisation and activation) over ``n`` sampled latents; each
principal component is carried back to z by least squares (z ≈ X U for the samples' PCA coordinates X), and
the rows of U, in order, are made orthonormal (Gram-Schmidt: the first keeps its direction, each later one
loses its overlap with those before it). At a purely linear layer this would give SeFa's directions again;
the non-linear features are what makes it a second opinion.

Both are deterministic for a run (SeFa has no randomness; GANSpace draws its latents from ``seed``), return
orthonormal directions in the space of z, and sign each direction so that its largest coordinate is
positive. ``ganlab edit RUN --unsupervised sefa|ganspace`` saves them in ``RUN/directions/<method>-<i>.json``
beside the labelled ones; the live explorer finds SeFa's for runs that have none saved.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ganlab.errors import ConfigError

METHODS = ("sefa", "ganspace")
GANSPACE_SAMPLES = 2000  # latents whose features GANSpace's PCA reads (about 10 s at 64x64 on a CPU core)


@dataclass
class Found:
    """Directions [k, d] (orthonormal rows) with what ranks them: ``values`` (SeFa: the eigenvalues of AᵀA;
    GANSpace: the variance of each principal component) and ``shares`` (each value's share of the total)."""
    method: str
    directions: torch.Tensor
    values: torch.Tensor
    shares: torch.Tensor
    definition: str

    def describe(self, i: int) -> str:
        """Direction ``i`` (0-based) in words, for the figure, the page and the saved file."""
        if self.method == "sefa":
            return (f"SeFa direction {i + 1}: eigenvector {i + 1} of AᵀA for G's first layer (eigenvalue "
                    f"{self.values[i]:.3g}, {100 * self.shares[i]:.1f}% of the trace)")
        return (f"GANSpace direction {i + 1}: principal component {i + 1} of G's first features carried back to z "
                f"({100 * self.shares[i]:.1f}% of their variance)")


def _run_until(g, module: torch.nn.Module, inputs: dict, want: str) -> torch.Tensor:
    """The input (``want="input"``) or output (``"output"``) of ``module`` when G runs on ``inputs``."""
    seen = []

    def pre(_mod, args):
        seen.append(args[0])

    def post(_mod, _args, out):
        seen.append(out)

    hook = module.register_forward_pre_hook(pre) if want == "input" else module.register_forward_hook(post)
    try:
        g.method.generate(inputs)
    finally:
        hook.remove()
    if not seen:
        raise ConfigError(f"{g.run.path}: the generator never ran the layer that label-free directions read")
    v = seen[0]
    return (v[0] if isinstance(v, (list, tuple)) else v).detach().float().cpu()


def _latent(g, n: int, seed: int) -> tuple[dict, torch.Tensor]:
    inputs = g.inputs(n, seed)
    z = inputs.get("z")
    if not torch.is_tensor(z):
        raise ConfigError(f"method {g.cfg.method} has no latent vector z to find directions in")
    return inputs, z


def _with_z(inputs: dict, z: torch.Tensor, like: torch.Tensor) -> dict:
    return {**inputs, "z": z.reshape(z.shape[0], *like.shape[1:]).to(like.dtype)}


def _signed(rows: torch.Tensor) -> torch.Tensor:
    """Each row flipped, where needed, so that its largest coordinate (by size) is positive."""
    idx = rows.abs().argmax(1)
    sign = torch.sign(rows.gather(1, idx[:, None]))
    return rows * torch.where(sign == 0, torch.ones_like(sign), sign)


def _check_k(k: int, d: int) -> int:
    if not 1 <= k:
        raise ConfigError(f"--k {k}: ask for at least one direction")
    return min(k, d)


def latent_map(g) -> torch.Tensor:
    """A [m, d]: how the first layer's output moves per unit of each coordinate of z (exact: the layer is
    affine in z), in float32."""
    layer = g.method.sampling_generator().latent_layer()
    inputs, z = _latent(g, 1, 0)
    d = z[0].numel()
    basis = torch.cat([torch.zeros(1, d), torch.eye(d)])  # z = 0, then each basis vector
    same = {k: (v[[0] * (d + 1)] if torch.is_tensor(v) else v) for k, v in inputs.items()}
    x = _run_until(g, layer, _with_z(same, basis, z), "input").to(next(layer.parameters()).device)
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
        y = layer(x).float().flatten(1).cpu()
    return (y[1:] - y[0]).T


def sefa(g, k: int = 10) -> Found:
    """The top ``k`` eigenvectors of AᵀA for the first layer's map A (``latent_map``)."""
    a = latent_map(g).double()
    k = _check_k(k, a.shape[1])
    values, vectors = torch.linalg.eigh(a.T @ a)  # ascending
    order = values.argsort(descending=True)
    values, vectors = values[order].clamp_min(0), vectors[:, order]
    shares = values / values.sum().clamp_min(1e-30)
    return Found("sefa", _signed(vectors[:, :k].T).float(), values[:k].float(), shares[:k].float(),
                 "eigenvectors of A^T A, A the map from z to G's first layer's output")


def ganspace(g, k: int = 10, n: int = GANSPACE_SAMPLES, seed: int = 0, batch_size: int = 256) -> Found:
    """PCA of G's first non-linear features over ``n`` latents drawn from ``seed``, carried back to z."""
    if n < 2:
        raise ConfigError(f"--n {n}: GANSpace needs at least 2 samples")
    module = g.method.sampling_generator().early_features()
    inputs, z = _latent(g, n, seed)
    feats = []
    for s in range(0, n, batch_size):
        part = {key: (v[s:s + batch_size] if torch.is_tensor(v) else v) for key, v in inputs.items()}
        feats.append(_run_until(g, module, part, "output").flatten(1).double())
    y = torch.cat(feats)
    y = y - y.mean(0)
    zc = z.flatten(1).double()
    zc = zc - zc.mean(0)
    k = _check_k(k, min(zc.shape[1], n - 1))
    # the top principal axes by a randomised SVD (seconds, where a full eigendecomposition of the n x n Gram matrix
    # takes half a minute at 64x64), its random projection drawn from ``seed`` so the answer is the same each time
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, sv, axes = torch.svd_lowrank(y, q=min(k + 10, *y.shape), niter=6)
    coords = y @ axes[:, :k]
    values = sv[:k] ** 2
    total = (y * y).sum()
    u = torch.linalg.lstsq(coords, zc).solution  # [k, d]: z's move per unit of each component
    q, _ = torch.linalg.qr(u.T)                    # Gram-Schmidt in order: columns orthonormal
    return Found("ganspace", _signed(q.T).float(), (values / (n - 1)).float(), (values / total.clamp_min(1e-30)).float(),
                 "principal components of G's first non-linear features, regressed to z and made orthonormal")


def find(g, method: str, k: int = 10, n: int | None = None, seed: int = 0) -> Found:
    if method == "sefa":
        return sefa(g, k)
    if method == "ganspace":
        return ganspace(g, k, n or GANSPACE_SAMPLES, seed)
    raise ConfigError(f"--unsupervised {method!r}: choose {' or '.join(METHODS)}")

"""``build_generator``/``build_discriminator``: the network family a ModelConfig names (DCGAN, ResNet or MLP)."""
from __future__ import annotations

from torch import nn

from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.mlp import MLPDiscriminator, MLPGenerator
from ganlab.models.resnet import ResNetDiscriminator, ResNetGenerator


def build_generator(mc, data_shape: tuple, in_dim: int | None = None) -> nn.Module:
    in_dim = mc.latent_dim if in_dim is None else in_dim
    if mc.arch == "mlp":
        return MLPGenerator(in_dim, data_shape, mc.mlp_hidden, mc.mlp_layers, mc.g_act, mc.leaky_slope,
                            mc.g_norm, mc.output)
    c, s, _ = data_shape
    if mc.arch == "resnet":
        return ResNetGenerator(in_dim, c, s, mc.g_width, mc.upsample, mc.g_norm, mc.g_act, mc.leaky_slope, mc.output)
    return DCGANGenerator(in_dim, c, s, mc.g_width, mc.upsample, mc.g_norm, mc.g_act, mc.leaky_slope, mc.output)


def build_discriminator(mc, data_shape: tuple, extra: int = 0, out_dim: int = 1) -> nn.Module:
    if mc.arch == "mlp":
        return MLPDiscriminator(data_shape, mc.mlp_hidden, mc.mlp_layers, mc.d_act, mc.leaky_slope,
                                mc.spectral_norm, extra, out_dim)
    c, s, _ = data_shape
    if mc.arch == "resnet":
        return ResNetDiscriminator(c, s, mc.d_width, mc.d_norm, mc.d_act, mc.leaky_slope, mc.spectral_norm, extra,
                                   out_dim)
    return DCGANDiscriminator(c, s, mc.d_width, mc.d_norm, mc.d_act, mc.leaky_slope, mc.spectral_norm, extra,
                              out_dim)

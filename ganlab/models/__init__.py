"""Every network ganlab trains, in one package.

- ``dcgan``, ``resnet``, ``mlp``: the families of generator and discriminator; ``build`` picks one from a
  ModelConfig;
- ``conditional``: a generator conditioned on attribute embeddings;
- ``critic``: critics with conditioning and extra heads, BiGAN's joint critic;
- ``encoder``: x -> vector encoders (VAE, BiGAN);
- ``msg``: MSG-GAN's multi-scale pair;
- ``layers``: the building blocks (activations, norms, DCGAN init, spectral norm, parameter counts).
"""
from __future__ import annotations

from ganlab.models.build import build_discriminator, build_generator
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.layers import count_parameters, unwrap
from ganlab.models.mlp import MLPDiscriminator, MLPGenerator
from ganlab.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = ["build_generator", "build_discriminator", "count_parameters", "unwrap", "DCGANGenerator", "DCGANDiscriminator",
           "MLPGenerator", "MLPDiscriminator", "ResNetGenerator", "ResNetDiscriminator"]

"""MSG-GAN (Karnewar & Wang 2020): multi-scale gradients. G emits an image at every block's resolution
(a 1x1 convolution to the image channels from each block's features); D takes each scale at its
matching layer (the image concatenated to D's features at that resolution), so gradients reach every
block of G directly. Real images are shown at the same scales by average pooling. Samples are the
full-size output.
"""
from __future__ import annotations

from ganlab.errors import ConfigError
from ganlab.methods.base import Capabilities
from ganlab.methods.gan import GAN
from ganlab.models.msg import MSGDiscriminator, MSGGenerator, pyramid


class MSGGAN(GAN):
    name = "msggan"
    description = "MSG-GAN: multi-scale gradients between every generator block and the discriminator"
    capabilities = Capabilities(pack_refusal="D takes the images at every scale through its own blocks; packing "
                                             "is not built for them")

    @classmethod
    def validate(cls, cfg):
        super().validate(cfg)
        if cfg.model.arch != "dcgan":
            raise ConfigError(f"method=msggan with model.arch={cfg.model.arch}: multi-scale gradients join "
                              "convolutional blocks at matching resolutions, and MSG-GAN's pair is built from the "
                              "DCGAN blocks (an image out of and into each); use model.arch=dcgan")

    def build(self):
        mc = self.cfg.model
        self.G = MSGGenerator(mc, self.data_info.shape, mc.latent_dim)
        self.D = MSGDiscriminator(mc, self.data_info.shape)

    def real_input(self, batch):
        return pyramid(batch.x)

    def image_of(self, out):
        return out[-1]

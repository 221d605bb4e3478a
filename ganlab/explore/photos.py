"""Images from outside a run: a photo file (``ganlab project --image``, ``ganlab edit --image``) or an upload to
the live page, decoded in memory with limits on their size, centre-cropped and resized to a run's images.

Nothing here writes a file; anything that is not a reasonably sized image is refused with a one-line message.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image

from ganlab.errors import ConfigError

MAX_UPLOAD_BYTES = 8 << 20
MAX_UPLOAD_PIXELS = 4096 * 4096


def decode_upload(data: bytes, channels: int, size: int) -> torch.Tensor:
    """An uploaded image file as a [1, C, size, size] float tensor in [0, 1] (centre-cropped, resized), decoded
    in memory; anything that is not a reasonably sized image is refused with a message."""
    if not data:
        raise ConfigError("the upload is empty: choose an image file (PNG, JPEG, ...)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ConfigError(f"the upload is {len(data) / 2**20:.1f} MiB; images up to {MAX_UPLOAD_BYTES >> 20} MiB "
                          "are taken")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_UPLOAD_PIXELS:
                raise ConfigError(f"the image is {im.width}x{im.height} pixels; up to {MAX_UPLOAD_PIXELS:,} "
                                  "pixels are taken")
            im = im.convert("RGB" if channels == 3 else "L")
            side = min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
            x = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(size, size, channels)
    except ConfigError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ConfigError(f"the upload is not an image that can be read ({type(e).__name__}); choose a PNG or "
                          "JPEG file") from None
    return x.permute(2, 0, 1)[None].float() / 255


def read_photo(path, g) -> torch.Tensor:
    """A photo file as [1, C, H, W] in [0, 1] at the image size of run ``g`` (centre-cropped, resized), under the
    same limits as an upload."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--image {path}: no such file")
    c, h, w = g.data_info.shape
    try:
        return decode_upload(p.read_bytes(), c, h)
    except ConfigError as e:
        raise ConfigError(f"--image {path}: {e}") from None

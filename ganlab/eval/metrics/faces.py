"""Share of images in which an OpenCV cascade finds a face (a cheap sanity metric for face GANs).

The default cascade is OpenCV's bundled ``haarcascade_frontalface_default.xml`` (photographic
faces).  For anime faces pass an LBP anime-face cascade, e.g. nagadomi's
``lbpcascade_animeface.xml``.  Images are converted to grey, upscaled so their shorter side is at
least ``upscale_to`` pixels (cascades are trained on faces of 24 px and more and find little in
32-64 px GAN samples otherwise) and histogram-equalised before detection.

Needs an OpenCV build that has ``cv2.CascadeClassifier``: the 4.x ``opencv-python(-headless)``
wheels (which also bundle the Haar cascades) or the ``opencv-contrib`` 5.x wheels (which have the
class but bundle no cascade files).  The plain 5.x wheels have neither.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

__all__ = ["default_cascade_path", "face_detection_rate"]

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - opencv is a project dependency
        raise RuntimeError("face_detection_rate needs OpenCV (opencv-python-headless)") from exc
    return cv2


def default_cascade_path() -> str:
    """Path of OpenCV's bundled frontal-face Haar cascade (it may not exist on OpenCV 5 wheels)."""
    cv2 = _cv2()
    base = getattr(getattr(cv2, "data", None), "haarcascades", "")
    return os.path.join(base, DEFAULT_CASCADE)


def _load_cascade(path: str):
    cv2 = _cv2()
    if not os.path.isfile(path):
        raise EvalError(f"cascade file not found: {path}")
    if not hasattr(cv2, "CascadeClassifier"):
        raise RuntimeError(
            f"this OpenCV ({cv2.__version__}) has no CascadeClassifier; install "
            "opencv-python-headless<5 or opencv-contrib-python-headless"
        )
    try:
        cascade = cv2.CascadeClassifier(path)
    except Exception as exc:  # cv2.error, or SystemError wrapping it in some builds
        raise EvalError(f"invalid cascade file: {path} ({exc})") from exc
    if cascade.empty():
        raise EvalError(f"invalid cascade file (OpenCV could not load it): {path}")
    return cascade


def _to_gray_uint8(images) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise TypeError(f"images must be uint8 in [0, 255], got dtype {arr.dtype}")
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise EvalError(f"images must be [N, C, H, W] with C = 1 or 3, got shape {arr.shape}")
    if arr.shape[1] == 1:
        return arr[:, 0]
    # ITU-R BT.601 luma, as cv2.cvtColor(..., COLOR_RGB2GRAY)
    rgb = arr.astype(np.float32)
    gray = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def face_detection_rate(images_uint8, cascade_path: str | None = None, scale_factor: float = 1.1,
                        min_neighbors: int = 3, min_size: tuple[int, int] | None = None,
                        upscale_to: int = 96, equalize: bool = True) -> dict:
    """Fraction of images ``[N, C, H, W]`` (uint8 RGB or grey) with at least one detected face.

    ``cascade_path``: an OpenCV cascade XML (Haar or LBP); ``None`` for the bundled frontal-face
    Haar cascade.  A missing or unreadable file raises ``EvalError`` (a ``ValueError``) naming the path.
    ``min_size`` defaults to a quarter of the (upscaled) shorter side, at least 24 px: a face GAN's
    sample is a face crop, and small detections in it are mostly false positives.
    Returns ``{"rate": float, "n": int, "detected": int, "per_image": list[bool]}``.
    """
    cv2 = _cv2()
    gray = _to_gray_uint8(images_uint8)
    n = gray.shape[0]
    if n == 0:
        raise EvalError("no images given")
    path = default_cascade_path() if cascade_path is None else os.fspath(cascade_path)
    cascade = _load_cascade(path)
    hits: list[bool] = []
    for img in gray:
        h, w = img.shape
        short = min(h, w)
        if short < upscale_to:
            factor = upscale_to / short
            img = cv2.resize(img, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
        if equalize:
            img = cv2.equalizeHist(img)
        size = min_size if min_size is not None else (max(24, min(img.shape) // 4),) * 2
        faces = cascade.detectMultiScale(
            np.ascontiguousarray(img), scaleFactor=scale_factor, minNeighbors=min_neighbors,
            minSize=tuple(int(s) for s in size),
        )
        hits.append(len(faces) > 0)
    detected = int(sum(hits))
    return {"rate": detected / n, "n": int(n), "detected": detected, "per_image": hits}

# --------------------------------------------------------------------------- registration

def _rows(inp):
    f = face_detection_rate(inp.fake, inp.cascade)
    r = face_detection_rate(inp.real[: len(inp.fake)], inp.cascade)
    return [{"metric": "face_rate", "value": f["rate"], "real": r["rate"], "cascade": inp.cascade or "default"}]


register_metric(Metric("faces", rows=("face_rate",), compute=_rows,
                       description="share of samples in which an OpenCV cascade finds a face"))

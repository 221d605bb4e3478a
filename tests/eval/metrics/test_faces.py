import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.eval.metrics.faces import default_cascade_path, face_detection_rate

cv2 = pytest.importorskip("cv2")

needs_cascades = pytest.mark.skipif(
    not hasattr(cv2, "CascadeClassifier"),
    reason=f"OpenCV {cv2.__version__} has no CascadeClassifier (the plain 5.x wheels dropped it; "
           "opencv-python-headless<5 has it)",
)


def _shared_data() -> Path:
    env = os.environ.get("GANLAB_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _load_images(folder: Path, n: int, size=None) -> np.ndarray:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))[:n]
    imgs = []
    for f in files:
        im = Image.open(f).convert("RGB")
        if size:
            im = im.resize(size)
        imgs.append(np.asarray(im))
    return np.stack(imgs).transpose(0, 3, 1, 2).copy()


def _noise(n=16, size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)


def test_missing_cascade_file_names_the_path(tmp_path):
    missing = tmp_path / "no_such_cascade.xml"
    with pytest.raises(ValueError, match="no_such_cascade.xml"):
        face_detection_rate(_noise(2), cascade_path=str(missing))


def test_input_validation():
    with pytest.raises(TypeError):
        face_detection_rate(np.zeros((2, 3, 32, 32), dtype=np.float32))
    with pytest.raises(ValueError):
        face_detection_rate(np.zeros((2, 32, 32), dtype=np.uint8))
    with pytest.raises(ValueError):
        face_detection_rate(np.zeros((0, 3, 32, 32), dtype=np.uint8))


@needs_cascades
def test_invalid_cascade_file_names_the_path(tmp_path):
    bad = tmp_path / "broken_cascade.xml"
    bad.write_text("<?xml version='1.0'?><opencv_storage><nonsense/></opencv_storage>")
    with pytest.raises(ValueError, match="broken_cascade.xml"):
        face_detection_rate(_noise(2), cascade_path=str(bad))


@needs_cascades
def test_noise_has_no_faces_with_default_cascade():
    if not os.path.isfile(default_cascade_path()):
        pytest.skip("this OpenCV build bundles no Haar cascades")
    out = face_detection_rate(torch.from_numpy(_noise(16)))
    assert out == {"rate": 0.0, "n": 16, "detected": 0, "per_image": [False] * 16}
    grey = face_detection_rate(_noise(4, size=32)[:, :1])  # 1-channel, upscaled from 32 px
    assert grey["n"] == 4 and grey["rate"] == 0.0


@needs_cascades
def test_anime_cascade_finds_real_anime_faces():
    data = _shared_data()
    images = data / "anime-faces" / "images"
    cascade = data / "cascades" / "lbpcascade_animeface.xml"
    if not images.is_dir() or not cascade.is_file():
        pytest.skip(f"shared data not found under {data}")
    faces = _load_images(images, 32)
    assert faces.shape == (32, 3, 96, 96)
    out = face_detection_rate(faces, cascade_path=str(cascade))
    assert out["n"] == 32 and out["rate"] > 0.5
    # the same cascade finds nothing in noise, so the rate above is not a free pass
    assert face_detection_rate(_noise(16), cascade_path=str(cascade))["rate"] == 0.0
    # GAN-sized 32x32 samples are upscaled before detection
    small = torch.nn.functional.interpolate(torch.from_numpy(faces).float(), size=32, mode="area")
    small = small.round().clamp(0, 255).to(torch.uint8)
    assert face_detection_rate(small, cascade_path=str(cascade))["rate"] > 0.5


@needs_cascades
def test_default_cascade_finds_celeba_faces():
    folder = _shared_data() / "celeba-10k" / "img_align_celeba"
    if not folder.is_dir():
        pytest.skip(f"shared data not found under {folder}")
    if not os.path.isfile(default_cascade_path()):
        pytest.skip("this OpenCV build bundles no Haar cascades")
    out = face_detection_rate(_load_images(folder, 16, size=(64, 64)))
    assert out["rate"] > 0.5

"""Evaluation metrics, one per module: the computation (pure functions on tensors/arrays) and, at the end of
the module, its registration (``registry.register_metric``). Importing this package fills the registry.

Feature-based metrics (FID, KID, IS, PRDC) take features or class probabilities that the caller
extracted; nothing here downloads or loads network weights. Bad inputs raise ``EvalError``.
"""
from .condition import condition_accuracy
from .faces import face_detection_rate
from .fid import feature_stats, fid_from_features, frechet_distance
from .inception_score import inception_score
from .kid import kid_from_features
from .modes import count_modes
from .prdc import prdc
from .swd import sliced_wasserstein
from .toy import mode_stats
from .wasserstein_critic import critic_wasserstein

__all__ = [
    "condition_accuracy",
    "count_modes",
    "critic_wasserstein",
    "face_detection_rate",
    "feature_stats",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "kid_from_features",
    "mode_stats",
    "prdc",
    "sliced_wasserstein",
]

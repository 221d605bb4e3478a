"""Feature extractors (Inception variants from local weights, or a domain classifier) for the metrics."""
from ganlab.errors import WeightsMissing
from ganlab.eval.features.classifier import (
           DomainClassifier,
           load_classifier,
           train_classifier,
)
from ganlab.eval.features.extractors import (
           Extractor,
           extract,
           find_weights,
           get_extractor,
)

__all__ = ["DomainClassifier", "load_classifier", "train_classifier", "Extractor", "WeightsMissing", "extract",
           "find_weights", "get_extractor"]

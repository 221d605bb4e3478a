import pytest
import torch

from ganlab.eval.metrics.condition import condition_accuracy


def test_per_attribute_and_joint_accuracy():
    requested = {"hair": torch.tensor([0, 1, 2, 3]), "eyes": torch.tensor([5, 5, 1, 0])}
    predicted = {"hair": torch.tensor([0, 1, 2, 0]), "eyes": torch.tensor([5, 4, 1, 0])}
    out = condition_accuracy(predicted, requested)
    assert out == {"hair": 0.75, "eyes": 0.75, "all": 0.5}


def test_scores_are_read_through_argmax():
    requested = {"digit": torch.tensor([2, 0, 1])}
    logits = torch.tensor([[0.1, 0.2, 3.0], [5.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert condition_accuracy({"digit": logits}, requested) == {"digit": pytest.approx(2 / 3),
                                                                  "all": pytest.approx(2 / 3)}


def test_errors():
    a = {"x": torch.tensor([0, 1])}
    with pytest.raises(ValueError):
        condition_accuracy(a, {"y": torch.tensor([0, 1])})
    with pytest.raises(ValueError):
        condition_accuracy(a, {"x": torch.tensor([0, 1, 1])})
    with pytest.raises(ValueError):
        condition_accuracy({"all": torch.tensor([0])}, {"all": torch.tensor([0])})
    with pytest.raises(ValueError):
        condition_accuracy({}, {})
    with pytest.raises(ValueError):
        condition_accuracy({"x": torch.tensor([0, 1]), "y": torch.tensor([0])},
                           {"x": torch.tensor([0, 1]), "y": torch.tensor([0])})

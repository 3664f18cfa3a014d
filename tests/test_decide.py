"""The one decision (cat / dog / neither) and the metrics of what users are answered, on hand-computed cases."""

import numpy as np
import pytest

from catdog.decide import Decision
from catdog.evaluate.metrics import answer_metrics, classification_metrics

RULE = Decision(threshold=0.5, neither_below=-2.0, pet_slope=2.0)


@pytest.mark.parametrize("p_dog, pet, expected", [
    (0.9, 0.0, "dog"), (0.1, 0.0, "cat"), (0.5, 0.0, "dog"),  # p(dog) at the threshold is a dog
    (0.9, -2.5, "neither"), (0.1, -2.01, "neither"),
    (0.9, -2.0, "dog"),  # exactly at the "neither" threshold: a pet
    (0.2, None, "cat"),  # a model without a pet score never answers "neither"
])
def test_answer(p_dog, pet, expected):
    assert RULE.answer(p_dog, pet) == expected


def test_no_neither_never_refuses_and_a_model_without_threshold_cannot():
    p, pet = np.array([0.9, 0.1, 0.7]), np.array([-9.0, -9.0, 1.0])
    assert RULE.codes(p, pet).tolist() == [2, 2, 1]
    assert RULE.without_neither().codes(p, pet).tolist() == [1, 0, 1]
    assert Decision(neither_below=None).codes(p, pet).tolist() == [1, 0, 1]
    assert not Decision(neither_below=None).refuses and RULE.refuses and not RULE.without_neither().refuses


def test_confidence_and_pet_probability():
    assert RULE.confidence(0.8, 0.0) == pytest.approx(0.8)
    assert RULE.confidence(0.3, 0.0) == pytest.approx(0.7)
    assert RULE.pet_probability(np.array([-2.0]))[0] == pytest.approx(0.5)
    # 1 - sigmoid(2 * (-3 + 2)) = 1 - sigmoid(-2)
    assert RULE.confidence(0.9, -3.0) == pytest.approx(1 - 1 / (1 + np.exp(2.0)))


def test_answer_metrics_count_neither_on_a_pet_as_wrong():
    labels = np.array([0, 0, 1, 1, 1])
    p_dog = np.array([0.1, 0.2, 0.9, 0.4, 0.9])
    pet = np.array([0.0, -5.0, 0.0, 0.0, -3.0])
    # answers: cat, neither, dog, cat (wrong), neither
    metrics = answer_metrics(labels, p_dog, pet, RULE)
    assert metrics["refused"] == pytest.approx(2 / 5)
    assert metrics["answer_accuracy"] == pytest.approx(2 / 5)
    assert metrics["answers"] == [[1, 0, 1], [1, 1, 1]]
    # the cat-vs-dog accuracy ignores "neither": 4 of 5 on the right side of 0.5
    assert classification_metrics(labels, p_dog, 0, RULE)["accuracy"] == pytest.approx(4 / 5)
    without = answer_metrics(labels, p_dog, pet, RULE.without_neither())
    assert without["refused"] == 0 and without["answer_accuracy"] == pytest.approx(4 / 5)

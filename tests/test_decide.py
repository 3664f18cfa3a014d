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


@pytest.mark.parametrize("rule", [RULE, Decision(threshold=0.3, neither_below=1.5, pet_slope=3.0), Decision(neither_below=None)])
def test_three_scores_put_the_answer_on_top_and_give_back_both_outputs(rule):
    """What the TFLite files output (for MediaPipe): the largest score is the answer; p(dog) and the
    pet score come back from the scores for our own engines."""
    rng = np.random.default_rng(7)
    p, pet = rng.uniform(0, 1, 2000), rng.normal(0, 6, 2000)
    scores = rule.scores(p, pet)
    assert np.allclose(scores.sum(axis=1), 1.0)
    assert (scores.argmax(axis=1) == rule.codes(p, pet)).all()
    back = rule.from_scores(scores)
    assert np.allclose(back[:, 0], p, atol=1e-9)
    if rule.refuses:
        assert np.allclose(back[:, 1], pet, atol=1e-6)


def test_the_keras_layer_computes_the_same_scores():
    from catdog.model.layers import AnswerScores

    rng = np.random.default_rng(3)
    outputs = np.stack([rng.uniform(0, 1, 500), rng.normal(-1, 4, 500)], axis=1).astype(np.float32)
    rule = Decision(threshold=0.4, neither_below=-1.0, pet_slope=3.0)
    layer = AnswerScores(rule.threshold, rule.neither_below, rule.pet_slope)
    assert np.allclose(np.asarray(layer(outputs)), rule.scores(outputs[:, 0], outputs[:, 1]), atol=1e-5)


def test_near_threshold_marks_the_answers_a_second_look_could_change():
    decision = Decision(threshold=0.5, neither_below=-2.0)
    p_dog = np.array([0.5, 0.8, 0.99, 0.5, 0.99, 0.01])
    pet = np.array([3.0, 3.0, 3.0, -9.0, -2.5, -1.5])
    # logit 0.8 = 1.39 < 2: near; logit 0.99 = 4.6: far; a photo far under the "neither" threshold
    # is "neither" whatever its p(dog); pet scores within 0.75 of -2.0 are near.
    assert decision.near_threshold(p_dog, pet, 2.0, 0.75).tolist() == [True, True, False, False, True, True]
    # Without "neither" only p(dog) counts; the dog threshold moves the centre.
    assert decision.without_neither().near_threshold(p_dog, pet, 2.0, 0.75).tolist() == [True, True, False, True, False, False]
    assert Decision(threshold=0.9).near_threshold(np.array([0.5, 0.9]), None, 2.0, 0.75).tolist() == [False, True]

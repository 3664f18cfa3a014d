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


def test_neither_tradeoff_counts_pets_refused_and_non_pets_let_through_at_each_point():
    from catdog.evaluate.metrics import neither_tradeoff

    pets = np.array([-3.0, -1.0, 0.0, 1.0])  # one pet under -2, two under 0.5
    non_pets = np.array([-5.0, -2.5, -1.5, 0.7, 2.0])
    points = [[0.003, -2.0], [0.0075, 0.5], [0.015, 3.0]]
    rows = neither_tradeoff(pets, non_pets, points, default_rate=0.0075)
    assert [row["point"] for row in rows] == ["lenient", "default", "strict"]
    assert [row["pets_refused"] for row in rows] == [0.25, 0.75, 1.0]
    # let through = answered cat or dog = pet score at or above the threshold
    assert [row["non_pets_accepted"] for row in rows] == [0.6, 0.4, 0.0]
    assert [row["threshold"] for row in rows] == [-2.0, 0.5, 3.0]


def test_refuse_picks_a_named_point_or_a_rate_between_the_saved_ones():
    from catdog.decide import refusal_threshold
    from catdog.errors import UsageError

    points = [[0.001, -4.0], [0.003, -3.0], [0.0075, -2.0], [0.015, -1.0], [0.1, 1.0]]
    assert refusal_threshold(points, None, -2.1) == -2.1  # the run's own threshold, exactly
    assert refusal_threshold(points, "default", -2.1) == -2.1
    assert refusal_threshold(points, "lenient", -2.1) == -3.0
    assert refusal_threshold(points, "strict", -2.1) == -1.0
    assert refusal_threshold(points, "0.002", -2.1) == pytest.approx(-3.5)  # halfway between 0.001 and 0.003
    for wrong in ("0.5", "-0.1", "sometimes", "0.2"):
        with pytest.raises(UsageError, match="--refuse"):
            refusal_threshold(points, wrong, -2.1)
    with pytest.raises(UsageError, match="retrain"):
        refusal_threshold([], "strict", -2.1)


def test_the_lookalike_gate_refuses_what_imagenet_calls_a_wild_animal_whatever_the_average_says():
    from catdog.model import pet_score as ps

    rng = np.random.default_rng(0)
    dim = 16
    kernel = rng.normal(size=(dim, 1000)).astype(np.float32) * 0.01
    bias = np.zeros(1000, np.float32)
    wolf, dog = ps.LOOKALIKE_CLASSES[1], ps.DOG_CLASSES[0]
    kernel[0, wolf] = 30.0  # feature 0 lights up "timber wolf"
    kernel[1, dog] = 5.0  # feature 1 a dog breed
    features = np.abs(rng.normal(size=(200, dim))) * 0.1
    features[:, 0] = rng.uniform(0.0, 0.25, 200)  # wolf logit <= 7.5 under the dogs' 10
    features[:, 1] += 2.0  # the training photos: dogs
    labels = np.arange(200) % 2
    scorer, threshold, held_out, averages = ps.fit_pet_scorer([features], labels, (kernel, bias), seed=0, rate=0.01)
    assert threshold == pytest.approx(np.quantile(averages, 0.01))  # the average's quantile ...
    assert np.all(held_out <= averages) and np.mean(held_out < threshold) >= np.mean(averages < threshold)  # ... plus the gate
    # The gate's term crosses the threshold at its level, the GATE_RATE quantile of the training photos'
    # pet-vs-lookalike log-odds, and the score is the smaller of the two: a photo the average accepts
    # is refused under the gate.
    offset, slope, level = scorer.gate
    assert level == pytest.approx(np.quantile(scorer.lookalike_log_odds(features), ps.GATE_RATE), abs=1e-9)
    assert offset + slope * level == pytest.approx(threshold)
    high = np.array([threshold + 5.0, threshold + 5.0])
    assert (scorer.gated(high, np.array([level - 0.1, level + 0.1])) < threshold).tolist() == [True, False]
    pet_like, wolf_like = features[:1].copy(), features[:1].copy()
    wolf_like[0, 0] = 0.6  # ImageNet: wolf logit 18 against the dog's 10
    assert scorer.lookalike_log_odds(wolf_like)[0] < level < scorer.lookalike_log_odds(pet_like)[0]
    assert scorer(pet_like)[0] >= threshold and scorer(wolf_like)[0] < threshold
    # Without the ImageNet classifier there is no gate.
    no_imagenet, _, _, _ = ps.fit_pet_scorer([features], labels, None, seed=0, rate=0.01)
    assert np.allclose(no_imagenet(wolf_like), no_imagenet.average(wolf_like))


def test_mean_logit_averages_the_heads_logits():
    from catdog.model.layers import MeanLogit

    a, b = np.array([[0.9], [0.2], [0.5]], np.float32), np.array([[0.6], [0.2], [0.99]], np.float32)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    expected = 1 / (1 + np.exp(-(logit(a) + logit(b)) / 2))
    assert np.allclose(np.asarray(MeanLogit()([a, b])), expected, atol=1e-6)


def test_within_error_marks_the_answers_an_exports_rounding_could_flip():
    rule = Decision(threshold=0.5, neither_below=-2.0)
    p_dog = np.array([0.52, 0.9, 0.9, 0.9, 0.1])
    pet = np.array([1.0, -2.04, -1.9, 3.0, -2.3])
    # within 0.05 of p(dog) = 0.5, or within 0.05 of the pet threshold
    assert rule.within_error(p_dog, pet, 0.05, 0.05).tolist() == [True, True, False, False, False]
    assert rule.without_neither().within_error(p_dog, pet, 0.05, 0.05).tolist() == [True, False, False, False, False]
    assert rule.within_error(p_dog, None, 0.01, 1.0).tolist() == [False] * 5


# ---------------------------------------------------------------- runs of other classes

SCENES = ("buildings", "forest", "glacier", "mountain", "sea", "street")
SIX = Decision(neither_below=-2.0, pet_slope=3.0, classes=SCENES)


def test_a_run_of_other_classes_answers_its_likeliest_class_or_none_of_these():
    p = np.array([[0.1, 0.6, 0.1, 0.1, 0.05, 0.05], [0.3, 0.1, 0.35, 0.15, 0.05, 0.05], [0.9, 0.02, 0.02, 0.02, 0.02, 0.02]])
    pet = np.array([0.0, 1.0, -2.5])
    assert SIX.answers == (*SCENES, "none of these") and SIX.none_code == 6 and SIX.refusal == "none of these"
    assert SIX.codes(p, pet).tolist() == [1, 2, 6]  # the third is far from every class: refused
    assert [SIX.answer(row, score) for row, score in zip(p, pet)] == ["forest", "glacier", "none of these"]
    assert SIX.confidence(p[1], 1.0) == pytest.approx(0.35)
    assert SIX.confidence(p[2], -2.5) == pytest.approx(1 - 1 / (1 + np.exp(-3.0 * -0.5)))
    # cat and dog keep their own names for the refusal
    assert Decision().answers == ("cat", "dog", "neither")


def test_n_plus_one_scores_put_the_answer_on_top_and_give_back_the_probabilities_and_score():
    """What the TFLite files of a six-class run output (seven MediaPipe categories)."""
    from catdog.model.layers import AnswerScores

    rng = np.random.default_rng(11)
    p = rng.dirichlet(np.full(6, 0.5), 1500)
    pet = rng.normal(-1, 4, 1500)
    scores = SIX.scores(p, pet)
    assert scores.shape == (1500, 7) and np.allclose(scores.sum(axis=1), 1.0)
    assert (scores.argmax(axis=1) == SIX.codes(p, pet)).all()
    back = SIX.from_scores(scores)
    assert np.allclose(back[:, :6], p, atol=1e-9) and np.allclose(back[:, 6], pet, atol=1e-6)
    layer = AnswerScores(SIX.threshold, SIX.neither_below, SIX.pet_slope)
    outputs = np.concatenate([p, pet[:, None]], axis=1).astype(np.float32)
    assert np.allclose(np.asarray(layer(outputs)), scores, atol=1e-5)


def test_near_threshold_and_within_error_for_n_classes_look_at_the_two_likeliest():
    p = np.array([[0.45, 0.40, 0.15, 0, 0, 0], [0.9, 0.05, 0.05, 0, 0, 0], [0.9, 0.05, 0.05, 0, 0, 0]])
    pet = np.array([3.0, 3.0, -2.1])
    # log 0.45 - log 0.40 = 0.12 < 1: near; log 0.9 - log 0.05 = 2.9: far; the third is near the refusal
    assert SIX.near_threshold(p, pet, 1.0, 0.5).tolist() == [True, False, True]
    # an error of 0.03 per probability can close a gap of 0.05, not one of 0.85
    assert SIX.within_error(p, pet, 0.03, 0.05).tolist() == [True, False, False]


def test_n_class_metrics_per_class_macro_and_the_answers_matrix():
    labels = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])
    pet = np.array([0.0, 0.0, 0.0, 0.0, 0.0, -9.0])
    rule = Decision(neither_below=-2.0, classes=("a", "b", "c"))
    m = classification_metrics(labels, p, 0, rule)
    # answers a, b, b, c, a, c: right 4 of 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "n": 2}
    assert m["per_class"]["c"]["recall"] == pytest.approx(2 / 3) and m["per_class"]["c"]["precision"] == 1.0
    assert m["macro_recall"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.2, 0.8, 0.8, 0.2, 0.8])))
    answers = answer_metrics(labels, p, pet, rule)
    assert answers["answers"] == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 1]]  # the last c is refused
    assert answers["refused"] == pytest.approx(1 / 6) and answers["answer_accuracy"] == pytest.approx(3 / 6)


def test_temperature_scaling_and_the_mean_logit_for_softmax_heads():
    from catdog.evaluate.calibration import apply_temperature, fit_temperature, mean_logit
    from catdog.model.layers import MeanLogit

    rng = np.random.default_rng(5)
    logits = rng.normal(0, 1.5, (3000, 4))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(4, p=row) for row in true])  # softmax(logits) is calibrated
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)  # over-confident by 3x
    temperature = fit_temperature(sharp, labels, classes=4)
    assert temperature == pytest.approx(3.0, rel=0.1)
    calibrated = apply_temperature(sharp, temperature, classes=4)
    assert np.allclose(calibrated.sum(axis=1), 1.0) and (calibrated.argmax(axis=1) == sharp.argmax(axis=1)).all()
    a, b = sharp[:5].astype(np.float32), calibrated[:5].astype(np.float32)
    assert np.allclose(np.asarray(MeanLogit()([a, b])), mean_logit([a, b], classes=4), atol=1e-5)

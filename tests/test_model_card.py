"""The run folder's README.md is a Hugging Face model card: parsed by huggingface_hub's own parser,
offline, its metadata holds the license and the run's metrics exactly as metrics.json has them."""

import json
import re

import pytest

from catdog.report.run_readme import OOD_RESULTS, RESULTS


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # parsing a card must never need the hub


def _results(card) -> dict[tuple[str, str, str], float]:
    """(dataset split, dataset name, metric name) -> value, from the card's parsed model-index."""
    return {(r.dataset_split, r.dataset_name, r.metric_name): r.metric_value for r in card.data.eval_results}


def test_the_run_readme_is_a_model_card_with_the_runs_metrics(trained):
    from huggingface_hub import ModelCard, metadata_load

    run = trained.run_dir
    card = ModelCard.load(run / "README.md")
    metrics = json.loads((run / "metrics.json").read_text())
    assert card.data.license == "apache-2.0" and card.data.library_name == "keras"
    assert card.data.base_model == "google/mobilenet_v2_1.0_224" and "image-classification" in card.data.tags
    assert card.data.datasets is None  # local files: where they come from is not known
    values = _results(card)
    for split in ("validation", "test"):
        for key, (_, name) in RESULTS.items():
            [value] = [v for (s, _, n), v in values.items() if s == split and n == name]
            assert value == metrics[split][key], (split, key)
    for key, (_, name) in OOD_RESULTS.items():
        [value] = [v for (_, dataset, n), v in values.items() if n == name and "no cat or dog" in dataset]
        assert value == metrics["ood"][key]
    index = metadata_load(run / "README.md")["model-index"]
    assert index[0]["name"] == run.name and len(index[0]["results"]) == 3  # validation, test, no cat or dog
    for heading in ("## Intended use", "## Training recipe", "## Data", "## Results", "## Measured limits", "## Plots"):
        assert heading in card.text
    assert f'{metrics["ood"]["refused_ood"]:.1%} answered "neither"' in card.text
    assert f'{metrics["test"]["refused"]:.1%} answered "neither"' in card.text and "Not tested on:" in card.text
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", card.text):
        assert (run / image).is_file(), image


def test_export_puts_the_card_next_to_the_exports_and_the_page_links_it(exported_run):
    from huggingface_hub import ModelCard

    main = ModelCard.load(exported_run / "README.md")
    assert "## Exports" in main.text and "model_int8.tflite" in main.text and {"onnx", "tflite"} <= set(main.data.tags)
    web = exported_run / "export" / "web"
    for folder in (exported_run / "export", web):
        copy = ModelCard.load(folder / "README.md")
        assert copy.data.to_dict() == main.data.to_dict()
        for target in re.findall(r"\]\(([^)]+)\)", copy.text):  # every link and image works from where the copy lies
            assert (folder / target).exists(), (folder, target)
    assert 'href="README.md"' in (web / "index.html").read_text()


def test_a_card_names_a_hub_dataset_and_leaves_out_what_it_does_not_know(tmp_path):
    from huggingface_hub import ModelCard

    from catdog.report.run_readme import model_card
    from catdog.run_folder import RunConfig, RunFolder

    run = RunFolder.at(tmp_path / "hub")
    run.path.mkdir()
    run.write_config(RunConfig(config={"weights": "/somewhere/else.h5", "val_split": 0.2, "seed": 1}, data="hf://Bingsu/Cat_and_Dog:train"))
    run.write_json("metrics.json", {"validation": {"accuracy": 0.5, "answer_accuracy": 0.25, "refused": 0.5, "n": 4,
                                                   "answers": [[1, 0, 1], [0, 0, 1]]}})
    card = ModelCard(model_card(run))
    assert card.data.datasets == ["Bingsu/Cat_and_Dog"] and card.data.base_model is None
    assert {r.dataset_type for r in card.data.eval_results} == {"Bingsu/Cat_and_Dog"}
    assert "not measured for this run" in card.text and "(1 cat, 1 dog)" in card.text
    assert not (run.path / "README.md").exists()  # model_card renders; write_model_card writes


@pytest.mark.slow  # trained_scenes trains a real six-class run
def test_a_run_of_other_classes_has_a_card_that_names_them(trained_scenes):
    from huggingface_hub import ModelCard, metadata_load

    from catdog.report.run_readme import CLASS_OOD_RESULTS, CLASS_RESULTS, PER_CLASS_RESULTS
    from conftest import SCENE_CLASSES

    run = trained_scenes.run_dir
    card = ModelCard.load(run / "README.md")
    metrics = json.loads((run / "metrics.json").read_text())
    values = _results(card)
    for split in ("validation", "test"):
        for key, (_, name) in CLASS_RESULTS.items():
            [value] = [v for (s, _, n), v in values.items() if s == split and n == name.format(refusal="none of these")]
            assert value == metrics[split][key], (split, key)
        for cls in SCENE_CLASSES:
            for key, (_, name) in PER_CLASS_RESULTS.items():
                [value] = [v for (s, _, n), v in values.items() if s == split and n == name.format(name=cls)]
                assert value == metrics[split]["per_class"][cls][key], (split, cls, key)
    for key, (_, name) in CLASS_OOD_RESULTS.items():
        [value] = [v for (_, dataset, n), v in values.items() if n == name.format(refusal="none of these")
                   and "none of the classes" in dataset]
        assert value == metrics["ood"][key]
    index = metadata_load(run / "README.md")["model-index"]
    assert index[0]["name"] == run.name and len(index[0]["results"]) == 3  # validation, test, none of the classes
    assert {r["task"]["name"] for r in index[0]["results"]} == {f"{', '.join(SCENE_CLASSES).capitalize()} or none of these"}
    assert "cats-vs-dogs" not in card.data.tags and "image-classification" in card.data.tags

    title = card.text.splitlines()[1]
    assert title == f"# {run.name}: {', '.join(SCENE_CLASSES)} or none of these (MobileNetV2)"
    outputs = ", ".join(f"p({name})" for name in SCENE_CLASSES)
    assert f"gives [{outputs}, score]" in card.text and "Dense 6 softmax" in card.text
    assert "## What \"none of these\" means" in card.text
    test = metrics["test"]
    refusals = ", ".join(f"{name}: {row[-1]}" for name, row in zip(SCENE_CLASSES, test["answers"]))
    assert f'{test["refused"]:.1%} answered "none of these" ({refusals})' in card.text
    assert f'{metrics["ood"]["refused_ood"]:.1%} answered "none of these"' in card.text
    for name in SCENE_CLASSES:
        assert f"| {name} | {test['per_class'][name]['precision']:.4f} | {test['per_class'][name]['recall']:.4f} |" in card.text
    for cat_dog_words in ("p(dog)", "cats and dogs", '"neither"', "'neither'", "cat or dog"):
        assert cat_dog_words not in card.text, cat_dog_words
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", card.text):
        assert (run / image).is_file(), image


@pytest.mark.parametrize("classes, outputs, head", [
    (("cat", "dog", "rabbit"), "[p(cat), p(dog), p(rabbit), score]", "Dense 3 softmax"),
    (("cat", "rabbit"), "[p(rabbit), score]", "Dense 1 sigmoid (p(rabbit))"),
])
def test_a_card_of_other_classes_counts_refusals_and_wrong_answers_per_class(tmp_path, classes, outputs, head):
    from huggingface_hub import ModelCard

    from catdog.report.run_readme import model_card
    from catdog.run_folder import RunConfig, RunFolder

    run = RunFolder.at(tmp_path / "pets")
    run.path.mkdir()
    run.write_config(RunConfig(config={"classes": list(classes), "val_split": 0.2, "seed": 1}, data=str(tmp_path / "pets")))
    n = len(classes)
    answers = [[5 if i == j else 0 for j in range(n)] + [i] for i in range(n)]  # class i: i refused
    answers[0][n - 1] = 3  # 3 of the first class answered the last
    metrics = {"accuracy": 0.8, "answer_accuracy": 0.7, "refused": 0.1, "n": sum(map(sum, answers)), "answers": answers,
               "macro_f1": 0.75, "per_class": {name: {"precision": 0.5, "recall": 0.25 + i / 10, "f1": 0.3, "n": sum(answers[i])}
                                             for i, name in enumerate(classes)}}
    run.write_json("metrics.json", {"validation": metrics})
    card = ModelCard(model_card(run))
    refusals = ", ".join(f"{name}: {i}" for i, name in enumerate(classes))
    assert f'10.0% answered "none of these" ({refusals}); wrong answers: 3 {classes[0]} photos answered {classes[-1]}.' in card.text
    assert f"gives {outputs}" in card.text and head in card.text
    assert "Photos of none of the classes: **not measured for this run**" in card.text
    recalls = {r.metric_name: r.metric_value for r in card.data.eval_results if r.metric_name.startswith("Recall (")}
    assert recalls == {f"Recall ({name})": 0.25 + i / 10 for i, name in enumerate(classes)}
    assert "pet score" not in card.text and "cats and dogs" not in card.text and '"neither"' not in card.text

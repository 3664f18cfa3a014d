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

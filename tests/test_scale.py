"""Batch scoring into parquet shards: in-process, on a local Ray instance the job starts and stops
itself, and on a running two-node cluster joined by --address with token authentication; a killed
job, or a lost node, then a rerun gives the same rows as an uninterrupted single-process run."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import CATDOG, TEST, catdog, read_rows, write_parquet
from ray_cluster import LOOPBACK, free_port, loopback_cluster, stop


@pytest.fixture(scope="module")
def sharded_photos(tmp_path_factory):
    """120 test photos in 3 parquet files of 4 row groups each, one row broken: 12 shards."""
    folder = tmp_path_factory.mktemp("shards")
    rows = read_rows(TEST, count=120)
    rows[7] = {**rows[7], "bytes": rows[7]["bytes"][:200], "path": "truncated.jpg"}
    for part in range(3):
        path = write_parquet(folder / f"photos-{part}.parquet", rows[part * 40 : (part + 1) * 40])
        pq.write_table(pq.read_table(path), path, row_group_size=10)
    return folder


def read_predictions(folder: Path):
    table = pq.read_table(sorted(folder.glob("part-*.parquet")))
    # A probability column per class: a cat/dog run's p_dog is the column it always was, with p_cat beside it.
    assert table.column_names == ["id", "name", "label", "confidence", "p_cat", "p_dog", "pet_score", "error"]
    assert all(abs(cat + dog - 1) < 1e-5 for cat, dog in zip(table.column("p_cat").to_pylist(), table.column("p_dog").to_pylist())
               if cat is not None)
    return sorted(zip(table.column("id").to_pylist(), table.column("label").to_pylist(),
                      [round(v, 5) if v is not None else None for v in table.column("p_dog").to_pylist()]))


@pytest.fixture(scope="module")
def in_process(exported_run, sharded_photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "predictions.parquet"
    result = catdog("predict", "--model", exported_run, "--data", sharded_photos, "--out", out, "--engine", "tflite", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 120
    return read_predictions(out)


def test_batch_scoring_writes_one_part_per_shard_with_every_photo(in_process):
    assert len(in_process) == 120
    broken = [row for row in in_process if row[0] == "photos-0.parquet#7"]
    assert broken and broken[0][1] is None
    assert {label for _, label, _ in in_process} <= {"cat", "dog", "neither", None}


def test_batch_scoring_answers_as_predict_does(in_process, exported_run, sharded_photos):
    from catdog import Classifier

    predictions = Classifier.load(exported_run, engine="tflite").predict_photos(sorted(str(p) for p in sharded_photos.glob("*.parquet")))
    assert sorted((p.id, p.label) for p in predictions) == [(id, label) for id, label, _ in in_process]


def test_ray_run_gives_the_same_rows_as_the_single_process_path(exported_run, sharded_photos, tmp_path, in_process):
    out = tmp_path / "predictions.parquet"
    result = catdog("predict", "--model", exported_run, "--data", sharded_photos, "--out", out, "--ray",
                    "--workers", "2", "--engine", "tflite", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("part-*.parquet"))) == 12
    assert read_predictions(out) == in_process


def test_killed_ray_job_rerun_skips_written_shards_and_matches(exported_run, sharded_photos, tmp_path, in_process):
    out = tmp_path / "predictions.parquet"
    command = [CATDOG, "predict", "--model", str(exported_run), "--data", str(sharded_photos), "--out", str(out),
               "--ray", "--engine", "tflite"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "CATDOG_PROGRESS": "0"},
                               start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(out.glob("part-*.parquet"))) < 1:
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # Ray's own processes outlive a killed driver; stop them as an operator would.
    subprocess.run([str(Path(CATDOG).with_name("ray")), "stop", "--force"], capture_output=True, timeout=120)
    written = {p.name for p in out.glob("part-*.parquet")}
    assert 1 <= len(written) < 12, written  # killed midway
    for part in out.glob("part-*.parquet"):
        pq.read_table(part)  # every part there is whole: parts appear only by rename

    result = catdog("predict", "--model", exported_run, "--data", sharded_photos, "--out", out, "--ray", "--engine", "tflite",
                    "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["shards"] == 12 and summary["scored_shards"] == 12 - len(written)
    assert read_predictions(out) == in_process


@pytest.mark.parametrize(("node_cpus", "workers", "threads"), [
    ([2], 1, 2), ([2], 2, 1), ([1, 1], 2, 1), ([1, 1], 1, 1), ([4, 1], 2, 2), ([3, 3], 2, 3), ([3, 3], 4, 1), ([8, 8, 2], 3, 4),
])
def test_each_actor_gets_an_even_share_of_cpus_that_fits_on_one_node(node_cpus, workers, threads):
    from catdog.cluster import threads_per_worker

    assert threads_per_worker(workers, node_cpus, "head:6379") == threads


def test_more_workers_than_cpus_is_an_error_naming_the_most_that_fit():
    from catdog.cluster import threads_per_worker
    from catdog.errors import ClusterError, UsageError

    with pytest.raises(ClusterError, match=r"has 2 CPU\(s\) on 2 node\(s\) and --workers 3 .* lower --workers to 2"):
        threads_per_worker(3, [1, 1], "head:6379")
    with pytest.raises(UsageError, match=r"This machine has 2 CPU\(s\) and --workers 4 .* lower --workers to 2"):
        threads_per_worker(4, [2])


@pytest.mark.parametrize(("address", "ray", "code", "message"), [
    ("127.0.0.1:{port}", True, 5, "Cannot reach a Ray cluster at 127.0.0.1:{port}: nothing listens there; check --address"),
    ("ray://127.0.0.1:{port}", True, 5, "Cannot reach a Ray cluster at ray://127.0.0.1:{port} (Connection refused)"),
    ("nonsense", True, 2, "--address nonsense is not a Ray address; give auto, HOST:PORT or ray://HOST:PORT."),
    ("127.0.0.1:{port}", False, 2, "--address 127.0.0.1:{port} joins a Ray cluster; add --ray."),
])
def test_an_address_that_cannot_be_joined_is_a_one_sentence_error_within_seconds(sharded_photos, tmp_path, address, ray,
                                                                                  code, message):
    port = free_port()  # nothing listens there; the model is never read
    started = time.perf_counter()
    result = catdog("predict", "--model", tmp_path / "run", "--data", sharded_photos, "--out", tmp_path / "p",
                    *(["--ray"] if ray else []), "--address", address.format(port=port), env=LOOPBACK, timeout=60)
    assert result.returncode == code, result.stderr
    assert message.format(port=port) in result.stderr
    assert "Internal error" not in result.stderr and time.perf_counter() - started < 30


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray head (`ray start --head`, 1 CPU) and a second node (1 CPU) as separate processes on
    127.0.0.1, each with its own temp dir, token authentication on (tests/ray_cluster.py)."""
    with loopback_cluster((1, 1)) as cluster:
        yield cluster


def test_job_joins_a_two_node_cluster_by_address_and_gives_the_single_process_rows(ray_cluster, exported_run, sharded_photos,
                                                                                   tmp_path, in_process):
    out = tmp_path / "predictions.parquet"
    address = ray_cluster.address
    # Two 1-CPU actors: one on each node.
    result = catdog("predict", "--model", exported_run, "--data", sharded_photos, "--out", out, "--ray", "--address",
                    address, "--workers", "2", "--engine", "tflite", "--json", env=ray_cluster.env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert read_predictions(out) == in_process
    print(f"\n--address {address} (2 nodes x 1 CPU, token from RAY_AUTH_TOKEN_PATH), --workers 2: "
          f"{len(in_process)} rows, identical to the single-process run")


@pytest.mark.parametrize("case", ["wrong token", "no token", "too few CPUs"])
def test_cluster_refusals_are_one_sentence_errors_within_seconds(ray_cluster, exported_run, sharded_photos, tmp_path, case):
    env, workers = dict(ray_cluster.env), "2"
    if case == "wrong token":
        env["RAY_AUTH_TOKEN"] = "not-the-token"
    elif case == "no token":
        del env["RAY_AUTH_TOKEN_PATH"]
        env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    else:
        workers = "3"
    started = time.perf_counter()
    result = catdog("predict", "--model", exported_run, "--data", sharded_photos, "--out", tmp_path / "p", "--ray",
                    "--address", ray_cluster.address, "--workers", workers, env=env, timeout=60)
    assert result.returncode == 5, result.stderr
    expected = {"wrong token": f"The Ray cluster at {ray_cluster.address} refused the token in RAY_AUTH_TOKEN;",
                "no token": f"The Ray cluster at {ray_cluster.address} requires a token and none was found;",
                "too few CPUs": f"The Ray cluster at {ray_cluster.address} has 2 CPU(s) on 2 node(s) and --workers 3 needs at least 3;"}
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("Error: " + expected[case]), result.stderr
    assert time.perf_counter() - started < 30 and not list((tmp_path / "p").glob("part-*"))
    print(f"\n{case}: {message}")


@pytest.mark.slow  # starts a two-node cluster and trains: about 45 s
def test_train_on_a_cluster_gathers_features_from_every_shard(ray_cluster, sharded_photos, tmp_path):
    # --address auto: the cluster in RAY_ADDRESS, as Ray's own clients find it.
    result = catdog("train", "--data", sharded_photos, "--out", tmp_path / "runs", "--ray", "--address", "auto",
                    "--workers", "2", "--cache", tmp_path / "cache.sqlite",
                    env={**ray_cluster.env, "RAY_ADDRESS": ray_cluster.address}, timeout=600)
    assert result.returncode == 0, result.stderr
    run = Path(result.stdout.strip().splitlines()[-1])
    report = json.loads((run / "data_report.json").read_text())
    assert report["rows"] == 120 and report["used"] == 119
    assert [s["id"] for s in report["skipped"]] == ["photos-0.parquet#7"] and "truncated" in report["skipped"][0]["reason"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["validation"]["n"] in (23, 24) and metrics["validation"]["accuracy"] >= 0.85  # 24 held out, less the broken row if it fell there

    # The features went into the local cache, beside the two converted backbones, so a training
    # without Ray finds them there (that it then computes nothing is test_prefetch's warm run).
    from catdog.training.feature_cache import FeatureCache

    # Every row's features once at the full look's size and once at the first look's (both on the cluster).
    assert len(FeatureCache(tmp_path / "cache.sqlite", namespace="any")) == 2 * 120
    backbones = sorted(p.name for p in (FeatureCache.directory(tmp_path / "cache.sqlite") / "backbones").glob("*.tflite"))
    assert [name.split("-")[1] for name in backbones] == ["160", "224"], backbones


def test_lost_node_mid_job_then_rerun_gives_every_row_once(ray_cluster, exported_run, sharded_photos, tmp_path, in_process):
    """Last in this module: the second node does not come back."""
    out = tmp_path / "predictions.parquet"
    command = [CATDOG, "predict", "--model", str(exported_run), "--data", str(sharded_photos), "--out", str(out), "--ray",
               "--address", ray_cluster.address, "--workers", "2", "--engine", "tflite", "--json"]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                           env={**os.environ, "CATDOG_PROGRESS": "0", **ray_cluster.env})
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("part-*.parquet")):
        assert job.poll() is None, job.communicate()
        time.sleep(0.05)
    stop(ray_cluster.nodes[0], signal.SIGKILL)  # the second node: its raylet, object store and agents
    at_kill = len(list(out.glob("part-*.parquet")))
    assert 1 <= at_kill < 12  # mid-job
    try:
        job.communicate(timeout=180)
        ended = f"ended by itself (exit {job.returncode})"
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        job.communicate()
        ended = "did not end within 180 s and was killed"
    written = len(list(out.glob("part-*.parquet")))
    for part in out.glob("part-*.parquet"):
        pq.read_table(part)  # every part there is whole: parts appear only by rename

    # The rerun on what is left of the cluster (the head, 1 CPU) scores only what is missing.
    result = catdog("predict", "--model", exported_run, "--data", sharded_photos, "--out", out, "--ray", "--address",
                    ray_cluster.address, "--workers", "1", "--engine", "tflite", "--json", env=ray_cluster.env, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["shards"] == 12 and summary["scored_shards"] == 12 - written
    assert read_predictions(out) == in_process
    print(f"\nsecond node killed with {at_kill}/12 parts written; the job {ended} with {written}/12; the rerun scored "
          f"{summary['scored_shards']} shard(s): {len(in_process)} rows, each once, identical to the single-process run")

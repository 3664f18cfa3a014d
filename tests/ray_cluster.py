"""A Ray cluster of separate processes on loopback, for the multi-node tests and benchmarks/scaling.py:
a head started by `ray start --head` and worker nodes, each with its own temp dir and CPUs, token
authentication on, all ended by their own process ids.

Worker nodes are not `ray start --address 127.0.0.1:PORT`: Ray 2.60 rewrites 127.0.0.1 to this
machine's outward address (services.resolve_ip_for_localhost) and a raylet on that address listens
on every interface. This file, run as `python tests/ray_cluster.py GCS_ADDRESS CPUS TEMP_DIR
AGENT_PORT`, starts one as Ray's own multi-node test cluster (ray.cluster_utils.Cluster) does,
through ray._private.node.Node with the node address given, so each of its processes listens on
127.0.0.1 only; it prints "ready" once the node has joined and runs until it is killed."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
# Ray keeps to loopback only when told to: otherwise it rewrites 127.0.0.1 to this machine's outward
# address (drivers included) and its servers listen on every interface.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass
class Cluster:
    address: str  # HOST:PORT of the head
    env: dict[str, str]  # a job's environment: loopback, and the token file as a user's shell has it
    head: subprocess.Popen
    nodes: list[subprocess.Popen] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def loopback_cluster(node_cpus: tuple[int, ...] = (1, 1)) -> Iterator[Cluster]:
    """A head with node_cpus[0] CPUs and one more node for each further entry."""
    root = Path(tempfile.mkdtemp(prefix="catdog-rc-", dir="/tmp"))  # Ray's socket paths must stay short
    token = root / "token"
    token.write_text(secrets.token_hex(32))
    port = free_port()
    # The head notices a lost node within ~3 s instead of Ray's default ~15 s.
    env = {**os.environ, **LOOPBACK, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
           "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}
    with open(root / "head.log", "w") as log:
        head = subprocess.Popen([RAY, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
                                 "--num-cpus", str(node_cpus[0]), "--temp-dir", str(root / "head"), "--include-dashboard", "false",
                                 "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
                                 "--object-store-memory", str(80 * 1024 * 1024), "--disable-usage-stats"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    cluster = Cluster(f"127.0.0.1:{port}", {**LOOPBACK, "RAY_AUTH_TOKEN_PATH": str(token)}, head)
    try:
        _wait_for(root / "head.log", "Ray runtime started", head)
        for number, cpus in enumerate(node_cpus[1:], 1):
            log_path = root / f"node{number}.log"
            with open(log_path, "w") as log:
                cluster.nodes.append(subprocess.Popen(
                    [sys.executable, __file__, cluster.address, str(cpus), str(root / f"node{number}"), str(free_port())],
                    stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
            _wait_for(log_path, "ready", cluster.nodes[-1])
        yield cluster
    finally:
        for process in [*cluster.nodes, head]:
            stop(process)
        shutil.rmtree(root, ignore_errors=True)


def stop(process: subprocess.Popen, signal_number: int = signal.SIGTERM) -> None:
    """End a node: its process group (raylet, object store, GCS and agents; its workers exit with the raylet)."""
    if process.poll() is None:
        os.killpg(process.pid, signal_number)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for(log: Path, text: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while text not in log.read_text():
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"Ray did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _node() -> None:
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    gcs_address, cpus, temp_dir, agent_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    Node(RayParams(node_ip_address="127.0.0.1", gcs_address=gcs_address, num_cpus=cpus, num_gpus=0, temp_dir=temp_dir,
                   object_store_memory=80 * 1024 * 1024, include_log_monitor=False, dashboard_agent_listen_port=agent_port),
         head=False, shutdown_at_exit=True, spawn_reaper=False)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit through Node's atexit, which ends its processes
    print("ready", flush=True)
    signal.pause()


if __name__ == "__main__":
    _node()

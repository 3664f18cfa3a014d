"""One place that connects to Ray for every scale-out job: a local instance started for the job, or a
running cluster (`auto`, `HOST:PORT`, `ray://HOST:PORT`) joined with the token Ray's own clients use.
Whatever stops a cluster from being used (no answer, a refused token, too few CPUs for --workers) is
a ClusterError within seconds, before any work is handed out."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ClusterError, UsageError

CONNECT_TIMEOUT_S = 10  # to reach and authenticate; users are promised an answer within 30 s
GET_TOKEN = "on the head node `ray get-auth-token` prints it"


def map_shards(address: str | None, workers: int, actor: type, shards: list[dict], constructor_kwargs: dict) -> list[dict]:
    """Every shard spec through a pool of `workers` `actor`s (Ray Data, one shard per call; each actor is
    built with `constructor_kwargs` and `threads`, the CPUs it is given); the rows of all their results.
    Under Ray Client (ray://) the pipeline runs in a task on the cluster: Ray Data's executor needs a
    driver there."""
    import ray
    from ray.util.client import ray as ray_client

    with ray_session(address, workers) as threads:
        args = (actor, shards, {**constructor_kwargs, "threads": threads}, workers, threads)
        if ray_client.is_connected():
            return ray.get(ray.remote(num_cpus=0)(_map_shards).remote(*args))
        return _map_shards(*args)


def _map_shards(actor: type, shards: list[dict], constructor_kwargs: dict, workers: int, threads: int) -> list[dict]:
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False  # our logs say what happened; stdout stays clean
    return ray.data.from_items(shards, override_num_blocks=len(shards)).map_batches(
        actor, fn_constructor_kwargs=constructor_kwargs, batch_size=1, concurrency=workers, num_cpus=threads,
    ).take_all()


@contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[int]:
    """Connect to Ray and yield the CPUs (= engine threads) each of `workers` actors gets. Without an
    address: a local instance with this machine's cores, shut down afterwards; with one: that cluster,
    left running."""
    import ray

    started_here = not ray.is_initialized() and address is None
    if not ray.is_initialized():
        if address is None:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, num_cpus=os.cpu_count())
        else:
            _join(address)
    try:
        node_cpus = [int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]]
        yield threads_per_worker(workers, node_cpus, address)
    finally:
        if started_here:
            ray.shutdown()


def threads_per_worker(workers: int, node_cpus: list[int], address: str | None = None) -> int:
    """CPUs for each of `workers` actors on nodes with `node_cpus` cores: the cores shared out evenly,
    no more than one node has, fewer until every actor fits on some node. `address`: the cluster's, or
    None for a local instance."""
    per_actor = max(1, min(sum(node_cpus) // workers, max(node_cpus, default=0)))
    while per_actor > 1 and _fitting(node_cpus, per_actor) < workers:
        per_actor -= 1
    if _fitting(node_cpus, per_actor) < workers:
        most = _fitting(node_cpus, 1)
        if address is None:
            raise UsageError(f"This machine has {most} CPU(s) and --workers {workers} needs one each; lower --workers "
                             f"to {max(1, most)}, or join a cluster with --address.")
        raise ClusterError(f"The Ray cluster at {address} has {most} CPU(s) on {len(node_cpus)} node(s) and --workers "
                           f"{workers} needs at least {workers}; lower --workers to {max(1, most)} or add nodes.")
    return per_actor


def _fitting(node_cpus: list[int], per_actor: int) -> int:
    return sum(cpus // per_actor for cpus in node_cpus)


def _join(address: str) -> None:
    """ray.init on a running cluster, after checking it answers and accepts our token."""
    import ray

    _use_token_if_available()
    target = (os.environ.get("RAY_ADDRESS") or address) if address == "auto" else address
    if target.startswith("ray://"):
        _check_reachable(target.removeprefix("ray://"), address)
        try:
            ray.init(address=target, log_to_driver=False)
        except ConnectionError as exc:
            raise ClusterError(f"The Ray client server at {target} did not accept the connection ({_first_line(exc)}); "
                               f"check --address and the cluster's token ({GET_TOKEN}).") from exc
        return
    gcs = _gcs_address(target, address)
    _check_gcs(gcs, address)
    ray.init(address=gcs, include_dashboard=False, log_to_driver=False, configure_logging=False)


def _use_token_if_available() -> None:
    """As `ray start` and ray.init("auto") do: with RAY_AUTH_MODE unset, a token in RAY_AUTH_TOKEN, in
    the file RAY_AUTH_TOKEN_PATH names or in ~/.ray/auth_token turns token authentication on. Ray
    2.60's ray.init skips this for an explicit address, and a cluster that wants a token refuses the job."""
    try:
        from ray._private.authentication import authentication_token_setup as setup
    except ImportError:  # a Ray without token authentication
        return
    quiet = logging.getLogger(setup.__name__)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its note that token authentication is on is not news to the user
    try:
        setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        quiet.setLevel(level)


def _gcs_address(target: str, address: str) -> str:
    """HOST:PORT of the cluster's GCS as ray.init will dial it (auto: the cluster `ray start` recorded
    on this machine or RAY_ADDRESS; 127.0.0.1 becomes this machine's address unless Ray keeps to loopback)."""
    from ray._private.services import canonicalize_bootstrap_address

    try:
        gcs = canonicalize_bootstrap_address(target)
    except ConnectionError as exc:
        raise ClusterError("--address auto found no running Ray cluster on this machine; start one with "
                           "`ray start --head`, set RAY_ADDRESS, or give --address HOST:PORT.") from exc
    except ValueError as exc:
        raise UsageError(f"--address {address} is not a Ray address; give auto, HOST:PORT or ray://HOST:PORT.") from exc
    if gcs is None:
        raise UsageError(f"--address {address} is not a Ray address; give auto, HOST:PORT or ray://HOST:PORT.")
    return gcs


def _check_reachable(host_port: str, address: str) -> None:
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address} is not a Ray address; give auto, HOST:PORT or ray://HOST:PORT.")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(f"Cannot reach a Ray cluster at {address} ({exc.strerror or type(exc).__name__}); check "
                           "--address, or start one there with `ray start --head`.") from exc


def _check_gcs(gcs: str, address: str) -> None:
    """One call to the cluster's GCS with our token: no answer and a refused token are told apart here,
    where ray.init would retry both for 20 s and then report a failed connection."""
    import grpc
    from ray._private.grpc_utils import init_grpc_channel
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    where = address if gcs == address else f"{address} ({gcs})"
    channel = init_grpc_channel(gcs)
    try:
        request = gcs_service_pb2.GetClusterIdRequest()  # type: ignore[attr-defined]  # generated protobuf
        gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(request, timeout=CONNECT_TIMEOUT_S)
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise ClusterError(_token_refused(where)) from None
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            reason = "nothing listens there" if "refused" in (exc.details() or "") else f"no answer within {CONNECT_TIMEOUT_S} s"
            raise ClusterError(f"Cannot reach a Ray cluster at {where}: {reason}; check --address, or start one there "
                               "with `ray start --head`.") from None
        raise ClusterError(f"{where} did not answer as a Ray cluster does ({code.name}); check --address.") from None
    finally:
        channel.close()


def _token_refused(where: str) -> str:
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return (f"The Ray cluster at {where} requires a token and RAY_AUTH_MODE=disabled keeps it from being sent; "
                f"unset RAY_AUTH_MODE and give the cluster's token ({GET_TOKEN}).")
    if os.environ.get("RAY_AUTH_TOKEN"):
        source = "the token in RAY_AUTH_TOKEN"
    elif os.environ.get("RAY_AUTH_TOKEN_PATH"):
        source = f"the token in {os.environ['RAY_AUTH_TOKEN_PATH']} (RAY_AUTH_TOKEN_PATH)"
    elif os.path.isfile(os.path.expanduser("~/.ray/auth_token")):
        source = "the token in ~/.ray/auth_token"
    else:
        return (f"The Ray cluster at {where} requires a token and none was found; set RAY_AUTH_TOKEN to the "
                f"cluster's token ({GET_TOKEN}), or RAY_AUTH_TOKEN_PATH to a file holding it.")
    return f"The Ray cluster at {where} refused {source}; give the cluster's own token ({GET_TOKEN})."


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0] or type(exc).__name__

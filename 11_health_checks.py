"""Chapter 11: health checks, and what clients see when the server is stopped.

What this teaches
-----------------
TF Serving can serve the standard gRPC health service (``grpc.health.v1.Health``) with
``--enable_grpc_healthcheck_service``. It marks the overall status ("") and two names,
``ModelService`` and ``PredictionService``, SERVING, once, when its ports open (which is
after every model is AVAILABLE); it never changes them. So the gRPC health check says "this
process answers gRPC"; the REST status endpoint ``GET /v1/models/<name>`` says how each
version of a model is doing. Kubernetes probes both (deploy/k8s/deployment.yaml).

Then: SIGTERM while requests keep coming. TF Serving installs no signal handler, so
SIGTERM ends the process at once: requests in flight fail with UNAVAILABLE, and new ones
find the port closed. In a container the signal goes to the image's entrypoint shell
instead, which ignores it, so ``docker stop`` (and Kubernetes) waits its grace period and
then kills the server (SIGKILL), with the same result for the requests in flight then.

The lesson, with its output explained: docs/health.md (中文: docs/zh-CN/health.md).

Run it
------
    python 02_train_and_export.py        # version 1, if you have not yet
    python 11_health_checks.py           # starts (and stops) a server of its own
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = "gRPC health checks, the REST status, and what clients see when TF Serving gets SIGTERM."

if __name__ == "__main__":
    # --help answers before TensorFlow and gRPC are imported (seconds).
    argparse.ArgumentParser(description=DESCRIPTION).parse_args()

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------
# tutorial.own_server starts a server with extra flags (docker run, or the emulator);
# tutorial.shutdown_load sends requests while it is stopped and counts what came back.

import time

import grpc
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tutorial.chapter_server import RPC_TIMEOUT_SECONDS, ChapterError, grpc_error_text, run_lesson, section
from tutorial.own_server import OwnServer, ServerSpec
from tutorial.settings import load_settings
from tutorial.shutdown_load import AFTER, IN_FLIGHT, ShutdownLoad

# The names TF Serving marks SERVING (server.cc), and the full name a client might guess.
HEALTH_NAMES = ("", "ModelService", "PredictionService", "tensorflow.serving.PredictionService")
LOAD_SECONDS = 2.0  # traffic before the signal, so there is a steady state to compare with
AFTER_SECONDS = 1.5  # and after it, to see what new requests get


# ---------------------------------------------------------------------------
# Step 1: the gRPC health service
# ---------------------------------------------------------------------------
# Health.Check(service=NAME) answers SERVING for the names the server set, and NOT_FOUND
# for any other. A client or a load balancer asks it without knowing any model's name.


def health_check(server: OwnServer) -> None:
    print("\ngrpc.health.v1.Health/Check:")
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in HEALTH_NAMES:
            request = health_pb2.HealthCheckRequest(service=name)
            try:
                response = stub.Check(request, timeout=RPC_TIMEOUT_SECONDS)
                answer = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            except grpc.RpcError as err:
                answer = grpc_error_text(err)
            print(f"  service={name!r:<40} {answer}")


# ---------------------------------------------------------------------------
# Step 2: the REST status endpoint
# ---------------------------------------------------------------------------
# GET /v1/models/<name> lists the model's versions with their state: what a readiness
# probe needs to know. A model the server does not serve is a 404.


def rest_status(server: OwnServer) -> None:
    print(f"\nGET {server.status_url}:")
    response = requests.get(server.status_url, timeout=RPC_TIMEOUT_SECONDS)
    for version in response.json()["model_version_status"]:
        print(f"  {response.status_code}  version {version['version']}: {version['state']}")
    missing = f"{server.rest_url}/v1/models/no_such_model"
    response = requests.get(missing, timeout=RPC_TIMEOUT_SECONDS)
    print(f"GET {missing}:\n  {response.status_code}  {response.json()['error']}")


# ---------------------------------------------------------------------------
# Step 3: SIGTERM under load
# ---------------------------------------------------------------------------
# Four clients send Predict back to back; then the server gets SIGTERM. Each answer is
# counted by whether its request finished before the signal, was in flight across it, or
# was sent after it.


def sigterm_under_load(server: OwnServer) -> None:
    load = ShutdownLoad(server.grpc_target, server.settings.model_name)
    print(
        f"\n{load.clients} clients send Predict back to back; after {LOAD_SECONDS:g} s the server gets SIGTERM:"
    )
    load.start()
    try:
        time.sleep(LOAD_SECONDS)
        load.mark()
        print(f"  $ {server.send_sigterm()}")
        if server.backend == "docker":
            # The first process of the official image is /usr/bin/tf_serving_entrypoint.sh, a
            # bash script without exec; as PID 1 with no handler it ignores SIGTERM.
            print(
                "  (SIGTERM goes to the image's entrypoint shell, which ignores it; SIGKILL follows 5 s later)"
            )
        server.wait_exit()
        time.sleep(AFTER_SECONDS)
    finally:
        load.stop()
    print(f"  the server {'is still running' if server.is_running() else 'has exited'}")
    print("\nWhat the clients saw:")
    for line in load.report():
        print(f"  {line}")
    if not any(outcome == "OK" for _, outcome in load.counts):
        raise ChapterError("no request succeeded before the signal; see the server log")
    failed = {
        phase: sum(n for (p, o), n in load.counts.items() if p == phase and o != "OK")
        for phase in (IN_FLIGHT, AFTER)
    }
    print(f"\nFailed: {failed[IN_FLIGHT]} in flight at the signal, {failed[AFTER]} sent after it.")
    print("TF Serving does not drain: when it ends, the requests it holds end with it (UNAVAILABLE).")


def health_lesson(settings) -> None:
    section("Health checks and SIGTERM (--enable_grpc_healthcheck_service)")
    spec = ServerSpec("health", ["--enable_grpc_healthcheck_service=true"])
    with OwnServer(settings, spec) as server:
        print(f"Starting a server with the gRPC health service ({server.backend} backend):")
        server.start()
        health_check(server)
        rest_status(server)
        sigterm_under_load(server)
    section("What to probe")
    print("Liveness: the gRPC health service (is the process answering?). Readiness: the REST")
    print("status of your model (is a version AVAILABLE?). See deploy/k8s/deployment.yaml.")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=DESCRIPTION).parse_args(argv)
    settings = load_settings()
    print(settings.describe())
    return run_lesson(lambda: health_lesson(settings))


if __name__ == "__main__":
    sys.exit(main())

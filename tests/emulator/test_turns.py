"""Requests take turns for their Python work (tfserving_emulator/core/turns.py): inference
waits for the request before it, status and metadata never wait, and a long model run
hands the turn over while it runs."""

from __future__ import annotations

import threading
import time

import pytest

from tfserving_emulator.core import turns
from tfserving_emulator.core.model_config import single_model_config
from tfserving_emulator.core.server_core import CoreOptions, ServerCore
from tfserving_emulator.model_servers.metrics import Metrics
from tfserving_emulator.rest.endpoints import RestApi
from tfserving_emulator.servables import saved_model

PREDICT = "/v1/models/half_plus_two:predict"
BODY = b'{"instances": [1.0, 2.0, 5.0]}'
ANSWER = b'{\n    "predictions": [2.5, 3.0, 4.5\n    ]\n}'
SETTLE_S = 0.3  # long enough for a thread that is not blocked to finish a tiny request


@pytest.fixture(scope="module")
def api(half_plus_two_version_dir, copy_into):
    base = copy_into(half_plus_two_version_dir, "half_plus_two", 1)
    core = ServerCore(CoreOptions(file_system_poll_wait_seconds=0))
    core.start(single_model_config("half_plus_two", str(base)))
    yield RestApi(core, Metrics(), timeout_ms=30000)
    core.stop()


def in_thread(call) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_a_prediction_waits_for_the_turn_before_it(api):
    with turns.turn():
        thread, answers = in_thread(lambda: api.handle_v1("POST", PREDICT, BODY))
        time.sleep(SETTLE_S)
        assert answers == []  # still waiting for this turn to end
    thread.join(10)
    assert answers == [(200, ANSWER)]


def test_status_and_metadata_never_wait(api):
    with turns.turn():
        thread, answers = in_thread(lambda: api.handle_v1("GET", "/v1/models/half_plus_two", b""))
        thread.join(10)
        assert answers and answers[0][0] == 200
        thread, answers = in_thread(lambda: api.handle_v1("GET", "/v1/models/half_plus_two/metadata", b""))
        thread.join(10)
        assert answers and answers[0][0] == 200


def test_pause_hands_the_turn_over_and_takes_it_back():
    order = []
    with turns.turn():
        with turns.pause():
            thread, _ = in_thread(lambda: _take_turn(order))
            thread.join(10)
            assert order == ["other request"]  # it got a turn while this one was paused
        order.append("back")
    assert order == ["other request", "back"]


def _take_turn(order: list) -> None:
    with turns.turn():
        order.append("other request")


def test_pause_without_a_turn_does_nothing():
    with turns.pause(), turns.turn():  # nothing was released, nothing is held: this does not block
        pass


def turn_held_during_the_run(api, monkeypatch) -> list[bool]:
    """Predict once more; for each model run in it, whether a turn was held meanwhile
    (another request could take a turn only if the run had handed its turn over)."""
    held = []
    model = api.core.get_servable("half_plus_two", None, None)
    original = model._callable

    def spying_callable(*args):
        fn = original(*args)
        return lambda *arrays: (held.append(turns._lock.locked()), fn(*arrays))[1]

    monkeypatch.setattr(model, "_callable", spying_callable)
    try:
        assert api.handle_v1("POST", PREDICT, BODY) == (200, ANSWER)  # takes its own turn
    finally:
        model.release()
    return held


def test_long_model_runs_hand_the_turn_over(api, monkeypatch):
    # Every run counts as long: from the second run on, the model runs outside the turn.
    monkeypatch.setattr(saved_model, "LONG_RUN_SECONDS", 0.0)
    assert api.handle_v1("POST", PREDICT, BODY) == (200, ANSWER)  # learns the run is "long"
    assert turn_held_during_the_run(api, monkeypatch) == [False]


def test_short_model_runs_keep_the_turn(api, monkeypatch):
    monkeypatch.setattr(saved_model, "LONG_RUN_SECONDS", 3600.0)
    assert api.handle_v1("POST", PREDICT, BODY) == (200, ANSWER)  # learns the run is short
    assert turn_held_during_the_run(api, monkeypatch) == [True]

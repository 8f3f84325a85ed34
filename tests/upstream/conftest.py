"""The upstream suite runs once per pytest session; each method is then its own item.

Only the methods whose items were collected run (``-k Multi`` runs the two
MultiInference tests), all in one suite process, as under Bazel.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bazel_runfiles import NOT_RUN, UPSTREAM_DIR, Outcome, run_suite_with_retries  # noqa: E402

ITEM_PREFIX = "test_upstream_method"


def _collected_methods(session: pytest.Session) -> list[str]:
    methods = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if item.originalname == ITEM_PREFIX and callspec is not None:
            method = callspec.params["method"]
            if method not in NOT_RUN:
                methods.append(method)
    return methods


@pytest.fixture(scope="session")
def upstream_results(request, tmp_path_factory) -> tuple[dict[str, Outcome], Path]:
    if not UPSTREAM_DIR.is_dir():
        pytest.skip("tensorflow/serving's suite ../shared/upstream is not present")
    methods = _collected_methods(request.session)
    return run_suite_with_retries(methods, tmp_path_factory.mktemp("upstream"))

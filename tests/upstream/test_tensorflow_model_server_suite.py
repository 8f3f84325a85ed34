"""tensorflow/serving's ``tensorflow_model_server_test.py``, unchanged, against the emulator.

One item per upstream test method; the suite itself runs once (see conftest.py and
bazel_runfiles.py). Skipped as a whole when ``../shared/upstream`` is absent. A method
that passed only when run again (``FLAKY``) passes with a warning that quotes its first
failure.
"""

from __future__ import annotations

import warnings

import pytest
from bazel_runfiles import NOT_RUN, SUITE_RELPATH, UPSTREAM_DIR, suite_methods

METHODS = suite_methods() if (UPSTREAM_DIR / SUITE_RELPATH).is_file() else ["suite_absent"]
# The part of the suite's output worth showing with a failure.
LOG_TAIL_CHARS = 4000


@pytest.mark.parametrize("method", METHODS)
def test_upstream_method(method, upstream_results):
    if method in NOT_RUN:
        pytest.skip(NOT_RUN[method])
    outcomes, log_file = upstream_results
    outcome = outcomes.get(method)
    if outcome is None:
        log = log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        pytest.fail(f"{method} did not report a result; end of the suite's output:\n{log}")
    if outcome.status == "skipped":
        pytest.skip(f"the suite skipped it: {outcome.detail}")
    assert outcome.status == "passed", outcome.detail
    if outcome.attempts > 1:  # a FLAKY method that needed another run: say so in the summary
        warnings.warn(f"{method}: {outcome.detail}", stacklevel=1)

"""Run tensorflow/serving's own end-to-end suite against the emulator, as Bazel would.

Under Bazel, ``tensorflow_model_server_test.py`` runs with a runfiles tree
``$TEST_SRCDIR/tf_serving/tensorflow_serving/...`` that holds the suite, its test data
and the built binary at ``model_servers/tensorflow_model_server``; the suite finds all
three through ``TEST_SRCDIR`` and writes JUnit XML to ``XML_OUTPUT_FILE``. This module
lays out the same tree in a temporary directory, out of symlinks to the unchanged
upstream files, with a small executable in the binary's place that starts
``python -m tfserving_emulator`` with the arguments it was given. Then it runs the
suite file as a script (``tf.test.main`` reads the variables above) and reads each
method's outcome back from the XML.
"""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_DIR = REPO_ROOT.parent / "shared" / "upstream"
SUITE_RELPATH = "tensorflow_serving/model_servers/tensorflow_model_server_test.py"
SUITE_CLASS = "TensorflowModelServerTest"
# Bazel's workspace name for tensorflow/serving; the test base joins it into every path.
WORKSPACE = "tf_serving"
BINARY_NAME = "tensorflow_model_server"

# Methods the suite holds that cannot run here, with the reason each item reports.
NOT_RUN = {
    "test_tf_text": (
        "model not public: servables/tensorflow/testdata/tf_text_regression/01/saved_model.pb "
        "is not publicly retrievable"
    ),
}

# Methods that depend on a race, each with why; a failed one is run again, alone, in a new
# suite process, up to FLAKY_ATTEMPTS times in all (Bazel's `flaky = True` does the same).
FLAKY = {
    "test_profiler_service_with_valid_trace_request": (
        "it sends its REST predictions with `for n in {1..3}` under /bin/sh; where /bin/sh is "
        "dash (Debian, Ubuntu) the braces are not expanded, so only one prediction is sent, "
        "about as soon as the first 1 s trace starts; on a loaded machine it can arrive before "
        "the trace does, and then every trace is empty"
    ),
}
FLAKY_ATTEMPTS = 3

# The whole suite starts a dozen servers, each importing TensorFlow: minutes, not hours.
SUITE_TIMEOUT_S = 1200


def suite_methods(suite_file: Path = UPSTREAM_DIR / SUITE_RELPATH) -> list[str]:
    """The suite's test methods, in file order, read without importing the suite."""
    tree = ast.parse(suite_file.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == SUITE_CLASS:
            return [
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test")
            ]
    raise LookupError(f"class {SUITE_CLASS} not found in {suite_file}")


def _site_packages_serving() -> Path:
    """The installed ``tensorflow_serving`` package (from tensorflow-serving-api)."""
    import tensorflow_serving

    return Path(tensorflow_serving.__file__).resolve().parent


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=target.is_dir())


def _write_shim(path: Path) -> None:
    """The binary's stand-in: the emulator, with the checkout importable, same arguments."""
    path.write_text(
        "#!/bin/sh\n"
        "# Stands in for the tensorflow_model_server binary: the emulator, same flags.\n"
        f"PYTHONPATH={shlex.quote(str(REPO_ROOT))}\n"
        "export PYTHONPATH\n"
        f'exec {shlex.quote(sys.executable)} -m tfserving_emulator "$@"\n'
    )
    path.chmod(0o755)


def lay_out_runfiles(root: Path, upstream: Path = UPSTREAM_DIR) -> Path:
    """Build ``root/tf_serving/tensorflow_serving/...``; returns ``root`` (the TEST_SRCDIR).

    ``tensorflow_serving`` here is a package of its own, as in Bazel's runfiles: the
    suite's ``model_servers`` and ``servables`` from upstream, and ``apis`` and
    ``config`` from the installed tensorflow-serving-api (Bazel builds those from the
    same protos).
    """
    package = root / WORKSPACE / "tensorflow_serving"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    installed = _site_packages_serving()
    for name in ("apis", "config"):
        _link(installed / name, package / name)
    _link(upstream / "tensorflow_serving" / "servables", package / "servables")
    servers = package / "model_servers"
    servers.mkdir()
    _link(upstream / SUITE_RELPATH, servers / Path(SUITE_RELPATH).name)
    _link(upstream / "tensorflow_serving" / "model_servers" / "test_util", servers / "test_util")
    _write_shim(servers / BINARY_NAME)
    return root


@dataclass(frozen=True)
class Outcome:
    status: str  # "passed", "failed" or "skipped"
    detail: str = ""
    attempts: int = 1


def read_junit_xml(path: Path) -> dict[str, Outcome]:
    """absltest's JUnit XML -> {method name: outcome}."""
    outcomes: dict[str, Outcome] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        problems = [child for child in case if child.tag in ("failure", "error")]
        if problems:
            detail = "\n".join((p.get("message") or "") + "\n" + (p.text or "") for p in problems).strip()
            outcomes[case.get("name")] = Outcome("failed", detail)
        elif case.get("result") == "skipped" or case.get("status") == "notrun":
            outcomes[case.get("name")] = Outcome("skipped", case.get("message") or "")
        else:
            outcomes[case.get("name")] = Outcome("passed")
    return outcomes


def run_suite_with_retries(methods: list[str], work_dir: Path) -> tuple[dict[str, Outcome], Path]:
    """``run_suite``, then each failed FLAKY method again on its own (see FLAKY)."""
    outcomes, log_file = run_suite(methods, work_dir / "suite")
    for method in methods:
        for attempt in range(2, FLAKY_ATTEMPTS + 1):
            if method not in FLAKY or outcomes.get(method, Outcome("failed")).status != "failed":
                break
            retry, _ = run_suite([method], work_dir / f"{method}-attempt-{attempt}")
            if method in retry:
                earlier = outcomes[method].detail if method in outcomes else "no result"
                outcomes[method] = Outcome(
                    retry[method].status,
                    retry[method].detail or f"passed on attempt {attempt}; attempt 1 failed: {earlier}",
                    attempt,
                )
    return outcomes, log_file


def run_suite(methods: list[str], work_dir: Path) -> tuple[dict[str, Outcome], Path]:
    """Run ``methods`` of the unchanged suite in one process; returns outcomes and its log.

    One process, as under Bazel: the suite's ``RunServer`` keeps one server per set of
    arguments for the whole run, so later tests reuse servers earlier ones started.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    srcdir = lay_out_runfiles(work_dir / "runfiles")
    tmpdir = work_dir / "test_tmpdir"
    tmpdir.mkdir()
    xml_file = work_dir / "results.xml"
    log_file = work_dir / "suite.log"
    env = dict(os.environ)
    env.update(
        {
            "TEST_SRCDIR": str(srcdir),
            "TEST_TMPDIR": str(tmpdir),
            "TEST_WORKSPACE": WORKSPACE,
            "XML_OUTPUT_FILE": str(xml_file),
            "PYTHONPATH": str(srcdir / WORKSPACE),
            # The two Keras tests use Keras 2 APIs (tf.keras.layers.Lambda inside a SavedModel).
            "TF_USE_LEGACY_KERAS": "1",
            "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "3"),
        }
    )
    suite = srcdir / WORKSPACE / SUITE_RELPATH
    # unittest's own order (sorted names), whichever order the methods were collected in:
    # test_distrat_* must set up virtual CPUs before any later test initialises TensorFlow.
    command = [sys.executable, str(suite), *(f"{SUITE_CLASS}.{m}" for m in sorted(methods))]
    with log_file.open("wb") as log:
        subprocess.run(
            command,
            cwd=tmpdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=SUITE_TIMEOUT_S,
            check=False,
        )
    if not xml_file.exists():
        return {}, log_file
    return read_junit_xml(xml_file), log_file

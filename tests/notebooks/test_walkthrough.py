"""notebooks/walkthrough.ipynb runs top to bottom, prints what the lesson says, and is committed as run.

The notebook is executed with nbclient in a fresh kernel, from notebooks/ as Jupyter runs it,
against the emulator (SERVING_BACKEND=emulator) on free ports. Its outputs must then equal
the committed ones, after replacing the few things that legitimately differ between runs
(NORMALISATIONS): the temporary work folder and the port numbers; and decimal numbers
(losses, predictions) are compared to within FLOAT_TOLERANCE, because the last printed digit
of a trained model's output may differ on another CPU (other vector instructions round
differently). Anything else that differs means the committed outputs are stale: re-run
``python notebooks/execute_notebook.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import random
import re
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from tutorial.ports import is_port_free

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO_ROOT / "notebooks" / "walkthrough.ipynb"
RUNNER = REPO_ROOT / "notebooks" / "execute_notebook.py"
# A stand-in for the docker CLI whose containers run the emulator (see its docstring).
FAKE_DOCKER = REPO_ROOT / "tests" / "chapters" / "fake_docker.py"

# What may differ between two honest runs, and nothing else.
NORMALISATIONS = (
    # tempfile.mkdtemp(prefix="tfserving-notebook-"): a new folder every run.
    (re.compile(r"(?:/[^\s\"']*)?/?tfserving-notebook-[a-z0-9_]+"), "<work dir>"),
    # The test serves on free ports; the committed run used settings.env's.
    (re.compile(r"localhost:\d+"), "localhost:<port>"),
    (re.compile(r"--(port|rest_api_port)=\d+"), r"--\1=<port>"),
)
# Decimal numbers as printed (to 4 places): equal when within this of each other.
DECIMAL = re.compile(r"-?\d+\.\d+")
FLOAT_TOLERANCE = {"rel_tol": 1e-4, "abs_tol": 1e-3}


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = load_module("execute_notebook", RUNNER)


def normalise(text: str) -> str:
    for pattern, replacement in NORMALISATIONS:
        text = pattern.sub(replacement, text)
    return text


def text_outputs(notebook: nbformat.NotebookNode) -> dict[str, dict[str, str]]:
    """Per code cell id: stdout, stderr (each joined: how a stream is chunked varies), the
    text/plain of displayed values, and errors, normalised."""
    outputs = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        texts = {"stdout": "", "stderr": "", "text/plain": "", "error": ""}
        for output in cell.outputs:
            if output.output_type == "stream":
                texts[output.name] += output.text
            elif output.output_type in ("display_data", "execute_result"):
                texts["text/plain"] += output.data.get("text/plain", "") + "\n"
            elif output.output_type == "error":
                texts["error"] += f"{output.ename}: {output.evalue}\n"
        outputs[cell.id] = {key: normalise(value) for key, value in texts.items()}
    return outputs


def same_text(old: str, new: str) -> bool:
    """Equal text around the decimal numbers, and each pair of numbers within FLOAT_TOLERANCE."""
    if DECIMAL.sub("#", old) != DECIMAL.sub("#", new):
        return False
    pairs = zip(DECIMAL.findall(old), DECIMAL.findall(new), strict=True)
    return all(math.isclose(float(a), float(b), **FLOAT_TOLERANCE) for a, b in pairs)


def same_outputs(old: dict[str, str] | None, new: dict[str, str] | None) -> bool:
    if old is None or new is None:
        return old is new
    return old.keys() == new.keys() and all(same_text(old[key], new[key]) for key in old)


def stale_cells(committed: nbformat.NotebookNode, fresh: nbformat.NotebookNode) -> list[str]:
    """The cells whose committed text outputs differ from a fresh run's, with both versions."""
    old, new = text_outputs(committed), text_outputs(fresh)
    report = []
    for cell_id in sorted(old.keys() | new.keys()):
        if not same_outputs(old.get(cell_id), new.get(cell_id)):
            report.append(
                f"cell {cell_id}:\n  committed: {old.get(cell_id)}\n  fresh:     {new.get(cell_id)}"
            )
    return report


def unused_port(taken: tuple[int, ...] = ()) -> int:
    """A free port below the ephemeral range (Linux: 32768 and up, macOS: 49152 and up).

    The notebook binds its ports seconds after they are chosen, while the kernel's own
    channels and every outgoing connection on the machine take ephemeral ports; a port
    outside that range cannot be taken by them in between.
    """
    while True:
        port = random.randrange(20000, 32000)
        if port not in taken and is_port_free(port):
            return port


@pytest.fixture(scope="module")
def ports() -> tuple[int, int]:
    grpc_port = unused_port()
    return grpc_port, unused_port(taken=(grpc_port,))


@pytest.fixture(scope="module")
def fresh_run(ports: tuple[int, int]) -> nbformat.NotebookNode:
    grpc_port, rest_port = ports
    environment = runner.notebook_environment({"GRPC_PORT": str(grpc_port), "REST_PORT": str(rest_port)})
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    return runner.execute(notebook, cwd=NOTEBOOK.parent, environment=environment)


@pytest.fixture(scope="module")
def outputs(fresh_run: nbformat.NotebookNode) -> dict[str, dict[str, str]]:
    return text_outputs(fresh_run)


@pytest.fixture(scope="module")
def committed() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


# ---------------------------------------------------------------------------------------------
# A fresh run prints what the lesson says
# ---------------------------------------------------------------------------------------------


def test_every_code_cell_ran_without_errors_or_stderr(outputs: dict[str, dict[str, str]]) -> None:
    assert list(outputs) == [
        "install",
        "settings",
        "train",
        "plot",
        "export",
        "server",
        "grpc",
        "rest",
        "several",
        "several-call",
        "stop",
    ]
    for cell_id, texts in outputs.items():
        assert texts["error"] == "", cell_id
        assert texts["stderr"] == "", cell_id
        assert texts["stdout"] or texts["text/plain"], f"cell {cell_id} printed nothing"


def test_install_finds_the_repository_and_its_requirements(outputs: dict[str, dict[str, str]]) -> None:
    assert (
        outputs["install"]["stdout"] == "repository: ..\nevery requirement of requirements.txt is installed\n"
    )


def test_settings_come_from_the_environment(outputs: dict[str, dict[str, str]]) -> None:
    assert outputs["settings"]["stdout"] == (
        "model MMModel, gRPC on localhost:<port>, REST on http://localhost:<port>\nmodels under <work dir>/models\n"
    )


def test_training_logs_every_200_steps_and_fits_the_curve(outputs: dict[str, dict[str, str]]) -> None:
    lines = outputs["train"]["stdout"].splitlines()
    assert [line.split("  loss")[0] for line in lines[:-1]] == [
        f"step {step:4d}" for step in (0, 200, 400, 600, 800, 999)
    ]
    losses = [float(line.split("loss ")[1]) for line in lines[:-1]]
    assert losses == sorted(losses, reverse=True)  # Adam brings the loss down all the way
    mse = float(lines[-1].removeprefix("mean squared error against x^2 - 0.5: "))
    assert mse < 0.001
    assert outputs["plot"]["text/plain"] == "<Figure size 600x350 with 1 Axes>\n"


def test_export_shows_both_signatures(outputs: dict[str, dict[str, str]]) -> None:
    text = outputs["export"]["stdout"]
    assert text.startswith(
        "exported models/MMModel/1: ['assets', 'fingerprint.pb', 'saved_model.pb', 'variables']\n"
    )
    for line in (
        "signature_def['your_prediction']:",
        "    inputs['tensor_info_input_x'] tensor_info:",
        "    inputs['tensor_info_input_y'] tensor_info:",
        "    outputs['tensor_info_pre_y'] tensor_info:",
        "signature_def['serving_default']:",
        "    inputs['x'] tensor_info:",
        "    outputs['y'] tensor_info:",
        "  Method name is: tensorflow/serving/predict",
    ):
        assert line in text.splitlines()


def test_server_starts_on_the_emulator_and_waits_until_available(outputs: dict[str, dict[str, str]]) -> None:
    assert outputs["server"]["stdout"] == (
        "backend: emulator (SERVING_BACKEND=emulator)\n"
        "$ python -m tfserving_emulator --port=<port> --rest_api_port=<port> --model_name=MMModel "
        "--model_base_path=<work dir>/models/MMModel\n"
        "MMModel is AVAILABLE\n"
    )


def test_grpc_status_metadata_and_predict(outputs: dict[str, dict[str, str]]) -> None:
    lines = outputs["grpc"]["stdout"].splitlines()
    assert lines[:6] == [
        "GetModelStatus MMModel: version 1 AVAILABLE",
        "GetModelMetadata: version 1, signatures ['__saved_model_init_op', 'serving_default', 'your_prediction']",
        "  serving_default: inputs ['x'] -> outputs ['y']",
        "  your_prediction: inputs ['tensor_info_input_x', 'tensor_info_input_y'] -> outputs ['tensor_info_pre_y']",
        "",
        "Predict your_prediction, 300 rows: outputs ['tensor_info_pre_y'], version 1",
    ]
    table = [line.split() for line in lines[8:13]]
    assert [row[0] for row in table] == ["-1.0000", "-0.5050", "-0.0033", "0.4983", "1.0000"]
    for x, true_y, prediction in ((float(a), float(b), float(c)) for a, b, c in table):
        assert true_y == pytest.approx(round(x * x - 0.5, 4), abs=1e-4)
        assert prediction == pytest.approx(true_y, abs=0.08)
    mae = float(lines[-1].removeprefix("Mean absolute error against x^2 - 0.5 over 300 rows: "))
    assert mae < 0.03


def test_rest_status_row_and_columnar_agree_with_grpc(outputs: dict[str, dict[str, str]]) -> None:
    text = outputs["rest"]["stdout"]
    assert text.startswith(
        "GET http://localhost:<port>/v1/models/MMModel\n"
        '{\n "model_version_status": [\n  {\n   "version": "1",\n   "state": "AVAILABLE",\n'
        '   "status": {\n    "error_code": "OK",\n    "error_message": ""\n   }\n  }\n ]\n}\n'
    )
    lines = text.splitlines()
    row_predictions = next(line for line in lines if line.startswith("  predictions: "))
    columnar_outputs = next(line for line in lines if line.startswith("  outputs: "))
    default = next(line for line in lines if line.startswith("serving_default (no signature_name), 3 rows: "))
    values = row_predictions.removeprefix("  predictions: ")
    assert columnar_outputs == f"  outputs: {values} ..."
    assert default.endswith(values)  # the same three x, through the other signature
    assert lines[-1] == "REST row = REST columnar = gRPC for all 300 rows: True"


def test_two_models_from_a_config_file_answer_by_name(outputs: dict[str, dict[str, str]]) -> None:
    text = outputs["several"]["stdout"]
    assert text.startswith("training MMModel_2 (seed 11):\nstep    0  loss ")
    assert (
        "models/models.config:\n"
        "model_config_list {\n"
        '  config {\n    name: "MMModel"\n    base_path: "<work dir>/models/MMModel"\n'
        '    model_platform: "tensorflow"\n  }\n'
        '  config {\n    name: "MMModel_2"\n    base_path: "<work dir>/models/MMModel_2"\n'
        '    model_platform: "tensorflow"\n  }\n}\n'
    ) in text
    assert text.endswith(
        "$ python -m tfserving_emulator --port=<port> --rest_api_port=<port> "
        "--model_config_file=<work dir>/models/models.config\n"
        "MMModel is AVAILABLE\nMMModel_2 is AVAILABLE\n"
    )
    lines = outputs["several-call"]["stdout"].splitlines()
    assert lines[0] == "x = [-0.5, 0.0, 0.5], true y = [-0.25, -0.5, -0.25]"
    answers = {}
    for line in lines[1:]:
        match = re.fullmatch(r"(\S+) +version 1  gRPC (\[.*\])  REST (\[.*\])", line)
        assert match, line
        grpc_values, rest_values = ast.literal_eval(match[2]), ast.literal_eval(match[3])
        assert grpc_values == rest_values
        assert grpc_values == pytest.approx([-0.25, -0.5, -0.25], abs=0.08)
        answers[match[1]] = grpc_values
    assert list(answers) == ["MMModel", "MMModel_2"]
    assert answers["MMModel"] != answers["MMModel_2"]  # two models, trained from different seeds


def test_the_last_cell_stops_the_server(outputs: dict[str, dict[str, str]], ports: tuple[int, int]) -> None:
    assert outputs["stop"]["stdout"] == "server stopped (emulator); removed <work dir>\n"
    assert all(is_port_free(port) for port in ports)


# ---------------------------------------------------------------------------------------------
# The committed notebook is what a fresh run prints
# ---------------------------------------------------------------------------------------------


def test_committed_outputs_are_not_stale(
    committed: nbformat.NotebookNode, fresh_run: nbformat.NotebookNode
) -> None:
    stale = stale_cells(committed, fresh_run)
    assert not stale, (
        "the committed outputs of notebooks/walkthrough.ipynb are stale; run "
        "`python notebooks/execute_notebook.py` and commit the notebook:\n" + "\n".join(stale)
    )


def test_committed_notebook_ran_top_to_bottom(committed: nbformat.NotebookNode) -> None:
    code_cells = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    assert all(cell.outputs for cell in code_cells)
    assert any(
        "image/png" in output.get("data", {}) for cell in code_cells for output in cell.outputs
    )  # the plot, for GitHub to show
    assert str(REPO_ROOT) not in NOTEBOOK.read_text(encoding="utf-8")


def test_a_changed_digit_in_the_committed_outputs_is_caught(
    committed: nbformat.NotebookNode, fresh_run: nbformat.NotebookNode
) -> None:
    changed = nbformat.from_dict(committed)
    rest = next(cell for cell in changed.cells if cell.get("id") == "rest")
    stream = next(output for output in rest.outputs if output.output_type == "stream")
    assert "AVAILABLE" in stream.text
    stream.text = stream.text.replace("AVAILABLE", "UNAVAILABLE", 1)
    assert [report.split(":")[0] for report in stale_cells(changed, fresh_run)] == ["cell rest"]


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        ("loss 0.3585", "loss 0.3585", True),
        ("loss 0.3585", "loss 0.3586", True),  # the last digit, rounded differently elsewhere
        ("gRPC [-0.2554, -0.5006]", "gRPC [-0.2554, -0.5007]", True),
        ("loss 22.5786", "loss 22.5801", True),  # relative: larger numbers, more leeway
        ("loss 0.3585", "loss 0.3612", False),  # a different model
        ("gRPC [-0.2554, -0.5006]", "gRPC [-0.2554]", False),
        ("version 1 AVAILABLE", "version 2 AVAILABLE", False),  # integers are exact
        ("state AVAILABLE", "state UNAVAILABLE", False),
    ],
)
def test_numbers_are_compared_to_a_tolerance_and_text_exactly(old: str, new: str, same: bool) -> None:
    assert same_text(old, new) is same


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models under /tmp/tfserving-notebook-ab1_x9zq/models", "models under <work dir>/models"),
        ("removed tfserving-notebook-ab1_x9zq", "removed <work dir>"),
        (
            "gRPC on localhost:41234, REST on http://localhost:8501",
            "gRPC on localhost:<port>, REST on http://localhost:<port>",
        ),
        ("--port=8700 --rest_api_port=39001", "--port=<port> --rest_api_port=<port>"),
        # Numbers elsewhere are kept, so a changed prediction or loss is a difference.
        ("step  200  loss 2.4051 x = 8700", "step  200  loss 2.4051 x = 8700"),
    ],
)
def test_normalise_replaces_only_what_varies(text: str, expected: str) -> None:
    assert normalise(text) == expected


# ---------------------------------------------------------------------------------------------
# The Docker backend: the blog's docker run, container paths, docker rm -f at the end
# ---------------------------------------------------------------------------------------------


def test_docker_backend_runs_the_image_with_container_paths(tmp_path: Path, ports: tuple[int, int]) -> None:
    fake_docker = load_module("fake_docker", FAKE_DOCKER)
    state = tmp_path / "docker"
    fake_docker.install(tmp_path / "bin", state)
    grpc_port, rest_port = ports
    environment = runner.notebook_environment(
        {"SERVING_BACKEND": "docker", "GRPC_PORT": str(grpc_port), "REST_PORT": str(rest_port)}
    )
    environment["PATH"] = f"{tmp_path / 'bin'}:{environment['PATH']}"
    environment["FAKE_DOCKER_DIR"] = str(state)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    runner.execute(notebook, cwd=NOTEBOOK.parent, environment=environment)
    outputs = text_outputs(notebook)

    assert outputs["server"]["stdout"] == (
        "backend: docker (SERVING_BACKEND=docker)\n"
        f"$ docker run -d --rm --name tfserving_notebook -p 127.0.0.1:{grpc_port}:8500 -p 127.0.0.1:{rest_port}:8501 "
        "--mount type=bind,source=<work dir>/models,target=/models -e MODEL_NAME=MMModel tensorflow/serving:2.21.0\n"
        "MMModel is AVAILABLE\n"
    )
    assert '    base_path: "/models/MMModel"\n' in outputs["several"]["stdout"]
    assert '    base_path: "/models/MMModel_2"\n' in outputs["several"]["stdout"]
    assert outputs["several"]["stdout"].endswith(
        "tensorflow/serving:2.21.0 --model_config_file=/models/models.config\n"
        "MMModel is AVAILABLE\nMMModel_2 is AVAILABLE\n"
    )
    assert outputs["rest"]["stdout"].endswith("REST row = REST columnar = gRPC for all 300 rows: True\n")
    assert outputs["stop"]["stdout"] == "server stopped (docker); removed <work dir>\n"
    commands = [call[0] for call in fake_docker.calls(state) if call[0] in ("run", "rm")]
    assert commands == ["run", "rm", "run", "rm"]  # each server removed with docker rm -f
    assert [call for call in fake_docker.calls(state) if call[0] == "rm"][-1] == [
        "rm",
        "-f",
        "tfserving_notebook",
    ]
    assert all(is_port_free(port) for port in ports)


# ---------------------------------------------------------------------------------------------
# The install cell, from the repository root and outside any clone
# ---------------------------------------------------------------------------------------------

INSTALL_CELLS = 3  # the title, the install cell's explanation, the install cell


def test_install_cell_finds_the_repository_from_its_root() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    runner.execute(notebook, cwd=REPO_ROOT, environment=runner.notebook_environment(), cells=INSTALL_CELLS)
    assert text_outputs(notebook)["install"]["stdout"] == (
        "repository: .\nevery requirement of requirements.txt is installed\n"
    )


def test_install_cell_outside_a_clone_says_to_set_repo_url(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.raises(CellExecutionError):
        runner.execute(notebook, cwd=tmp_path, environment=runner.notebook_environment(), cells=INSTALL_CELLS)
    assert text_outputs(notebook)["install"]["error"] == (
        "NotebookError: error: the tutorial's repository is not around this notebook; set REPO_URL in this "
        "cell to its clone URL (or clone it and start Jupyter inside it), then run the cell again\n"
    )
    assert text_outputs(notebook)["install"]["stderr"] == ""
    error = next(output for output in notebook.cells[2].outputs if output.output_type == "error")
    assert error.traceback == [f"{error.evalue}"]  # the one line, no traceback
    assert list(tmp_path.iterdir()) == []  # nothing cloned, nothing written


def test_a_busy_port_stops_the_server_cell_with_one_line(ports: tuple[int, int]) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    server_cell = [cell.get("id") for cell in notebook.cells].index("server")
    grpc_port, rest_port = ports
    environment = runner.notebook_environment({"GRPC_PORT": str(grpc_port), "REST_PORT": str(rest_port)})
    with socket.socket() as busy:
        # As servers do: the fresh run's server left connections in TIME_WAIT on this port.
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", grpc_port))
        busy.listen()
        with pytest.raises(CellExecutionError):
            runner.execute(notebook, cwd=NOTEBOOK.parent, environment=environment, cells=server_cell + 1)
    outputs = text_outputs(notebook)
    assert outputs["server"]["stdout"] == "backend: emulator (SERVING_BACKEND=emulator)\n"
    assert outputs["server"]["error"] == (
        f"NotebookError: error: port {grpc_port} is in use; stop what uses it (the last cell stops this "
        "notebook's server) or set GRPC_PORT\n"
    )
    # The last cell ran after the failure and removed the work folder.
    settings_output = next(cell for cell in notebook.cells if cell.get("id") == "settings").outputs[0].text
    work_dir = Path(settings_output.split("models under ")[1].strip()).parent
    assert work_dir.name.startswith("tfserving-notebook-")
    assert not work_dir.exists()


def test_runner_reports_an_unreadable_notebook_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(RUNNER), str(tmp_path / "missing.ipynb")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: cannot read {tmp_path / 'missing.ipynb'}: ")
    assert result.stderr.count("\n") == 1

"""Run a notebook top to bottom in a fresh kernel and save it with its outputs.

    python notebooks/execute_notebook.py            # re-runs walkthrough.ipynb and saves it

The committed outputs of ``walkthrough.ipynb`` are what GitHub shows, and
tests/notebooks checks that they are what a fresh run prints. So after changing a cell,
run this and commit the notebook. It runs the notebook as Jupyter does, from
``notebooks/``, with ``SERVING_BACKEND=emulator`` (the test forces the emulator too, so
the saved outputs do not depend on whether this machine has Docker) and the ports of
settings.env, which must be free (GRPC_PORT and REST_PORT in the environment choose others).

When a cell fails, the notebook's last cell (which stops the server) still runs before the
kernel shuts down, so no server is left behind; then the error is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOKS_DIR.parent
WALKTHROUGH = NOTEBOOKS_DIR / "walkthrough.ipynb"
# Seconds one cell may take; the slowest (training a second model, then starting a server
# from a config file) takes about 15 s.
CELL_TIMEOUT_SECONDS = 300
KERNEL = "python3"


def notebook_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the tutorial's settings, then SERVING_BACKEND=emulator.

    A MODEL_NAME or SERVING_BACKEND left in the caller's shell would change what the notebook
    prints, so only GRPC_PORT and REST_PORT are passed on (the outputs' checks do not
    depend on port numbers: ``GRPC_PORT=9000 python notebooks/execute_notebook.py`` when 8700
    is taken), then ``overrides`` (e.g. free ports for a test).
    """
    sys.path.insert(0, str(REPO_ROOT))
    from tutorial.settings import FROM_ENV_VARIABLE, KEYS

    dropped = {*KEYS, FROM_ENV_VARIABLE} - {"GRPC_PORT", "REST_PORT"}
    environment = {key: value for key, value in os.environ.items() if key not in dropped}
    environment["SERVING_BACKEND"] = "emulator"
    environment.update(overrides or {})
    return environment


def execute(
    notebook: nbformat.NotebookNode,
    cwd: Path = NOTEBOOKS_DIR,
    environment: Mapping[str, str] | None = None,
    cells: int | None = None,
) -> nbformat.NotebookNode:
    """Execute the first ``cells`` cells (default: all) in a fresh kernel, in place; return the notebook.

    Raises CellExecutionError for the first failing cell, after running the notebook's last cell.
    """
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name=KERNEL,
        record_timing=False,  # no timestamps in the saved file: a re-run changes only outputs
        resources={"metadata": {"path": str(cwd)}},
    )
    client.reset_execution_trackers()
    selected = notebook.cells if cells is None else notebook.cells[:cells]
    with client.setup_kernel(env=dict(environment or notebook_environment()), cwd=str(cwd)):
        info = client.wait_for_reply(client.kc.kernel_info())
        notebook.metadata["language_info"] = info["content"]["language_info"]
        try:
            for index, cell in enumerate(selected):
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        except CellExecutionError:
            # The last cell stops the server and removes the work folder: run it anyway, on a
            # copy (so the saved notebook shows where it failed), and report the first error.
            last = nbformat.from_dict(notebook.cells[-1])
            with contextlib.suppress(CellExecutionError):
                client.execute_cell(last, len(notebook.cells) - 1)
            raise
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python notebooks/execute_notebook.py",
        description="Run a notebook top to bottom in a fresh kernel (emulator backend) and save its outputs.",
    )
    parser.add_argument("notebook", nargs="?", type=Path, default=WALKTHROUGH, help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        notebook = nbformat.read(args.notebook, as_version=4)
    except (OSError, ValueError) as error:
        print(f"error: cannot read {args.notebook}: {error}", file=sys.stderr)
        return 1
    try:
        execute(notebook, cwd=args.notebook.resolve().parent)
    except CellExecutionError as error:
        last_line = str(error).strip().splitlines()[-1] if str(error).strip() else "a cell failed"
        print(f"error: {args.notebook} did not run to the end ({last_line}); nothing saved", file=sys.stderr)
        return 1
    nbformat.write(notebook, args.notebook)
    print(f"ran and saved {args.notebook}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

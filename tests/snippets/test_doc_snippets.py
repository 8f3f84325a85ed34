"""Every Python block in the docs runs when pasted alone into an empty folder.

A reader copies a block from a page into a new project. So each ```python block in README.md
and docs/*.md (the Chinese twins hold the same blocks; tests/test_docs.py checks that) must:

* say on its first line what the project installs: ``# pip install <packages>``;
* run, as ``snippet.py`` in an empty folder, with a virtualenv that holds only those packages
  (installed within the tutorial's pins: requirements.txt is the constraints file);
* print exactly the ```text block right after it on the page, when the page shows one.

Blocks that call a server (they name ``localhost:<port>``) get the emulator on fresh ports, and
the test swaps the page's ports for those: the tutorial's model (step 2's export) on
settings.env's GRPC_PORT and REST_PORT, except on docs/keras_export.md, whose blocks call the
four exports that the page's own first block writes, served on TF Serving's default ports.
The virtualenvs are cached under .cache/doc-snippets/ (one per set of packages), because
installing TensorFlow into a new one takes about a minute.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from doc_snippets import Snippet, snippets_of

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
VENV_CACHE = REPO_ROOT / ".cache" / "doc-snippets"


SNIPPETS = [snippet for page in PAGES for snippet in snippets_of(page)]


def settings_ports() -> dict[str, str]:
    values = {}
    for raw in (REPO_ROOT / "settings.env").read_text(encoding="utf-8").splitlines():
        key, _, value = raw.partition("=")
        if key in ("GRPC_PORT", "REST_PORT"):
            values[key] = value.strip()
    return values


# The server each page's blocks call (a fixture of conftest.py) and the ports the page shows.
PAGE_SERVERS = {"docs/keras_export.md": ("keras_exports_server", {"GRPC_PORT": "8500", "REST_PORT": "8501"})}
DEFAULT_SERVER = ("serving", settings_ports())


def snippet_venv(packages: tuple[str, ...]) -> Path:
    """A cached virtualenv holding only ``packages`` (within requirements.txt's pins)."""
    constraints = (REPO_ROOT / "requirements.txt").read_bytes()
    key = hashlib.sha256(repr((sorted(packages), sys.version_info[:2])).encode() + constraints).hexdigest()[
        :16
    ]
    venv = VENV_CACHE / key
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(REPO_ROOT / "requirements.txt"),
            *packages,
        ],
        check=True,
    )
    (venv / ".complete").write_text(" ".join(packages) + "\n")
    return python


def test_the_docs_show_snippets() -> None:
    # Guards the parametrized tests below against passing on nothing.
    pages = {snippet.page for snippet in SNIPPETS}
    assert {"docs/grpc_client.md", "docs/rest_client.md"} <= pages
    assert sum(snippet.expected is not None for snippet in SNIPPETS) >= 5


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.id for s in SNIPPETS])
def test_snippet_says_what_to_install(snippet: Snippet) -> None:
    assert snippet.packages, (
        f"{snippet.id}: a Python block starts with '# pip install <packages>', so a reader knows "
        "what an empty project needs"
    )


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.id for s in SNIPPETS])
def test_snippet_runs_alone(snippet: Snippet, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if not snippet.packages:
        pytest.fail(f"{snippet.id} does not say what to install")
    python = snippet_venv(snippet.packages)
    code = snippet.code
    if "localhost:" in code:
        fixture, shown_ports = PAGE_SERVERS.get(snippet.page, DEFAULT_SERVER)
        ports = request.getfixturevalue(fixture)
        for key, port in shown_ports.items():
            code = code.replace(f"localhost:{port}", f"localhost:{ports[key]}")
    (tmp_path / "snippet.py").write_text(code, encoding="utf-8")
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [str(python), "snippet.py"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{snippet.id} failed:\n{result.stdout}{result.stderr}"
    if snippet.expected is not None:
        assert result.stdout == snippet.expected, f"{snippet.id} printed something else than its page shows"

"""Every Python block in the docs runs when pasted alone into an empty folder.

A reader copies a block from a page into a new project. So each ```python block in README.md
and docs/*.md (the Chinese twins hold the same blocks; tests/test_docs.py checks that) must:

* say on its first line what the project installs: ``# pip install <packages>``;
* run, as ``snippet.py`` in an empty folder, with a virtualenv that holds only those packages
  (installed within the tutorial's pins: requirements.txt is the constraints file);
* print exactly the ```text block right after it on the page, when the page shows one.

Blocks that call a server get the emulator serving the tutorial's model (step 2's export) on
fresh ports; the test swaps the docs' ports (settings.env's GRPC_PORT and REST_PORT) for those.
The virtualenvs are cached under .cache/doc-snippets/ (one per set of packages), because
installing TensorFlow into a new one takes about a minute.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
VENV_CACHE = REPO_ROOT / ".cache" / "doc-snippets"
INSTALL_LINE = re.compile(r"^# pip install (?P<packages>[A-Za-z0-9_.\-\[\] ]+)$")
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Snippet:
    page: str  # the page, relative to the repository
    line: int  # the line of its opening fence
    code: str
    packages: tuple[str, ...]  # what its first line says to install ('' when it says nothing)
    expected: str | None  # the ```text block right after it, if the page shows one

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line number, info string, body) of each top-level backtick-fenced block."""
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end] != opening["fence"]:
            end += 1
        blocks.append((index + 1, opening["info"].strip(), "\n".join(lines[index + 1 : end]) + "\n"))
        index = end + 1
    return blocks


def snippets_of(page: Path) -> list[Snippet]:
    found = []
    text = page.read_text(encoding="utf-8")
    blocks = fenced_blocks(text)
    lines = text.splitlines()
    for position, (line, info, body) in enumerate(blocks):
        if info.split()[:1] != ["python"]:
            continue
        first = body.splitlines()[0] if body.strip() else ""
        match = INSTALL_LINE.match(first)
        packages = tuple(match["packages"].split()) if match else ()
        expected = None
        if position + 1 < len(blocks):
            next_line, next_info, next_body = blocks[position + 1]
            closing = line + len(body.splitlines()) + 1  # the line of this block's closing fence
            between = "\n".join(lines[closing : next_line - 1])
            # Only a text block right after the snippet (blank lines between) is its output.
            if next_info == "text" and not between.strip():
                expected = next_body
        found.append(Snippet(str(page.relative_to(REPO_ROOT)), line, body, packages, expected))
    return found


SNIPPETS = [snippet for page in PAGES for snippet in snippets_of(page)]


def settings_ports() -> dict[str, str]:
    values = {}
    for raw in (REPO_ROOT / "settings.env").read_text(encoding="utf-8").splitlines():
        key, _, value = raw.partition("=")
        if key in ("GRPC_PORT", "REST_PORT"):
            values[key] = value.strip()
    return values


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
def test_snippet_runs_alone(snippet: Snippet, serving, tmp_path: Path) -> None:
    if not snippet.packages:
        pytest.fail(f"{snippet.id} does not say what to install")
    python = snippet_venv(snippet.packages)
    code = snippet.code
    for key, port in settings_ports().items():
        code = code.replace(f"localhost:{port}", f"localhost:{serving[key]}")
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

"""The Python blocks of a docs page, with what they say to install and what they print.

Kept apart from the tests so ``conftest.py`` can use it too (it puts this folder on sys.path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
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

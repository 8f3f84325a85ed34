"""The docs and their Chinese twins must stay in step.

Every page has a twin: README.md and README.zh-CN.md, and each docs/<page>.md and
docs/zh-CN/<page>.md. The Chinese page is a full translation of the English one. Prose may
differ, but what a reader types and what they see printed may not. These tests compare, per pair:

* the commands: every line of a ```bash/sh/shell/console block (blank and comment-only lines
  skipped) and every inline code span that starts with ``./``, ``python ``, ``docker ``,
  ``curl `` or ``kubectl ``, as two sets;
* every fenced code block of any kind (outputs, configs, JSON), as two multisets;
* the links from each page to its twin, and the headings per level and in order;
* and, for every page, that its relative links point at files that exist.

The extraction functions are tested on small inline strings too, so a change to one command
in either file is known to make the comparison fail.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ENGLISH = REPO_ROOT / "README.md"
CHINESE = REPO_ROOT / "README.zh-CN.md"
DOCS = REPO_ROOT / "docs"
CHINESE_DOCS = DOCS / "zh-CN"

ENGLISH_LINK = "[中文版 README](README.zh-CN.md)"
CHINESE_LINK = "[English README](README.md)"


def page_links(name: str) -> tuple[str, str]:
    """The navigation line under the title of docs/<name>.md and of its Chinese twin."""
    return (
        f"[README](../README.md) · [中文版](zh-CN/{name}.md)",
        f"[README](../../README.zh-CN.md) · [English](../{name}.md)",
    )


def page_pairs() -> list[tuple[str, Path, Path, tuple[str, str]]]:
    """(id, English page, Chinese page, their link lines) for the READMEs and every docs page."""
    pairs = [("README", ENGLISH, CHINESE, (ENGLISH_LINK, CHINESE_LINK))]
    names = sorted({p.stem for p in DOCS.glob("*.md")} | {p.stem for p in CHINESE_DOCS.glob("*.md")})
    for name in names:
        pairs.append((name, DOCS / f"{name}.md", CHINESE_DOCS / f"{name}.md", page_links(name)))
    return pairs


PAIRS = page_pairs()
PAIR_IDS = [pair[0] for pair in PAIRS]
# A Markdown link or image target: ](target) with an optional #anchor.
LINK_TARGET = re.compile(r"\]\((?P<target>[^)\s]+)\)")

COMMAND_BLOCK_LANGUAGES = {"bash", "sh", "shell", "console"}
COMMAND_SPAN_PREFIXES = ("./", "python ", "docker ", "curl ", "kubectl ")

# An opening fence: up to any indentation (fences inside list items are indented), three or
# more backticks or tildes, then the info string.
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# An ATX heading; four spaces of indentation would make it an indented code block instead.
ATX_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]|$)")
# An inline code span: a run of N backticks closed by a run of exactly N backticks.
INLINE_CODE = re.compile(r"(?<!`)(?P<ticks>`+)(?!`)(?P<code>.+?)(?<!`)(?P=ticks)(?!`)", re.DOTALL)


@dataclass(frozen=True)
class FencedBlock:
    info: str  # the info string, e.g. "bash" or "" for a bare fence
    body: tuple[str, ...]  # the lines between the fences, as written
    raw: str  # the whole block, fences included, exactly as in the file


def split_markdown(text: str) -> tuple[list[FencedBlock], list[str]]:
    """Split Markdown into its fenced code blocks and the prose lines outside them."""
    blocks: list[FencedBlock] = []
    prose: list[str] = []
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        opening = FENCE_OPEN.match(lines[index].rstrip("\n"))
        if opening is None:
            prose.append(lines[index].rstrip("\n"))
            index += 1
            continue
        fence = opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end].rstrip("\n")):
            end += 1
        # An unclosed fence runs to the end of the document, as in CommonMark.
        body = tuple(line.rstrip("\n") for line in lines[index + 1 : end])
        raw = "".join(lines[index : end + 1])
        blocks.append(FencedBlock(info=opening["info"].strip(), body=body, raw=raw))
        index = end + 1
    return blocks, prose


def block_language(block: FencedBlock) -> str:
    """The language of a fenced block: the first word of its info string, lower-cased."""
    words = block.info.split()
    return words[0].lower() if words else ""


def inline_code_spans(prose: list[str]) -> list[str]:
    """Inline code spans of the prose, whitespace collapsed (a span may wrap over lines)."""
    spans = []
    for paragraph in "\n".join(prose).split("\n\n"):
        for match in INLINE_CODE.finditer(paragraph):
            spans.append(" ".join(match["code"].split()))
    return spans


def commands(text: str) -> set[str]:
    """The command lines a README shows: shell code block lines and command-like inline code."""
    blocks, prose = split_markdown(text)
    found = set()
    for block in blocks:
        if block_language(block) not in COMMAND_BLOCK_LANGUAGES:
            continue
        for line in block.body:
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                found.add(stripped)
    found.update(span for span in inline_code_spans(prose) if span.startswith(COMMAND_SPAN_PREFIXES))
    return found


def fenced_blocks(text: str) -> Counter[str]:
    """Every fenced code block, fences and info string included, counted."""
    blocks, _ = split_markdown(text)
    return Counter(block.raw for block in blocks)


def heading_levels(text: str) -> list[int]:
    """The level of each ATX heading outside code blocks, in document order."""
    _, prose = split_markdown(text)
    levels = []
    for line in prose:
        match = ATX_HEADING.match(line)
        if match:
            levels.append(len(match["hashes"]))
    return levels


def command_difference(english: str, chinese: str) -> str:
    """An empty string when both texts show the same commands, otherwise what differs."""
    english_commands, chinese_commands = commands(english), commands(chinese)
    report = []
    for title, missing in (
        ("only in README.md", english_commands - chinese_commands),
        ("only in README.zh-CN.md", chinese_commands - english_commands),
    ):
        if missing:
            report.append(f"{title}:\n" + "\n".join(f"    {command}" for command in sorted(missing)))
    return "\n".join(report)


def block_difference(english: str, chinese: str) -> str:
    """An empty string when both texts hold the same fenced blocks, otherwise what differs."""
    english_blocks, chinese_blocks = fenced_blocks(english), fenced_blocks(chinese)
    report = []
    for title, extra in (
        ("only in README.md", english_blocks - chinese_blocks),
        ("only in README.zh-CN.md", chinese_blocks - english_blocks),
    ):
        for block, count in extra.items():
            report.append(f"{title} (x{count}):\n{block}")
    return "\n".join(report)


def first_line_after_title(text: str) -> str:
    """The first non-blank line after the document's first line (its title)."""
    lines = text.splitlines()
    return next(line for line in lines[1:] if line.strip())


# ---------------------------------------------------------------------------------------------
# The real READMEs
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=PAIRS, ids=PAIR_IDS)
def pair(request: pytest.FixtureRequest) -> tuple[str, str, tuple[str, str]]:
    _, english_page, chinese_page, links = request.param
    assert english_page.is_file(), f"{chinese_page.relative_to(REPO_ROOT)} has no English twin"
    assert chinese_page.is_file(), f"{english_page.relative_to(REPO_ROOT)} has no Chinese twin"
    return english_page.read_text(encoding="utf-8"), chinese_page.read_text(encoding="utf-8"), links


@pytest.fixture(scope="module")
def english() -> str:
    return ENGLISH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def chinese() -> str:
    return CHINESE.read_text(encoding="utf-8")


def test_every_step_has_its_pages() -> None:
    names = {pair[0] for pair in PAIRS}
    assert {"install", "train_and_export", "start_server", "grpc_client", "rest_client"} <= names


def test_both_readmes_show_commands(english: str, chinese: str) -> None:
    # Guards the equality test below against passing on two empty sets.
    for text in (english, chinese):
        blocks, prose = split_markdown(text)
        shell_lines = [
            line for b in blocks if block_language(b) in COMMAND_BLOCK_LANGUAGES for line in b.body
        ]
        command_spans = [s for s in inline_code_spans(prose) if s.startswith(COMMAND_SPAN_PREFIXES)]
        assert shell_lines
        assert command_spans


def test_twins_show_the_same_commands(pair: tuple[str, str, tuple[str, str]]) -> None:
    english_text, chinese_text, _ = pair
    difference = command_difference(english_text, chinese_text)
    assert not difference, "the English and Chinese pages show different commands:\n" + difference


def test_twins_hold_the_same_code_blocks(pair: tuple[str, str, tuple[str, str]]) -> None:
    english_text, chinese_text, _ = pair
    difference = block_difference(english_text, chinese_text)
    assert not difference, "the English and Chinese pages hold different code blocks:\n" + difference


def test_twins_link_to_each_other_below_the_title(pair: tuple[str, str, tuple[str, str]]) -> None:
    english_text, chinese_text, (english_link, chinese_link) = pair
    assert first_line_after_title(english_text) == english_link
    assert first_line_after_title(chinese_text) == chinese_link


def test_twins_have_the_same_heading_order(pair: tuple[str, str, tuple[str, str]]) -> None:
    english_text, chinese_text, _ = pair
    assert heading_levels(english_text) == heading_levels(chinese_text)
    assert heading_levels(english_text)[:1] == [1], "a page starts with its one top heading"


@pytest.mark.parametrize(("page_id", "english_page", "chinese_page"), [p[:3] for p in PAIRS], ids=PAIR_IDS)
def test_relative_links_point_at_files(page_id: str, english_page: Path, chinese_page: Path) -> None:
    for page in (english_page, chinese_page):
        _, prose = split_markdown(page.read_text(encoding="utf-8"))
        for match in LINK_TARGET.finditer("\n".join(prose)):
            target = match["target"].split("#", 1)[0]
            if not target or "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(REPO_ROOT)} links to missing {target}"


@pytest.mark.parametrize("changed", ["english", "chinese"])
def test_changing_one_real_command_is_caught(english: str, chinese: str, changed: str) -> None:
    # Edit, in memory, the first line of the first shell block of one README.
    texts = {"english": english, "chinese": chinese}
    blocks, _ = split_markdown(texts[changed])
    block = next(b for b in blocks if block_language(b) in COMMAND_BLOCK_LANGUAGES)
    line = next(line for line in block.body if line.strip())
    texts[changed] = texts[changed].replace(block.raw, block.raw.replace(line, line + " --typo", 1), 1)
    difference = command_difference(texts["english"], texts["chinese"])
    assert line.strip() + " --typo" in difference


# ---------------------------------------------------------------------------------------------
# The extraction functions, on small inline documents
# ---------------------------------------------------------------------------------------------

SAMPLE = """\
# Title

Run `./03_start_server.sh start` or `python 02_train_and_export.py
--version 2`, then read `settings.env` and `GRPC_PORT=9000 ./x.sh`.

```bash
./run_walkthrough.sh   # comment after a command stays

# a comment-only line
docker compose -f deploy/docker-compose.yml up -d
```

```text
# not a heading, not a command
curl http://localhost:8501/v1/models/MMModel
```

* a list item:
  ```console
  $ kubectl get pods
  ```

## Section
"""


def test_commands_are_shell_block_lines_and_command_spans() -> None:
    assert commands(SAMPLE) == {
        "./03_start_server.sh start",
        "python 02_train_and_export.py --version 2",
        "./run_walkthrough.sh   # comment after a command stays",
        "docker compose -f deploy/docker-compose.yml up -d",
        "$ kubectl get pods",
    }


def test_headings_inside_code_blocks_do_not_count() -> None:
    assert heading_levels(SAMPLE) == [1, 2]


def test_fenced_blocks_of_every_kind_are_collected() -> None:
    assert sorted(block_language(b) for b in split_markdown(SAMPLE)[0]) == ["bash", "console", "text"]
    assert sum(fenced_blocks(SAMPLE).values()) == 3


def test_same_text_has_no_difference() -> None:
    assert command_difference(SAMPLE, SAMPLE) == ""
    assert block_difference(SAMPLE, SAMPLE) == ""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("docker compose -f deploy/docker-compose.yml up -d", "docker compose -f deploy/compose.yml up -d"),
        ("`./03_start_server.sh start`", "`./03_start_server.sh stop`"),
        ("$ kubectl get pods", "$ kubectl get pod"),
    ],
)
def test_one_changed_command_is_reported_on_either_side(old: str, new: str) -> None:
    changed = SAMPLE.replace(old, new)
    assert changed != SAMPLE
    old_command, new_command = old.strip("`"), new.strip("`")
    assert command_difference(SAMPLE, changed) == (
        f"only in README.md:\n    {old_command}\nonly in README.zh-CN.md:\n    {new_command}"
    )
    assert command_difference(changed, SAMPLE) == (
        f"only in README.md:\n    {new_command}\nonly in README.zh-CN.md:\n    {old_command}"
    )


def test_a_changed_output_line_is_a_block_difference() -> None:
    changed = SAMPLE.replace("curl http://localhost:8501", "curl http://localhost:8502")
    assert commands(changed) == commands(SAMPLE)  # a text block holds no commands...
    assert "curl http://localhost:8502" in block_difference(SAMPLE, changed)  # ...but must match

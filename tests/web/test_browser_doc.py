"""docs/browser.md shows what runs: its curl commands and their output, its Node.js example,
its quote of web/app.js, and an emulator command with settings.env's ports and model.

The curl blocks run against the emulator started with the flag, except the block marked
``# without the flag``; ``localhost:8501`` becomes the test server's address. curl's
header lines end in CRLF, which the page shows as plain lines.
"""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from web_harness import CORS_FLAG, MODEL_NAME, REPO_ROOT, WEB_DIR

PAGE = REPO_ROOT / "docs" / "browser.md"
CHINESE_PAGE = REPO_ROOT / "docs" / "zh-CN" / "browser.md"
SHOWN_URL = "localhost:8501"
WITHOUT_FLAG = "# without the flag"
FENCE = re.compile(r"^```(?P<info>[^`]*)$")
QUOTE_START = "// -- docs/browser.md: the fetch calls"
QUOTE_END = "// -- end of docs/browser.md's quote"


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, in order."""
    blocks, language, body = [], None, []
    for line in text.splitlines():
        match = FENCE.match(line)
        if language is None and match:
            language, body = match["info"].strip(), []
        elif language is not None and line == "```":
            blocks.append((language, "\n".join(body) + "\n"))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


BLOCKS = fenced_blocks(PAGE.read_text(encoding="utf-8"))


def shown_after(language: str, starts_with: str) -> list[tuple[str, str]]:
    """(block, the ```text block right after it) for each block of ``language`` whose first
    command line starts with ``starts_with``."""
    found = []
    for (info, body), (next_info, next_body) in itertools.pairwise(BLOCKS):
        commands = [line for line in body.splitlines() if line.strip() and not line.startswith("#")]
        if info == language and commands and commands[0].startswith(starts_with) and next_info == "text":
            found.append((body, next_body))
    return found


CURL_BLOCKS = shown_after("bash", "curl ")


def app_js_quote() -> str:
    source = (WEB_DIR / "app.js").read_text(encoding="utf-8")
    start = source.index("\n", source.index(QUOTE_START)) + 1
    return source[start : source.index(QUOTE_END)].strip("\n") + "\n"


def test_the_page_shows_curl_commands_with_outputs():
    # Guards the parametrized test below against passing on nothing: status, two predicts,
    # an error, and the preflight with and without the flag.
    assert len(CURL_BLOCKS) == 6
    assert sum(WITHOUT_FLAG in body for body, _ in CURL_BLOCKS) == 1


@pytest.mark.parametrize(
    ("command", "shown"), CURL_BLOCKS, ids=[f"curl-{i}" for i in range(len(CURL_BLOCKS))]
)
def test_curl_prints_what_the_page_shows(command, shown, request):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    server = request.getfixturevalue("plain_server" if WITHOUT_FLAG in command else "cors_server")
    script = "set -euo pipefail\n" + command.replace(f"http://{SHOWN_URL}", server.url)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    # TF Serving's JSON ends without a newline; the page's block ends with one.
    assert done.stdout.replace("\r\n", "\n").rstrip("\n") == shown.rstrip("\n")


def test_the_javascript_block_is_app_js_own_code():
    quotes = [body for info, body in BLOCKS if info == "js"]
    assert quotes[0] == app_js_quote()


def test_the_node_example_prints_what_the_page_shows(cors_server, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    (caller, shown) = shown_after("js", "const versions")[0]
    script = tmp_path / "predict.mjs"
    script.write_text(
        app_js_quote() + caller.replace(f"http://{SHOWN_URL}", cors_server.url), encoding="utf-8"
    )
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown


def settings_env() -> dict[str, str]:
    from tutorial.settings import read_env_file

    return read_env_file()


def test_the_emulator_command_uses_the_settings_and_the_flag():
    settings = settings_env()
    (block,) = [body for _, body in shown_blocks("bash") if "python -m tfserving_emulator" in body]
    command = shlex.split(joined(block[block.index("python -m tfserving_emulator") :]))
    assert command == [
        "python",
        "-m",
        "tfserving_emulator",
        f"--port={settings['GRPC_PORT']}",
        f"--rest_api_port={settings['REST_PORT']}",
        f"--model_name={settings['MODEL_NAME']}",
        f"--model_base_path={Path(settings['MODEL_BASE_DIR']).as_posix().removeprefix('./')}/{MODEL_NAME}",
        CORS_FLAG,
    ]


def test_the_docker_command_adds_the_flag_after_the_image():
    settings = settings_env()
    (block,) = [body for _, body in shown_blocks("bash") if body.startswith("docker run")]
    command = shlex.split(joined(block))
    image = command.index(settings["TF_SERVING_IMAGE"])
    assert command[image + 1 :] == [CORS_FLAG]
    assert f"127.0.0.1:{settings['REST_PORT']}:8501" in command
    assert f"MODEL_NAME={settings['MODEL_NAME']}" in command


def joined(block: str) -> str:
    """A shell block's continued lines as one line."""
    return block.replace("\\\n", " ")


def shown_blocks(language: str) -> list[tuple[str, str]]:
    return [(info, body) for info, body in BLOCKS if info == language]


def test_the_page_defaults_are_the_settings():
    settings = settings_env()
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    assert (
        f'id="base-url" name="base-url" type="url" value="http://localhost:{settings["REST_PORT"]}"' in html
    )
    assert f'id="model-name" name="model-name" type="text" value="{settings["MODEL_NAME"]}"' in html


def test_the_static_server_command_is_the_one_the_page_names():
    command = "python -m http.server 8000 --directory web"
    assert any(body == command + "\n" for _, body in shown_blocks("bash"))
    assert command in (WEB_DIR / "app.js").read_text(encoding="utf-8")
    assert command in (WEB_DIR / "index.html").read_text(encoding="utf-8")


def test_the_chinese_page_exists_with_the_same_blocks():
    # tests/test_docs.py compares the two pages in full; this names the pair when one is missing.
    assert CHINESE_PAGE.is_file()
    assert fenced_blocks(CHINESE_PAGE.read_text(encoding="utf-8")) == BLOCKS

"""Running the earlier chapters' scripts from chapters 6 to 8, exactly as a reader would.

Versions come from 02_train_and_export.py; the server is started and stopped by
03_start_server.sh, which knows whether it is Docker or the emulator. Each command is
printed as the reader would type it, with the lines of its output worth repeating.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tutorial.chapter_server import ChapterError
from tutorial.export import existing_versions
from tutorial.settings import REPO_ROOT

# The lines of their output worth repeating here; run a script yourself for all of it.
KEY_LINES = (
    "Exported version",
    "Final MSE",
    "+ ",
    "server stopped",
    "no server is running",
    "TF Serving is up",
)


def script_command(script: str, *arguments: str) -> list[str]:
    """Run a chapter's script by its full path from the reader's directory, as if they typed it.

    The scripts read relative MODEL_BASE_DIR/RUN_DIR from the environment as relative to the
    directory they are run from, so they must run from the same directory as this one.
    """
    path = str(REPO_ROOT / script)
    return [sys.executable, path, *arguments] if script.endswith(".py") else ["bash", path, *arguments]


def shown(path: str | Path) -> str:
    """A path as the reader would type it: relative to the current directory when inside it."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def display_command(command: list[str]) -> str:
    """``python 02_train_and_export.py ...`` or ``./03_start_server.sh ...``, with short paths."""
    interpreter, script, *arguments = command
    script = shown(script)
    if interpreter == sys.executable:
        words = ["python", script]
    else:
        words = [script if "/" in script else f"./{script}"]
    return " ".join(words + [shown(arg) if arg.startswith("/") else arg for arg in arguments])


def run_step(command: list[str], what: str) -> None:
    """Run ``command``, echo its key lines; on failure its last line becomes a ChapterError."""
    print(f"  $ {display_command(command)}")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    if result.returncode != 0:
        # The end of the output says what went wrong (the scripts end with one error line).
        for line in lines[-15:]:
            print(f"  | {line}")
        last = next((line for line in reversed(lines) if line.strip()), "no output")
        raise ChapterError(f"{what} failed: {last}")
    for line in lines:
        if line.startswith(KEY_LINES):
            print(f"  | {line}")


def server_script(*arguments: str) -> None:
    """``./03_start_server.sh ARGUMENTS``: start, stop or restart the server."""
    run_step(script_command("03_start_server.sh", *arguments), f"./03_start_server.sh {' '.join(arguments)}")


@dataclass(frozen=True)
class Exporter:
    """Makes a version with 02_train_and_export.py, as a reader would."""

    main_model: str
    steps: int | None  # None: 02's default
    plot_dir: Path

    def export(self, model_dir: Path, version: int, seed: int) -> None:
        # 02 draws the fit to fit_v<version>.png; other models get their name in the file
        # name, or MMModel_2's version 1 would overwrite MMModel's.
        name = model_dir.name
        plot = self.plot_dir / (
            f"fit_v{version}.png" if name == self.main_model else f"fit_{name}_v{version}.png"
        )
        arguments = ["--model-dir", str(model_dir), "--version", str(version), "--seed", str(seed)]
        if self.steps is not None:
            arguments += ["--steps", str(self.steps)]
        arguments += ["--plot", str(plot)]
        command = script_command("02_train_and_export.py", *arguments)
        run_step(command, f"exporting version {version} to {model_dir}")

    def ensure_versions(self, model_dir: Path, versions: tuple[int, ...]) -> None:
        """Export any of ``versions`` that does not exist yet (seed = version, like chapter 6)."""
        present = set(existing_versions(model_dir))
        for version in versions:
            if version not in present:
                print(f"{model_dir.name} has no version {version} yet; exporting it:")
                self.export(model_dir, version, seed=version)

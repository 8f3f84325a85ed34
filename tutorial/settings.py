"""Read the tutorial's settings: ``settings.env`` overridden by the environment.

``settings.env`` at the repository root is the single source of truth for the model
name, ports and paths, and this module is its only reader. The shell scripts get the
same values from it:

    eval "$(python -m tutorial.settings --shell)"   # what scripts/lib.sh's load_settings does
                                                    # (and SETTINGS_DESCRIPTION, the block below)
    python -m tutorial.settings                     # the settings block every script prints

It uses only the standard library, so it runs before the tutorial's virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = REPO_ROOT / "settings.env"
BACKENDS = ("auto", "docker", "emulator")
# The keys of settings.env, in the order scripts print them.
KEYS = (
    "MODEL_NAME",
    "MODEL_BASE_DIR",
    "GRPC_PORT",
    "REST_PORT",
    "SERVING_BACKEND",
    "TF_SERVING_IMAGE",
    "TF_SERVING_CONTAINER",
    "SMOKE_TEST_DIR",
    "RUN_DIR",
)
# A script started by another one (run_walkthrough.sh) inherits every setting as an
# exported, already resolved value; this variable keeps saying which ones the user set.
FROM_ENV_VARIABLE = "TUTORIAL_SETTINGS_FROM_ENV"
# Run-time knobs that live in the environment only (not in settings.env), with defaults:
# how long 01 and 03 wait for a model, and how often the server re-reads a models.config.
RUN_OPTIONS = {"STARTUP_TIMEOUT": "120", "MODEL_CONFIG_POLL_SECONDS": "60"}


def read_env_file(path: Path = SETTINGS_FILE) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines; blank lines and ``#`` comments are skipped.

    It is data, never code: nothing is expanded or executed. A broken file is one error
    line (SystemExit) naming the fix.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SystemExit(
            f"error: settings file {path} is missing; restore it from the repository (git checkout settings.env)"
        ) from None
    values = {}
    for line in text.splitlines():  # also splits "\r\n": a file saved on Windows reads the same
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise SystemExit(f"error: {path.name}: not a KEY=VALUE line: {line!r}; fix that line")
        values[key.strip()] = value.strip()
    return values


def caller_cwd() -> Path:
    """The directory the user ran the script from, as their shell spells it.

    The shell scripts run Python from the repository root and name the user's directory
    in ``TUTORIAL_CALLER_CWD`` (scripts/lib.sh). Otherwise: ``$PWD``, which keeps a path
    through a symlinked folder as typed (``os.getcwd()`` would resolve it), while it still
    names the current directory.
    """
    given = os.environ.get("TUTORIAL_CALLER_CWD", "")
    if os.path.isabs(given) and os.path.isdir(given):
        return Path(given)
    cwd = os.getcwd()
    logical = os.environ.get("PWD", "")
    try:
        if logical and os.path.isabs(logical) and os.path.samefile(logical, cwd):
            return Path(logical)
    except OSError:
        pass
    return Path(cwd)


def resolve_path(base: Path | str, value: str) -> Path:
    """VALUE as an absolute path, a relative one taken from BASE; ``~`` is expanded.

    Lexical (".." removes the folder before it, symlinks are kept): the path may not exist
    yet, e.g. the folder a model is about to be exported to.
    """
    return Path(os.path.normpath(os.path.join(base, os.path.expanduser(value))))


def display_path(path: Path | str) -> str:
    """How to show a path: relative to the caller's directory when below it (what they
    would type), absolute otherwise."""
    text, cwd = str(path), str(caller_cwd())
    prefix = cwd.rstrip("/") + "/"
    return text[len(prefix) :] if text.startswith(prefix) and text != prefix else text


@dataclass(frozen=True)
class Settings:
    model_name: str
    model_base_dir: Path
    grpc_port: int
    rest_port: int
    serving_backend: str
    tf_serving_image: str
    container_name: str
    smoke_test_dir: Path
    run_dir: Path

    @property
    def model_dir(self) -> Path:
        """The folder that holds the integer version directories."""
        return self.model_base_dir / self.model_name

    @property
    def grpc_target(self) -> str:
        return f"localhost:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://localhost:{self.rest_port}"

    def values(self) -> dict[str, str]:
        """KEY -> value as text, in settings.env's order."""
        fields = (
            self.model_name,
            self.model_base_dir,
            self.grpc_port,
            self.rest_port,
            self.serving_backend,
            self.tf_serving_image,
            self.container_name,
            self.smoke_test_dir,
            self.run_dir,
        )
        return {key: str(value) for key, value in zip(KEYS, fields, strict=True)}

    def describe(self, environ: dict[str, str] | None = None) -> str:
        """The settings block every script prints first."""
        from_env_keys = keys_from_environment(os.environ if environ is None else environ)
        lines = ["settings (settings.env, overridden by environment variables of the same name):"]
        for key, value in self.values().items():
            note = "   (from the environment)" if key in from_env_keys else ""
            lines.append(f"  {key:<21}= {value}{note}")
        return "\n".join(lines)

    def shell_exports(self, environ: dict[str, str] | None = None) -> str:
        """``export KEY=value`` lines for ``eval`` in a shell, each value quoted safely."""
        environ = os.environ if environ is None else environ
        values = {**self.values(), **run_options(environ)}
        if FROM_ENV_VARIABLE not in environ:
            values[FROM_ENV_VARIABLE] = " ".join(sorted(keys_from_environment(environ)))
        return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())


def keys_from_environment(environ: dict[str, str]) -> set[str]:
    """The keys the user set in the environment (a parent script's answer when it passed one on)."""
    inherited = environ.get(FROM_ENV_VARIABLE)
    if inherited is not None:
        return set(inherited.split())
    return {key for key in KEYS if environ.get(key)}


def _port(key: str, value: str) -> int:
    if not value.isdigit() or not value.isascii():
        raise SystemExit(f"error: {key}={value!r} is not a port number; set it to an integer 1-65535")
    port = int(value)
    if not 0 < port < 65536:
        raise SystemExit(f"error: {key}={port} is out of range; set it to an integer 1-65535")
    return port


def seconds(variable: str, value: str) -> float:
    """A number of seconds >= 0, or one error line naming the variable to fix."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        raise SystemExit(
            f"error: {variable}={value!r} is not a number of seconds; set it to e.g. {RUN_OPTIONS[variable]}"
        )
    return number


def run_options(environ: dict[str, str] | None = None) -> dict[str, str]:
    """STARTUP_TIMEOUT and MODEL_CONFIG_POLL_SECONDS from the environment, checked."""
    environ = os.environ if environ is None else environ
    options = {key: environ.get(key) or default for key, default in RUN_OPTIONS.items()}
    seconds("STARTUP_TIMEOUT", options["STARTUP_TIMEOUT"])
    # The server's flag --model_config_file_poll_wait_seconds takes whole seconds.
    if (
        not options["MODEL_CONFIG_POLL_SECONDS"].isdigit()
        or not options["MODEL_CONFIG_POLL_SECONDS"].isascii()
    ):
        raise SystemExit(
            f"error: MODEL_CONFIG_POLL_SECONDS={options['MODEL_CONFIG_POLL_SECONDS']!r} is not a whole number "
            "of seconds; set it to e.g. 60"
        )
    return options


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """settings.env, each key overridden by a non-empty environment variable.

    Paths from settings.env are relative to the repository; paths from the environment
    are relative to the directory the user runs the script from. Bad values end the
    program with one error line (SystemExit) naming the fix.
    """
    environ = os.environ if environ is None else environ
    defaults = read_env_file()

    def get(key: str) -> str:
        if key not in defaults:
            raise SystemExit(
                f"error: {SETTINGS_FILE.name} has no {key}=...; restore it (git checkout settings.env)"
            )
        return environ.get(key) or defaults[key]

    def path(key: str) -> Path:
        return resolve_path(caller_cwd() if environ.get(key) else REPO_ROOT, get(key))

    backend = get("SERVING_BACKEND")
    if backend not in BACKENDS:
        raise SystemExit(f"error: SERVING_BACKEND={backend!r}; use one of: {', '.join(BACKENDS)}")
    grpc_port, rest_port = _port("GRPC_PORT", get("GRPC_PORT")), _port("REST_PORT", get("REST_PORT"))
    if grpc_port == rest_port:
        raise SystemExit(
            f"error: GRPC_PORT and REST_PORT are both {grpc_port}; give them different values, "
            f"e.g. REST_PORT={grpc_port + 1}"
        )
    return Settings(
        model_name=get("MODEL_NAME"),
        model_base_dir=path("MODEL_BASE_DIR"),
        grpc_port=grpc_port,
        rest_port=rest_port,
        serving_backend=backend,
        tf_serving_image=get("TF_SERVING_IMAGE"),
        container_name=get("TF_SERVING_CONTAINER"),
        smoke_test_dir=path("SMOKE_TEST_DIR"),
        run_dir=path("RUN_DIR"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.settings",
        description="Print the tutorial's settings (settings.env, overridden by the environment).",
    )
    parser.add_argument(
        "--shell", action="store_true", help="print `export KEY=value` lines for a shell's eval"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.shell:
        # The block to print, too: a script shows it without starting Python again.
        print(f"{settings.shell_exports()}SETTINGS_DESCRIPTION={shlex.quote(settings.describe())}")
    else:
        print(settings.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())

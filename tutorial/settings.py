"""Read the tutorial's settings: ``settings.env`` overridden by the environment.

``settings.env`` at the repository root is the single source of truth for the model
name, ports and paths; the shell scripts read the same file (``scripts/lib.sh``).
"""

from __future__ import annotations

import os
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


def read_env_file(path: Path = SETTINGS_FILE) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines; blank lines and ``#`` comments are skipped."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: not a KEY=VALUE line: {line!r}")
        values[key.strip()] = value.strip()
    return values


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

    def describe(self, environ: dict[str, str] | None = None) -> str:
        """The settings block every script prints first, in the same form as ``scripts/lib.sh``."""
        environ = os.environ if environ is None else environ
        # A script started by run_walkthrough.sh inherits every setting exported; this
        # variable (set by scripts/lib.sh) still says which ones the user really set.
        from_env = environ.get("TUTORIAL_SETTINGS_FROM_ENV")
        from_env_keys = set(from_env.split()) if from_env is not None else {k for k in KEYS if environ.get(k)}
        values = {
            "MODEL_NAME": self.model_name,
            "MODEL_BASE_DIR": self.model_base_dir,
            "GRPC_PORT": self.grpc_port,
            "REST_PORT": self.rest_port,
            "SERVING_BACKEND": self.serving_backend,
            "TF_SERVING_IMAGE": self.tf_serving_image,
            "TF_SERVING_CONTAINER": self.container_name,
            "SMOKE_TEST_DIR": self.smoke_test_dir,
            "RUN_DIR": self.run_dir,
        }
        lines = ["settings (settings.env, overridden by environment variables of the same name):"]
        for key in KEYS:
            note = "   (from the environment)" if key in from_env_keys else ""
            lines.append(f"  {key:<21}= {values[key]}{note}")
        return "\n".join(lines)


def _path(value: str, from_environment: bool) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() if from_environment else REPO_ROOT) / path
    return path.resolve()


def _port(key: str, value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise SystemExit(
            f"error: {key}={value!r} is not a port number; set it to an integer 1-65535"
        ) from None
    if not 0 < port < 65536:
        raise SystemExit(f"error: {key}={port} is out of range; set it to an integer 1-65535")
    return port


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    defaults = read_env_file()

    def get(key: str) -> tuple[str, bool]:
        if environ.get(key):
            return environ[key], True
        return defaults[key], False

    backend = get("SERVING_BACKEND")[0]
    if backend not in BACKENDS:
        raise SystemExit(f"error: SERVING_BACKEND={backend!r}; use one of: {', '.join(BACKENDS)}")
    return Settings(
        model_name=get("MODEL_NAME")[0],
        model_base_dir=_path(*get("MODEL_BASE_DIR")),
        grpc_port=_port("GRPC_PORT", get("GRPC_PORT")[0]),
        rest_port=_port("REST_PORT", get("REST_PORT")[0]),
        serving_backend=backend,
        tf_serving_image=get("TF_SERVING_IMAGE")[0],
        container_name=get("TF_SERVING_CONTAINER")[0],
        smoke_test_dir=_path(*get("SMOKE_TEST_DIR")),
        run_dir=_path(*get("RUN_DIR")),
    )

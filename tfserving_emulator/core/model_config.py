"""The model server's configuration: flags or a text-format ``ModelServerConfig``.

Validation messages are TF Serving's (``model_servers/server_core.cc``), so a mistake
in a ``models.config`` reads the same here as in the real server's log.
"""

from __future__ import annotations

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from ..util.errors import ServingError, invalid_argument

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig

TENSORFLOW_PLATFORM = "tensorflow"


def single_model_config(model_name: str, base_path: str) -> ModelServerConfig:
    """What ``--model_name``/``--model_base_path`` stand for (``BuildSingleModelConfig``)."""
    config = ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = model_name
    model.base_path = base_path
    model.model_platform = TENSORFLOW_PLATFORM
    return config


def parse_config_text(text: str, source: str) -> ModelServerConfig:
    config = ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Error parsing text-format tensorflow.serving.ModelServerConfig: {error}. "
            f"Invalid protobuf file: '{source}'",
        ) from None
    return config


def read_config_file(path: str) -> ModelServerConfig:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise ServingError("NOT_FOUND", f"{path}; {error.strerror or error}") from None
    return parse_config_text(text, path)


def _is_absolute_or_uri(path: str) -> bool:
    return path.startswith("/") or "://" in path


def _platform(model: ModelConfig) -> str:
    return TENSORFLOW_PLATFORM if model.model_type and not model.model_platform else model.model_platform


def validate(config: ModelServerConfig, previous: ModelServerConfig | None = None) -> None:
    """``ValidateModelConfigList`` plus the platform checks of ``ServerCore``.

    ``previous`` is the config being replaced (``HandleReloadConfigRequest``): a model
    may not change its platform.
    """
    if config.WhichOneof("config") != "model_config_list":
        raise ServingError(
            "FAILED_PRECONDITION",
            "Cannot transition to requested config. It is only legal to transition from one "
            "ModelConfigList to another.",
        )
    seen: set[str] = set()
    for model in config.model_config_list.config:
        if model.name in seen:
            raise invalid_argument(f"Illegal to list model {model.name} multiple times in config list")
        seen.add(model.name)
    for model in config.model_config_list.config:
        if not _is_absolute_or_uri(model.base_path):
            raise invalid_argument(
                f"Expected model {model.name} to have an absolute path or URI; got base_path()={model.base_path}"
            )
    if previous is not None:
        before = {m.name: _platform(m) for m in previous.model_config_list.config}
        for model in config.model_config_list.config:
            if model.name in before and before[model.name] != _platform(model):
                raise invalid_argument(
                    f"Illegal to change a model's platform. For model {model.name} platform was "
                    f"{before[model.name]} and new platform requested is {_platform(model)}"
                )
    for model in config.model_config_list.config:
        platform = model.model_platform
        if model.model_type:
            if platform:
                raise invalid_argument(
                    "Illegal setting both ModelServerConfig::model_type (deprecated) and "
                    "ModelServerConfig::model_platform."
                )
            platform = TENSORFLOW_PLATFORM
        if not platform:
            raise invalid_argument(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                "ModelServerConfig::model_platform."
            )
        if platform != TENSORFLOW_PLATFORM:
            raise invalid_argument(f"Model {model.name} requested unsupported platform {platform}")

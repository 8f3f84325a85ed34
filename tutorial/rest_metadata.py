"""Read the REST metadata reply back into SignatureDef protos, as gRPC's GetModelMetadata gives them.

``GET /v1/models/<name>/metadata`` returns the SignatureDefMap proto written as protobuf
JSON, so ``google.protobuf.json_format`` parses it into the same messages the gRPC client
unpacks from its ``Any``, and the same printer shows them.
"""

from __future__ import annotations

from google.protobuf import json_format
from tensorflow.core.protobuf import meta_graph_pb2

from tutorial.client_errors import SetupError


def signatures_from_metadata(metadata: dict) -> dict[str, meta_graph_pb2.SignatureDef]:
    """``{name: SignatureDef}`` from the parsed JSON of a metadata reply."""
    signature_map = metadata["metadata"]["signature_def"]["signature_def"]  # yes, nested twice
    return {
        name: json_format.ParseDict(signature, meta_graph_pb2.SignatureDef(), ignore_unknown_fields=True)
        for name, signature in signature_map.items()
    }


def require_signatures(signatures: dict, names: tuple[str, ...], model_name: str, version: int) -> None:
    """Raise SetupError, naming the fix, if the served model lacks one of ``names``."""
    for name in names:
        if name not in signatures:
            raise SetupError(
                f"error: model {model_name} version {version} has no signature {name!r}; "
                "serve the model that 02_train_and_export.py exports."
            )

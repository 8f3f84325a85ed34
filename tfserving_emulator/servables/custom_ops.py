"""Op libraries the real ``tensorflow_model_server`` links in besides TensorFlow's own.

The binary is built with the TF Text ops (``TFText>WhitespaceTokenizeWithOffsetsV2`` and the
other ``TFText>`` ops), so a SavedModel that tokenizes text inside its graph loads
there. In Python those ops are registered by importing ``tensorflow_text``. That import
costs 0.3-0.4 s (more from a cold disk cache), so it happens only when a graph about
to be loaded uses an op type TensorFlow does not know; a graph whose ops are all known
loads exactly as before.
"""

from __future__ import annotations

import threading

from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

_lock = threading.Lock()
_text_ops_loaded = False


def op_types(saved_model: saved_model_pb2.SavedModel) -> set[str]:
    """Every op type in the SavedModel's graphs, functions included."""
    types: set[str] = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        types.update(node.op for node in graph.node)
        for function in graph.library.function:
            types.update(node.op for node in function.node_def)
    return types


def unknown_op_types(saved_model: saved_model_pb2.SavedModel) -> set[str]:
    return {op for op in op_types(saved_model) if op_def_registry.get(op) is None}


def register_ops_used_by(saved_model: saved_model_pb2.SavedModel) -> None:
    """Import ``tensorflow_text`` if the graph uses ops TensorFlow alone lacks.

    Ops that TF Text does not provide either are left for the loader to refuse with
    TensorFlow's own ``Op type not registered`` error.
    """
    global _text_ops_loaded
    if _text_ops_loaded or not unknown_op_types(saved_model):
        return
    with _lock:
        if not _text_ops_loaded:
            import tensorflow_text  # noqa: F401  (registers the TFText> ops)

            _text_ops_loaded = True

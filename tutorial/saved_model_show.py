"""Print a SavedModel's signatures like ``saved_model_cli show --dir DIR --all`` does.

A SignatureDef is the contract TF Serving exposes: clients must use its input and output
names (the map keys, e.g. ``inputs['x']``), dtypes and shapes. ``saved_model_cli`` prints
it, but loads all of TensorFlow's tooling and also dumps the op list and every concrete
function. This reads ``saved_model.pb`` (a ``SavedModel`` protocol buffer) directly and
prints the signature part of that report, line for line in the same format:

    MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:

    signature_def['serving_default']:
      The given SavedModel SignatureDef contains the following input(s):
        inputs['x'] tensor_info:
            dtype: DT_FLOAT
            shape: (-1, 1)
            name: serving_default_x:0
      ...
      Method name is: tensorflow/serving/predict
"""

from __future__ import annotations

import os
from pathlib import Path

from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2


def read_saved_model(saved_model_dir: str | os.PathLike) -> saved_model_pb2.SavedModel:
    """Parse ``<saved_model_dir>/saved_model.pb``."""
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((Path(saved_model_dir) / "saved_model.pb").read_bytes())
    return saved_model


def format_tensor_info(tensor_info: meta_graph_pb2.TensorInfo, indent: str) -> list[str]:
    """dtype as the enum name, shape as a tuple of sizes (-1 = any), and the graph tensor name."""
    if tensor_info.tensor_shape.unknown_rank:
        shape = "unknown_rank"
    else:
        # saved_model_cli joins the sizes itself, so one dimension prints as (-1), not (-1,).
        shape = "(" + ", ".join(str(dim.size) for dim in tensor_info.tensor_shape.dim) + ")"
    return [
        f"{indent}dtype: {types_pb2.DataType.Name(tensor_info.dtype)}",
        f"{indent}shape: {shape}",
        f"{indent}name: {tensor_info.name}",
    ]


def format_signature_def(key: str, signature: meta_graph_pb2.SignatureDef) -> list[str]:
    lines = [f"signature_def['{key}']:"]
    lines.append("  The given SavedModel SignatureDef contains the following input(s):")
    for name, tensor_info in sorted(signature.inputs.items()):
        lines.append(f"    inputs['{name}'] tensor_info:")
        lines += format_tensor_info(tensor_info, indent=" " * 8)
    lines.append("  The given SavedModel SignatureDef contains the following output(s):")
    for name, tensor_info in sorted(signature.outputs.items()):
        lines.append(f"    outputs['{name}'] tensor_info:")
        lines += format_tensor_info(tensor_info, indent=" " * 8)
    lines.append(f"  Method name is: {signature.method_name}")
    return lines


def format_signatures(saved_model_dir: str | os.PathLike) -> str:
    """The SignatureDefs of every MetaGraph (tag-set) in the SavedModel, saved_model_cli style."""
    saved_model = read_saved_model(saved_model_dir)
    lines: list[str] = []
    for meta_graph in sorted(saved_model.meta_graphs, key=lambda mg: list(mg.meta_info_def.tags)):
        tags = ", ".join(meta_graph.meta_info_def.tags)
        lines += ["", f"MetaGraphDef with tag-set: '{tags}' contains the following SignatureDefs:"]
        for key in sorted(meta_graph.signature_def):
            lines += ["", *format_signature_def(key, meta_graph.signature_def[key])]
    return "\n".join(lines)

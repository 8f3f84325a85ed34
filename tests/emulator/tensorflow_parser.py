"""TensorFlow's own ``Tensor::FromProto``, as a reference for the emulator's tensor parser.

``tf.raw_ops.ParseTensor`` runs the C++ ``Tensor::FromProto`` of the installed
TensorFlow (the one TF Serving 2.21 is built on) and then compares the dtype, so its
answer tells whether TF Serving could parse a request tensor and, if so, the tensor.

Only call it on protos whose claimed shape is invalid or small: for a valid shape it
allocates the whole tensor first (a claim of 2**40 values makes TensorFlow's allocator
retry for ten seconds before it gives up).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import dtypes

_MISMATCH = re.compile(r"Type mismatch between parsed tensor \((\w+)\) and dtype")


@dataclass
class Parsed:
    ok: bool
    type_string: str | None = None  # DataTypeString of the parsed tensor, e.g. "int32"
    value: np.ndarray | None = None


def tensorflow_parse(proto) -> Parsed:
    serialized = proto.SerializeToString()
    try:
        tf.raw_ops.ParseTensor(serialized=serialized, out_type=tf.float32)
        type_string = "float"
    except tf.errors.InvalidArgumentError as error:
        mismatch = _MISMATCH.search(error.message)
        if not mismatch:
            return Parsed(False)
        type_string = mismatch.group(1)
    try:
        value = tf.raw_ops.ParseTensor(serialized=serialized, out_type=dtypes.as_dtype(proto.dtype)).numpy()
    except (tf.errors.OpError, TypeError, ValueError):
        value = None  # parsed, but eager tensors of this dtype do not convert to numpy
    return Parsed(True, type_string, value)

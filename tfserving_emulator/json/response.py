"""Answers in JSON: ``MakeJsonFromTensors`` (``predictions`` / ``outputs``), the classify
and regress results, and ``{"error": ...}`` bodies.

Response floats are formatted in bulk (``%g``, with numpy deciding which values need
``%.9g`` / ``%.17g``); layouts of one shape are cached, as answers repeat them."""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Mapping

import numpy as np

from ..util.errors import invalid_argument
from .number_text import decimal_format, decimal_text, decimal_texts
from .rapidjson_document import string_bytes
from .rapidjson_writer import PrettyWriter, quote

# --------------------------------------------------------------------------------------
# Predict response (MakeJsonFromTensors)
# --------------------------------------------------------------------------------------
_INDENT = "    "
_UNSUPPORTED_NUMPY = {
    "float16": "half",
    "complex64": "complex64",
    "complex128": "complex128",
    "uint16": "uint16",
}


def _leaf_texts(name: str, array: np.ndarray, depth: int) -> list[str]:
    """Text of every value of ``array`` (C order) as ``AddSingleValueAndAdvance`` writes
    it; ``depth`` is the writer's nesting level at the values (for {"b64": ...})."""
    flat = array.reshape(-1)
    kind = flat.dtype.kind
    if flat.dtype in (np.float32, np.float64):
        return decimal_texts(flat)
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu" and flat.dtype.itemsize <= 8 and flat.dtype != np.uint16:
        return [str(v) for v in flat.tolist()]
    if kind in "OSU":
        values = flat.tolist()
        if name.endswith("_bytes"):
            inner = "\n" + _INDENT * (depth + 1)
            outer = "\n" + _INDENT * depth
            return [
                "{" + inner + '"b64": "' + base64.b64encode(_as_bytes(v)).decode("ascii") + '"' + outer + "}"
                for v in values
            ]
        return [quote(_as_bytes(v).decode("utf-8", "surrogateescape")) for v in values]
    type_name = _UNSUPPORTED_NUMPY.get(flat.dtype.name, flat.dtype.name)
    raise invalid_argument(f"Failed to write JSON value for tensor type: {type_name}")


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return string_bytes(value)
    return bytes(value)


def _closings(shape: tuple[int, ...]) -> np.ndarray:
    """For each gap between consecutive values (C order): how many innermost arrays end."""
    count = math.prod(shape)
    gaps = np.arange(1, count)
    closing = np.zeros(count - 1, dtype=np.intp)
    step = 1
    for size in reversed(shape[1:]):
        step *= size
        closing += gaps % step == 0
    return closing


def _join(leaves: list[str], separators: list[str], shape: tuple[int, ...]) -> str:
    """The leaves with, in each gap, the separator for how many innermost arrays end there."""
    if math.prod(shape[1:]) == 1:
        return separators[len(shape) - 1].join(leaves)  # [n], [n, 1], ...: every gap alike
    parts = [""] * (2 * len(leaves) - 1)
    parts[0::2] = leaves
    parts[1::2] = np.array(separators, dtype=object)[_closings(shape)].tolist()
    return "".join(parts)


def _single_line(leaves: list[str], shape: tuple[int, ...], item_marker: str | None = None) -> str:
    """A non-empty tensor as nested single-line arrays: ``[[1, 2], [3, 4]]``.

    With ``item_marker``, the gaps between dimension-0 items use it instead of ", ".
    """
    if not shape:
        return leaves[0]
    rank = len(shape)
    separators = ["]" * c + ", " + "[" * c for c in range(rank)]
    if item_marker is not None:
        separators[rank - 1] = "]" * (rank - 1) + item_marker + "[" * (rank - 1)
    if len(leaves) == 1:
        return "[" * rank + leaves[0] + "]" * rank
    return "[" * rank + _join(leaves, separators, shape) + "]" * rank


def _multi_line(leaves: list[str], shape: tuple[int, ...], base: int) -> str:
    """A non-empty tensor as default (multi-line) arrays opened at writer depth ``base``."""
    if not shape:
        return leaves[0]
    rank = len(shape)
    depth = base + rank  # writer depth at the values

    def close(c: int) -> str:
        return "".join("\n" + _INDENT * (depth - j) + "]" for j in range(1, c + 1))

    def reopen(c: int) -> str:
        return "".join("\n" + _INDENT * (depth - c + j) + "[" for j in range(c))

    separators = [close(c) + "," + reopen(c) + "\n" + _INDENT * depth for c in range(rank)]
    head = "[" + "".join("\n" + _INDENT * (base + j) + "[" for j in range(1, rank)) + "\n" + _INDENT * depth
    if len(leaves) == 1:
        return head + leaves[0] + close(rank)
    return head + _join(leaves, separators, shape) + close(rank)


def _empty_tensor_text(shape: tuple[int, ...], single_line: bool, base: int) -> str:
    """Text of a tensor without values (some dimension is 0): only brackets, whatever
    the dtype, since ``AddTensorValues`` never reaches a value. ``base`` is the writer
    depth where the outermost array opens."""

    def text(dim: int, depth: int) -> str:
        size = shape[dim]
        if size == 0:
            return "[]"
        child = text(dim + 1, depth + 1)
        if single_line:
            return "[" + ", ".join([child] * size) + "]"
        inner = "\n" + _INDENT * (depth + 1)
        return "[" + inner + ("," + inner).join([child] * size) + "\n" + _INDENT * depth + "]"

    return text(0, base)


# Layouts of a non-empty tensor: "single" line, "items" (single line, "\0" between the
# dimension-0 items) or "multi"-line opened at writer depth ``base``.
def _layout(leaves: list[str], shape: tuple[int, ...], style: str, base: int) -> str:
    if style == "multi":
        return _multi_line(leaves, shape, base)
    return _single_line(leaves, shape, item_marker="\0" if style == "items" else None)


# A layout holding the same % conversion everywhere, kept: answers of one shape repeat it.
_cached_layout = functools.lru_cache(maxsize=64)(
    lambda spec, shape, style, base: _layout([spec] * math.prod(shape), shape, style, base)
)
_CACHED_LAYOUT_MAX_VALUES = 10_000


def _tensor_text(name: str, array: np.ndarray, depth: int, style: str, base: int = 0) -> str:
    """A non-empty tensor in ``style``; ``depth`` as for ``_leaf_texts``.

    Float values are written by one ``%`` on the layout filled with their conversions.
    """
    if array.dtype not in (np.float32, np.float64):
        return _layout(_leaf_texts(name, array, depth), array.shape, style, base)
    specs, arguments = decimal_format(array)
    if not isinstance(specs, str):
        layout = _layout(specs, array.shape, style, base)
    elif array.size <= _CACHED_LAYOUT_MAX_VALUES:
        layout = _cached_layout(specs, array.shape, style, base)
    else:
        layout = _layout([specs] * array.size, array.shape, style, base)
    return layout % arguments if arguments else layout


def make_predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> bytes:
    """``MakeJsonFromTensors``: ``{"predictions": ...}`` (row) or ``{"outputs": ...}``.

    One output drops its name; several give a list of objects (row) or one object
    (columnar), names in sorted order. Row format needs dimension 0 on every output,
    the same for all of them.
    """
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    arrays = {name: np.asarray(outputs[name]) for name in names}
    text = _row_json(names, arrays) if row_format else _columnar_json(names, arrays)
    return string_bytes(text)


def _row_json(names: list[str], arrays: dict[str, np.ndarray]) -> str:
    batch = -1
    for name in names:
        shape = arrays[name].shape
        if not shape:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch >= 0 and shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {shape[0]} expecting: {batch}"
            )
        batch = shape[0]
    head = '{\n    "predictions": ['
    if batch == 0:
        return head + "]\n}"
    if len(names) == 1:
        array = arrays[names[0]]
        if array.size == 0:
            body = _empty_tensor_text(array.shape, True, 1)[1:-1]
        else:
            body = _tensor_text(names[0], array, 1 + array.ndim, "single")[1:-1]
        return head + body + "\n    ]\n}"
    # Several outputs: one object per batch item, each value in single-line form.
    columns = []
    for name in names:
        array = arrays[name]
        if array.ndim == 1:
            items = _leaf_texts(name, array, 3)
        elif array.size == 0:
            items = [_empty_tensor_text(array.shape[1:], True, 3)] * batch
        else:
            items = _tensor_text(name, array, 3 + array.ndim - 1, "items")[1:-1].split("\0")
        columns.append((f"\n            {quote(name)}: ", items))
    # One %-template per batch item, filled from the columns in C.
    template = (
        "\n        {" + ",".join(prefix.replace("%", "%%") + "%s" for prefix, _ in columns) + "\n        }"
    )
    objects = map(template.__mod__, zip(*(items for _, items in columns), strict=True))
    return head + ",".join(objects) + "\n    ]\n}"


def _columnar_json(names: list[str], arrays: dict[str, np.ndarray]) -> str:
    def tensor_text(name: str, base: int) -> str:
        array = arrays[name]
        if array.ndim and array.size == 0:
            return _empty_tensor_text(array.shape, False, base)
        return _tensor_text(name, array, base + array.ndim, "multi", base)

    if len(names) == 1:
        return '{\n    "outputs": ' + tensor_text(names[0], 1) + "\n}"
    fields = ",".join(f"\n        {quote(name)}: " + tensor_text(name, 2) for name in names)
    return '{\n    "outputs": {' + fields + "\n    }\n}"


# --------------------------------------------------------------------------------------
# Classify / Regress response, errors
# --------------------------------------------------------------------------------------
def make_classify_response(result) -> bytes:
    """``MakeJsonFromClassificationResult``: ``{"results": [[["label", score], ...], ...]}``."""
    if not result.classifications:
        raise invalid_argument("Cannot convert empty ClassificationResults to JSON")
    writer = PrettyWriter()
    writer.start_object()
    writer.key("results")
    writer.start_array()
    for classifications in result.classifications:
        writer.single_line_arrays = True
        writer.start_array()
        for item in classifications.classes:
            writer.start_array()
            writer.string(item.label)
            writer.raw_value(decimal_text(item.score, np.float32))
            writer.end_array()
        writer.end_array()
        writer.single_line_arrays = False
    writer.end_array()
    writer.end_object()
    return string_bytes(writer.text())


def make_regress_response(result) -> bytes:
    """``MakeJsonFromRegressionResult``: ``{"results": [value, ...]}``."""
    if not result.regressions:
        raise invalid_argument("Cannot convert empty RegressionResults to JSON")
    writer = PrettyWriter()
    writer.start_object()
    writer.key("results")
    writer.single_line_arrays = True
    writer.start_array()
    for text in decimal_texts(np.array([r.value for r in result.regressions], dtype=np.float32)):
        writer.raw_value(text)
    writer.end_array()
    writer.end_object()
    return string_bytes(writer.text())


def make_error_body(message: str) -> bytes:
    """``MakeJsonFromStatus``: ``{"error": message}`` as RapidJSON's PrettyWriter writes it."""
    writer = PrettyWriter()
    writer.start_object()
    writer.key("error")
    writer.string(message)
    writer.end_object()
    return string_bytes(writer.text())

"""``FillPredictRequestFromJson``: a ``:predict`` body (row or columnar format) -> input tensors.

The body is read once: ``flat_instances`` (the fast path for the tutorial's plain row
bodies) when it can, else RapidJSON's reader; the choice is made in one place,
``fill_predict_request``."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..grpc.tensor_proto import NUMPY_MAX_DIMENSIONS
from ..util.errors import ServingError, invalid_argument
from . import flat_instances
from .fast_arrays import (
    _BodyMentionsBools,
    _checked_array,
    _Conversion,
    _ExactNumbersNeeded,
    _fast_array,
    _fast_vectors,
    _OnDemand,
    _tensor_from_value,
)
from .rapidjson_document import members
from .tensor_values import (
    TF_MAX_DIMENSIONS,
    _check_rank,
    _dense_shape,
    _fill_tensor,
    _format_error,
    _is_base64_object,
    _json_value_to_string,
    _shape_text,
    _TooManyDimensions,
    _values_to_array,
    parse_json,
)


# --------------------------------------------------------------------------------------
# Predict request
# --------------------------------------------------------------------------------------
@dataclass
class PredictRequestJson:
    """A parsed ``:predict`` body: what FillPredictRequestFromJson puts in PredictRequest."""

    signature_name: str  # as sent; "" when absent (the server then uses serving_default)
    inputs: dict[str, np.ndarray]
    row_format: bool  # True for "instances" (answer with "predictions"), False for "inputs"


_MISSING = object()


class _OneLookup:
    """Calls get_input_infos at most once, replaying its answer (or its error)."""

    def __init__(self, get_input_infos: Callable[[str], Mapping[str, object]]):
        self._get = get_input_infos
        self._infos: Mapping[str, object] | None = None
        self.error: ServingError | None = None

    def __call__(self, signature_name: str) -> Mapping[str, object]:
        if self.error is not None:
            raise self.error
        if self._infos is None:
            try:
                self._infos = self._get(signature_name)
            except ServingError as err:
                self.error = err
                raise
        return self._infos


def fill_predict_request(
    body: bytes, get_input_infos: Callable[[str], Mapping[str, object]]
) -> PredictRequestJson:
    """``FillPredictRequestFromJson``: parse a ``:predict`` body into input tensors.

    ``get_input_infos(signature_name)`` returns the signature's inputs (alias ->
    TensorInfo) or raises ServingError; it is called once, after the body is parsed and
    its ``signature_name`` checked, exactly where TF Serving looks the model up, so the
    order of errors is TF Serving's.
    """
    lookup = _OneLookup(get_input_infos)
    # The one fallback: the fast path reads the plain row bodies the tutorial sends and
    # returns None for anything it cannot vouch for; RapidJSON's reader then reads the
    # body, with its exact doubles, and words every error.
    if len(body) >= flat_instances.WORTH_IT_BYTES and (flat := flat_instances.parse(body)) is not None:
        request = _fill_predict_from_flat(flat, lookup)
        if request is not None:
            return request
    return _fill_predict(parse_json(body), lookup, _Conversion(_BodyMentionsBools(body), nearly=False))


def _fill_predict_from_flat(
    flat: flat_instances.FlatInstances, lookup: _OneLookup
) -> PredictRequestJson | None:
    """The request for a body ``flat_instances`` could read, or None when the general
    path must decide (a missing or extra key, a value TF Serving would refuse or that
    RapidJSON might read differently...): that path then also words the error."""
    infos = lookup(flat.signature_name)  # the body is valid: TF Serving looks up next
    if not infos or sorted(flat.keys) != sorted(infos):
        return None
    conversion = _Conversion(may_hold_bools=False, nearly=_OnDemand(lambda: flat.long_literals))
    dtypes = {infos[key].dtype for key in flat.keys}
    try:
        if len(dtypes) == 1:
            # One dtype for all (the usual case): check and convert all values at once.
            converted = _checked_array(flat.values, dtypes.pop(), conversion, leaves_are_numbers=True)
            if converted is None:
                return None
            columns = flat.columns(converted)
        else:
            columns = [
                _checked_array(column, infos[key].dtype, conversion, leaves_are_numbers=True)
                for key, column in zip(flat.keys, flat.columns(flat.values), strict=True)
            ]
    except _ExactNumbersNeeded:
        return None
    if any(column is None for column in columns):
        return None
    tensors = {
        key: np.ascontiguousarray(column) for key, column in sorted(zip(flat.keys, columns, strict=True))
    }
    return PredictRequestJson(flat.signature_name, tensors, True)


def _signature_name(doc: dict) -> str:
    """The body's ``signature_name`` ("" when absent); it must be a string."""
    signature_name = doc.get("signature_name", _MISSING)
    if signature_name is _MISSING:
        return ""
    if not isinstance(signature_name, str):
        raise invalid_argument(
            f"JSON Value: {_json_value_to_string(doc)} not formatted correctly."
            " 'signature_name' key must be a string value."
        )
    return signature_name


def _fill_predict(doc: dict, lookup: _OneLookup, conversion: _Conversion) -> PredictRequestJson:
    signature_name = _signature_name(doc)
    infos = lookup(signature_name)
    if not infos:
        raise invalid_argument(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
    dtypes = {name: info.dtype for name, info in infos.items()}

    instances = doc.get("instances", _MISSING)
    inputs = doc.get("inputs", _MISSING)
    if instances is not _MISSING:
        if inputs is not _MISSING:
            raise _format_error(
                doc, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
            )
        if type(instances) is not list:
            raise _format_error(doc, "Expecting 'instances' to be an list/array")
        if not instances:
            raise _format_error(doc, "No values in 'instances' array")
        tensors = _guard_depth(_tensors_from_instances, instances, dtypes, conversion)
        return PredictRequestJson(signature_name, tensors, True)
    if inputs is not _MISSING:
        tensors = _guard_depth(_tensors_from_inputs, inputs, dtypes, conversion)
        return PredictRequestJson(signature_name, tensors, False)
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _guard_depth(convert: Callable, *args: object) -> dict[str, np.ndarray]:
    try:
        return convert(*args)
    except RecursionError:
        # TF Serving recurses in C++ here; a document this deep is nothing it could serve.
        raise invalid_argument("JSON Value nesting is too deep to convert to a tensor") from None
    except _TooManyDimensions as error:
        name, rank = error.args
        if rank > TF_MAX_DIMENSIONS:
            raise invalid_argument(f"tensor parsing error: {name}") from None
        raise invalid_argument(
            f"Tensors of more than {NUMPY_MAX_DIMENSIONS} dimensions are not supported by this "
            f"emulator (numpy's limit); the request has one of {rank}"
        ) from None


def _is_element_object(value: object) -> bool:
    return isinstance(value, dict) and not _is_base64_object(value)


def _tensors_from_inputs(
    value: object, dtypes: dict[str, int], conversion: _Conversion
) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInputsMap`` (columnar format)."""
    if not isinstance(value, dict) or _is_base64_object(value):
        if len(dtypes) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors"
                " required as per tensorinfo_map"
            )
        (name,) = dtypes
        return {name: _tensor_from_value(name, value, dtypes[name], conversion)}
    tensors = {}
    for name in sorted(dtypes):
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = _tensor_from_value(name, value[name], dtypes[name], conversion)
    return tensors


def _tensors_from_instances(
    rows: list, dtypes: dict[str, int], conversion: _Conversion
) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInstancesList`` (row format): one tensor per input, the
    per-instance tensors stacked on a new dimension 0."""
    if not isinstance(rows[0], dict) and len(dtypes) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors"
            " required as per tensorinfo_map"
        )
    names = sorted(dtypes)
    elements_are_objects = _is_element_object(rows[0])
    fast = _instances_fast(rows, dtypes, names, elements_are_objects, conversion)
    if fast is not None:
        return fast
    if conversion.nearly:
        raise _ExactNumbersNeeded

    values: dict[str, list] = {}
    sizes: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...]] = {}

    def add_item(item: object, name: str) -> None:
        """``AddInstanceItem``."""
        if name not in dtypes:
            raise invalid_argument(f"JSON object: does not have named input: {name}")
        shape = _dense_shape(item)
        _check_rank(name, 1 + len(shape))  # the instances add dimension 0
        count = _fill_tensor(item, 0, dtypes[name], shape, values.setdefault(name, []))
        if name not in sizes:
            sizes[name] = count
            shapes[name] = shape
        elif sizes[name] != count:
            raise invalid_argument(f"Expecting tensor size: {sizes[name]} but got: {count}")
        elif shapes[name] != shape:
            raise invalid_argument(
                f"Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(shape)}"
            )

    for index, row in enumerate(rows):
        if elements_are_objects:
            if not _is_element_object(row):
                raise invalid_argument(f"Expecting object but got list at item {index} of input list")
            keys = set()
            for key, item in members(row):
                keys.add(key)
                try:
                    add_item(item, key)
                except ServingError as err:
                    raise invalid_argument(
                        f"Failed to process element: {index} key: {key} of 'instances' list."
                        f" Error: {err.status_string()}"
                    ) from None
            if keys != set(names):
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list."
                    f" JSON object: {_json_value_to_string(row)} keys must be equal to: {','.join(names)}"
                )
        else:
            if _is_element_object(row):
                raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            try:
                add_item(row, names[0])
            except ServingError as err:
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. Error: {err.status_string()}"
                ) from None

    tensors = {}
    for name, flat in values.items():
        shape = (len(rows), *shapes[name])
        if len(flat) != math.prod(shape):
            # Only a key repeated inside one instance gets here: TF Serving appends its
            # values twice and the TensorProto no longer matches its shape.
            raise invalid_argument(f"tensor parsing error: {name}")
        tensors[name] = _values_to_array(flat, shape, dtypes[name])
    return tensors


def _instances_fast(
    rows: list, dtypes: dict[str, int], names: list[str], elements_are_objects: bool, conversion: _Conversion
) -> dict[str, np.ndarray] | None:
    if not elements_are_objects:
        # An object among the rows makes numpy build an object array: refused there.
        array = _fast_array(rows, dtypes[names[0]], conversion)
        return None if array is None else {names[0]: array}
    if names == ["b64"]:
        return None  # {"b64": "..."} rows would be base64 values, not named inputs
    # Every row a plain dict (no repeated keys) with exactly the input names: checked
    # with C-level iteration, as this runs over every instance.
    if set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(names)}:
        return None
    if set().union(*rows) != set(names):
        return None
    tensors = {}
    for name in names:
        column = list(map(operator.itemgetter(name), rows))
        array = _fast_vectors(column, dtypes[name], conversion)
        if array is None:
            array = _fast_array(column, dtypes[name], conversion)
        if array is None:
            return None
        tensors[name] = array
    return tensors

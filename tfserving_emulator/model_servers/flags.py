"""``tensorflow_model_server``'s command line, parsed the way TensorFlow's parser does it.

``tensorflow/core/util/command_line_flags.cc`` tries each argument against every flag in
``main.cc``'s order. A string or number flag matches only ``--name=value``; a bool flag
matches any argument that starts with ``--name``: bare ``--name`` is true, ``=true`` and
``=false`` are read, anything else (``=1``, ``=yes``, ``--namex``) is a bad value. A bad
value logs ``Couldn't interpret value <text> for flag <name>.`` and the binary prints the
usage and exits. An argument no flag matches (``--name value`` gives two: ``--name`` and
``value``), and ``--`` with everything after it, is left over; ``main.cc`` then prints
``unknown argument: <the first one>`` and the usage. ``--help`` alone prints the usage.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field, make_dataclass

from .flag_specs import FLAG_SPECS, NOT_EMULATED, FlagSpec

__all__ = ["FLAG_SPECS", "NOT_EMULATED", "CommandLine", "Flags", "not_emulated_lines", "parse", "usage"]

PROGRAM = "python -m tfserving_emulator"  # what ``argv[0]`` is to the binary's usage line
_PYTHON_TYPES = {"int32": int, "int64": int, "bool": bool, "string": str, "float": float}

# One attribute per flag, named as the flag; ``given`` lists the flags the command line set.
Flags = make_dataclass(
    "Flags",
    [(spec.name, _PYTHON_TYPES[spec.type], field(default=spec.default)) for spec in FLAG_SPECS]
    + [("given", tuple, field(default=()))],
)


@dataclass
class CommandLine:
    flags: Flags
    unknown: list[str]  # arguments no flag took, in order
    bad_values: list[str]  # one "Couldn't interpret value ..." message per bad argument

    @property
    def ok(self) -> bool:
        """What ``Flags::Parse`` returns: no bad value, and not ``--help`` first left over."""
        return not self.bad_values and not (self.unknown and self.unknown[0] == "--help")


# What sscanf's %d / %lld / %f accept when nothing may follow ("%d%c" must convert one
# item): optional leading white space, then the number.
_SPACE = "[ \t\n\v\f\r]*"
_INTEGER = re.compile(_SPACE + r"([+-]?[0-9]+)")
_DECIMAL = re.compile(
    _SPACE + r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf(?:inity)?|nan))",
    re.IGNORECASE,
)
_HEX_FLOAT = re.compile(
    _SPACE + r"([+-]?0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?)", re.IGNORECASE
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38


def _integer(text: str, bits: int) -> int | None:
    match = _INTEGER.fullmatch(text)
    if match is None:
        return None
    # glibc's scanf reads with strtol (saturating at the 64-bit range) and stores an int32
    # by truncation, so --port=4294967297 is port 1, as in the binary.
    value = min(max(int(match.group(1)), _INT64_MIN), _INT64_MAX)
    if bits == 32:
        value = (value + 2**31) % 2**32 - 2**31
    return value


def _float32(text: str) -> float | None:
    match = _DECIMAL.fullmatch(text)
    if match is not None:
        value = float(match.group(1))
    else:
        match = _HEX_FLOAT.fullmatch(text)
        if match is None:
            return None
        value = float.fromhex(match.group(1))
    if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        return math.copysign(math.inf, value)  # strtof overflows to HUGE_VALF
    return struct.unpack("f", struct.pack("f", value))[0]


def _match(spec: FlagSpec, arg: str) -> tuple[bool, object]:
    """``Flag::Parse``: (does ``arg`` belong to this flag, its value or None if bad)."""
    prefix = f"--{spec.name}"
    if not arg.startswith(prefix):
        return False, None
    rest = arg[len(prefix) :]
    if spec.type == "bool":
        return True, {"": True, "=true": True, "=false": False}.get(rest)
    if not rest.startswith("="):
        return False, None
    text = rest[1:]
    if spec.type == "string":
        return True, text
    if spec.type == "float":
        return True, _float32(text)
    return True, _integer(text, 32 if spec.type == "int32" else 64)


def _bad_value(spec: FlagSpec, arg: str) -> str:
    # Bool flags report what follows the name ("=yes"); the others what follows "=".
    text = arg[len(spec.name) + 2 :]
    if spec.type != "bool":
        text = text[1:]
    return f"Couldn't interpret value {text} for flag {spec.name}."


def parse(argv: list[str]) -> CommandLine:
    values: dict[str, object] = {}
    unknown: list[str] = []
    bad_values: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--":
            unknown.extend(argv[index:])
            break
        for spec in FLAG_SPECS:
            matched, value = _match(spec, arg)
            if not matched:
                continue
            if value is None:
                bad_values.append(_bad_value(spec, arg))
            else:
                values[spec.name] = value
            break
        else:
            unknown.append(arg)
    flags = Flags(**values)
    flags.given = tuple(values)
    return CommandLine(flags, unknown, bad_values)


def _shown_default(spec: FlagSpec) -> str:
    if spec.type == "bool":
        return "true" if spec.default else "false"
    if spec.type == "string":
        return f'"{spec.default}"'
    if spec.type == "float":
        return f"{spec.default:f}"
    return str(spec.default)


def usage() -> str:
    """``Flags::Usage``: a header, then ``\\t%-33s\\t<type>\\t<help>`` per flag."""
    lines = [f"usage: {PROGRAM}", "Flags:"]
    for spec in FLAG_SPECS:
        lines.append(f"\t{f'--{spec.name}={_shown_default(spec)}':<33}\t{spec.type}\t{spec.help}")
    return "\n".join(lines) + "\n"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float):  # the shortest text that reads back as the same float32
        return next(t for t in (f"{value:.{n}g}" for n in range(1, 10)) if _float32(t) == value)
    return str(value)


def not_emulated_lines(flags: Flags) -> list[str]:
    """One line per not-emulated flag the command line set to something other than its default."""
    return [
        f"--{spec.name}={_shown(getattr(flags, spec.name))} is not emulated and has no effect: "
        f"{NOT_EMULATED[spec.name]}"
        for spec in FLAG_SPECS
        if spec.name in NOT_EMULATED and getattr(flags, spec.name) != spec.default
    ]

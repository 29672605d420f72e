"""The header every JSON file of ours carries, and the checks its one reader makes.

Each on-disk format (a model's config.json, a classifier folder's config.json,
a transfer's report.json, a prepared corpus's metadata, ...) is written and read
by one module; this one gives them the same header and the same errors:

    {"format": "sentiment-neuron-model", "format_version": 1, ...}

A reader accepts its own format at any version up to the one it knows, and a
file written before headers existed (no "format" key: version 0, read as the
first version where the module says so). A malformed file gives one
`FormatError` (a ValueError) naming the file and the field.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["FormatError", "read_json", "check_header", "stamped", "require"]


class FormatError(ValueError):
    """A file of ours that cannot be read: the message names the file, the field and the problem."""


def read_json(path: str | Path, what: str) -> dict:
    """The JSON object in `path` (UTF-8).

    Raises:
        FileNotFoundError: no such file (the message says it should hold `what`).
        FormatError: not UTF-8, not JSON, or not an object.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (expected {what})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FormatError(f"{path}: not valid JSON ({err}); expected {what}") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path}: a JSON {type(data).__name__}, not an object; expected {what}")
    return data


def check_header(path: str | Path, data: dict, name: str, version: int) -> int:
    """The format version of `data` read from `path`: 0 when it has no header (written before headers
    existed), else its "format_version" when its "format" is `name` and the version is at most `version`.

    Raises:
        FormatError: another format, a version that is not an integer >= 1, or a newer version
            than this package reads (upgrade sentiment-neuron).
    """
    if "format" not in data:
        return 0
    if data["format"] != name:
        raise FormatError(f"{path}: field 'format' is {data['format']!r}, not {name!r}")
    found = data.get("format_version")
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise FormatError(f"{path}: field 'format_version' must be an integer >= 1, got {found!r}")
    if found > version:
        raise FormatError(f"{path}: format {name!r} version {found} is newer than this package reads "
                          f"({version}): upgrade sentiment-neuron")
    return found


def stamped(data: dict, name: str, version: int) -> dict:
    """`data` with the header first: {"format": name, "format_version": version, **data} (a new dict)."""
    rest = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    return {"format": name, "format_version": version, **rest}


def require(path: str | Path, data: dict, key: str, kind: type | tuple[type, ...]):
    """data[key], checked to be of `kind`.

    Raises:
        FormatError: the field is missing or of another type (the file and field are named).
    """
    if key not in data:
        raise FormatError(f"{path}: field {key!r} is missing")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = "/".join(k.__name__ for k in _as_tuple(kind))
        raise FormatError(f"{path}: field {key!r} must be {names}, got {type(value).__name__} {value!r:.80}")
    return value


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)

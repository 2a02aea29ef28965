"""Load a YAML file into a typed model; every mistake becomes ``file:line: field: what; what is allowed``."""
from __future__ import annotations

import hashlib
import importlib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

KINDS: dict[str, str] = {
    "kiosk": "config.kiosk:KioskConfig",
    "collector": "config.collector:CollectorConfig",
    "broker": "config.broker:BrokerConfig",
}
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """One or more problems in one file; ``problems`` holds one readable line each."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(problems))


def model_for(kind: str) -> type[BaseModel]:
    if kind not in KINDS:
        raise KeyError(kind)
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------- YAML with line numbers
def _node_lines(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path (as strings) to the 1-based line of its key in the file."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            p = path + (str(key_node.value),)
            out[p] = key_node.start_mark.line + 1
            _node_lines(value_node, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = path + (str(i),)
            out[p] = item.start_mark.line + 1
            _node_lines(item, p, out)
    return out


def _line_for(lines: dict[tuple, int], loc: tuple) -> int:
    loc = tuple(str(p) for p in loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return 1


# ---------------------------------------------------------------- describing what is allowed
def _unwrap(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else tp
    return tp


def _field_at(model: type[BaseModel], loc: tuple):
    """Follow ``loc`` through nested models; return (model, field_name) of the last field."""
    current: Any = model
    owner, field = None, None
    for part in loc:
        tp = _unwrap(current)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return tp, None
            owner, field = tp, part
            current = tp.model_fields[part].annotation
            continue
        origin = typing.get_origin(tp)
        if origin in (list, tuple, set):
            current = typing.get_args(tp)[0] if typing.get_args(tp) else Any
        elif origin is dict:
            current = typing.get_args(tp)[1] if typing.get_args(tp) else Any
        else:
            return owner, field
    return owner, field


def _bounds(model, field) -> tuple[Any, Any]:
    lo = hi = None
    if model is None or field is None:
        return lo, hi
    for meta in model.model_fields[field].metadata:
        lo = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else hi
    return lo, hi


def _describe(err: dict, root: type[BaseModel]) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    found = err.get("input")
    msg = str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    shown = repr(found) if isinstance(found, str) else str(found)
    if isinstance(found, (dict, list)):
        shown = "this value"
    if kind == "extra_forbidden":
        owner_model = _field_at(root, loc)[0] if len(loc) > 1 else root
        allowed = ", ".join(owner_model.model_fields) if owner_model else ""
        return f"unknown key; allowed here: {allowed}"
    if kind == "missing":
        return "is required but missing"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        lo, hi = _bounds(*_field_at(root, loc))
        if lo is not None and hi is not None:
            return f"{shown} is not allowed; use {lo} to {hi}"
        return f"{shown} is not allowed; {msg[0].lower() + msg[1:]}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{shown} is not allowed; use {expected}"
    if kind == "string_pattern_mismatch":
        owner, field = _field_at(root, loc)
        desc = owner.model_fields[field].description if owner and field else None
        return f"{shown} is not allowed; use {desc or 'the form ' + err.get('ctx', {}).get('pattern', '')}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{shown} is not allowed; {msg[0].lower() + msg[1:]}"
    return f"{msg}" if found is None or isinstance(found, (dict, list)) else f"{shown}: {msg}"


def _format_loc(loc: tuple) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


# ---------------------------------------------------------------- public API
def detect_kind(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("kind"), str) and data["kind"] in KINDS:
        return data["kind"]
    if "faces" in data or ("device" in data and "site" in data):
        return "kiosk"
    if "database" in data or "sites" in data or "dashboard" in data:
        return "collector"
    if "listeners" in data or "hostnames" in data:
        return "broker"
    return None


def load(path: str | Path, kind: str | None = None, model: type[M] | None = None) -> M:
    """Read, parse and validate one YAML file. Raises ConfigError with every problem found."""
    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"{path}: cannot read: {exc}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [f"{where}: not valid YAML: {problem}"]) from None
    if data is None:
        raise ConfigError(path, [f"{name}:1: the file is empty"])
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{name}:1: expected a mapping of keys (key: value) at the top level"])
    if model is None:
        kind = kind or detect_kind(data)
        if kind is None:
            raise ConfigError(path, [f"{name}:1: cannot tell which kind of file this is; add 'kind: kiosk', "
                                     f"'kind: collector' or 'kind: broker' at the top, or pass --kind"])
        model = model_for(kind)
    lines = _node_lines(node) if node is not None else {}
    try:
        cfg = model.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        found = []
        for err in exc.errors(include_url=False):
            loc = tuple(err.get("loc", ()))
            line = _line_for(lines, loc)
            found.append((line, f"{name}:{line}: {_format_loc(loc)}: {_describe(err, model)}"))
        raise ConfigError(path, [text for _, text in sorted(found, key=lambda f: f[0])]) from None
    return cfg


def file_hash(path: str | Path) -> str:
    """Short hash of a config file, reported in status messages so the centre sees which config runs."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def read_yaml(path: str | Path, shown_as: str | None = None) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML file into (data, node) for callers that merge files before validating them
    (the fleet folder); problems are ConfigError lines with file and line."""
    path = Path(path)
    name = shown_as or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [f"{name}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"{name}: cannot read: {exc}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [f"{where}: not valid YAML: {problem}"]) from None
    return data, node

"""Load a YAML file into a typed model; every mistake becomes ``file:line: field: what; what is allowed``."""
from __future__ import annotations

import hashlib
import importlib
import re
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
    "staff": "config.staff:StaffFile",  # a centre's officers, included by its kiosks
    "desk": "kiosk.desk:DeskSettings",  # the officer's PC or queue system: python -m kiosk request --settings
    "fleet": "config.fleet:FleetPush",  # a fleet folder's push.yaml: python -m broker fleet push
}
M = TypeVar("M", bound=BaseModel)

MAX_FILE_BYTES = 1024 * 1024  # a kiosk.yaml is a few KiB; anything near this is a mistake or an attack
MAX_DEPTH = 50                # nesting levels of mappings and lists
MAX_SHOWN = 80                # characters of a rejected value repeated in a message
MAX_PROBLEM = 300             # characters of one problem line
MAX_PROBLEMS = 50             # lines reported for one file
HIDDEN = "<hidden>"           # what a message shows instead of a rejected secret
SECRET_WORDS = ("password", "pin", "secret", "token", "passphrase")


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


# ---------------------------------------------------------------- YAML without aliases
class RefusedYAML(yaml.YAMLError):
    """A YAML feature these files do not allow; ``line`` is 1-based."""

    def __init__(self, line: int, problem: str):
        super().__init__(problem)
        self.line = line
        self.problem = problem


class PlainLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases, and deep nesting, while composing: nothing is
    built from an alias, so nine nested aliases of nine (a few hundred bytes that expand to
    gigabytes) stop at the first ``&`` instead of after the memory is gone."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise RefusedYAML(event.start_mark.line + 1,
                              "anchors and aliases (&name, *name, <<: *name) are not allowed in config files; "
                              "write each value out in full")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise RefusedYAML(event.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse(text: str) -> tuple[yaml.Node | None, Any]:
    """Compose once (for line numbers) and build the data from that same node tree."""
    loader = PlainLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


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


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was: a 20 MB value is not echoed whole."""
    if len(text) <= limit:
        return text
    suffix = f"… ({len(text):,} characters)"  # counted in the limit: the whole line stays within it
    return text[:max(1, limit - len(suffix))] + suffix


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "this value"
    try:
        text = repr(value) if isinstance(value, str) else str(value)
    except ValueError:  # an integer too long to print
        text = "this number"
    return clip(_URL_PASSWORD.sub(rf"\1{HIDDEN}@", text))  # postgresql://user:PASSWORD@host


def _is_secret(root: type[BaseModel], loc: tuple) -> bool:
    """True when ``loc`` is, or lies inside, a password or PIN field: its value is never repeated."""
    from .common import Secret

    if any(str(p).lower() in SECRET_WORDS for p in loc):
        return True
    for i in range(1, len(loc) + 1):
        owner, field = _field_at(root, loc[:i])
        if owner is not None and field is not None and _unwrap(owner.model_fields[field].annotation) is Secret:
            return True
    return False


def _describe(err: dict, root: type[BaseModel]) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    found = err.get("input")
    msg = str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    shown = HIDDEN if _is_secret(root, loc) else _show(found)
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
        p = p if isinstance(p, int) else clip(str(p), 40)
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _bounded(problems: list[str]) -> list[str]:
    """At most MAX_PROBLEMS lines of at most MAX_PROBLEM characters each."""
    out = [clip(p, MAX_PROBLEM) for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        out.append(f"... and {len(problems) - MAX_PROBLEMS} more problems")
    return out


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


def read_text(path: Path) -> str:
    """The file's text, refused when it is larger than MAX_FILE_BYTES (checked before reading it all)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(path, [f"{path}: file not found"]) from None
    except IsADirectoryError:
        raise ConfigError(path, [f"{path}: is a folder, not a file"]) from None
    except OSError as exc:
        raise ConfigError(path, [f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(path, [f"{path}: the file is larger than {MAX_FILE_BYTES // 1024} KiB; a config file "
                                 f"is a few KiB (is it the right file?)"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"]) from None


def load(path: str | Path, kind: str | None = None, model: type[M] | None = None,
         base_dir: str | Path | None = None) -> M:
    """Read, parse and validate one YAML file. Raises ConfigError with every problem found.

    Relative paths in the file are relative to ``base_dir`` (default: the file's own folder).
    """
    path = Path(path)
    return parse_text(read_text(path), path, kind=kind, model=model, base_dir=base_dir)


def parse_text(text: str, path: str | Path, kind: str | None = None, model: type[M] | None = None,
               base_dir: str | Path | None = None) -> M:
    """Validate ``text`` as if read from ``path`` (named in every message)."""
    return _validate(text, Path(path), kind, model, base_dir)[0]


def load_checked(path: str | Path, kind: str | None = None, base_dir: str | Path | None = None,
                 text: str | None = None) -> tuple[BaseModel, list[str]]:
    """``load`` plus the files the config names: a missing or unreadable required file (CA, client
    certificate and key, password file) is a ConfigError; a missing optional one (a sound) comes back
    as a warning line, in the same ``file:line: field: ...`` form."""
    path = Path(path)
    cfg, lines = _validate(read_text(path) if text is None else text, path, kind, None, base_dir)
    errors, warnings = [], []
    for loc, file, required in referenced_files(cfg):
        problem = file_problem(file)
        if problem:
            line = _line_for(lines, loc)
            (errors if required else warnings).append(
                (line, f"{path.name}:{line}: {_format_loc(loc)}: {clip(str(file), 200)}: {problem}"
                       + ("" if required else " (optional: the kiosk runs without it)")))
    if errors:
        raise ConfigError(path, _bounded([t for _, t in sorted(errors + warnings, key=lambda f: f[0])]))
    return cfg, _bounded([t for _, t in sorted(warnings, key=lambda f: f[0])])


def file_problem(path: Path) -> str | None:
    """None when ``path`` is a readable file, else what is wrong with it."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except FileNotFoundError:
        return "file not found"
    except IsADirectoryError:
        return "is a folder, not a file"
    except PermissionError:
        return "cannot be read by this user (permission denied)"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    return None


def referenced_files(cfg: BaseModel) -> list[tuple[tuple, Path, bool]]:
    """Every path marked ReadFile in the model, as (key path, file, required)."""
    from .common import ReadFile

    out: list[tuple[tuple, Path, bool]] = []

    def marker(metadata) -> ReadFile | None:
        return next((m for m in metadata if isinstance(m, ReadFile)), None)

    def walk(value: Any, tp: Any, loc: tuple, mark: ReadFile | None) -> None:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            args = typing.get_args(tp)
            walk(value, args[0], loc, marker(args[1:]) or mark)
        elif origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(tp):
                if arg is not type(None):
                    walk(value, arg, loc, mark)
                    break
        elif isinstance(value, BaseModel):
            for name, field in type(value).model_fields.items():
                walk(getattr(value, name), field.annotation, loc + (name,), marker(field.metadata))
        elif isinstance(value, dict):
            args = typing.get_args(tp)
            for k, v in value.items():
                walk(v, args[1] if len(args) == 2 else Any, loc + (k,), None)
        elif isinstance(value, (list, tuple)):
            args = typing.get_args(tp)
            for i, v in enumerate(value):
                walk(v, args[0] if args else Any, loc + (i,), None)
        elif isinstance(value, Path) and mark is not None:
            out.append((loc, value, mark.required))

    walk(cfg, type(cfg), (), None)
    return out


def _validate(text: str, path: Path, kind: str | None, model: type[M] | None,
              base_dir: str | Path | None) -> tuple[M, dict[tuple, int]]:
    name = path.name
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(path, [f"{path}: the file is larger than {MAX_FILE_BYTES // 1024} KiB"])
    node, data = _parse_explained(text, path, name)
    if data is None:
        raise ConfigError(path, [f"{name}:1: the file is empty"])
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{name}:1: expected a mapping of keys (key: value) at the top level"])
    if model is None:
        kind = kind or detect_kind(data)
        if kind is None:
            raise ConfigError(path, [f"{name}:1: cannot tell which kind of file this is; add 'kind: kiosk' (or "
                                     f"{', '.join(repr(k) for k in KINDS if k != 'kiosk')}) at the top, or pass --kind"])
        model = model_for(kind)
    lines = _node_lines(node) if node is not None else {}
    base = Path(base_dir) if base_dir is not None else path.resolve().parent
    try:
        cfg = model.model_validate(data, context={"base_dir": base})
    except ValidationError as exc:
        found = []
        for err in exc.errors(include_url=False):
            loc = tuple(err.get("loc", ()))
            line = _line_for(lines, loc)
            found.append((line, f"{name}:{line}: {_format_loc(loc)}: {_describe(err, model)}"))
        raise ConfigError(path, _bounded([text for _, text in sorted(found, key=lambda f: f[0])])) from None
    return cfg, lines


def file_hash(path: str | Path) -> str:
    """Short hash of a config file, reported in status messages so the centre sees which config runs."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def _parse_explained(text: str, path: Path, name: str) -> tuple[yaml.Node | None, Any]:
    """``parse``, with every failure turned into one ConfigError line naming file and line."""
    try:
        return parse(text)
    except RefusedYAML as exc:
        raise ConfigError(path, [f"{name}:{exc.line}: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, _bounded([f"{where}: not valid YAML: {problem}"])) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of thousands of digits
        raise ConfigError(path, _bounded([f"{name}: a value cannot be read: {exc}"])) from None


def read_yaml(path: str | Path, shown_as: str | None = None) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML file into (data, node) for callers that merge files before validating them
    (the fleet folder); problems are ConfigError lines with file and line. Same limits as ``load``."""
    path = Path(path)
    name = shown_as or path.name
    node, data = _parse_explained(read_text(path), path, name)
    return data, node

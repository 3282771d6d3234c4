"""One configuration path for every entry point: defaults < YAML file < command line, with one-line errors.

``load(cls, path, argv)`` builds any config dataclass (``TrainConfig``,
``EvalConfig``...) the same way: a YAML mapping of its fields (nested sections
for nested dataclasses), then ``--key value`` / ``--key=value`` / ``--flag`` /
``--no-flag`` flags, dotted for sections (``--grpo.learning_rate 1e-5``) and for
the keys of mapping-typed settings (``--policy_options.dtype bfloat16``); ``-``
and ``_`` are the same in a key. Errors are ``ConfigError`` with one line that
names the key, where it was set (file and line, or the flag) and how to fix it:
an unknown key lists the closest valid names, a wrong type says what is
expected, a missing file says which file.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml


class ConfigError(ValueError):
    """A bad configuration: the message names the key, where it came from, and the fix."""


def to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj


def dump_yaml(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_plain(cfg), sort_keys=False, allow_unicode=True), encoding="utf-8")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` (YAML or command-line string) as type ``tp``; raise ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        last: Exception | None = None
        for arg in args:
            if arg is type(None):
                if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
                    return None
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as e:
                last = e
        raise last or ConfigError(f"{where}: cannot read {value!r}")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number (e.g. 1e-5), got {value!r}")
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return "" if value is None else str(value)
    if origin in (list, tuple) or tp in (list, tuple):
        if isinstance(value, str):
            parsed = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
            value = parsed
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list (YAML [a, b] or comma-separated a,b), got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    return value


def _unknown(key: str, valid: Sequence[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key.split(".")[-1], valid, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(f"unknown config key {key!r} ({where}){hint} Valid keys here: {', '.join(valid)}")


def build(cls: type, data: Mapping[str, Any], *, prefix: str = "", origins: Mapping[str, str] | None = None) -> Any:
    """Instantiate dataclass ``cls`` from nested ``data``; errors name the key and where it was set."""
    origins = origins or {}
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        where = origins.get(full, "config")
        if key not in names:
            raise _unknown(full, names, where)
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise ConfigError(f"{full} ({where}): expected a section (mapping) of {tp.__name__} keys, got {value!r}")
            # keys the section leaves out keep the parent's default for it (a field's default_factory may set
            # some, e.g. DifficultyConfig(start_level=3)), not the section class's own defaults
            merged = _deep_merge(_section_defaults(cls, key), value)
            kwargs[key] = build(tp, merged, prefix=f"{full}.", origins=origins)
        else:
            kwargs[key] = _coerce(value, tp, f"{full} ({where})")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        where = sorted({v for k, v in origins.items() if k.startswith(prefix)}) if prefix else []
        src = f" (set in {', '.join(where)})" if where else ""
        raise ConfigError(f"invalid {prefix.rstrip('.') or 'config'}{src}: {e}") from None


def _section_defaults(cls: type, key: str) -> dict[str, Any]:
    """The values of section ``key``'s default in ``cls`` (its default or default_factory), as a nested mapping
    of its init fields; empty when the section has no default of its own."""
    f = next(f for f in dataclasses.fields(cls) if f.name == key)
    if f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    elif f.default is not dataclasses.MISSING:
        default = f.default
    else:
        return {}
    if not dataclasses.is_dataclass(default):
        return {}
    return _init_values(default)


def _init_values(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if not f.init:
            continue
        value = getattr(obj, f.name)
        out[f.name] = _init_values(value) if dataclasses.is_dataclass(value) else copy.deepcopy(value)
    return out


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(out.get(k), Mapping) and isinstance(v, Mapping) else v
    return out


def _yaml_lines(text: str, path: str) -> dict[str, str]:
    """Dotted key -> 'file:line' for every key of a YAML mapping tree."""
    out: dict[str, str] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = f"{prefix}{k.value}"
                out[key] = f"{path} line {k.start_mark.line + 1}"
                walk(v, key + ".")

    root = yaml.compose(text)
    if root is not None:
        walk(root, "")
    return out


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def parse_overrides(argv: Sequence[str]) -> list[tuple[str, str]]:
    """``['--a.b', '1', '--c=2', '--flag']`` -> ``[('a.b', '1'), ('c', '2'), ('flag', 'true')]``."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"unexpected command-line argument {arg!r}: options look like --key value or "
                              "--section.key value (see --help)")
        key = arg[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            value = argv[i + 1]
            i += 2
        elif key.startswith(("no-", "no_")):  # --no-flag
            key, value = key[3:], "false"
            i += 1
        else:
            value = "true"
            i += 1
        out.append((key.replace("-", "_"), value))
    return out


def _field_type(cls: Any, dotted: str) -> tuple[Any, bool]:
    """(type of the setting at ``dotted`` in dataclass ``cls`` or None, is it inside a mapping-typed setting)."""
    tp: Any = cls
    for part in dotted.split("."):
        if tp is None or not dataclasses.is_dataclass(tp):
            return None, typing.get_origin(tp) is dict or tp is dict
        tp = _hints(tp).get(part)
    return tp, False


def _flatten(data: Mapping[str, Any], cls: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaves of a nested mapping as dotted keys; mapping-typed settings are kept whole."""
    out: list[tuple[str, Any]] = []
    hints = _hints(cls) if cls is not None and dataclasses.is_dataclass(cls) else {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        tp = hints.get(str(k))
        if isinstance(v, Mapping) and v and tp is not None and dataclasses.is_dataclass(tp):
            out.extend(_flatten(v, tp, key + "."))
        else:
            out.append((key, v))
    return out


def read_yaml(path: str | Path, *, example: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    """(mapping, dotted key -> 'FILE line N') of a YAML config file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist: pass an existing YAML file"
                          + (f", e.g. --config {example}" if example else ""))
    text = p.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of keys (e.g. 'steps: 5'), got {type(data).__name__}")
    return data, _yaml_lines(text, str(p))


def load(cls: type, path: str | Path | None = None, overrides: Sequence[tuple[str, str]] | Sequence[str] = (), *,
         base: Mapping[str, Any] | None = None, example: str = "",
         check: Any = None) -> Any:
    """Defaults < ``base`` (e.g. a resumed run's saved config) < YAML ``path`` < ``overrides``.

    ``check(tree, origins)`` may refuse keys (raise ``ConfigError``) before the dataclass is built.
    """
    tree: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if base:
        for key, value in _flatten(base, cls):
            _set_dotted(tree, key, value)
            origins[key] = "saved run config"
    if path is not None:
        data, lines = read_yaml(path, example=example)
        if check is not None:
            check(data, lines)
        for key, value in _flatten(data, cls):
            _set_dotted(tree, key, value)
        origins.update(lines)
    pairs = list(overrides)
    if pairs and isinstance(pairs[0], str):
        pairs = parse_overrides(pairs)  # type: ignore[arg-type]
    cli_tree: dict[str, Any] = {}
    for key, value in pairs:  # type: ignore[misc]
        _, in_mapping = _field_type(cls, key)
        if in_mapping:  # a key of a mapping-typed setting: the value is read as YAML (numbers, lists...)
            value = yaml.safe_load(value) if isinstance(value, str) and value.strip() else value
        _set_dotted(cli_tree, key, value)
        _set_dotted(tree, key, value)
        origins[key] = f"command line --{key}"
    if check is not None:
        check(cli_tree, origins)
    return build(cls, tree, origins=origins)


def split_argv(argv: Sequence[str], *special: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``argv`` as (the values of the ``special`` keys such as ``config``, the other ``(key, value)`` pairs)."""
    found: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_overrides(argv):
        if key in special:
            found[key] = value
        else:
            rest.append((key, value))
    return found, rest


def help_text(cls: type) -> str:
    """Every key with its default and help, for ``--help``."""
    lines: list[str] = []

    def walk(tp: type, prefix: str, obj: Any) -> None:
        for f in dataclasses.fields(tp):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                lines.append(f"\n  [{prefix}{f.name}] {f.metadata.get('help', '')}")
                walk(type(value), f"{prefix}{f.name}.", value)
            else:
                lines.append(f"  --{prefix}{f.name} (default {value!r})\n      {f.metadata.get('help', '')}")

    walk(cls, "", cls())
    return "\n".join(lines)


__all__ = ["ConfigError", "build", "dump_yaml", "help_text", "load", "parse_overrides", "read_yaml", "split_argv",
           "to_plain"]

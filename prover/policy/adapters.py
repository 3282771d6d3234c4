"""PEFT adapters as models: an adapter directory is accepted wherever a model path is.

``merged_checkpoint(adapter)`` folds a LoRA adapter into its base model and saves the
result (with the tokenizer) as a full checkpoint in ``<adapter>/merged``, written once
(atomically) and reused; ``resolve_model`` calls it for a directory that holds an
``adapter_config.json`` and no ``config.json``, so ``scripts/train_prover.py
--model.name_or_path runs/star/adapters/binary`` starts RL from the fine-tuned policy and
``eval_prover.py`` evaluates it the same way (``policy_options.lora_path`` applies an
adapter on top of a named base instead).

The base model is, in order: the ``base_model`` argument, the one the project's fine-tuning
record (``sft_done.json``) names, the adapter's own ``base_model_name_or_path``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MERGED = "merged"
SFT_RECORD = "sft_done.json"


def is_adapter_dir(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "adapter_config.json").is_file() and not (p / "config.json").is_file()


def adapter_base(adapter: Path) -> str:
    """The base model an adapter was trained on (see the module docstring)."""
    record = adapter / SFT_RECORD
    if record.is_file():
        base = json.loads(record.read_text()).get("base_model", "")
        if base:
            return str(base)
    base = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
    if not base:
        raise FileNotFoundError(f"{adapter}: the adapter names no base model (no {SFT_RECORD}, no "
                                "base_model_name_or_path in adapter_config.json); pass the base model")
    return str(base)


def save_merged(trained: Path, base_path: str, out: Path) -> None:
    """Save ``trained`` as a plain checkpoint in ``out``: a LoRA adapter merged into the base weights at
    ``base_path`` (a full fine-tune is loaded as it is), with the tokenizer (the adapter's, else the base's)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (trained / "adapter_config.json").is_file():
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
        model = PeftModel.from_pretrained(base, str(trained)).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(str(trained), dtype=torch.float32)
    tok_src = trained if (trained / "tokenizer_config.json").is_file() else Path(base_path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(tok_src)).save_pretrained(str(out))


def merged_checkpoint(trained_dir: str | os.PathLike[str], base_model: str = "") -> Path:
    """``trained_dir``'s adapter merged into its base as a full checkpoint in ``trained_dir/merged``.

    A ``trained_dir`` that already holds a full checkpoint is returned as is.
    """
    trained = Path(trained_dir)
    if not (trained / "adapter_config.json").is_file():
        if (trained / "config.json").is_file():
            return trained
        raise FileNotFoundError(f"{trained}: neither a PEFT adapter (adapter_config.json) nor a checkpoint (config.json)")
    out = trained / MERGED
    if (out / "config.json").is_file():
        return out
    base_model = base_model or adapter_base(trained)
    from prover.policy.embedded import resolve_model

    tmp = trained / (MERGED + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_merged(trained, resolve_model(base_model), tmp)
    (tmp / "merged_from.json").write_text(json.dumps({"adapter": str(trained), "base_model": base_model}, indent=2))
    os.replace(tmp, out)
    return out


__all__ = ["MERGED", "adapter_base", "is_adapter_dir", "merged_checkpoint", "save_merged"]

"""Everything the trainer knows about TRL's private API, in one place, checked against the installed version.

``ReplayGRPOTrainer`` overrides five private ``GRPOTrainer`` methods (``HOOKS``)
and reads the tuple ``_generate`` returns (``GENERATE_FIELDS``). These change
between TRL releases, so ``check_versions()`` refuses to train outside the
range the tests ran on (``TESTED``), with a message that says what to install.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from importlib import metadata
from typing import Any, Iterator

from packaging.specifiers import SpecifierSet
from packaging.version import Version

# package -> the versions the trainer was tested with (pyproject.toml pins the same ranges)
TESTED: dict[str, str] = {"trl": ">=1.16,<1.17", "transformers": ">=5.24,<5.25"}
# Private GRPOTrainer methods ReplayGRPOTrainer overrides: name -> their parameters (after self).
HOOKS: dict[str, tuple[str, ...]] = {
    "_generate_and_score_completions": ("inputs",),
    "_generate": ("prompts",),
    "_save_checkpoint": ("model", "trial"),
    "_get_output_dir": ("trial",),
    "_get_per_token_logps_and_entropies": ("model", "input_ids", "attention_mask", "logits_to_keep", "batch_size",
                                           "compute_entropy", "compute_aux_loss", "pixel_values", "image_grid_thw",
                                           "num_images", "pixel_attention_mask", "spatial_shapes", "num_tiles",
                                           "image_sizes", "token_type_ids", "mm_token_type_ids",
                                           "image_position_ids"),
}
# What GRPOTrainer._generate returns, by position.
GENERATE_FIELDS: tuple[str, ...] = ("prompt_ids", "completion_ids", "tool_mask", "completions", "logprobs",
                                    "extra_fields", "images", "tool_images")
COMPLETIONS = GENERATE_FIELDS.index("completions")
EXTRA_FIELDS = GENERATE_FIELDS.index("extra_fields")


class TRLVersionError(RuntimeError):
    """The installed TRL/transformers is outside the tested range."""


def check_versions() -> None:
    """Fail clearly when TRL or transformers is outside ``TESTED`` or a hook changed its signature."""
    for package, spec in TESTED.items():
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            raise TRLVersionError(f"{package} is not installed: pip install '{package}{spec}'") from None
        if Version(installed) not in SpecifierSet(spec):
            raise TRLVersionError(
                f"{package} {installed} is installed, but the trainer reads TRL internals tested only with "
                f"{package}{spec}: pip install '{package}{spec}' (or update prover/rl/trl_compat.py and its tests)")
    from trl import GRPOTrainer

    for name, params in HOOKS.items():
        method = getattr(GRPOTrainer, name, None)
        if method is None or tuple(inspect.signature(method).parameters)[1:] != params:
            raise TRLVersionError(f"trl.GRPOTrainer.{name}{params} is missing or changed: this TRL is not supported")


def completions_of(generated: tuple) -> list[Any]:
    """The completions (text or messages) of a ``_generate`` result."""
    return generated[COMPLETIONS]


def merge_generations(a: tuple, b: tuple, ia: list[int], ib: list[int], n: int) -> tuple:
    """Interleave two ``GRPOTrainer._generate`` results (rows ``ia`` and ``ib``) back into row order."""
    if len(a) != len(GENERATE_FIELDS) or len(b) != len(GENERATE_FIELDS):
        raise RuntimeError(f"GRPOTrainer._generate returned {len(a)} fields, expected {len(GENERATE_FIELDS)} "
                           "(unsupported TRL); set verify_early=false")
    merged: list[Any] = []
    for k, (va, vb) in enumerate(zip(a, b)):
        if k == EXTRA_FIELDS:  # a dict of per-row lists
            keys = set(va) | set(vb)
            merged.append({key: _scatter(va.get(key), vb.get(key), ia, ib, n) for key in keys})
        elif va is None and vb is None:
            merged.append(None)
        elif isinstance(va, list) and isinstance(vb, list) and not va and not vb:
            merged.append([])
        else:
            merged.append(_scatter(va, vb, ia, ib, n))
    return tuple(merged)


def _scatter(va: Any, vb: Any, ia: list[int], ib: list[int], n: int) -> list[Any]:
    if not isinstance(va, list) or not isinstance(vb, list) or len(va) != len(ia) or len(vb) != len(ib):
        raise RuntimeError("cannot merge the two generation streams (unexpected TRL output); set verify_early=false")
    out: list[Any] = [None] * n
    for i, v in zip(ia, va):
        out[i] = v
    for i, v in zip(ib, vb):
        out[i] = v
    return out


@contextlib.contextmanager
def generate_with(model: Any, make_criteria: Any = None, *, share_prefill: bool = False) -> Iterator[None]:
    """While inside, ``model.generate`` (the unwrapped model TRL generates with) gets stopping criteria
    and/or each distinct prompt's prefill computed once (``prover.policy.prefill``).

    TRL 1.16's transformers path calls ``unwrapped_model.generate(**inputs, generation_config=...)`` and
    passes no ``stopping_criteria``; ``make_criteria(input_ids)`` builds them per call (the prompt length
    is the padded ``input_ids`` width). The instance attribute is removed on exit, on every path.
    """
    from transformers import StoppingCriteriaList

    from prover.policy.prefill import generate_shared_prefill

    original = model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if make_criteria is not None and input_ids is not None and kwargs.get("stopping_criteria") is None:
            kwargs["stopping_criteria"] = StoppingCriteriaList(make_criteria(input_ids))
        if share_prefill:
            return generate_shared_prefill(model, original, *args, **kwargs)
        return original(*args, **kwargs)

    own = model.__dict__.get("generate")  # an instance attribute of its own, if any, is put back
    model.generate = generate
    try:
        yield
    finally:
        if own is None:
            del model.generate
        else:
            model.generate = own


@contextlib.contextmanager
def quiet_gradient_checkpointing_rename() -> Iterator[None]:
    """Silence the FutureWarnings of transformers' gradient-checkpointing rename.

    TRL 1.16 still uses the old names (GRPOConfig sets ``gradient_checkpointing``, the trainer reads
    the model's ``is_gradient_checkpointing`` every step); the warnings say nothing a user can act on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.*", category=FutureWarning)
        yield


__all__ = ["GENERATE_FIELDS", "HOOKS", "TESTED", "TRLVersionError", "check_versions", "completions_of",
           "generate_with", "merge_generations", "quiet_gradient_checkpointing_rename"]

"""``load(dataset, split=, path=, limit=)``: every dataset, for every caller.

Training (``problems.source``), evaluation (``--dataset``), benches and tests
all load problems here, so one problem has one id, reference and entry point
everywhere. Datasets (``DATASETS``): the Lean sets ``minif2f``, ``minif2f_core``,
``proofnet``, ``lean_jsonl`` (a file of statements); ``humaneval`` and ``mbpp``
(code); ``gsm8k`` (math); ``jsonl`` (any problem file, ``domain`` given); and
``hf:<hub id>`` -- a Hugging Face dataset read with ``datasets.load_dataset``,
its columns renamed by ``columns`` (``{source column: row field}``) and parsed
by the same row parser as a local file (``prover.data.problems``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from prover.data import code, dojo, lean, math
from prover.data.problems import load_problem_file, problem_from_row
from prover.data.rows import DataError, RowError
from prover.types import DOMAINS, Problem

HF_PREFIX = "hf:"


@dataclass(frozen=True)
class Dataset:
    name: str
    domain: str
    splits: tuple[str, ...]  # accepted splits; "all" = every row
    default_split: str
    needs_path: bool = False
    mathlib: bool = False  # statements import Mathlib (Lean: native backend)
    help: str = ""


def _lean(loader: Callable[..., list[Problem]]) -> Callable[..., list[Problem]]:
    def load(split: str, path: str | None, limit: int) -> list[Problem]:
        return loader(split=None if split == "all" else split, path=path)
    return load


def _lean_file(split: str, path: str | None, limit: int) -> list[Problem]:
    assert path is not None
    return lean.load_lean_jsonl(path, None if split == "all" else split)


LOADERS: dict[str, Callable[[str, str | None, int], list[Problem]]] = {
    "minif2f": _lean(lean.load_minif2f),
    "minif2f_core": _lean(lean.load_minif2f_core),
    "proofnet": _lean(lean.load_proofnet),
    "lean_jsonl": _lean_file,
    "humaneval": lambda split, path, limit: code.load_humaneval(path, limit or None),
    "mbpp": lambda split, path, limit: code.load_mbpp(path, limit or None, split=split),
    "gsm8k": lambda split, path, limit: math.load_gsm8k(split, path, limit or None),
    "leandojo": lambda split, path, limit: dojo.load_leandojo(path, split, limit=limit or None, keep_tactics=False),
    "statements": lambda split, path, limit: dojo.load_statements(path, limit=limit or None),
}
LEAN_SPLITS = ("valid", "test", "all")
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("minif2f", "lean", LEAN_SPLITS, "test", mathlib=True, help="MiniF2F (Mathlib)"),
    Dataset("minif2f_core", "lean", LEAN_SPLITS, "test", help="MiniF2F statements core Lean can state"),
    Dataset("proofnet", "lean", LEAN_SPLITS, "test", mathlib=True, help="ProofNet theorems (Mathlib)"),
    Dataset("lean_jsonl", "lean", LEAN_SPLITS, "all", needs_path=True, help="a JSONL of Lean statements"),
    Dataset("humaneval", "code", ("test", "all"), "test", help="HumanEval (164 problems)"),
    Dataset("mbpp", "code", ("prompt", "test", "validation", "train", "all"), "test", help="MBPP (974 problems)"),
    Dataset("gsm8k", "math", ("train", "test"), "test", help="GSM8K"),
    Dataset("jsonl", "", ("all",), "all", needs_path=True, help="any problem file (give the domain)"),
    Dataset("leandojo", "lean", ("train", "val", "test"), "train", needs_path=True,
            help="a traced LeanDojo Benchmark-layout data set (prover.data.dojo)"),
    Dataset("statements", "lean", ("all",), "all", needs_path=True,
            help="statements.jsonl written by scripts/build_statements.py (decontaminated)"),
)}


def dataset_names() -> list[str]:
    return sorted(DATASETS)


def dataset_domain(dataset: str, domain: str = "") -> str:
    """The domain of ``dataset`` (``jsonl`` and ``hf:`` sets take ``domain``)."""
    if dataset.startswith(HF_PREFIX) or dataset == "jsonl":
        if domain not in DOMAINS:
            raise ValueError(f"dataset {dataset!r} needs a domain: set domain to one of {', '.join(DOMAINS)}")
        return domain
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: use one of {dataset_names()} or hf:<hub id>")
    return DATASETS[dataset].domain


def check_dataset(dataset: str, split: str = "", path: str = "", domain: str = "") -> str:
    """Validate a dataset/split/path combination (cheap: no file is read); returns the domain."""
    dom = dataset_domain(dataset, domain)
    if dataset.startswith(HF_PREFIX):
        return dom
    spec = DATASETS[dataset]
    if split and dataset != "jsonl" and split not in spec.splits:  # a problem file has no splits
        raise ValueError(f"dataset {dataset!r} has splits {', '.join(spec.splits)}; got split {split!r}")
    if spec.needs_path and not path:
        raise ValueError(f"dataset {dataset!r} reads a file: give its path (data_path)")
    return dom


def _load_hf(dataset: str, split: str, path: str | None, limit: int, domain: str,
             columns: Mapping[str, str] | None, hf_config: str) -> list[Problem]:
    import datasets

    name = dataset[len(HF_PREFIX):]
    kwargs: dict[str, Any] = {"split": split or "train"}
    if hf_config:
        kwargs["name"] = hf_config
    if path:
        kwargs["data_files"] = str(path)
    try:
        ds = datasets.load_dataset(name, **kwargs)
    except Exception as e:  # noqa: BLE001 - the hub, the network or the files: say which dataset
        raise DataError(f"{dataset} (split {kwargs['split']!r}): datasets.load_dataset failed: {e}") from None
    mapping = dict(columns or {})
    missing = [c for c in mapping if c not in ds.column_names]
    if missing:
        raise DataError(f"{dataset}: columns {missing} (in the column mapping) are not in the dataset; "
                        f"its columns are {ds.column_names}")
    out: list[Problem] = []
    for index, raw in enumerate(ds):
        if limit and len(out) >= limit:
            break
        row = {mapping.get(k, k): v for k, v in raw.items()}
        try:
            out.append(problem_from_row(row, domain, index=index))
        except RowError as e:
            raise DataError(f"{dataset} row {index}: {e} (map a dataset column onto it with columns: "
                            f"{{<column>: {e.field}}})") from None
    return out


def load(dataset: str, split: str = "", path: str | Path | None = None, limit: int = 0, *, domain: str = "",
         columns: Mapping[str, str] | None = None, hf_config: str = "") -> list[Problem]:
    """The problems of ``dataset``/``split`` (first ``limit`` if > 0), read from ``path`` or the default file.

    ``split=""`` is the dataset's default split; ``domain`` is needed for ``jsonl`` and ``hf:`` sets;
    ``columns`` renames ``hf:`` columns onto row fields. Bad rows raise ``DataError`` naming file, line
    and field; a missing file raises ``FileNotFoundError`` saying how to point at it.
    """
    if limit < 0:
        raise ValueError(f"limit={limit}: use 0 (all) or a positive count")
    dom = check_dataset(dataset, split, str(path or ""), domain)
    path_s = str(path) if path else None
    if dataset.startswith(HF_PREFIX):
        problems = _load_hf(dataset, split, path_s, limit, dom, columns, hf_config)
    elif dataset == "jsonl":
        assert path_s is not None
        problems = load_problem_file(path_s, dom, limit=limit)
    else:
        problems = LOADERS[dataset](split or DATASETS[dataset].default_split, path_s, limit)
    if limit:
        problems = problems[:limit]
    return problems


__all__ = ["DATASETS", "Dataset", "HF_PREFIX", "check_dataset", "dataset_domain", "dataset_names", "load"]

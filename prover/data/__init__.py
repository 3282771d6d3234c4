"""The data layer: every dataset through ``load(dataset, split=, path=, limit=)``.

``rows`` (the one JSONL reader, the data directory, field checks), ``problems``
(the one row parser: any row -> ``Problem``), ``registry`` (``load`` and the
dataset table), one module per row format (``lean``, ``code``, ``math``) and
``core_lean`` (the generated core-Lean curriculum). Nothing here imports a verifier.
"""

from prover.data.problems import load_problem_file, problem_from_row
from prover.data.registry import DATASETS, HF_PREFIX, check_dataset, dataset_domain, dataset_names, load
from prover.data.rows import DataError, RowError, data_dir, read_jsonl

__all__ = [
    "DATASETS",
    "DataError",
    "HF_PREFIX",
    "RowError",
    "check_dataset",
    "data_dir",
    "dataset_domain",
    "dataset_names",
    "load",
    "load_problem_file",
    "problem_from_row",
    "read_jsonl",
]

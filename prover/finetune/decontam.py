"""Near-duplicate detection by normalised word n-gram overlap (decontamination of self-made problems)."""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> list[str]:
    """Lower-cased alphanumeric words (punctuation, spacing and case do not matter)."""
    return _WORD.findall(text.lower())


def ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class NgramIndex:
    """Which reference sets share a large fraction of a text's n-grams."""

    def __init__(self, sets: Mapping[str, Iterable[str]], n: int = 8) -> None:
        if n < 1:
            raise ValueError(f"n-gram size must be >= 1, got {n}")
        self.n = n
        self.index: dict[tuple[str, ...], set[str]] = {}
        for name, texts in sets.items():
            for text in texts:
                for g in ngrams(normalise(text), n):
                    self.index.setdefault(g, set()).add(name)

    def overlap(self, text: str) -> tuple[float, str]:
        """(largest fraction of ``text``'s n-grams found in one set, that set's name)."""
        grams = ngrams(normalise(text), self.n)
        if not grams:
            return 0.0, ""
        hits: dict[str, int] = {}
        for g in grams:
            for name in self.index.get(g, ()):
                hits[name] = hits.get(name, 0) + 1
        if not hits:
            return 0.0, ""
        name = max(hits, key=hits.__getitem__)
        return hits[name] / len(grams), name


def near_duplicate(a: str, b: str, n: int = 3, threshold: float = 0.8) -> bool:
    """Jaccard similarity of word n-grams of ``a`` and ``b`` at least ``threshold``."""
    ga, gb = ngrams(normalise(a), n), ngrams(normalise(b), n)
    if not ga or not gb:
        return ga == gb
    return len(ga & gb) / len(ga | gb) >= threshold

"""Text hygiene at process and storage boundaries.

Model output is hostile bytes: it can hold lone UTF-16 surrogates (from a
tokenizer, or an exception message a candidate program raised), NUL bytes and
other text that files, SQLite, JSON and the Lean request cannot take. Every
sink calls ``clean_text`` first, so one bad row never breaks a batch.
"""

from __future__ import annotations

from typing import Any


def clean_text(text: str) -> str:
    """``text`` as valid UTF-8-encodable text: lone surrogates become U+FFFD.

    Pairs of surrogates that form one character (as ``json.loads`` may leave
    them) are joined first, so only genuinely broken code points are replaced.
    """
    if not isinstance(text, str):
        text = str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return joined.encode("utf-8", "replace").decode("utf-8")


def clean_obj(obj: Any) -> Any:
    """``clean_text`` applied to every string inside nested dicts, lists and tuples."""
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(clean_obj(v) for v in obj)
    return obj


def decode_bytes(data: bytes) -> str:
    """Bytes from a file or a child process as text, invalid UTF-8 replaced (never raises)."""
    return data.decode("utf-8", "replace")

"""Typed request bodies of the service: its own ``/v1/verify`` and kimina-lean-server's shapes.

Responses are plain JSON objects built by ``prover.serve.kimina`` and the app,
documented in docs/serve.md; requests are validated here so that a malformed
one gets HTTP 422 naming the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VerifyRequest(BaseModel):
    """``POST /v1/verify``: rows as ``prover verify`` reads them, for one domain."""

    model_config = ConfigDict(extra="forbid")

    domain: Literal["lean", "code", "math"]
    rows: list[dict[str, Any]] = Field(description="input rows of `prover verify` (each a JSON object)")
    deadline_s: float | None = Field(None, gt=0, description="seconds until unfinished rows get an error verdict")
    bad_rows: Literal["reject", "report"] = Field(
        "reject", description="reject: a row that cannot be read fails the request (422 naming it); "
        "report: it gets an input_error result row, as `prover verify` writes")


class VerifyResponse(BaseModel):
    """Answer of ``POST /v1/verify``: one result per row, same order."""

    request_id: str
    domain: str
    results: list[dict[str, Any]]


# ---- kimina-lean-server shapes (requests). Unknown fields are ignored, as that server does.

class KiminaSnippet(BaseModel):
    """A Lean snippet. ``formal_statement``/``header`` are this project's extension: with them the
    verdict is bound to that statement; without them the snippet's last theorem is its own statement."""

    model_config = ConfigDict(extra="ignore")

    id: str
    code: str
    formal_statement: str | None = None
    header: str | None = None


class KiminaCheckRequest(BaseModel):
    """``POST /api/check`` (one ``snippet`` or a list ``snippets``) and ``POST /api/checks``."""

    model_config = ConfigDict(extra="ignore")

    snippet: KiminaSnippet | None = None
    snippets: list[KiminaSnippet] | None = None
    timeout: float = Field(30, ge=0)
    debug: bool = False
    reuse: bool = True
    infotree: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> "KiminaCheckRequest":
        if (self.snippet is None) == (self.snippets is None):
            raise ValueError("give exactly one of `snippet` (one) or `snippets` (a list)")
        if self.snippets is not None:
            if not self.snippets:
                raise ValueError("`snippets` must be non-empty")
            if len({s.id for s in self.snippets}) != len(self.snippets):
                raise ValueError("`snippets` must have unique ids")
        return self

    def items(self) -> list[KiminaSnippet]:
        return [self.snippet] if self.snippet is not None else list(self.snippets or [])


class KiminaCode(BaseModel):
    """One item of ``POST /verify``: ``proof`` (or the older ``code``) under ``custom_id``."""

    model_config = ConfigDict(extra="ignore")

    custom_id: str | int
    proof: str | None = None
    code: str | None = None
    formal_statement: str | None = None
    header: str | None = None

    @model_validator(mode="after")
    def _has_content(self) -> "KiminaCode":
        if self.proof is None and self.code is None:
            raise ValueError(f"item {self.custom_id!r} needs `proof` (or `code`)")
        return self

    def snippet(self) -> KiminaSnippet:
        return KiminaSnippet(id=str(self.custom_id), code=self.proof if self.proof is not None else self.code or "",
                             formal_statement=self.formal_statement, header=self.header)


class KiminaVerifyRequest(BaseModel):
    """``POST /verify`` (and ``/one_pass_verify_batch``), kimina-lean-server's batch route."""

    model_config = ConfigDict(extra="ignore")

    codes: list[KiminaCode]
    timeout: float = Field(300, ge=0)
    infotree_type: str | None = None
    disable_cache: bool = False

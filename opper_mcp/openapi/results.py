"""Result models of grep and read: the tools' output schemas, importable without YAML or regex."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class GrepMatch(BaseModel):
    line: int = Field(description="1-based line number in the spec")
    text: str
    location: str = Field(description='e.g. "GET /v3/models (listModels)" or "schema ChatRequest"')
    before: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)


class GrepResult(BaseModel):
    pattern: str
    total_matches: int = Field(description="distinct matching lines in the whole spec")
    truncated: bool
    matches: list[GrepMatch]
    next_hint: str | None = None


class ReadResult(BaseModel):
    target: str
    kind: Literal["operation", "schema"]
    text: str
    truncated: bool
    next_hint: str | None = None

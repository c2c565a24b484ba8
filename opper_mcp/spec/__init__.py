"""Opper's OpenAPI spec: fetch/cache (`SpecStore`), index, `grep` and `read`.

Pure and MCP-free: the `grep_spec` / `read_spec` tools are thin wrappers over this package.
"""

from opper_mcp.spec.grep import GrepMatch, GrepResult, grep
from opper_mcp.spec.index import (
    Location,
    Operation,
    SpecError,
    SpecIndex,
    SpecParseError,
    SpecPatternError,
    SpecTargetError,
)
from opper_mcp.spec.read import ReadResult, read
from opper_mcp.spec.store import SpecFetcher, SpecResponse, SpecSnapshot, SpecStore

__all__ = [
    "GrepMatch",
    "GrepResult",
    "Location",
    "Operation",
    "ReadResult",
    "SpecError",
    "SpecFetcher",
    "SpecIndex",
    "SpecParseError",
    "SpecPatternError",
    "SpecResponse",
    "SpecSnapshot",
    "SpecStore",
    "SpecTargetError",
    "grep",
    "read",
]

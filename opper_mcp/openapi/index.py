"""Parsed OpenAPI document plus a line → location map.

The map is built by scanning indentation rather than YAML node marks: it is an order of
magnitude cheaper, and grep only needs "which operation / schema is this line inside".
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import yaml
from cachetools import LRUCache

from opper_mcp.openapi.errors import SpecParseError

_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader]
try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

RENDERED_SIZE = 128  # tool results kept serialised per spec version
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

LocationKind = Literal["operation", "schema", "component", "other"]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a line sits in the spec: inside an operation, a schema, a component, or elsewhere."""

    kind: LocationKind
    path: str | None = None
    method: str | None = None
    operation_id: str | None = None
    name: str | None = None

    def compact(self) -> str:
        """Short human label, e.g. "GET /v3/models (listModels)" or "schema ChatRequest"."""
        if self.kind == "operation":
            if self.method is None:
                return self.path or "paths"
            op = f" ({self.operation_id})" if self.operation_id else ""
            return f"{self.method} {self.path}{op}"
        if self.kind == "schema":
            return f"schema {self.name}"
        if self.kind == "component":
            return f"component {self.name}"
        return self.name or "(top)"


class Operation(NamedTuple):
    method: str  # upper case
    path: str
    operation_id: str | None
    summary: str | None


_TOP = Location("other")


def _key_of(stripped: str) -> str | None:
    """The mapping key a (left-stripped) YAML line opens, or None for non-key lines."""
    if stripped[0] in "\"'":
        end = stripped.find(stripped[0], 1)
        if end > 0 and stripped[end + 1 : end + 2] == ":":
            return stripped[1:end]
        return None
    if stripped.endswith(":") and ": " not in stripped:
        return stripped[:-1]
    key, sep, _ = stripped.partition(": ")
    return key if sep else None


class SpecIndex:
    """Immutable view of one spec text: lines, parsed document, locations, operations."""

    __slots__ = ("_locations", "doc", "line_starts", "lines", "operations", "rendered", "schema_names",
                 "text")

    def __init__(self, text: str, doc: dict[str, Any], lines: list[str]) -> None:
        self.text = text
        self.doc = doc
        self.lines = lines
        # Tool results rendered from this text (serialised once, answered again as they are: agents repeat
        # searches); filled by the tools, dropped with the index when the spec changes.
        self.rendered: LRUCache[tuple[object, ...], Any] = LRUCache(maxsize=RENDERED_SIZE)
        self.line_starts: list[int] = [0, *itertools.accumulate(len(line) + 1 for line in lines)][:-1]
        self.operations: list[Operation] = _operations(doc)
        schemas = _mapping(_mapping(doc.get("components")).get("schemas"))
        self.schema_names: list[str] = [str(name) for name in schemas]
        self._locations: list[Location] = _scan_locations(lines, doc)

    @classmethod
    def build(cls, text: str) -> SpecIndex:
        """Parse `text` once; raises `SpecParseError` if it is not a YAML mapping with paths."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        try:
            doc = yaml.load(text, Loader=_Loader)  # safe loaders only
        except yaml.YAMLError as exc:
            raise SpecParseError(f"the OpenAPI spec is not valid YAML: {_short(str(exc))}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            raise SpecParseError("the OpenAPI spec is not an OpenAPI document (no 'paths' mapping)")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls(text, doc, lines)

    def location(self, line_no: int) -> Location:
        """Location of 1-based `line_no` (out-of-range lines are "other")."""
        if 1 <= line_no <= len(self._locations):
            return self._locations[line_no - 1]
        return _TOP

    def line_of_offset(self, offset: int) -> int:
        """1-based line number containing character `offset` of `text`."""
        return bisect.bisect_right(self.line_starts, offset)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _operations(doc: dict[str, Any]) -> list[Operation]:
    ops: list[Operation] = []
    for path, item in _mapping(doc.get("paths")).items():
        for method, op in _mapping(item).items():
            if method in HTTP_METHODS and isinstance(op, dict):
                op_id, summary = op.get("operationId"), op.get("summary")
                ops.append(
                    Operation(
                        str(method).upper(),
                        str(path),
                        str(op_id) if op_id is not None else None,
                        str(summary) if summary is not None else None,
                    )
                )
    return ops


def _scan_locations(lines: list[str], doc: dict[str, Any]) -> list[Location]:
    """One Location per line, from a stack of (indent, key) maintained while scanning.

    Only the first three stack levels matter (top key / path or section / method or name), so
    block-scalar content that happens to look like a key (always deeper) cannot mislead it.
    """
    op_ids = {(op.path, op.method): op.operation_id for op in _operations(doc)}
    stack: list[tuple[int, str]] = []
    cache: dict[tuple[str, ...], Location] = {}
    out: list[Location] = []
    current = _TOP
    for line in lines:
        stripped = line.lstrip(" ")
        if not stripped or stripped[0] == "#":
            out.append(current)
            continue
        indent = len(line) - len(stripped)
        if stripped[0] == "-" and (len(stripped) == 1 or stripped[1] == " "):
            while stack and stack[-1][0] > indent:
                stack.pop()
        else:
            key = _key_of(stripped)
            if key is not None:
                while stack and stack[-1][0] >= indent:
                    stack.pop()
                stack.append((indent, key))
        head = tuple(k for _, k in stack[:3])
        current = cache.get(head) or cache.setdefault(head, _locate(head, op_ids))
        out.append(current)
    return out


def _locate(head: tuple[str, ...], op_ids: dict[tuple[str, str], str | None]) -> Location:
    if not head:
        return _TOP
    top = head[0]
    if top == "paths" and len(head) >= 2:
        path = head[1]
        if len(head) >= 3 and head[2] in HTTP_METHODS:
            method = head[2].upper()
            return Location("operation", path=path, method=method, operation_id=op_ids.get((path, method)))
        return Location("operation", path=path)
    if top == "components" and len(head) >= 3:
        if head[1] == "schemas":
            return Location("schema", name=head[2])
        return Location("component", name=f"{head[1]}/{head[2]}")
    return Location("other", name=top)

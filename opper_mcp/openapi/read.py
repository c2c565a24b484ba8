"""Render one operation or schema of the spec as dense, indented, DDL-like text.

`$ref`s are resolved on the fly while rendering (not by building a resolved copy first), so
the work is bounded by the output budget even if the document is huge or alias-heavy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from opper_mcp.fuzzy import close_matches
from opper_mcp.openapi.errors import SpecError, SpecTargetError
from opper_mcp.openapi.index import HTTP_METHODS, Operation, SpecIndex
from opper_mcp.openapi.results import ReadResult

__all__ = ["ReadResult", "SpecTargetError", "read"]

DESC_CHARS = 120
OP_DESC_CHARS = 300
MAX_ENUM = 12
MAX_VARIANTS = 8
MAX_INDENT = 60  # spaces: 30 nesting levels is already unreadable
COMPOSITES = (("oneOf", "|"), ("anyOf", "|"), ("allOf", "&"))
SCHEMA_PREFIX = "#/components/schemas/"

_METHOD_PATH = re.compile(rf"^({'|'.join(HTTP_METHODS)})\s+(\S+)(?:\s+\((\S+)\))?$", re.IGNORECASE)

Status = Literal["ok", "recursive", "depth", "missing"]


def read(index: SpecIndex, target: str, *, max_depth: int = 6, max_chars: int = 20_000) -> ReadResult:
    """Render the operation(s) or schema named by `target`.

    `target`: an operationId, "METHOD /path", "/path" (all its operations), a schema name or
    "#/components/schemas/Name" — all case-insensitive. Raises `SpecTargetError` with close
    matches when nothing fits.
    """
    if not 0 <= max_depth <= 20:
        raise SpecError(f"max_depth must be between 0 and 20, got {max_depth}")
    if max_chars < 200:
        raise SpecError(f"max_chars must be at least 200, got {max_chars}")
    found = _find(index, target)
    renderer = _Renderer(index.doc, max_depth, max_chars)
    if isinstance(found, str):
        name = found
        renderer.run(lambda: renderer.schema(name))
        return _result(name, "schema", renderer, name)
    ops = found
    renderer.run(lambda: renderer.operations(ops))
    label = ops[0].path if len(ops) > 1 else _op_label(ops[0])
    return _result(label, "operation", renderer, None)


def _result(target: str, kind: Literal["operation", "schema"], r: _Renderer, root: str | None) -> ReadResult:
    hints: list[str] = []
    if r.truncated:
        names = [n for n in r.ref_names if n != root][:5]
        narrower = f", e.g. {', '.join(names)}" if names else ""
        hints.append(f"output cut at {r.max_chars} characters; read a narrower schema{narrower}")
    if r.depth_cut:
        hints.append(
            f"$refs deeper than max_depth={r.max_depth} were not expanded; read them by name: "
            + ", ".join(r.depth_cut[:5])
        )
    return ReadResult(
        target=target,
        kind=kind,
        text="\n".join(r.out),
        truncated=r.truncated,
        next_hint="; ".join(hints) or None,
    )


def _op_label(op: Operation) -> str:
    return f"{op.method} {op.path}" + (f" ({op.operation_id})" if op.operation_id else "")


# --- target lookup -------------------------------------------------------------------------


def _find(index: SpecIndex, target: str) -> str | list[Operation]:
    """A schema name, or the operations `target` designates."""
    t = " ".join(target.split())
    if not t:
        raise SpecTargetError("empty target: give an operationId, 'METHOD /path' or a schema name")
    if t.startswith(SCHEMA_PREFIX) or t.lower().startswith("schema "):
        raw = t[len(SCHEMA_PREFIX) :] if t.startswith(SCHEMA_PREFIX) else t[len("schema ") :]
        name = _schema(index, _unescape(raw.strip()))
        if name is None:
            raise _unknown(index, raw.strip())
        return name
    ops = _ops_for(index, t)
    if ops:
        return ops
    name = _schema(index, t)
    if name is not None:
        return name
    raise _unknown(index, t)


def _ops_for(index: SpecIndex, t: str) -> list[Operation]:
    m = _METHOD_PATH.match(t)
    if m:
        method, path = m.group(1).upper(), m.group(2)
        return [op for op in _by_path(index, path) if op.method == method]
    if t.startswith("/"):
        return _by_path(index, t)
    exact = [op for op in index.operations if op.operation_id == t]
    return exact or [op for op in index.operations if (op.operation_id or "").lower() == t.lower()]


def _by_path(index: SpecIndex, path: str) -> list[Operation]:
    exact = [op for op in index.operations if op.path == path]
    if exact:
        return exact
    norm = path.rstrip("/").lower()
    return [op for op in index.operations if op.path.rstrip("/").lower() == norm]


def _schema(index: SpecIndex, name: str) -> str | None:
    if name in index.schema_names:
        return name
    lower = name.lower()
    return next((s for s in index.schema_names if s.lower() == lower), None)


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _unknown(index: SpecIndex, target: str) -> SpecTargetError:
    candidates = [op.operation_id for op in index.operations if op.operation_id]
    candidates += [f"{op.method} {op.path}" for op in index.operations]
    candidates += index.schema_names
    close = close_matches(target, candidates, cutoff=0.6)
    if close:
        return SpecTargetError(f"no operation or schema named '{target}'. Close matches: {', '.join(close)}")
    return SpecTargetError(
        f"no operation or schema named '{target}'. Use an operationId, 'METHOD /path' or a schema "
        "name; grep_spec finds names"
    )


# --- rendering -----------------------------------------------------------------------------


class _Full(Exception):
    """Raised inside the renderer when the character budget is spent."""


@dataclass
class _Ref:
    node: Any
    ref: str | None
    status: Status


class _Renderer:
    """Accumulates lines within a character budget while walking schemas."""

    def __init__(self, doc: dict[str, Any], max_depth: int, max_chars: int) -> None:
        self.doc = doc
        self.max_depth = max_depth
        self.max_chars = max_chars
        self.out: list[str] = []
        self.size = 0
        self.truncated = False
        self.stack: list[str] = []
        self.shown: set[str] = set()
        self.ref_names: list[str] = []
        self.depth_cut: list[str] = []

    def run(self, body: Callable[[], None]) -> None:
        try:
            body()
        except _Full:
            self.truncated = True
            self.out.append("… (truncated)")

    def emit(self, indent: int, text: str) -> None:
        piece = " " * indent + text
        if self.size + len(piece) + 1 > self.max_chars:
            raise _Full
        self.out.append(piece)
        self.size += len(piece) + 1

    # refs

    def deref(self, node: Any, pending: list[str] | None = None) -> _Ref:
        """Follow `$ref` (chains too); report recursion, depth cut or a dangling pointer."""
        ref: str | None = None
        active = self.stack + (pending or [])
        seen: list[str] = []
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in active or ref in seen:
                return _Ref(node, ref, "recursive")
            if len(active) + len(seen) >= self.max_depth:
                return _Ref(node, ref, "depth")
            target = self.pointer(ref)
            if target is None:
                return _Ref(node, ref, "missing")
            seen.append(ref)
            node = _merge_siblings(node, target)
        return _Ref(node, ref, "ok")

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return None
        node: Any = self.doc
        for raw in ref[2:].split("/"):
            part = _unescape(raw)
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    @contextmanager
    def pushed(self, refs: list[str]) -> Iterator[None]:
        self.stack.extend(refs)
        try:
            yield
        finally:
            del self.stack[len(self.stack) - len(refs) :]

    # schemas

    def schema(self, name: str) -> None:
        ref = SCHEMA_PREFIX + name.replace("~", "~0").replace("/", "~1")
        node = self.doc["components"]["schemas"][name]
        self.field(f"{name} ", _Ref(node, ref, "ok"), 0, wrap=True)

    def field(self, head: str, node: Any, indent: int, *, extra: str | None = None, wrap: bool = False) -> None:
        """Emit `head label — description` and, beneath it, whatever the schema nests."""
        r = node if isinstance(node, _Ref) else self.deref(node)
        label = _type(r.node, 0) if wrap else self.label(r)
        target, chain = self.expansion(r)
        note, expand = self.note(target)
        label = f"({label})" if wrap else label
        desc = _describe(extra, r.node if r.status == "ok" else node, label)
        self.emit(indent, f"{head}{label}{note}{desc}")
        if expand:
            with self.pushed(chain):
                self.children(target.node, indent + 2)

    def expansion(self, r: _Ref) -> tuple[_Ref, list[str]]:
        """The node whose fields go beneath a line: arrays and maps show their element's fields."""
        chain = [r.ref] if r.ref else []
        for _ in range(8):
            node = r.node
            if r.status != "ok" or not isinstance(node, dict) or _has_fields(node):
                break
            nxt = _element(node)
            if not isinstance(nxt, dict):
                break
            r = self.deref(nxt, chain)
            if r.ref and r.status == "ok":
                chain.append(r.ref)
        return r, chain

    def note(self, target: _Ref) -> tuple[str, bool]:
        if target.ref:
            name = _ref_name(target.ref)
            if name not in self.ref_names:
                self.ref_names.append(name)
        if target.status == "recursive":
            return " (recursive, see above)", False
        if target.status == "depth":
            assert target.ref is not None
            if _ref_name(target.ref) not in self.depth_cut:
                self.depth_cut.append(_ref_name(target.ref))
            return " (not expanded: depth limit)", False
        if target.status == "missing":
            return f" (unresolved $ref {target.ref})", False
        if not isinstance(target.node, dict) or not _has_fields(target.node):
            return "", False
        if target.ref:
            if target.ref in self.shown:
                return " (shown above)", False
            self.shown.add(target.ref)
        return "", True

    def children(self, node: dict[str, Any], indent: int) -> None:
        if indent > MAX_INDENT:
            self.emit(indent, "…")
            return
        props = node.get("properties")
        if isinstance(props, dict):
            required = node.get("required")
            req = {str(x) for x in required} if isinstance(required, list) else set()
            for name, sub in props.items():
                self.field(f"{name}{'*' if str(name) in req else ''}: ", sub, indent)
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                self.field("{key}: ", extra, indent)
        for kw, mark in COMPOSITES:
            variants = node.get(kw)
            if isinstance(variants, list) and any(_interesting(v) for v in variants):
                for v in variants[:MAX_VARIANTS]:
                    self.field(f"{mark} ", v, indent)

    def label(self, r: _Ref, depth: int = 0) -> str:
        """One-line type: `array<ChatMessage>`, `string enum[a|b] = a`, `map<string>`, …"""
        if r.status != "ok" or (r.ref and isinstance(r.node, dict) and _is_object(r.node)):
            return _ref_name(r.ref) if r.ref else "any"
        base = _type(r.node, depth)
        return f"{_ref_name(r.ref)} ({base})" if r.ref else base

    # operations

    def operations(self, ops: list[Operation]) -> None:
        for i, op in enumerate(ops):
            if i:
                self.emit(0, "")
            self.operation(op)

    def operation(self, op: Operation) -> None:
        item = self.doc["paths"][op.path]
        body = item[op.method.lower()]
        title = f" — {op.summary}" if op.summary else ""
        self.emit(0, f"{_op_label(op)}{title}")
        if isinstance(body.get("description"), str) and body["description"] != op.summary:
            self.emit(2, _shorten(body["description"], OP_DESC_CHARS))
        self.op_flags(body)
        params = [*_as_list(item.get("parameters")), *_as_list(body.get("parameters"))]
        if params:
            self.emit(2, "parameters:")
            for p in params:
                self.parameter(p)
        if "requestBody" in body:
            self.request_body(body["requestBody"])
        if isinstance(body.get("responses"), dict):
            self.emit(2, "responses:")
            for status, resp in body["responses"].items():
                self.response(str(status), resp)

    def op_flags(self, body: dict[str, Any]) -> None:
        flags: list[str] = []
        tags = _as_list(body.get("tags"))
        if tags:
            flags.append("tags: " + ", ".join(str(t) for t in tags))
        if body.get("security") == []:
            flags.append("auth: none")
        if body.get("deprecated") is True:
            flags.append("deprecated")
        flags += [k[2:] for k, v in body.items() if str(k).startswith("x-") and v is True]
        if flags:
            self.emit(2, " · ".join(flags))

    def parameter(self, raw: Any) -> None:
        p = self.deref(raw).node
        if not isinstance(p, dict):
            return
        star = "*" if p.get("required") is True else ""
        head = f"{p.get('in', '?')} {p.get('name', '?')}{star}: "
        self.field(head, p.get("schema", True), 4, extra=_str(p.get("description")))

    def request_body(self, raw: Any) -> None:
        rb = self.deref(raw).node
        if not isinstance(rb, dict):
            return
        star = "*" if rb.get("required") is True else ""
        for ctype, media in _mapping(rb.get("content")).items():
            schema = _mapping(media).get("schema", True)
            self.field(f"body{star} {ctype}: ", schema, 2, extra=_str(rb.get("description")))

    def response(self, status: str, raw: Any) -> None:
        resp = self.deref(raw).node
        if not isinstance(resp, dict):
            return
        desc = _str(resp.get("description"))
        content = _mapping(resp.get("content"))
        if not content:
            self.emit(4, status + (f" — {_shorten(desc, DESC_CHARS)}" if desc else ""))
        for ctype, media in content.items():
            self.field(f"{status} {ctype}: ", _mapping(media).get("schema", True), 4, extra=desc)
        for name, header in _mapping(resp.get("headers")).items():
            h = self.deref(header).node
            if isinstance(h, dict):
                self.field(f"{status} header {name}: ", h.get("schema", True), 4, extra=_str(h.get("description")))


# --- pure helpers --------------------------------------------------------------------------


def _merge_siblings(ref_node: dict[str, Any], target: Any) -> Any:
    """OpenAPI 3.1 allows `description` etc. next to `$ref`; they override the target's."""
    siblings = {k: v for k, v in ref_node.items() if k != "$ref"}
    if siblings and isinstance(target, dict):
        return {**target, **siblings}
    return target


def _ref_name(ref: str | None) -> str:
    return _unescape((ref or "").rsplit("/", 1)[-1]) or (ref or "?")


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _describe(extra: str | None, node: Any, label: str) -> str:
    parts: list[str] = []
    own = _str(node.get("description")) if isinstance(node, dict) else None
    for text in (extra, own):
        if text and not (label == "any" and text.strip().lower() == "any value"):
            short = _shorten(text, DESC_CHARS)
            if short not in parts:
                parts.append(short)
    return "".join(f" — {p}" for p in parts)


def _is_object(node: dict[str, Any]) -> bool:
    return node.get("type") == "object" or (
        "type" not in node and ("properties" in node or any(kw in node for kw, _ in COMPOSITES))
    )


def _has_fields(node: dict[str, Any]) -> bool:
    props = node.get("properties")
    if isinstance(props, dict) and props:
        return True
    return any(isinstance(node.get(kw), list) and any(_interesting(v) for v in node[kw]) for kw, _ in COMPOSITES)


def _interesting(variant: Any) -> bool:
    """A composite variant worth its own line (not just a bare scalar type)."""
    if not isinstance(variant, dict):
        return False
    keys = ("$ref", "description", "properties", "items", "additionalProperties", "oneOf", "anyOf", "allOf")
    return any(k in variant for k in keys)


def _element(node: dict[str, Any]) -> Any:
    """Items of an array, or the value schema of a map; None otherwise."""
    if "items" in node and node.get("type") in ("array", None):
        return node["items"]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and not node.get("properties"):
        return extra
    return None


def _type(node: Any, depth: int) -> str:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return _ref_name(node["$ref"])
    if not isinstance(node, dict):
        return "never" if node is False else "any"
    if depth > 4:
        return "…"
    base = _composite(node, depth) or _base_type(node, depth)
    return (base + _suffixes(node)).strip()


def _composite(node: dict[str, Any], depth: int) -> str | None:
    for kw, mark in COMPOSITES:
        variants = node.get(kw)
        if isinstance(variants, list) and variants:
            parts = [_type(v, depth + 1) for v in variants[:MAX_VARIANTS]]
            more = "|…" if len(variants) > MAX_VARIANTS else ""
            return f"{kw}<{mark.join(parts)}{more}>"
    return None


def _base_type(node: dict[str, Any], depth: int) -> str:
    raw = node.get("type")
    types = [raw] if isinstance(raw, str) else [t for t in _as_list(raw) if isinstance(t, str)]
    if not types:
        if "enum" in node or "const" in node:
            return ""
        types = ["array"] if "items" in node else ["object"] if _is_object(node) else ["any"]
    if node.get("nullable") is True and "null" not in types:
        types.append("null")
    return "|".join(_one_type(t, node, depth) for t in types)


def _one_type(t: str, node: dict[str, Any], depth: int) -> str:
    if t == "array":
        items = node.get("items")
        return f"array<{_type(items, depth + 1)}>" if items is not None else "array"
    extra = node.get("additionalProperties")
    if t == "object" and not node.get("properties") and extra not in (None, False):
        return f"map<{_type(extra, depth + 1)}>"
    fmt = node.get("format")
    return f"{t}({fmt})" if isinstance(fmt, str) and t != "object" else t


def _suffixes(node: dict[str, Any]) -> str:
    out = ""
    enum = node.get("enum")
    if isinstance(enum, list):
        values = [_scalar(v) for v in enum[:MAX_ENUM]]
        more = "|…" if len(enum) > MAX_ENUM else ""
        out += f" enum[{'|'.join(values)}{more}]"
    if "const" in node:
        out += f" const {_scalar(node['const'])}"
    if "default" in node:
        out += f" = {_scalar(node['default'])}"
    if node.get("deprecated") is True:
        out += " (deprecated)"
    if node.get("readOnly") is True:
        out += " (read-only)"
    return out


def _scalar(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return _shorten(text, 40)

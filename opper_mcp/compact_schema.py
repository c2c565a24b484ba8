"""Compact JSON Schemas for `tools/list`: every client pays their size in context on every turn.

Pydantic's schemas carry a `title` on every property, spell each optional parameter as
`anyOf: [X, {"type": "null"}]` with `default: null`, and put nested models behind `$ref`s.
None of that helps a model choose arguments, and every `$ref` costs a client that validates
results with jsonschema a lookup per value. Arguments are validated by the tool's own pydantic
model, never by this schema (its errors say what is wrong), and results leave `None` fields out,
so the compact form still describes what is accepted and returned, in fewer characters:

- no titles; optional values written as their non-null type;
- `$defs` inlined where they are used (a recursive definition stays behind its `$ref`);
- no validation-only keywords (`pattern`, `minLength`, `maxLength`), no bounds that say nothing
  (an integer at least 0 or 1, a maximum of 100,000 or more, more than 100 items) and no
  `additionalProperties: true` (the default);
- no defaults that say nothing: empty, false, null, or the `minimum` itself.
"""

from __future__ import annotations

from typing import Any

_MAPS = ("properties", "$defs", "patternProperties")  # values are schemas, keys are names
_VALIDATION_ONLY = frozenset({"pattern", "minLength", "maxLength"})
_REF_PREFIX = "#/$defs/"
_HUGE_MAXIMUM = 100_000  # a token or millisecond cap no sensible call reaches
_HUGE_MAX_ITEMS = 100


def compact(schema: Any) -> Any:
    """A smaller copy of `schema` that describes the same values (see the module docstring)."""
    if isinstance(schema, dict) and isinstance(schema.get("$defs"), dict):
        schema = _inline_defs(schema)
    return _compact(schema)


def _compact(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _VALIDATION_ONLY and isinstance(value, int | str):
            continue
        if key == "additionalProperties" and value is True:
            continue
        if key in _MAPS and isinstance(value, dict):
            out[key] = {name: _compact(sub) for name, sub in value.items()}
        else:
            out[key] = _compact(value)
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1 and isinstance(rest[0], dict):
            del out["anyOf"]
            out = {**rest[0], **out}
        else:
            out["anyOf"] = rest
    if "default" in out and _says_nothing(out["default"], out):
        del out["default"]
    _drop_obvious_bounds(out)
    return out


def _drop_obvious_bounds(schema: dict[str, Any]) -> None:
    if schema.get("type") == "integer" and schema.get("minimum") in (0, 1):
        del schema["minimum"]  # counts and offsets: nobody sends a negative one
    maximum = schema.get("maximum")
    if isinstance(maximum, int | float) and maximum >= _HUGE_MAXIMUM:
        del schema["maximum"]
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and max_items > _HUGE_MAX_ITEMS:
        del schema["maxItems"]


def _says_nothing(default: Any, schema: dict[str, Any]) -> bool:
    if default is None or (default in ("", [], {}) and not isinstance(default, bool | int)) or default is False:
        return True
    minimum = schema.get("minimum")
    return isinstance(default, int | float) and not isinstance(default, bool) and default == minimum


def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace each `$ref` to a non-recursive definition with the definition itself."""
    defs: dict[str, Any] = schema["$defs"]
    recursive = {name for name in defs if _refers_to(defs[name], name, defs, set())}

    def expand(node: Any) -> Any:
        if isinstance(node, list):
            return [expand(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            name = ref[len(_REF_PREFIX):]
            if name in defs and name not in recursive:
                siblings = {k: expand(v) for k, v in node.items() if k != "$ref"}
                return {**expand(defs[name]), **siblings}  # a sibling (e.g. description) wins
        return {k: expand(v) for k, v in node.items() if k != "$defs"}

    out = expand(schema)
    kept = {name: expand(defs[name]) for name in sorted(recursive)}
    if kept:
        out["$defs"] = kept
    return out  # type: ignore[no-any-return]


def _refers_to(node: Any, target: str, defs: dict[str, Any], seen: set[str]) -> bool:
    """Whether `node` reaches `$defs/target` through any chain of `$ref`s."""
    if isinstance(node, list):
        return any(_refers_to(item, target, defs, seen) for item in node)
    if not isinstance(node, dict):
        return False
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        name = ref[len(_REF_PREFIX):]
        if name == target:
            return True
        if name in defs and name not in seen:
            seen.add(name)
            if _refers_to(defs[name], target, defs, seen):
                return True
    return any(_refers_to(v, target, defs, seen) for k, v in node.items() if k != "$ref")

"""Compact JSON Schemas for `tools/list`: every client pays their size in context on every turn.

Pydantic's schemas carry a `title` on every property and spell each optional parameter as
`anyOf: [X, {"type": "null"}]` with `default: null`. Neither helps a model choose arguments:
arguments are validated by the tool's own pydantic model, never by this schema, and results
leave `None` fields out, so the compact form describes exactly what is accepted and returned.
"""

from __future__ import annotations

from typing import Any

_MAPS = ("properties", "$defs", "patternProperties")  # values are schemas, keys are names


def compact(schema: Any) -> Any:
    """A copy of `schema` without titles and with optional values written as their non-null type."""
    if isinstance(schema, list):
        return [compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _MAPS and isinstance(value, dict):
            out[key] = {name: compact(sub) for name, sub in value.items()}
        else:
            out[key] = compact(value)
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1 and isinstance(rest[0], dict):
            del out["anyOf"]
            out = {**rest[0], **out}
        else:
            out["anyOf"] = rest
        if out.get("default", ...) is None:
            del out["default"]
    return out

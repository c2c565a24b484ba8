"""The compact tools/list schemas: smaller, and still describing exactly what the tools accept."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from opper_mcp.schemas import compact


class Options(BaseModel):
    title: str | None = None  # a property *named* title must survive
    limit: Annotated[int | None, Field(ge=1, le=5)] = None
    mode: str | int | None = None


def test_titles_go_and_optional_values_become_their_type() -> None:
    schema = compact(Options.model_json_schema())
    assert "title" not in schema
    props = schema["properties"]
    assert set(props) == {"title", "limit", "mode"}
    assert props["title"] == {"type": "string"}
    assert props["limit"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert props["mode"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_non_null_defaults_and_refs_are_kept() -> None:
    schema: dict[str, Any] = {
        "title": "X", "$defs": {"D": {"title": "D", "type": "object"}},
        "properties": {"a": {"anyOf": [{"$ref": "#/$defs/D"}, {"type": "null"}], "default": None},
                       "b": {"type": "boolean", "default": False, "title": "B"}},
    }
    assert compact(schema) == {
        "$defs": {"D": {"type": "object"}},
        "properties": {"a": {"$ref": "#/$defs/D"}, "b": {"type": "boolean", "default": False}},
    }


def _problems(schema: Any, where: str = "") -> list[str]:
    """Schema-level titles and null branches, found structurally (a property may be *named* title)."""
    if isinstance(schema, list):
        return [p for i, item in enumerate(schema) for p in _problems(item, f"{where}[{i}]")]
    if not isinstance(schema, dict):
        return []
    found = [f"{where}: title"] if isinstance(schema.get("title"), str) else []
    if schema.get("type") == "null":
        found.append(f"{where}: null branch")
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            found += [p for name, sub in value.items() for p in _problems(sub, f"{where}/{key}/{name}")]
        elif key != "title":
            found += _problems(value, f"{where}/{key}")
    return found


@pytest.mark.anyio
async def test_every_tool_schema_is_compact(client: Any) -> None:
    for tool in (await client.list_tools()).tools:
        for kind, schema in (("input", tool.input_schema), ("output", tool.output_schema or {})):
            assert _problems(schema) == [], (tool.name, kind)

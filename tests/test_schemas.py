"""The compact tools/list schemas: smaller, and still describing exactly what the tools accept."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from opper_mcp.compact_schema import compact


class Options(BaseModel):
    title: str | None = None  # a property *named* title must survive
    limit: Annotated[int | None, Field(ge=2, le=5)] = None
    mode: str | int | None = None


def test_titles_go_and_optional_values_become_their_type() -> None:
    schema = compact(Options.model_json_schema())
    assert "title" not in schema
    props = schema["properties"]
    assert set(props) == {"title", "limit", "mode"}
    assert props["title"] == {"type": "string"}
    assert props["limit"] == {"type": "integer", "minimum": 2, "maximum": 5}
    assert props["mode"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_refs_are_inlined_and_informative_defaults_kept() -> None:
    schema: dict[str, Any] = {
        "title": "X", "$defs": {"D": {"title": "D", "type": "object", "properties": {"n": {"type": "integer"}}}},
        "properties": {"a": {"anyOf": [{"$ref": "#/$defs/D"}, {"type": "null"}], "default": None},
                       "b": {"type": "boolean", "default": True, "title": "B"},
                       "c": {"$ref": "#/$defs/D", "description": "the sibling wins"}},
    }
    assert compact(schema) == {
        "properties": {"a": {"type": "object", "properties": {"n": {"type": "integer"}}},
                       "b": {"type": "boolean", "default": True},
                       "c": {"type": "object", "properties": {"n": {"type": "integer"}},
                             "description": "the sibling wins"}},
    }


def test_recursive_definitions_stay_behind_their_ref() -> None:
    class Node(BaseModel):
        name: str
        children: list[Node] = []

    class Tree(BaseModel):
        root: Node
        note: str = ""

    schema = compact(Tree.model_json_schema())
    assert schema["properties"]["root"] == {"$ref": "#/$defs/Node"}
    assert set(schema["$defs"]) == {"Node"}
    assert schema["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert schema["properties"]["note"] == {"type": "string"}


def test_defaults_and_bounds_that_say_nothing_go() -> None:
    class Args(BaseModel):
        text: Annotated[str, Field(min_length=1, max_length=500, pattern="^a")] = ""
        flag: bool = False
        offset: Annotated[int, Field(ge=0)] = 0
        limit: Annotated[int, Field(ge=1, le=200)] = 50
        width: Annotated[int, Field(ge=100, le=40_000)] = 100
        tokens: Annotated[int | None, Field(ge=1, le=200_000)] = None
        items: Annotated[list[str], Field(max_length=500)] = []
        few: Annotated[list[str], Field(min_length=2, max_length=10)] = ["a", "b"]
        extra: dict[str, Any] = {}

    props = compact(Args.model_json_schema())["properties"]
    assert props["text"] == {"type": "string"}
    assert props["flag"] == {"type": "boolean"}
    assert props["offset"] == {"type": "integer"}
    assert props["limit"] == {"type": "integer", "maximum": 200, "default": 50}
    assert props["width"] == {"type": "integer", "minimum": 100, "maximum": 40_000}  # default == minimum
    assert props["tokens"] == {"type": "integer"}
    assert props["items"] == {"type": "array", "items": {"type": "string"}}
    assert props["few"] == {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 10,
                            "default": ["a", "b"]}
    assert props["extra"] == {"type": "object"}


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
            assert "$ref" not in json.dumps(schema), (tool.name, kind)  # no lookups for validating clients

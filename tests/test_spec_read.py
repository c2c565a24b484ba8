"""read over the spec: target lookup, $ref resolution, cycles, depth, rendering, truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from opper_mcp.fuzzy import close_matches
from opper_mcp.openapi.errors import SpecError, SpecTargetError
from opper_mcp.openapi.index import SpecIndex
from opper_mcp.openapi.read import read

SHARED_SPEC = Path("/work/shared/opper/openapi-v3.yaml")

SPEC = """\
openapi: 3.1.0
info: {title: Tiny, version: "1"}
paths:
  /v1/things:
    parameters:
      - $ref: "#/components/parameters/Trace"
    get:
      operationId: listThings
      summary: List things
      security: []
      parameters:
        - $ref: "#/components/parameters/Limit"
      responses:
        "200":
          description: OK
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/Thing"
        "404":
          $ref: "#/components/responses/NotFound"
    post:
      operationId: createThing
      summary: Create a thing
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/Thing"
      responses:
        "201":
          description: Created
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Thing"
  /v1/nodes/{id}:
    get:
      operationId: getNode
      parameters:
        - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
      responses:
        "200":
          description: The node
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Node"}
components:
  parameters:
    Limit: {name: limit, in: query, description: Page size, schema: {type: integer, default: 20}}
    Trace: {name: X-Trace, in: header, schema: {type: string}}
  responses:
    NotFound:
      description: Nothing here
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Error"}
  schemas:
    Thing:
      type: object
      description: A thing that exists.
      required: [name, kind]
      properties:
        name: {type: string, description: Its name}
        kind: {type: string, enum: [big, small], default: big}
        labels:
          type: object
          additionalProperties: {type: string}
        owner: {$ref: "#/components/schemas/Owner"}
        pet:
          oneOf:
            - {$ref: "#/components/schemas/Cat"}
            - {type: string, description: A pet's name}
        score: {type: [number, "null"]}
    Owner:
      type: object
      properties:
        email: {type: string, format: email}
    Cat:
      type: object
      properties:
        lives: {type: integer}
    Node:
      type: object
      properties:
        value: {type: string}
        parent: {$ref: "#/components/schemas/Node"}
        children:
          type: array
          items: {$ref: "#/components/schemas/Node"}
        next: {$ref: "#/components/schemas/Link"}
    Link:
      type: object
      properties:
        target: {$ref: "#/components/schemas/Node"}
    Error:
      type: object
      required: [message]
      properties:
        message: {type: string}
    Deep1: {type: object, properties: {d: {$ref: "#/components/schemas/Deep2"}}}
    Deep2: {type: object, properties: {d: {$ref: "#/components/schemas/Deep3"}}}
    Deep3: {type: object, properties: {d: {$ref: "#/components/schemas/Deep4"}}}
    Deep4: {type: object, properties: {leaf: {type: boolean}}}
    Dangling: {type: object, properties: {x: {$ref: "#/components/schemas/Nope"}}}
"""


@pytest.fixture(scope="module")
def index() -> SpecIndex:
    return SpecIndex.build(SPEC)


@pytest.fixture(scope="module")
def full_text() -> str:
    if not SHARED_SPEC.is_file():
        pytest.skip(f"shared Opper spec not found at {SHARED_SPEC}")
    return SHARED_SPEC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def full_index(full_text: str) -> SpecIndex:
    return SpecIndex.build(full_text)


# --- lookup ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["Thing", "thing", "#/components/schemas/Thing", "schema Thing", " THING "])
def test_schema_targets(index: SpecIndex, target: str) -> None:
    result = read(index, target)
    assert (result.kind, result.target) == ("schema", "Thing")
    assert result.text.startswith("Thing (object) — A thing that exists.")


@pytest.mark.parametrize(
    "target",
    ["listThings", "LISTTHINGS", "get /v1/things", "GET  /v1/things", "GET /v1/things (listThings)"],
)
def test_operation_targets(index: SpecIndex, target: str) -> None:
    result = read(index, target)
    assert (result.kind, result.target) == ("operation", "GET /v1/things (listThings)")


def test_path_target_reads_all_its_operations(index: SpecIndex) -> None:
    result = read(index, "/v1/things")
    assert result.target == "/v1/things"
    assert "GET /v1/things (listThings)" in result.text
    assert "POST /v1/things (createThing)" in result.text


def test_unknown_target_lists_close_matches(index: SpecIndex) -> None:
    with pytest.raises(SpecTargetError, match=r"no operation or schema named 'Thnig'\. Close matches: Thing"):
        read(index, "Thnig")
    with pytest.raises(SpecTargetError, match=r"Close matches: .*GET /v1/things"):
        read(index, "get /v1/thing")
    with pytest.raises(SpecTargetError, match="grep_spec"):
        read(index, "zzzzzz")
    with pytest.raises(SpecTargetError, match="empty target"):
        read(index, "  ")


def test_close_matches_caps_and_keeps_case() -> None:
    names = ["ChatRequest", "ChatResponse", "ChatRequestTool", "CallRequest", "chatCompletions", "Other", "ChatX"]
    found = close_matches("chatreqest", names)
    assert found[0] == "ChatRequest" and len(found) <= 5 and "Other" not in found


def test_bad_options(index: SpecIndex) -> None:
    with pytest.raises(SpecError, match="max_depth"):
        read(index, "Thing", max_depth=21)
    with pytest.raises(SpecError, match="max_chars"):
        read(index, "Thing", max_chars=10)


# --- rendering -------------------------------------------------------------------------------


def test_schema_rendering(index: SpecIndex) -> None:
    lines = read(index, "Thing").text.splitlines()
    assert lines[1:] == [
        "  name*: string — Its name",
        "  kind*: string enum[big|small] = big",
        "  labels: map<string>",
        "  owner: Owner",
        "    email: string(email)",
        "  pet: oneOf<Cat|string>",
        "    | Cat",
        "      lives: integer",
        "    | string — A pet's name",
        "  score: number|null",
    ]


def test_operation_rendering(index: SpecIndex) -> None:
    text = read(index, "listThings").text
    assert text.splitlines()[0] == "GET /v1/things (listThings) — List things"
    assert "auth: none" in text
    assert "    header X-Trace: string" in text  # path-level parameter, via $ref
    assert "    query limit: integer = 20 — Page size" in text
    assert "    200 application/json: array<Thing> — OK" in text
    assert "      name*: string — Its name" in text
    assert "    404 application/json: Error — Nothing here" in text  # response $ref
    assert "      message*: string" in text


def test_request_body_and_repeats(index: SpecIndex) -> None:
    text = read(index, "createThing").text
    assert "  body* application/json: Thing" in text
    assert "    201 application/json: Thing (shown above) — Created" in text


def test_recursive_schema_is_cut(index: SpecIndex) -> None:
    lines = read(index, "Node").text.splitlines()
    assert "  parent: Node (recursive, see above)" in lines
    assert "  children: array<Node> (recursive, see above)" in lines
    assert "  next: Link" in lines
    assert "    target: Node (recursive, see above)" in lines


def test_recursion_through_an_operation(index: SpecIndex) -> None:
    text = read(index, "getNode").text
    assert "    path id*: string(uuid)" in text
    assert "      parent: Node (recursive, see above)" in text


def test_depth_limit_leaves_refs(index: SpecIndex) -> None:
    result = read(index, "Deep1", max_depth=2)
    assert "    d: Deep3 (not expanded: depth limit)" in result.text
    assert result.next_hint is not None and "read them by name: Deep3" in result.next_hint
    full = read(index, "Deep1")
    assert "leaf: boolean" in full.text and full.next_hint is None


def test_dangling_ref(index: SpecIndex) -> None:
    assert "x: Nope (unresolved $ref #/components/schemas/Nope)" in read(index, "Dangling").text


def test_truncation(index: SpecIndex) -> None:
    result = read(index, "/v1/things", max_chars=300)
    assert result.truncated
    assert result.text.endswith("… (truncated)")
    assert len(result.text) <= 300 + len("\n… (truncated)")
    assert result.next_hint is not None and result.next_hint.startswith("output cut at 300 characters")


# --- the real spec ---------------------------------------------------------------------------


def test_full_spec_operation(full_index: SpecIndex) -> None:
    result = read(full_index, "post /v3/compat/chat/completions")
    assert result.target == "POST /v3/compat/chat/completions (chatCompletions)"
    assert "  body* application/json: ChatRequest" in result.text
    assert "    messages*: array<object>" in result.text
    assert "200 application/json: ChatResponse" in result.text
    assert "200 text/event-stream: string" in result.text
    assert not result.truncated


def test_full_spec_list_models(full_index: SpecIndex) -> None:
    text = read(full_index, "listmodels").text
    assert text.startswith("GET /v3/models (listModels) — List models")
    assert "200 application/json: ModelsResponse" in text


def test_full_spec_close_matches(full_index: SpecIndex) -> None:
    with pytest.raises(SpecTargetError, match="Close matches: ChatRequest"):
        read(full_index, "ChatReqest")


def test_full_spec_everything_renders(full_index: SpecIndex) -> None:
    for op in full_index.operations:
        assert read(full_index, f"{op.method} {op.path}").text
    for name in full_index.schema_names:
        assert read(full_index, name).text.startswith(name)


def test_full_spec_recursive_schema(full_text: str) -> None:
    """The published spec has no cycles today; add one to a real schema and check it is cut."""
    marker = "    ChatRequest:\n      properties:\n"
    assert marker in full_text
    patched = full_text.replace(
        marker, marker + '        again:\n          $ref: "#/components/schemas/ChatRequest"\n', 1
    )
    idx = SpecIndex.build(patched)
    assert "  again: ChatRequest (recursive, see above)" in read(idx, "ChatRequest").text
    op = read(idx, "chatCompletions").text
    assert "    again: ChatRequest (recursive, see above)" in op

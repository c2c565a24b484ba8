"""grep over the spec: locations, context, counting, truncation, bad and catastrophic patterns."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from opper_mcp.openapi.errors import SpecParseError, SpecPatternError
from opper_mcp.openapi.grep import grep
from opper_mcp.openapi.index import Location, SpecIndex

SHARED_SPEC = Path("/work/shared/opper/openapi-v3.yaml")

SPEC = """\
openapi: 3.1.0
info:
  title: Tiny
  version: "1"
paths:
  /v1/things:
    parameters:
      - name: X-Trace
        in: header
    get:
      operationId: listThings
      summary: List things
      responses:
        "200":
          description: The things (things, things)
    post:
      operationId: createThing
      requestBody:
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/Thing"
components:
  schemas:
    Thing:
      description: |
        A thing.
        get: not a real key
      properties:
        name:
          type: string
  parameters:
    Limit:
      name: limit
      in: query
tags:
- name: Things
"""


@pytest.fixture(scope="module")
def index() -> SpecIndex:
    return SpecIndex.build(SPEC)


@pytest.fixture(scope="module")
def full_index() -> SpecIndex:
    if not SHARED_SPEC.is_file():
        pytest.skip(f"shared Opper spec not found at {SHARED_SPEC}")
    return SpecIndex.build(SHARED_SPEC.read_text(encoding="utf-8"))


def line_no(index: SpecIndex, text: str) -> int:
    return index.lines.index(text) + 1


# --- index -----------------------------------------------------------------------------------


def test_index_locations(index: SpecIndex) -> None:
    assert index.location(line_no(index, "      operationId: listThings")) == Location(
        "operation", path="/v1/things", method="GET", operation_id="listThings"
    )
    assert index.location(line_no(index, "      - name: X-Trace")).compact() == "/v1/things"
    assert index.location(line_no(index, "          type: string")).compact() == "schema Thing"
    assert index.location(line_no(index, "        get: not a real key")).compact() == "schema Thing"
    assert index.location(line_no(index, "      in: query")).compact() == "component parameters/Limit"
    assert index.location(line_no(index, "  title: Tiny")).compact() == "info"
    assert index.location(line_no(index, "- name: Things")).compact() == "tags"
    assert index.location(10_000).kind == "other"


def test_index_operations_and_schemas(index: SpecIndex) -> None:
    assert [(op.method, op.path, op.operation_id) for op in index.operations] == [
        ("GET", "/v1/things", "listThings"),
        ("POST", "/v1/things", "createThing"),
    ]
    assert index.operations[0].summary == "List things"
    assert index.schema_names == ["Thing"]


@pytest.mark.parametrize("text", ["paths: [unclosed", "just a string", "openapi: 3.1.0\n"])
def test_index_rejects_non_specs(text: str) -> None:
    with pytest.raises(SpecParseError):
        SpecIndex.build(text)


def test_index_crlf_line_numbers() -> None:
    idx = SpecIndex.build(SPEC.replace("\n", "\r\n"))
    assert idx.lines == SPEC.splitlines()
    assert grep(idx, "listThings").matches[0].line == line_no(idx, "      operationId: listThings")


# --- grep ------------------------------------------------------------------------------------


def test_grep_reports_line_location_and_context(index: SpecIndex) -> None:
    result = grep(index, "operationId: listthings", context=1)
    assert result.total_matches == 1 and not result.truncated and result.next_hint is None
    (m,) = result.matches
    assert m.line == line_no(index, "      operationId: listThings")
    assert m.text == "      operationId: listThings"
    assert m.location == "GET /v1/things (listThings)"
    assert m.before == ["    get:"]
    assert m.after == ["      summary: List things"]


def test_grep_context_zero_and_edges(index: SpecIndex) -> None:
    first = grep(index, "^openapi", context=3).matches[0]
    assert first.line == 1 and first.before == [] and len(first.after) == 3
    last = grep(index, "Things$", ignore_case=False, context=3).matches[-1]
    assert last.line == len(index.lines) and last.after == []
    assert grep(index, "Things", context=0).matches[0].before == []


def test_grep_counts_lines_not_occurrences(index: SpecIndex) -> None:
    result = grep(index, "things")
    lines = [m.line for m in result.matches]
    assert len(lines) == len(set(lines)) == result.total_matches
    assert line_no(index, "          description: The things (things, things)") in lines


def test_grep_case_sensitivity(index: SpecIndex) -> None:
    assert grep(index, "THING").total_matches > 0
    assert grep(index, "THING", ignore_case=False).total_matches == 0


def test_grep_truncation_hint(index: SpecIndex) -> None:
    result = grep(index, ":", max_matches=3)
    assert result.truncated and len(result.matches) == 3
    assert result.total_matches > 3
    assert result.next_hint == (
        f"showing 3 of {result.total_matches} matching lines; narrow the pattern or raise max_matches (≤100)"
    )


def test_grep_no_match_hint(index: SpecIndex) -> None:
    result = grep(index, "zebra")
    assert result.total_matches == 0 and result.matches == []
    assert result.next_hint is not None and "read_spec" in result.next_hint


def test_grep_schema_location(index: SpecIndex) -> None:
    (m,) = grep(index, "^        name:$", context=0).matches
    assert m.location == "schema Thing"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pattern": "("}, "invalid regular expression"),
        ({"pattern": "[a-"}, "invalid regular expression"),
        ({"pattern": ""}, "empty pattern"),
        ({"pattern": "a" * 501}, "limit is 500"),
        ({"pattern": "a", "context": 11}, "context must be between 0 and 10"),
        ({"pattern": "a", "context": -1}, "context must be between 0 and 10"),
        ({"pattern": "a", "max_matches": 0}, "max_matches must be between 1 and 100"),
        ({"pattern": "a", "max_matches": 101}, "max_matches must be between 1 and 100"),
    ],
)
def test_grep_rejects_bad_input(index: SpecIndex, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecPatternError, match=message):
        grep(index, **kwargs)  # type: ignore[arg-type]


def test_grep_errors_are_value_errors(index: SpecIndex) -> None:
    with pytest.raises(ValueError):
        grep(index, "(")


LONG_LINE_SPEC = "paths: {}\ninfo:\n  description: " + "a" * 30_000 + "!\n"


def test_grep_catastrophic_pattern_times_out() -> None:
    idx = SpecIndex.build(LONG_LINE_SPEC)
    with pytest.raises(SpecPatternError, match=r"took longer than 1\.0 s \(catastrophic backtracking\?\)"):
        grep(idx, "(a+)+$")


def test_grep_caps_long_lines() -> None:
    idx = SpecIndex.build(LONG_LINE_SPEC)
    (m,) = grep(idx, "a!").matches
    assert len(m.text) == 301 and m.text.endswith("…")
    assert m.location == "info"


# --- the real spec ---------------------------------------------------------------------------


def test_full_spec_operation_hit(full_index: SpecIndex) -> None:
    (m,) = grep(full_index, r"operationId: listModels\b").matches
    assert m.location == "GET /v3/models (listModels)"
    assert full_index.lines[m.line - 1].strip() == "operationId: listModels"


def test_full_spec_schema_hits(full_index: SpecIndex) -> None:
    (m,) = grep(full_index, "^    ChatRequest:$", ignore_case=False).matches
    assert m.location == "schema ChatRequest"
    after = grep(full_index, "reasoning_effort", max_matches=100)
    locations = {x.location for x in after.matches}
    assert "schema ChatRequest" in locations
    assert all(full_index.lines[x.line - 1] == x.text for x in after.matches if len(x.text) <= 300)


def test_full_spec_every_operation_is_located(full_index: SpecIndex) -> None:
    result = grep(full_index, r"^      operationId: ", ignore_case=False, context=0, max_matches=100)
    assert result.total_matches == len(full_index.operations)
    for m in result.matches:
        op_id = m.text.split(": ", 1)[1]
        assert m.location.endswith(f"({op_id})"), m


def test_full_spec_component_and_top_level(full_index: SpecIndex) -> None:
    (m,) = grep(full_index, "^    BearerAuth:", ignore_case=False).matches
    assert m.location == "component securitySchemes/BearerAuth"
    assert grep(full_index, "^openapi:").matches[0].location == "openapi"


def test_full_spec_performance_sanity(full_index: SpecIndex) -> None:
    """No timing assertion (machines vary); reports the figure with -s."""
    runs = []
    for _ in range(30):
        start = time.perf_counter()
        grep(full_index, "ChatRequest")
        runs.append(time.perf_counter() - start)
    print(f"warm grep median: {statistics.median(runs) * 1000:.2f} ms")


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_grep_literal_matches_agree_with_substring_search(data: st.DataObject) -> None:
    idx = SpecIndex.build(SPEC)
    line = data.draw(st.sampled_from([s for s in idx.lines if s.strip()]))
    start = data.draw(st.integers(0, len(line) - 1))
    needle = line[start : data.draw(st.integers(start + 1, len(line)))]
    result = grep(idx, regex.escape(needle), ignore_case=False, context=0, max_matches=100)
    expected = [n for n, text in enumerate(idx.lines, 1) if needle in text]
    assert [m.line for m in result.matches] == expected
    assert result.total_matches == len(expected)

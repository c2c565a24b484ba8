"""The platform guide: opper://guide/<topic> resources, listed and read by real clients, checked against the spec."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from mcp import Client

from opper_mcp import guide
from opper_mcp.listing import recording
from opper_mcp.server import INSTRUCTIONS
from opper_mcp.tools.registry import TOOL_NAMES
from tests.fake_opper import TEST_KEY, FakeOpperServer
from tests.fake_opper.app import FIXTURE_SPEC_PATH, SHARED_SPEC_PATH
from tests.transport_support import INSPECTOR_CLI, last_json, node_env, require_node_modules, run_node

TOPIC_NAMES = {t.name for t in guide.TOPICS}
REQUIRED = {"concepts", "endpoints", "authentication", "structured-output", "web-search", "roundtable", "tracing",
            "migration", "gotchas"}
V3_PATH = re.compile(r"/v3/[A-Za-z0-9_{}./-]*[A-Za-z0-9_}]")
NEXT = re.compile(r"\*\*Next:\*\*(?P<body>.+)\Z", re.S)


def tool_parameters() -> set[str]:
    return {name for tool in recording().values() for name in tool["inputSchema"].get("properties", {})}


def spec_paths() -> set[str]:
    path = SHARED_SPEC_PATH if SHARED_SPEC_PATH.is_file() else FIXTURE_SPEC_PATH
    return set(yaml.safe_load(path.read_text(encoding="utf-8"))["paths"])


def known(path: str, paths: set[str]) -> bool:
    """A named path exists as is, as a compat prefix SDKs append to, or with any `{param}` spelling."""
    shape = re.sub(r"\{[^}]+\}", "{}", path)
    shapes = {re.sub(r"\{[^}]+\}", "{}", p) for p in paths}
    return shape in shapes or any(p.startswith(path.rstrip("/") + "/") for p in paths)


# =========================================================================== content


def test_every_required_topic_exists() -> None:
    assert TOPIC_NAMES == REQUIRED


@pytest.mark.parametrize("topic", sorted(REQUIRED))
def test_topic_is_short_and_ends_with_tools_to_use_next(topic: str) -> None:
    text = guide.read(topic)
    assert text.startswith("# ") and len(text) < 4_000, len(text)
    match = NEXT.search(text.strip())
    assert match, f"{topic}: must end with a **Next:** line"
    named = set(re.findall(r"`([a-z_]+)`", match["body"]))
    assert named & set(TOOL_NAMES), f"{topic}: the **Next:** line names no tool"
    assert named <= set(TOOL_NAMES) | tool_parameters(), named - set(TOOL_NAMES) - tool_parameters()


@pytest.mark.parametrize("topic", sorted(REQUIRED))
def test_every_v3_path_exists_in_the_spec(topic: str) -> None:
    paths = spec_paths()
    named = set(V3_PATH.findall(guide.read(topic)))
    missing = sorted(p for p in named if not known(p, paths))
    assert missing == [], f"{topic} names paths the spec does not have: {missing}"


def test_the_path_check_can_fail() -> None:
    assert not known("/v3/knowledge", spec_paths())
    assert not known("/v3/chat/completions", spec_paths())
    assert known("/v3/compat", spec_paths()) and known("/v3/traces/{trace_id}", spec_paths())


def test_unknown_topic() -> None:
    with pytest.raises(FileNotFoundError):
        guide.read("../settings")


def test_instructions_mention_the_guide() -> None:
    assert [line for line in INSTRUCTIONS.splitlines() if "opper://guide/" in line]


# =========================================================================== through MCP clients



@pytest.mark.anyio
async def test_resources_listed_and_read(client: Client) -> None:
    listed = (await client.list_resources()).resources
    by_uri = {str(r.uri): r for r in listed}
    assert set(by_uri) >= {f"opper://guide/{name}" for name in REQUIRED}
    for name in REQUIRED:
        resource = by_uri[f"opper://guide/{name}"]
        assert resource.title and resource.description and resource.mime_type == "text/markdown"
    read = await client.read_resource("opper://guide/migration")
    text = read.contents[0].text  # type: ignore[union-attr]
    assert text == guide.read("migration") and "X-Opper-Name" in text


@pytest.mark.anyio
async def test_unknown_resource_is_an_error(client: Client) -> None:
    with pytest.raises(Exception, match=r"(?i)unknown|not found"):
        await client.read_resource("opper://guide/nope")


def test_inspector_cli_reads_a_guide_page(tmp_path: Path) -> None:
    require_node_modules()
    with FakeOpperServer() as fake:
        server_env = {"OPPER_API_KEY": TEST_KEY, "OPPER_BASE_URL": fake.url,
                      "OPPER_MCP_CACHE_DIR": str(tmp_path / "cache")}
        env_args = [arg for k, v in server_env.items() for arg in ("-e", f"{k}={v}")]
        nenv = node_env(tmp_path / "home")
        base = [str(INSPECTOR_CLI), "--cli", *env_args]
        cmd = ["--format", "json", "--", sys.executable, "-m", "opper_mcp"]
        listed = run_node([*base, "--method", "resources/list", *cmd], nenv)
        assert listed.returncode == 0, listed.stderr
        uris = {r["uri"] for r in last_json(listed.stdout)["result"]["resources"]}
        assert {f"opper://guide/{name}" for name in REQUIRED} <= uris
        read = run_node([*base, "--method", "resources/read", "--uri", "opper://guide/gotchas", *cmd], nenv)
    assert read.returncode == 0, read.stderr
    contents = last_json(read.stdout)["result"]["contents"]
    assert contents[0]["text"] == guide.read("gotchas")


def test_wheel_ships_the_guide(tmp_path: Path) -> None:
    """The topics are package data: a built wheel must carry every page, or installed servers list nothing."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (needed to build the wheel)")
    root = Path(__file__).resolve().parents[1]
    subprocess.run([uv, "build", "--wheel", "-q", "-o", str(tmp_path)], cwd=root, check=True, timeout=120,
                   capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"opper_mcp/guide/{topic}.md" for topic in REQUIRED} <= names

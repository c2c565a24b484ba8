"""The SDK's floors: a minimal MCPServer, started the same way as opper-mcp.

`echo` pads its answer to `size` characters: a plain string as long as the result it is compared
with. `replay` answers a result recorded from opper-mcp (the JSON file named by `MINIMAL_REPLAY`),
byte for byte: what the SDK alone costs for exactly that result, with none of opper-mcp's work.
A recording that carries its tool's `output_schema` is also served as a tool of that name publishing
that schema, so a client that validates results does for it exactly the work it does for ours.
"""

import json
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent

RECORDED: dict[str, dict[str, Any]] = {}
if os.environ.get("MINIMAL_REPLAY"):
    with open(os.environ["MINIMAL_REPLAY"]) as file:
        RECORDED = json.load(file)


def answer(name: str) -> CallToolResult:
    data = RECORDED[name]
    return CallToolResult(content=[TextContent(type="text", text=data["text"])], structured_content=data["structured"])


def as_recorded_tool(name: str, output_schema: dict[str, Any]) -> Tool:
    """A tool named `name` that publishes `output_schema` and answers its recording (arguments are ignored)."""

    async def recorded() -> CallToolResult:
        return answer(name)

    tool = Tool.from_function(recorded, name=name)
    tool.fn_metadata.output_schema = output_schema
    tool.fn_metadata.output_model = None  # published, not checked: the recording is what was served
    return tool


mcp = MCPServer("minimal", tools=[as_recorded_tool(name, data["output_schema"])
                                  for name, data in RECORDED.items() if "output_schema" in data])


@mcp.tool()
async def echo(text: str, size: int = 0) -> str:
    """Echo the text back, padded to `size` characters."""
    return text.ljust(size, "x")


@mcp.tool()
async def replay(name: str) -> CallToolResult:
    """Answer the result recorded under `name`."""
    return answer(name)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()

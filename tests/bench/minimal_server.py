"""The SDK's floors: a minimal MCPServer, started the same way as opper-mcp.

`echo` pads its answer to `size` characters: a plain string as long as the result it is compared
with. `replay` answers a result recorded from opper-mcp (the JSON file named by `MINIMAL_REPLAY`),
byte for byte: what the SDK alone costs for exactly that result, with none of opper-mcp's work.
"""

import json
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent

mcp = MCPServer("minimal")
RECORDED: dict[str, dict[str, Any]] = {}
if os.environ.get("MINIMAL_REPLAY"):
    with open(os.environ["MINIMAL_REPLAY"]) as file:
        RECORDED = json.load(file)


@mcp.tool()
async def echo(text: str, size: int = 0) -> str:
    """Echo the text back, padded to `size` characters."""
    return text.ljust(size, "x")


@mcp.tool()
async def replay(name: str) -> CallToolResult:
    """Answer the result recorded under `name`."""
    data = RECORDED[name]
    return CallToolResult(content=[TextContent(type="text", text=data["text"])], structured_content=data["structured"])


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()

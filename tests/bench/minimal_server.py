"""The SDK's floor: a one-tool MCPServer, started the same way as opper-mcp.

`echo` pads its answer to `size` characters, so the floor can carry a result as long as the tool
it is compared with (the SDK's cost grows with the size of what it serializes).
"""

import sys

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("minimal")


@mcp.tool()
async def echo(text: str, size: int = 0) -> str:
    """Echo the text back, padded to `size` characters."""
    return text.ljust(size, "x")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()

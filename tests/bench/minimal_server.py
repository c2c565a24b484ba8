"""The SDK's floor: a one-tool MCPServer, started the same way as opper-mcp."""

import sys

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("minimal")


@mcp.tool()
async def echo(text: str) -> str:
    """Echo the text back."""
    return text


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()

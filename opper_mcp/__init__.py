"""opper-mcp: an MCP server for the Opper LLM gateway."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("opper-mcp")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

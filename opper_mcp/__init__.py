"""opper-mcp: an MCP server for the Opper LLM gateway."""

__version__ = "0.1.0"  # the single source of the version: pyproject reads it from here

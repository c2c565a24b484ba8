"""Opper's OpenAPI spec: fetch/cache (`store.SpecStore`), `index`, `grep` and `read`.

Pure and MCP-free: the `grep_spec` / `read_spec` tools are thin wrappers over this package.
Import the submodules directly; this package imports nothing, so start-up stays cheap
(YAML and regex are only loaded when a spec tool first runs).
"""

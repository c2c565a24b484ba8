"""Code context for the tools that send code to models: files, globs, line ranges, git diffs, images and PDFs.

Pure and MCP-free. Import the submodules themselves; this face imports nothing, so a module that needs only the
types or the token estimate does not load the reader and the secret scanner.
- `assemble.gather` (run in a worker thread): `files`/`diff` entries -> attached parts, skipped items with reasons.
- `paths`: entries -> confined targets (symlinks resolved, inside a root, walks bounded and gitignore-aware).
- `files`: bounded, race-checked reads; text, images and PDFs told apart by their bytes.
- `denylist` / `secrets`: secret-bearing names never sent; content scanned with detect-secrets' plugins.
- `diff` / `git`: `git diff` run safely; with `diff`, `files` narrows the diff rather than attaching files.
- `estimate`: the token heuristic. `budget`: window and cost checks. `roots`: the workspace roots.
- `types`: Limits, Attached, Skipped, Part (and its chat content form), Gathered, ContextError.
"""

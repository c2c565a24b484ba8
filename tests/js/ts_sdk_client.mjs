// TypeScript SDK v1 (@modelcontextprotocol/sdk) client used by tests/test_interop_node.py.
//
//   node ts_sdk_client.mjs '<config JSON>'
//   config: { transport: "stdio", command, args, env }  or  { transport: "http", url, headers }
//           plus { model, prompt }
//
// Prints ONE JSON summary line on stdout; exits 1 (with {"error": ...}) if anything throws.
// TS_CLIENT_TIMING=1 prints phase timings on stderr.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const CALL_TIMEOUT_MS = 30_000;

function transportFor(cfg) {
  if (cfg.transport === 'stdio') {
    return new StdioClientTransport({ command: cfg.command, args: cfg.args ?? [], env: cfg.env, stderr: 'ignore' });
  }
  if (cfg.transport === 'http') {
    return new StreamableHTTPClientTransport(new URL(cfg.url), { requestInit: { headers: cfg.headers ?? {} } });
  }
  throw new Error(`unknown transport ${cfg.transport}`);
}

const T0 = Date.now();
const mark = (what) => { if (process.env.TS_CLIENT_TIMING) process.stderr.write(`${what} ${Date.now() - T0}ms\n`); };

async function main() {
  const client = new Client({ name: 'opper-mcp-ts-sdk-test', version: '0.0.0' });
  const transport = transportFor(config);
  await client.connect(transport);
  mark('connected');
  try {
    const summary = { transport: config.transport, server: client.getServerVersion() ?? null };
    const { tools } = await client.listTools();
    summary.toolCount = tools.length;
    summary.toolNames = tools.map((t) => t.name);
    mark('listed');

    const grep = await client.callTool({ name: 'grep_spec', arguments: { pattern: 'trace_uuid' } }, undefined,
      { timeout: CALL_TIMEOUT_MS });
    mark('grep');
    summary.grep = { isError: grep.isError ?? false, totalMatches: grep.structuredContent?.total_matches ?? null };

    const progress = [];
    const chat = await client.callTool(
      { name: 'chat', arguments: { model: config.model, prompt: config.prompt } },
      undefined,
      { timeout: CALL_TIMEOUT_MS, onprogress: (p) => progress.push(p) },
    );
    mark('chat');
    summary.chat = {
      isError: chat.isError ?? false,
      structuredContent: chat.structuredContent ?? null,
      text: (chat.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('\n'),
      progress,
    };

    // A tool-level failure (neither prompt nor messages) must come back as isError, not a protocol error.
    const failed = await client.callTool({ name: 'chat', arguments: { model: config.model } }, undefined,
      { timeout: CALL_TIMEOUT_MS });
    summary.toolError = {
      isError: failed.isError ?? false,
      text: (failed.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('\n'),
    };
    mark('called');
    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await client.close();
    mark('closed');
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stdout.write(JSON.stringify({ error: String(err?.stack ?? err) }) + '\n');
    process.exit(1);
  },
);

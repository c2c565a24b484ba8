// The view's side of MCP Apps: JSON-RPC 2.0 over postMessage with the host, which is the parent window.
// Only data crosses: the tool result arrives as JSON and is rendered as text, never as markup.
const PROTOCOL_VERSION = "2026-01-26";
const host = { capabilities: {}, context: {}, args: {} };
const pending = new Map();
const listeners = new Map();
let lastId = 0;

function post(message) {
  window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
}

function rpc(method, params, timeoutMs = 120000) {
  const id = ++lastId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`${method}: no answer from the host`));
    }, timeoutMs);
    pending.set(id, { resolve, reject, timer });
    post({ id, method, params });
  });
}

function onHost(method, handler) {
  listeners.set(method, handler);
}

window.addEventListener("message", (event) => {
  if (event.source !== window.parent) return;
  const msg = event.data;
  if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0") return;
  if (typeof msg.method !== "string") {
    const waiting = pending.get(msg.id);
    if (!waiting) return;
    pending.delete(msg.id);
    clearTimeout(waiting.timer);
    if (msg.error) waiting.reject(new Error(String(msg.error.message || "the host refused")));
    else waiting.resolve(msg.result || {});
    return;
  }
  if (msg.id === undefined || msg.id === null) {
    const handler = listeners.get(msg.method);
    if (handler) {
      try {
        handler(msg.params || {});
      } catch (err) {
        showProblem(err);
      }
    }
    return;
  }
  // A request from the host: teardown and ping need nothing from us but an answer.
  if (msg.method === "ui/resource-teardown" || msg.method === "ping") post({ id: msg.id, result: {} });
  else post({ id: msg.id, error: { code: -32601, message: `${msg.method} is not handled by this view` } });
});

function applyHostContext(context) {
  if (!context || typeof context !== "object") return;
  Object.assign(host.context, context);
  const root = document.documentElement;
  if (context.theme === "light" || context.theme === "dark") {
    root.dataset.theme = context.theme;
    root.style.colorScheme = context.theme;
  }
  const variables = context.styles && context.styles.variables;
  if (variables && typeof variables === "object") {
    for (const [name, value] of Object.entries(variables)) {
      if (/^--[a-z0-9-]+$/.test(name) && typeof value === "string") root.style.setProperty(name, value);
    }
  }
}

/** The structured result, or the JSON of its first text block for hosts that pass only content. */
function resultData(result) {
  if (result && result.structuredContent && typeof result.structuredContent === "object") {
    return result.structuredContent;
  }
  const block = ((result && result.content) || []).find((b) => b && b.type === "text");
  if (block) {
    try {
      return JSON.parse(block.text);
    } catch {
      return null;
    }
  }
  return null;
}

function resultText(result) {
  return ((result && result.content) || [])
    .filter((b) => b && b.type === "text")
    .map((b) => String(b.text))
    .join("\n");
}

/** Whether the host will forward this view's tool calls to the server (for paging and details). */
function canCallTools() {
  return Boolean(host.capabilities && host.capabilities.serverTools);
}

async function callTool(name, args) {
  const result = await rpc("tools/call", { name, arguments: args });
  if (result.isError) throw new Error(resultText(result) || `${name} failed`);
  const data = resultData(result);
  if (!data) throw new Error(`${name} returned no data`);
  return data;
}

function reportSize() {
  let last = 0;
  const send = () => {
    const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      post({ method: "ui/notifications/size-changed", params: { height } });
    }
  };
  new ResizeObserver(send).observe(document.documentElement);
  send();
}

/** Connect to the host and call `render(data, result)` with each tool result it hands over. */
async function startView(render) {
  onHost("ui/notifications/tool-input", (params) => {
    host.args = params.arguments || {};
  });
  onHost("ui/notifications/tool-result", (result) => {
    if (result.isError) {
      showProblem(new Error(resultText(result) || "the tool call failed"));
      return;
    }
    const data = resultData(result);
    if (!data || typeof data !== "object") {
      showProblem(new Error("the tool result carried no data to show"));
      return;
    }
    const started = performance.now();
    render(data, result);
    document.body.dataset.renderMs = String(Math.round(performance.now() - started));
  });
  onHost("ui/notifications/tool-cancelled", (params) => {
    showProblem(new Error(`The tool call was cancelled${params.reason ? `: ${params.reason}` : ""}.`));
  });
  onHost("ui/notifications/host-context-changed", applyHostContext);
  try {
    const init = await rpc("ui/initialize", {
      appInfo: { name: `opper-mcp ${document.body.dataset.view} view`, version: "1" },
      appCapabilities: {},
      protocolVersion: PROTOCOL_VERSION,
    }, 10000);
    host.capabilities = init.hostCapabilities || {};
    applyHostContext(init.hostContext);
    post({ method: "ui/notifications/initialized", params: {} });
  } catch (err) {
    showProblem(err);
  }
  reportSize();
}

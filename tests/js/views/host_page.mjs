// The browser half of the test host: the official AppBridge, a sandboxed iframe on another origin, and the
// tool result handed over as a host does. Bundled by views_host.mjs with esbuild; the MCP client lives in node.
import { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge';

const HOST_INFO = { name: 'opper-mcp-test-host', version: '1.0.0' };
window.__sizes = [];

window.openView = async ({ viewUrl, tool, args, result, hostContext, height }) => {
  const iframe = document.createElement('iframe');
  iframe.setAttribute('sandbox', 'allow-scripts'); // no allow-same-origin: the view gets an opaque origin
  iframe.title = tool.title || tool.name;
  iframe.style.width = '100%';
  iframe.style.height = `${height}px`;
  iframe.style.border = '0';
  document.getElementById('frame').append(iframe);
  const bridge = new AppBridge(null, HOST_INFO, { serverTools: {}, logging: {} },
    { hostContext: { ...hostContext, toolInfo: { tool }, displayMode: 'inline', platform: 'web' } });
  bridge.oncalltool = async (params) => window.__hostCallTool(params); // proxied to the real server by node
  bridge.onsizechange = ({ height: h }) => { if (h) window.__sizes.push(h); };
  const initialized = new Promise((resolve) => { bridge.oninitialized = resolve; });
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.src = viewUrl;
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  await bridge.sendToolResult(result);
  window.__bridge = bridge;
};

window.setHostContext = (context) => window.__bridge.setHostContext(context);

// The TypeScript SDK's own OAuth client (@modelcontextprotocol/sdk v1) signing a person in to opper-mcp:
// it knows only the server URL, discovers the provider from the first 401, registers itself and runs
// authorization code + PKCE. The person's browser is played by plain HTTP against the provider's
// development login and consent pages (a cookie jar and the forms they show).
//
//   node ts_oauth_client.mjs '{"url": "...", "login": "ivan", "tool": "list_models", "arguments": {...}}'
//
// Prints ONE JSON line: { tools: [names], result: structuredContent, steps: ["METHOD URL -> status", ...] }.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const REDIRECT = 'http://127.0.0.1:1/callback'; // never opened: the redirect to it carries the code
const steps = [];

const originalFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => { // the SDK's own requests, for the transcript
  const response = await originalFetch(input, init);
  steps.push(`${init?.method ?? 'GET'} ${input instanceof Request ? input.url : String(input)} -> ${response.status}`);
  return response;
};

class Browser {
  constructor(login) { this.login = login; this.cookies = new Map(); }

  async go(url, init = {}) {
    const headers = { ...(init.headers ?? {}), cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    const response = await originalFetch(url, { ...init, headers, redirect: 'manual' });
    steps.push(`  (browser) ${init.method ?? 'GET'} ${url} -> ${response.status}`);
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return response;
  }

  // Returns the authorization code the provider redirects back with.
  async signIn(authorizationUrl) {
    let response = await this.go(authorizationUrl);
    for (let i = 0; i < 20; i += 1) {
      if (response.status >= 300 && response.status < 400) {
        const location = new URL(response.headers.get('location'), response.url || authorizationUrl).href;
        if (location.startsWith(REDIRECT)) return new URL(location).searchParams.get('code');
        response = await this.go(location);
        continue;
      }
      const page = await response.text();
      const action = page.match(/<form[^>]*action="([^"]+)"/);
      const prompt = page.match(/name="prompt" value="(\w+)"/);
      if (!action || !prompt) throw new Error(`no sign-in or consent form (${response.status}): ${page.slice(0, 300)}`);
      const form = new URLSearchParams({ prompt: prompt[1] });
      if (prompt[1] === 'login') { form.set('login', this.login); form.set('password', 'any'); }
      response = await this.go(new URL(action[1], authorizationUrl).href, {
        method: 'POST', body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    }
    throw new Error('the provider never redirected back to the client');
  }
}

class Provider { // OAuthClientProvider: what a real client keeps on disk, kept in memory
  constructor(browser) { this.browser = browser; this.code = undefined; }
  get redirectUrl() { return REDIRECT; }
  get clientMetadata() {
    return { client_name: 'ts-sdk test client', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none', application_type: 'native' };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.saved; }
  saveTokens(tokens) { this.saved = tokens; }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }
  async redirectToAuthorization(url) { this.code = await this.browser.signIn(url.href); }
}

async function main() {
  const provider = new Provider(new Browser(config.login));
  let transport;
  const connect = async () => {
    const client = new Client({ name: 'opper-mcp-ts-oauth-test', version: '0.0.0' });
    transport = new StreamableHTTPClientTransport(new URL(config.url), { authProvider: provider });
    await client.connect(transport);
    return { client, transport };
  };
  let session;
  try {
    session = await connect();
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || !provider.code) throw error;
    await transport.finishAuth(provider.code); // the code for a token, then connect again
    session = await connect();
  }
  const { tools } = await session.client.listTools();
  const result = await session.client.callTool({ name: config.tool, arguments: config.arguments ?? {} });
  await session.client.close();
  process.stdout.write(`${JSON.stringify({ tools: tools.map((t) => t.name), result: result.structuredContent ?? null,
    isError: result.isError ?? false, steps })}\n`);
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ error: String(error?.stack ?? error), steps })}\n`);
  process.exit(1);
});

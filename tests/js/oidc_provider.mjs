// A real OpenID Provider (panva's oidc-provider, OpenID Certified) for the OAuth tests of opper-mcp.
//
//   node oidc_provider.mjs '<config JSON>'
//   config: { providers: [{ port, issuer, keysFile }], clockOffsetS, scopes: [read, call] }
//
// Each provider listens on 127.0.0.1:<port> and signs with the private JWKS in keysFile. Several
// providers may name the same issuer and keys (a provider whose clock is an hour off, in another
// process) or the same keys under another issuer (one that must be refused for its `iss`).
// It prints one line, {"ready": [ports...]}, once every provider listens.
//
// What it serves (standard oidc-provider endpoints, discovered by clients from the issuer):
// - JWT access tokens (RFC 9068) for any http(s) resource indicator (RFC 8707), aud = that resource,
//   scope within `scopes`; opaque ones for the client `svc-opaque` (for RFC 7662 introspection);
// - authorization code + PKCE with dynamic client registration and the built-in development
//   login/consent pages (any login name is an account: sub = the name, email = name@example.test);
// - client credentials for the pre-registered clients below;
// - test controls: POST /__test/rotate[?drop=1] puts a new signing key first (drop=1: the old ones go).
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] ?? '{}');
const offsetMs = (config.clockOffsetS ?? 0) * 1000;
if (offsetMs) {
  // The provider's clock is off (a skewed IdP): every token it issues carries shifted iat/exp.
  const realNow = Date.now;
  Date.now = () => realNow() + offsetMs;
}
const [READ, CALL] = config.scopes ?? ['opper-mcp:read', 'opper-mcp:call'];
const SECRET = 'test-secret-0123456789abcdef';
const service = (clientId, scope) => ({
  client_id: clientId, client_secret: SECRET, grant_types: ['client_credentials'], redirect_uris: [],
  response_types: [], token_endpoint_auth_method: 'client_secret_basic', ...(scope ? { scope } : {}),
});

function configuration(jwks) {
  return {
    jwks,
    clients: [
      service('svc-full', `${READ} ${CALL}`),
      service('svc-read', READ),
      service('svc-none'), // asks for no scope: a valid token that grants nothing here
      service('svc-opaque', `${READ} ${CALL}`),
      service('opper-mcp-rs'), // the resource server's own credentials, for introspection
    ],
    scopes: ['openid', 'offline_access', READ, CALL],
    claims: { openid: ['sub'], email: ['email'], profile: ['preferred_username'] },
    async findAccount(ctx, id) {
      return { accountId: id, claims: async () => ({ sub: id, email: `${id}@example.test`, preferred_username: id }) };
    },
    async extraTokenClaims(ctx, token) {
      // Like Keycloak's default access tokens: the person's email and user name ride along.
      return token.accountId ? { email: `${token.accountId}@example.test`, preferred_username: token.accountId } : {};
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator, client) => {
          if (!/^https?:\/\//.test(indicator)) throw new Error('resource indicators are http(s) URLs here');
          return {
            scope: `${READ} ${CALL}`,
            audience: indicator,
            accessTokenTTL: 600,
            accessTokenFormat: client.clientId === 'svc-opaque' ? 'opaque' : 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, ClientCredentials: 600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600 },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    clientBasedCORS: () => true,
    renderError: (ctx, out) => { ctx.type = 'json'; ctx.body = out; },
  };
}

async function newKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, alg: 'RS256', use: 'sig' };
}

async function serve({ port, issuer, keysFile }) {
  let keys = JSON.parse(readFileSync(keysFile, 'utf8'));
  let provider = new Provider(issuer, configuration(keys));
  provider.proxy = true;
  const server = createServer(async (req, res) => {
    if (req.method === 'POST' && req.url.startsWith('/__test/rotate')) {
      const key = await newKey();
      keys = { keys: req.url.includes('drop=1') ? [key] : [key, ...keys.keys] };
      writeFileSync(keysFile, JSON.stringify(keys));
      provider = new Provider(issuer, configuration(keys)); // same in-memory store: grants and clients stay
      provider.proxy = true;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kid: key.kid, kids: keys.keys.map((k) => k.kid) }));
      return;
    }
    provider.callback()(req, res);
  });
  // Keep idle connections for a minute, as identity providers behind load balancers do: node's 5 s default
  // would close a client's pooled connection while its user is still on the login page (on a loaded
  // machine), and the client's next POST (the token request) would meet a closed socket.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise((resolve, reject) => server.listen(port, '127.0.0.1', resolve).on('error', reject));
  return port;
}

const ports = await Promise.all((config.providers ?? []).map(serve));
process.stdout.write(`${JSON.stringify({ ready: ports })}\n`);

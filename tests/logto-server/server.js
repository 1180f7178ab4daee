// Logto-compatible OAuth 2.0 token server for the logto-m2m conformance tests.
//
// It runs the same engine Logto runs (npm `oidc-provider` 9.x) and configures it the way Logto's
// core does for machine-to-machine apps: Logto's own `client_credentials` grant (resource tokens,
// organization tokens), an adapter that answers 400 for unknown clients, ES384 JWT access tokens,
// and Logto's `{code, message, error, error_description}` error envelope.
//
// Usage: node server.js [--config FILE] [--port N] [--port-file FILE]
// See README.md beside this file for the config format and the endpoints.

import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider, { errors } from 'oidc-provider';

const { AccessDenied, InvalidClient, InvalidScope, InvalidTarget } = errors;

// ---------------------------------------------------------------------------------------------
// Command line and config
// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const [key, inline] = eq === -1 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
    if (!['--config', '--port', '--port-file', '--host'].includes(key)) {
      throw new Error(`unknown argument ${arg}`);
    }
    const value = inline ?? argv[(i += 1)];
    if (value === undefined) throw new Error(`missing value for ${key}`);
    out[key.slice(2)] = value;
  }
  return out;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const configPath = path.resolve(args.config ?? process.env.LOGTO_SERVER_CONFIG ?? path.join(here, 'config.json'));
const host = args.host ?? '127.0.0.1';
const port = Number(args.port ?? process.env.LOGTO_SERVER_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${args.port}`);

function fail(message) {
  throw new Error(`${configPath}: ${message}`);
}

/** Reads config.json and turns it into lookup maps, checking that every grant refers to a defined scope. */
function loadConfig(file) {
  const raw = JSON.parse(readFileSync(file, 'utf8'));

  const resources = new Map();
  for (const r of raw.resources ?? []) {
    if (typeof r.indicator !== 'string') fail('every resource needs an "indicator" string');
    if (resources.has(r.indicator)) fail(`duplicate resource ${r.indicator}`);
    const ttl = r.access_token_ttl ?? 3600;
    if (!Number.isInteger(ttl) || ttl <= 0) fail(`resource ${r.indicator}: access_token_ttl must be a positive integer`);
    resources.set(r.indicator, { indicator: r.indicator, ttl, scopes: [...(r.scopes ?? [])] });
  }

  const organizations = new Map();
  for (const o of raw.organizations ?? []) {
    if (typeof o.id !== 'string' || !o.id) fail('every organization needs an "id" string');
    if (organizations.has(o.id)) fail(`duplicate organization ${o.id}`);
    organizations.set(o.id, { id: o.id, scopes: [...(o.scopes ?? [])] });
  }

  const checkResourceScopes = (where, grants) => {
    const out = new Map();
    for (const [indicator, scopes] of Object.entries(grants ?? {})) {
      const resource = resources.get(indicator);
      if (!resource) fail(`${where}: unknown resource ${indicator}`);
      for (const s of scopes) {
        if (!resource.scopes.includes(s)) fail(`${where}: resource ${indicator} has no scope ${s}`);
      }
      out.set(indicator, [...scopes]);
    }
    return out;
  };

  const apps = new Map();
  for (const a of raw.apps ?? []) {
    if (typeof a.id !== 'string' || !a.id) fail('every app needs an "id" string');
    if (typeof a.secret !== 'string' || !a.secret) fail(`app ${a.id}: needs a "secret" string`);
    // RFC 6749 Appendix A: client_id and client_secret are *VSCHAR (%x20-7E); oidc-provider, and so
    // Logto, rejects anything else.
    if (/[^\x20-\x7E]/.test(a.id) || /[^\x20-\x7E]/.test(a.secret)) {
      fail(`app ${a.id}: id and secret may only contain printable ASCII (0x20-0x7E)`);
    }
    if (apps.has(a.id)) fail(`duplicate app ${a.id}`);
    const orgs = new Map();
    for (const [orgId, grant] of Object.entries(a.organizations ?? {})) {
      const org = organizations.get(orgId);
      if (!org) fail(`app ${a.id}: unknown organization ${orgId}`);
      for (const s of grant.scopes ?? []) {
        if (!org.scopes.includes(s)) fail(`app ${a.id}: organization ${orgId} has no scope ${s}`);
      }
      orgs.set(orgId, {
        scopes: [...(grant.scopes ?? [])],
        resourceScopes: checkResourceScopes(`app ${a.id}, organization ${orgId}`, grant.resource_scopes),
      });
    }
    apps.set(a.id, {
      id: a.id,
      secret: a.secret,
      resourceScopes: checkResourceScopes(`app ${a.id}`, a.resource_scopes),
      organizations: orgs,
    });
  }

  const defaultResource = raw.default_resource ?? null;
  if (defaultResource !== null && !resources.has(defaultResource)) {
    fail(`default_resource ${defaultResource} is not a defined resource`);
  }

  return {
    resources,
    organizations,
    apps,
    defaultResource,
    emptyScopeClaimInOrganizationJwt: raw.empty_scope_claim_in_organization_jwt === true,
  };
}

const config = loadConfig(configPath);

// ---------------------------------------------------------------------------------------------
// Logto behaviour
// ---------------------------------------------------------------------------------------------

const ORGANIZATION_TOKEN_TTL = 3600;
const organizationUrn = (id) => `urn:logto:organization:${id}`;
const sharedResourceServerData = { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES384' } } };

/** Logto's English `message` texts for OIDC errors. */
const MESSAGES = {
  invalid_target: 'Invalid resource indicator.',
  invalid_request: 'Request is invalid.',
  access_denied: 'Access denied.',
  unsupported_grant_type: 'Unsupported `grant_type` requested.',
};
const messageFor = (error) => MESSAGES[error] ?? `An OIDC error occurred: oidc.${error}.`;

/**
 * The scopes of a resource an app reaches: through its M2M roles, or, when an organization id is
 * given, through its organization roles' resource scopes in that organization.
 */
function grantedResourceScopes(clientId, indicator, organizationId) {
  const app = config.apps.get(clientId);
  if (!app) return [];
  if (organizationId) {
    return app.organizations.get(organizationId)?.resourceScopes.get(indicator) ?? [];
  }
  return app.resourceScopes.get(indicator) ?? [];
}

async function getResourceServerInfo(ctx, indicator, client) {
  const resource = config.resources.get(indicator);
  if (!resource) throw new InvalidTarget();
  const orgId = ctx.oidc.params?.organization_id ? String(ctx.oidc.params.organization_id) : undefined;
  return {
    ...sharedResourceServerData,
    scope: grantedResourceScopes(client.clientId, indicator, orgId).join(' '),
    accessTokenTTL: resource.ttl,
  };
}

const isEmptyResource = (value) => !value || (Array.isArray(value) && value.length === 0);

/** Resolves `resource` the way oidc-provider's shared resource check does, with Logto's hooks. */
async function resolveResourceServers(ctx) {
  const { params, client, provider } = ctx.oidc;
  const servers = {};
  if (params.resource === undefined) params.resource = config.defaultResource ?? undefined;
  if (params.scope && isEmptyResource(params.resource)) return [];
  if (params.resource === undefined) return [];

  const list = Array.isArray(params.resource) ? params.resource : [params.resource];
  for (const identifier of list) {
    let href;
    try {
      href = new URL(identifier).href;
    } catch {
      throw new InvalidTarget('resource indicator must be an absolute URI');
    }
    if (href.includes('#')) throw new InvalidTarget('resource indicator must not contain a fragment component');
    const info = await getResourceServerInfo(ctx, identifier, client);
    servers[identifier] = new provider.ResourceServer(identifier, info);
  }
  return Object.values(servers);
}

/** Logto's `client_credentials` grant: resource tokens and organization tokens. */
async function clientCredentialsGrant(ctx) {
  const { client, params, provider } = ctx.oidc;
  if (!client) throw new InvalidClient('client must be available');

  const organizationId = params.organization_id ? String(params.organization_id) : undefined;
  const app = config.apps.get(client.clientId);
  if (organizationId && !app?.organizations.has(organizationId)) {
    const error = new AccessDenied('app has not associated with the organization');
    error.status = 403;
    error.statusCode = 403;
    throw error;
  }

  // With an organization id and no resource, the default resource is ignored: organization token.
  const servers = organizationId && !params.resource ? [] : await resolveResourceServers(ctx);
  const { 0: resourceServer, length } = servers;

  if (!organizationId && length === 0) {
    throw new InvalidTarget('both `resource` and `organization_id` are not provided');
  }

  const scopes = params.scope ? [...new Set(String(params.scope).split(' '))] : [];

  if (client.scope) {
    const allowList = new Set(client.scope.split(' '));
    const statics = new Set(['openid', 'offline_access']);
    for (const scope of scopes.filter((s) => statics.has(s))) {
      if (!allowList.has(scope)) throw new InvalidScope('requested scope is not allowed', scope);
    }
  }

  const token = new provider.ClientCredentials({ client, scope: scopes.join(' ') || undefined });

  if (resourceServer) {
    if (length !== 1) {
      throw new InvalidTarget('only a single resource indicator value is supported for this grant type');
    }
    token.resourceServer = resourceServer;
    const granted = new Set(resourceServer.scope.split(' '));
    token.scope = scopes.filter((s) => granted.has(s)).join(' ') || undefined;
  }

  if (organizationId && !resourceServer) {
    const audience = organizationUrn(organizationId);
    const available = app.organizations.get(organizationId).scopes;
    token.aud = audience;
    token.resourceServer = new provider.ResourceServer(audience, {
      ...sharedResourceServerData,
      accessTokenTTL: ORGANIZATION_TOKEN_TTL,
      audience,
      scope: available.join(' '),
    });
    token.scope = available.filter((s) => scopes.includes(s)).join(' ');
  }

  ctx.oidc.entity('ClientCredentials', token);
  const value = await token.save();

  ctx.body = {
    access_token: value,
    expires_in: token.expiration,
    token_type: token.tokenType,
    scope: token.scope,
  };
}

/** Extra JWT claim for organization-scoped resource tokens (Logto puts it first). */
async function extraTokenClaims(ctx, token) {
  const orgId = ctx?.oidc?.params?.organization_id;
  if (token.kind === 'ClientCredentials' && orgId && token.aud !== organizationUrn(String(orgId))) {
    return { organization_id: String(orgId) };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Storage: clients come from the config, everything else lives in memory
// ---------------------------------------------------------------------------------------------

const stores = new Map();

class Adapter {
  constructor(name) {
    this.name = name;
    if (!stores.has(name)) stores.set(name, new Map());
    this.store = stores.get(name);
  }

  async find(id) {
    if (this.name === 'Client') {
      const app = config.apps.get(id);
      // Logto's adapter throws here, which makes an unknown client a 400, not oidc-provider's 401.
      if (!app) throw new InvalidClient(`invalid client ${id}`);
      return {
        client_id: app.id,
        client_secret: app.secret,
        client_name: app.id,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      };
    }
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt && entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async upsert(id, payload, expiresIn) {
    this.store.set(id, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
  }

  async findByUid(uid) {
    for (const [id, { payload }] of this.store) if (payload.uid === uid) return this.find(id);
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [id, { payload }] of this.store) if (payload.userCode === userCode) return this.find(id);
    return undefined;
  }

  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [id, { payload }] of this.store) if (payload.grantId === grantId) this.store.delete(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Test-control counters
// ---------------------------------------------------------------------------------------------

const stats = { token_requests: 0, by_client: {} };

/** The client id a token request claims, for the counters (no validation). */
function claimedClientId(ctx) {
  const known = ctx.oidc?.client?.clientId;
  if (known) return known;
  const auth = ctx.get('authorization');
  if (auth && /^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i !== -1) {
      try {
        return decodeURIComponent(decoded.slice(0, i).replace(/\+/g, '%20'));
      } catch {
        return decoded.slice(0, i);
      }
    }
  }
  const fromParams = ctx.oidc?.params?.client_id ?? ctx.oidc?.body?.client_id;
  return typeof fromParams === 'string' && fromParams ? fromParams : '-';
}

// ---------------------------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------------------------

function createProvider(issuer) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), alg: 'ES384', use: 'sig' };

  const provider = new Provider(issuer, {
    adapter: Adapter,
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    enabledJWA: { idTokenSigningAlgValues: ['ES384'] },
    clientDefaults: {
      grant_types: ['client_credentials'],
      id_token_signed_response_alg: 'ES384',
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => config.defaultResource ?? undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo,
      },
    },
    extraTokenClaims,
    formats: {
      customizers: {
        // Upstream drops an empty `scope` claim; Logto's fork keeps `""` (off by default because
        // the recorded real-Logto organization token has no `scope` claim).
        async jwt(ctx, token, jwt) {
          if (config.emptyScopeClaimInOrganizationJwt && token.scope === '') jwt.payload.scope = '';
        },
      },
    },
    ttl: {
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || 600,
    },
  });

  provider.registerGrantType(
    'client_credentials',
    clientCredentialsGrant,
    ['scope', 'organization_id', 'resource'],
    ['resource'],
  );

  // Counters for POST /token.
  provider.use(async (ctx, next) => {
    if (!(ctx.method === 'POST' && ctx.path === '/token')) return next();
    try {
      return await next();
    } finally {
      const id = claimedClientId(ctx);
      stats.token_requests += 1;
      stats.by_client[id] = (stats.by_client[id] ?? 0) + 1;
    }
  });

  // Logto's error envelope. `?parse_error=false` keeps the raw OAuth body.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/jwks' && ctx.status === 200) ctx.set('Cache-Control', 'no-cache, max-age=0, must-revalidate');
    ctx.set('Access-Control-Expose-Headers', ctx.response.get('Access-Control-Expose-Headers') || 'WWW-Authenticate');
    const body = ctx.body;
    if (ctx.status < 400 || !body || typeof body !== 'object' || typeof body.error !== 'string') return;
    if (ctx.query.parse_error === 'false') return;
    const { error, ...rest } = body;
    ctx.body = {
      code: `oidc.${error}`,
      message: messageFor(error),
      error,
      ...rest,
      ...(error === 'invalid_grant' ? { error_uri: 'https://openid.sh/debug/invalid_grant' } : undefined),
    };
  });

  // Logto accepts JSON bodies at the token endpoint and turns them into form parameters.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === '/token' && ctx.is('application/json')) {
      const chunks = [];
      for await (const chunk of ctx.req) chunks.push(chunk);
      let parsed;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      } catch {
        ctx.status = 400;
        ctx.set('cache-control', 'no-store');
        ctx.body = { error: 'invalid_request', error_description: 'failed to parse the request body' };
        return undefined;
      }
      const form = {};
      for (const [key, value] of Object.entries(parsed)) {
        if (value === undefined || value === null) continue;
        form[key] = Array.isArray(value) ? value.map(String) : String(value);
      }
      ctx.req.body = form;
      ctx.req.headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    return next();
  });

  provider.on('server_error', (ctx, err) => {
    console.error('server_error', ctx.method, ctx.path, err);
  });

  return provider;
}

// ---------------------------------------------------------------------------------------------
// HTTP server: /oidc/* goes to the provider, /__stats and /__reset are test controls
// ---------------------------------------------------------------------------------------------

let providerCallback;

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://localhost');
  if (pathname === '/__stats' && req.method === 'GET') {
    sendJson(res, 200, stats);
  } else if (pathname === '/__reset' && req.method === 'POST') {
    stats.token_requests = 0;
    stats.by_client = {};
    sendJson(res, 200, stats);
  } else if ((pathname === '/oidc' || pathname.startsWith('/oidc/')) && providerCallback) {
    req.originalUrl = req.url;
    req.url = req.url.slice('/oidc'.length) || '/';
    if (req.url.startsWith('?')) req.url = `/${req.url}`;
    providerCallback(req, res);
  } else if (!providerCallback) {
    sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'starting' });
  } else {
    sendJson(res, 404, { error: 'not_found', error_description: `no route for ${req.method} ${pathname}` });
  }
});

server.listen(port, host, () => {
  const actualPort = server.address().port;
  const base = `http://${host}:${actualPort}`;
  const provider = createProvider(`${base}/oidc`);
  providerCallback = provider.callback();
  if (args['port-file']) writeFileSync(args['port-file'], `${actualPort}\n`);
  process.stdout.write(`listening ${base}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}

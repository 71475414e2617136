// A real OpenID Connect provider (oidc-provider 9.13.3, OpenID certified) for integration tests, started by
// scripts/oidc.sh. THROWAWAY TEST SERVICE: in-memory, listens on loopback only, no persistence.
//
// Students and staff of an education platform sign in through an OIDC provider; here each *client* stands for one
// person and gets tokens with the client_credentials grant (no browser, no consent). The person's claims come from the
// client's own metadata (extraClientMetadata): sub, org, teams, role, tier, name.
//
//   POST /token  (basic auth client_id:client_id-secret, grant_type=client_credentials&scope=api)
//       → an RS256 JWT access token: header {alg: RS256, typ: at+jwt, kid}, payload {sub: the person, org, teams,
//         role, tier?, name?, client_id, scope, iss: http://127.0.0.1:PORT, aud: urn:aifleet, iat, exp: iat+300, jti}
//   GET  /.well-known/openid-configuration, GET /jwks      (oidc-provider's own endpoints)
//   POST /test/rotate        → a new signing key (new kid) signs from now on; /jwks serves the new and all old keys.
//                              Returns {"kid": "..."}.
//   GET  /test/jwks-fetches  → {"count": N}: how many times /jwks has been served since start.
//
// Environment: AIFLEET_OIDC_PORT (24480), AIFLEET_OIDC_CLIENTS (optional path to a JSON array of extra people, each
// {client_id, client_secret?, sub, org?, teams?, role?, tier?, name?}; client_secret defaults to client_id + '-secret').
import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';

// Below 32768, outside Linux's ephemeral range (see scripts/postgres.sh).
const port = Number(process.env.AIFLEET_OIDC_PORT || 24480);
const issuer = `http://127.0.0.1:${port}`;
const audience = 'urn:aifleet';

const people = [
  { client_id: 'student-ada', sub: 'ada', org: 'northfield', teams: ['10-b'], role: 'member', name: 'Ada Lovelace' },
  { client_id: 'student-alan', sub: 'alan', org: 'northfield', teams: ['10-b'], role: 'member' },
  { client_id: 'teacher-grace', sub: 'grace', org: 'northfield', teams: ['10-b'], role: 'team_admin' },
  { client_id: 'head-edsger', sub: 'edsger', org: 'northfield', teams: [], role: 'org_admin' },
  { client_id: 'student-other', sub: 'barbara', org: 'southgate', teams: ['7-a'], role: 'member' },
  // No org claim at all: for tests of a token that lacks a required claim.
  { client_id: 'no-org', sub: 'nobody', teams: [], role: 'member' },
];
if (process.env.AIFLEET_OIDC_CLIENTS) {
  const extra = JSON.parse(readFileSync(process.env.AIFLEET_OIDC_CLIENTS, 'utf8'));
  if (!Array.isArray(extra)) throw new Error('AIFLEET_OIDC_CLIENTS must name a JSON array of clients');
  for (const person of extra) {
    const at = people.findIndex((p) => p.client_id === person.client_id);
    if (at >= 0) people.splice(at, 1);  // the file wins over a built-in person of the same client_id
    people.push(person);
  }
}

// The person claims, declared as client metadata so that oidc-provider keeps them on the Client (and validates them).
const personClaims = ['sub', 'org', 'teams', 'role', 'tier', 'name'];
const clients = people.map(({ client_id, client_secret, ...claims }) => ({
  client_id,
  client_secret: client_secret ?? `${client_id}-secret`,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  ...Object.fromEntries(personClaims.filter((k) => claims[k] !== undefined).map((k) => [k, claims[k]])),
}));

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

// Newest first: oidc-provider signs with the first key of the set that fits the algorithm (KeyStore.selectForSign
// filters, then a stable sort by how many of alg/use the key declares, equal for all of ours), and /jwks serves all.
const keys = [newKey()];

// The keystore is fixed when a Provider is constructed, so a rotation builds a new Provider and the outer server
// below delegates to whichever is current. Nothing is lost: the only artefacts are JWTs and the clients are static.
function buildProvider() {
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [...keys] },
    extraClientMetadata: {
      properties: personClaims,
      validator(ctx, key, value) {
        if (value === undefined) return;
        const ok = key === 'teams'
          ? Array.isArray(value) && value.every((t) => typeof t === 'string')
          : typeof value === 'string';
        if (!ok) throw new errors.InvalidClientMetadata(`${key} must be ${key === 'teams' ? 'an array of strings' : 'a string'}`);
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        getResourceServerInfo: () => ({ scope: 'api', audience, accessTokenFormat: 'jwt', accessTokenTTL: 300 }),
      },
    },
    ttl: { ClientCredentials: 300 },
    // org, teams, role, tier, name (when the client has them). They go under the provider's own claims in the JWT,
    // so a `sub` here would be overwritten by the client id: sub is set by the JWT customizer below instead.
    extraTokenClaims(ctx, token) {
      const client = token.client ?? ctx.oidc.client;
      if (!client) return undefined;
      const claims = {};
      for (const k of personClaims) if (k !== 'sub' && client[k] !== undefined) claims[k] = client[k];
      return claims;
    },
    formats: {
      customizers: {
        // For client_credentials oidc-provider sets sub = client_id (there is no account). The person is the sub.
        jwt(ctx, token, jwt) {
          const client = token.client ?? ctx.oidc.client;
          if (client?.sub !== undefined) jwt.payload.sub = client.sub;
        },
      },
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  return provider;
}

const first = buildProvider();
// oidc-provider checks a static client's metadata on first use; check them all now so a bad AIFLEET_OIDC_CLIENTS
// file fails the start, not a test's token request.
for (const { client_id } of clients) {
  await first.Client.find(client_id).catch((err) => {
    console.error(`client ${client_id}: ${err.error_description ?? err.message}`);
    process.exit(1);
  });
}
let handler = first.callback();
let jwksFetches = 0;

const isLoopback = (addr) => addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1';
const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const server = createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path.startsWith('/test/')) {
    // Test-only controls with no authentication: acceptable only because this is a throwaway test service that
    // listens on 127.0.0.1; refused anyway from anything but loopback.
    if (!isLoopback(req.socket.remoteAddress)) return json(res, 403, { error: 'loopback only' });
    if (path === '/test/rotate' && req.method === 'POST') {
      const key = newKey();
      keys.unshift(key);
      handler = buildProvider().callback();
      console.log(`rotated: signing with kid ${key.kid}, ${keys.length} keys on /jwks`);
      return json(res, 200, { kid: key.kid });
    }
    if (path === '/test/jwks-fetches' && req.method === 'GET') return json(res, 200, { count: jwksFetches });
    return json(res, 404, { error: 'not found' });
  }
  if (path === '/jwks' && (req.method === 'GET' || req.method === 'HEAD')) {
    res.on('finish', () => { if (res.statusCode === 200) jwksFetches++; });
  }
  return handler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer} (${clients.length} clients, signing kid ${keys[0].kid})`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

#!/usr/bin/env node
// Replays the recorded Logto token-endpoint requests against a running server and compares every
// response with the recorded real-Logto response.
//
// Usage: node replay-check.mjs [--base http://127.0.0.1:PORT] [--loose-descriptions]
//   --base                 server root (the issuer is BASE/oidc); defaults to $LOGTO_TEST_ENDPOINT
//   --loose-descriptions   report error_description differences without failing on them
//
// It starts nothing: run it under run-with-server.sh, or point it at a server you started.
// The requests are the ones in ../fixtures/logto-token-endpoint-requests.sh (run as is, with curl), so
// the recorded and the replayed requests cannot drift apart.
// Prints `ok <case>` or `FAIL <case>: <reasons>` per case, then `N passed, M failed`.

import { spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixturesDir = path.join(here, '..', 'fixtures');
const requestsScript = path.join(fixturesDir, 'logto-token-endpoint-requests.sh');
const responsesFile = path.join(fixturesDir, 'logto-token-endpoint-responses.txt');

function parseArgs(argv) {
  const out = { loose: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--loose-descriptions') out.loose = true;
    else if (arg === '--base') out.base = argv[(i += 1)];
    else if (arg.startsWith('--base=')) out.base = arg.slice('--base='.length);
    else {
      console.error(`unknown argument ${arg}`);
      process.exit(2);
    }
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
let base = opts.base || process.env.LOGTO_TEST_ENDPOINT;
if (!base || base.includes('$')) {
  console.error('no server: pass --base http://127.0.0.1:PORT or set LOGTO_TEST_ENDPOINT');
  process.exit(2);
}
base = base.replace(/\/+$/, '').replace(/\/oidc$/, '');
const issuer = `${base}/oidc`;
const tokenEndpoint = `${issuer}/token`;

// ---------------------------------------------------------------------------------------------
// Parsing the transcript format the fixture script prints
// ---------------------------------------------------------------------------------------------

const HEADER = /^(cache-control|pragma|www-authenticate|content-type):\s*(.*)$/i;

/** `=== name` blocks; each has status blocks (`HTTP/…` + filtered headers) and a body line. */
function parseTranscript(text) {
  const cases = [];
  let current;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    if (line.startsWith('=== ')) {
      current = { name: line.slice(4), responses: [], bodyLines: [] };
      cases.push(current);
    } else if (!current) {
      continue;
    } else if (/^HTTP\/\S+ \d{3}/.test(line) && current.bodyLines.length === 0) {
      current.responses.push({ status: Number(line.split(' ')[1]), statusLine: line, headers: {} });
    } else if (HEADER.test(line) && current.responses.length && current.bodyLines.length === 0) {
      const [, name, value] = HEADER.exec(line);
      const headers = current.responses.at(-1).headers;
      const key = name.toLowerCase();
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    } else if (line !== '' || current.bodyLines.length) {
      current.bodyLines.push(line);
    }
  }
  for (const c of cases) {
    c.body = c.bodyLines.join('\n').trim();
    delete c.bodyLines;
    c.final = c.responses.at(-1);
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const keysOf = (o) => JSON.stringify(Object.keys(o));

/** `Basic realm="…", error="…"` → { scheme, params }. */
function parseChallenge(value) {
  const m = /^(\S+)\s+(.*)$/.exec(value.trim());
  if (!m) return { scheme: value.trim(), params: {} };
  const params = {};
  const re = /([A-Za-z_]+)="((?:[^"\\]|\\.)*)"/g;
  let p;
  while ((p = re.exec(m[2]))) params[p[1]] = p[2].replace(/\\(.)/g, '$1');
  return { scheme: m[1], params };
}

function checkDescription(problems, notes, what, expected, actual) {
  if (expected === actual) return;
  const msg = `${what} ${JSON.stringify(actual)} != recorded ${JSON.stringify(expected)}`;
  (opts.loose ? notes : problems).push(msg);
}

function checkJwt(problems, token, recordedToken, body, jwks) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) {
    problems.push('access_token is not a compact JWS');
    return;
  }
  const [rh, rp] = recordedToken.split('.').map((x, i) => (i < 2 ? b64json(x) : x));
  let header;
  let payload;
  try {
    header = b64json(parts[0]);
    payload = b64json(parts[1]);
  } catch {
    problems.push('access_token header/payload is not base64url JSON');
    return;
  }
  if (keysOf(header) !== keysOf(rh)) problems.push(`JWT header keys ${keysOf(header)} != recorded ${keysOf(rh)}`);
  if (header.alg !== 'ES384') problems.push(`JWT alg ${header.alg} != ES384`);
  if (header.typ !== 'at+jwt') problems.push(`JWT typ ${header.typ} != at+jwt`);
  const jwk = jwks.find((k) => k.kid === header.kid);
  if (!jwk) {
    problems.push(`JWT kid ${header.kid} not in ${issuer}/jwks`);
  } else {
    const ok = verify(
      'sha384',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
      Buffer.from(parts[2], 'base64url'),
    );
    if (!ok) problems.push('JWT signature does not verify with the JWKS key');
  }
  if (keysOf(payload) !== keysOf(rp)) problems.push(`JWT claims ${keysOf(payload)} != recorded ${keysOf(rp)}`);
  for (const claim of ['aud', 'scope', 'sub', 'client_id', 'organization_id']) {
    if (JSON.stringify(payload[claim]) !== JSON.stringify(rp[claim])) {
      problems.push(`JWT ${claim} ${JSON.stringify(payload[claim])} != recorded ${JSON.stringify(rp[claim])}`);
    }
  }
  if (payload.iss !== issuer) problems.push(`JWT iss ${payload.iss} != ${issuer}`);
  if (typeof payload.jti !== 'string' || !payload.jti) problems.push('JWT jti missing');
  if (payload.exp - payload.iat !== rp.exp - rp.iat) {
    problems.push(`JWT exp-iat ${payload.exp - payload.iat} != recorded ${rp.exp - rp.iat}`);
  }
  if (payload.exp - payload.iat !== body.expires_in) problems.push('JWT exp-iat != expires_in');
  if (Math.abs(payload.iat - Date.now() / 1000) > 300) problems.push(`JWT iat ${payload.iat} is not now`);
}

function compareCase(recorded, actual, jwks) {
  const problems = [];
  const notes = [];
  if (!actual) return { problems: ['no response replayed'], notes };
  const exp = recorded.final;
  const got = actual.final;
  if (!got) return { problems: ['no HTTP status line in the replay'], notes };

  if (got.status !== exp.status) problems.push(`status ${got.status} != recorded ${exp.status}`);

  for (const name of ['cache-control', 'content-type', 'pragma']) {
    const e = exp.headers[name];
    const a = got.headers[name];
    if ((e === undefined) !== (a === undefined)) {
      problems.push(`${name} ${a === undefined ? 'missing' : `present (${a})`}, recorded ${e === undefined ? 'absent' : e}`);
    } else if (e !== undefined && e.toLowerCase().replace(/\s+/g, '') !== a.toLowerCase().replace(/\s+/g, '')) {
      problems.push(`${name} ${JSON.stringify(a)} != recorded ${JSON.stringify(e)}`);
    }
  }

  const ew = exp.headers['www-authenticate'];
  const aw = got.headers['www-authenticate'];
  if ((ew === undefined) !== (aw === undefined)) {
    problems.push(`WWW-Authenticate ${aw === undefined ? 'missing' : 'unexpected'}`);
  } else if (ew !== undefined) {
    const e = parseChallenge(ew);
    const a = parseChallenge(aw);
    if (a.scheme !== e.scheme) problems.push(`WWW-Authenticate scheme ${a.scheme} != ${e.scheme}`);
    if (keysOf(a.params) !== keysOf(e.params)) problems.push(`WWW-Authenticate params ${keysOf(a.params)} != ${keysOf(e.params)}`);
    if (a.params.realm !== issuer) problems.push(`WWW-Authenticate realm ${a.params.realm} != ${issuer}`);
    if (a.params.error !== e.params.error) problems.push(`WWW-Authenticate error ${a.params.error} != ${e.params.error}`);
    checkDescription(problems, notes, 'WWW-Authenticate error_description', e.params.error_description, a.params.error_description);
  }

  let eb;
  let ab;
  try {
    eb = JSON.parse(recorded.body);
  } catch {
    return { problems: [...problems, 'recorded body is not JSON'], notes };
  }
  try {
    ab = JSON.parse(actual.body);
  } catch {
    return { problems: [...problems, `body is not JSON: ${actual.body.slice(0, 200)}`], notes };
  }
  if (keysOf(ab) !== keysOf(eb)) problems.push(`body keys ${keysOf(ab)} != recorded ${keysOf(eb)}`);

  if ('error' in eb) {
    for (const key of ['code', 'message', 'error', 'error_uri', 'scope']) {
      if (ab[key] !== eb[key]) problems.push(`${key} ${JSON.stringify(ab[key])} != recorded ${JSON.stringify(eb[key])}`);
    }
    checkDescription(problems, notes, 'error_description', eb.error_description, ab.error_description);
  } else {
    for (const key of ['token_type', 'expires_in', 'scope']) {
      if (JSON.stringify(ab[key]) !== JSON.stringify(eb[key])) {
        problems.push(`${key} ${JSON.stringify(ab[key])} != recorded ${JSON.stringify(eb[key])}`);
      }
    }
    if (typeof eb.access_token === 'string') checkJwt(problems, ab.access_token, eb.access_token, ab, jwks);
  }
  return { problems, notes };
}

/**
 * The last recorded case sent the same request twice (plain, then `?parse_error=false`); the
 * transcript only keeps the plain body. Check the raw body of the second request here.
 */
async function checkRawErrorBody(problems) {
  const res = await fetch(`${tokenEndpoint}?parse_error=false`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('m2m-app:m2m-secret').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://unknown.example.com' }),
  });
  const body = await res.json().catch(() => undefined);
  if (res.status !== 400) problems.push(`parse_error=false status ${res.status} != 400`);
  if (!body || keysOf(body) !== keysOf({ error: 0, error_description: 0 })) {
    problems.push(`parse_error=false body ${JSON.stringify(body)} is not the raw {error, error_description}`);
  } else if (body.error !== 'invalid_target') {
    problems.push(`parse_error=false error ${body.error} != invalid_target`);
  }
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

const recorded = parseTranscript(readFileSync(responsesFile, 'utf8'));

if (spawnSync('curl', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error('curl is required to run the fixture requests');
  process.exit(2);
}

let jwks;
try {
  const res = await fetch(`${issuer}/jwks`);
  jwks = (await res.json()).keys;
  if (!Array.isArray(jwks)) throw new Error(`no keys (status ${res.status})`);
} catch (err) {
  console.error(`cannot read ${issuer}/jwks: ${err.message}`);
  process.exit(2);
}

const scratch = mkdtempSync(path.join(tmpdir(), 'logto-replay-'));
let run;
try {
  run = spawnSync('bash', [requestsScript], {
    env: { ...process.env, U: tokenEndpoint, TMPDIR: scratch },
    encoding: 'utf8',
    timeout: 120_000,
  });
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (run.error || run.status !== 0) {
  console.error(`fixture script failed: ${run.error?.message ?? `exit ${run.status}`}\n${run.stderr ?? ''}`);
  process.exit(2);
}
const replayed = new Map(parseTranscript(run.stdout).map((c) => [c.name, c]));

let passed = 0;
let failed = 0;
for (const rec of recorded) {
  const { problems, notes } = compareCase(rec, replayed.get(rec.name), jwks);
  if (rec.name.includes('parse_error=false')) await checkRawErrorBody(problems);
  if (problems.length === 0) {
    passed += 1;
    console.log(`ok ${rec.name}${notes.length ? ` (note: ${notes.join('; ')})` : ''}`);
  } else {
    failed += 1;
    console.log(`FAIL ${rec.name}: ${[...problems, ...notes].join('; ')}`);
  }
}
if (recorded.length === 0) {
  failed += 1;
  console.log(`FAIL fixtures: no cases found in ${responsesFile}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

// Smoke probe of the dev PDS's OAuth server with an atproto loopback client
// (public client, PKCE, DPoP). Node built-ins only; run with Node 22:
//
//   testenv/node_modules/.bin/node testenv/scripts/oauth-probe.mjs [flags]
//     --pds URL              default http://localhost:2583
//     --redirect-port N      loopback redirect port in the client_id (default 8765;
//                            nothing needs to listen there)
//     --scope S              default "atproto transition:generic"
//     --login-hint H --prompt P
//     --par-only             stop after PAR and print the authorize URL (to open
//                            in a browser: the first GET binds the request to
//                            that browser's device cookie)
//     --dump-html            print the authorization page HTML
//     --full                 complete the flow without a browser: sign in as
//                            --username/--password through the UI's JSON API
//                            (faking the browser's Fetch-Metadata headers,
//                            Origin/Referer and CSRF cookie), consent, follow
//                            the redirect, exchange the code, call getSession
//                            with the DPoP-bound token
//     --username U --password P   default alice.test / alice-pass
//     --get-profile ACTOR    (with --full) app.bsky.actor.getProfile through the
//                            PDS with the OAuth token (needs --appview network)
//     --wait-expiry          (with --full) wait until the access token expires
//                            and check that the PDS rejects it
//
// Prints each step; exits non-zero if an expectation fails.
import crypto from 'node:crypto'
import http from 'node:http'
import { parseArgs } from 'node:util'

const { values: opt } = parseArgs({
  options: {
    pds: { type: 'string', default: 'http://localhost:2583' },
    'redirect-port': { type: 'string', default: '8765' },
    scope: { type: 'string', default: 'atproto transition:generic' },
    'login-hint': { type: 'string' },
    prompt: { type: 'string' },
    'dump-html': { type: 'boolean' },
    full: { type: 'boolean' },
    username: { type: 'string', default: 'alice.test' },
    password: { type: 'string', default: 'alice-pass' },
    'wait-expiry': { type: 'boolean' },
    'get-profile': { type: 'string' },
    'par-only': { type: 'boolean' },
  },
})

const b64u = (buf) => Buffer.from(buf).toString('base64url')
const sha256 = (s) => crypto.createHash('sha256').update(s).digest()
const fail = (msg) => {
  console.error(`FAIL: ${msg}`)
  process.exit(1)
}
const step = (...a) => console.log('-', ...a)

// ---------------------------------------------------------------- DPoP
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
const jwk = { kty, crv, x, y }
let dpopNonce // latest nonce seen (single origin: AS == RS here)

function dpopProof(htm, url, accessToken) {
  const u = new URL(url)
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk }
  const payload = {
    jti: b64u(crypto.randomBytes(16)),
    htm,
    htu: u.origin + u.pathname,
    iat: Math.floor(Date.now() / 1000),
    ...(dpopNonce && { nonce: dpopNonce }),
    ...(accessToken && { ath: b64u(sha256(accessToken)) }),
  }
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${b64u(sig)}`
}

// Sends a DPoP request; retries once on a use_dpop_nonce challenge.
async function dpopFetch(method, url, { form, accessToken } = {}, retried = false) {
  const res = await fetch(url, {
    method,
    headers: {
      dpop: dpopProof(method, url, accessToken),
      ...(form && { 'content-type': 'application/x-www-form-urlencoded' }),
      ...(accessToken && { authorization: `DPoP ${accessToken}` }),
    },
    body: form && new URLSearchParams(form),
  })
  const text = await res.text()
  let body
  try { body = JSON.parse(text) } catch { body = text }
  const nonce = res.headers.get('dpop-nonce')
  const challenged =
    body?.error === 'use_dpop_nonce' ||
    /use_dpop_nonce/.test(res.headers.get('www-authenticate') ?? '')
  step(`${method} ${new URL(url).pathname} -> ${res.status}`,
    challenged ? '(use_dpop_nonce challenge)' : '',
    typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body).slice(0, 300))
  if (nonce) dpopNonce = nonce
  if (challenged && !retried) {
    return { ...(await dpopFetch(method, url, { form, accessToken }, true)), challenged: true }
  }
  return { res, body, challenged }
}

// fetch() (undici) forces its own Sec-Fetch-Mode ("cors"), so browser-like
// requests go through node:http instead.
function browserRequest(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({
        status: res.statusCode,
        ok: res.statusCode >= 200 && res.statusCode < 300,
        headers: {
          get: (n) => { const v = res.headers[n.toLowerCase()]; return Array.isArray(v) ? v.join(', ') : v ?? null },
          getSetCookie: () => res.headers['set-cookie'] ?? [],
        },
        text: async () => Buffer.concat(chunks).toString('utf8'),
        json: async () => JSON.parse(Buffer.concat(chunks).toString('utf8')),
      }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

// ---------------------------------------------------------------- cookies
// Minimal jar. The provider's cookies are "Secure"; browsers (and this jar)
// still send them to http://localhost, Go's net/http/cookiejar would not.
const jar = new Map()
function keepCookies(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';')
    const i = pair.indexOf('=')
    const name = pair.slice(0, i).trim()
    const value = pair.slice(i + 1).trim()
    if (value === '' || /max-age=0/i.test(c)) jar.delete(name)
    else jar.set(name, value)
  }
}
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')

// ---------------------------------------------------------------- flow
const redirectUri = `http://127.0.0.1:${opt['redirect-port']}/callback`
const clientId =
  'http://localhost?' +
  new URLSearchParams({ redirect_uri: redirectUri, scope: opt.scope }).toString()
console.log('client_id:', clientId)

const prm = await (await fetch(new URL('/.well-known/oauth-protected-resource', opt.pds))).json()
const asUrl = prm.authorization_servers[0]
const meta = await (await fetch(new URL('/.well-known/oauth-authorization-server', asUrl))).json()
step('protected resource', prm.resource, '-> authorization server', asUrl, '; AS issuer', meta.issuer)
if (meta.issuer !== asUrl) fail('issuer mismatch')

const verifier = b64u(crypto.randomBytes(32))
const state = b64u(crypto.randomBytes(16))
const parForm = {
  client_id: clientId,
  response_type: 'code',
  redirect_uri: redirectUri,
  scope: opt.scope,
  state,
  code_challenge: b64u(sha256(verifier)),
  code_challenge_method: 'S256',
  ...(opt['login-hint'] && { login_hint: opt['login-hint'] }),
  ...(opt.prompt && { prompt: opt.prompt }),
}
const par = await dpopFetch('POST', meta.pushed_authorization_request_endpoint, { form: parForm })
if (!par.challenged) fail('expected a use_dpop_nonce challenge on the first PAR')
if (par.res.status !== 201 || !par.body?.request_uri) fail('expected 201 with request_uri')

const authUrl = new URL(meta.authorization_endpoint)
authUrl.searchParams.set('client_id', clientId)
authUrl.searchParams.set('request_uri', par.body.request_uri)
console.log('authorize URL:', authUrl.href)
if (opt['par-only']) process.exit(0)

// The authorization endpoint only serves real browser navigations
// (Sec-Fetch-Mode: navigate, Sec-Fetch-Dest: document, Sec-Fetch-Site set).
const page = await browserRequest('GET', authUrl, {
    'sec-fetch-site': 'cross-site',
    'sec-fetch-mode': 'navigate',
    'sec-fetch-dest': 'document',
    'user-agent': 'atoauth-testenv-probe',
})
keepCookies(page)
const html = await page.text()
step(`GET /oauth/authorize -> ${page.status}`, page.headers.get('content-type'),
  `${html.length} bytes; cookies: ${[...jar.keys()].join(', ')}`,
  page.headers.get('location') ? `location=${page.headers.get('location')}` : '')
if (opt['dump-html']) console.log(html)
if (page.status === 303) {
  console.log('redirected straight back to the client:', page.headers.get('location'))
  process.exit(0)
}
if (page.status !== 200 || !/text\/html/.test(page.headers.get('content-type') ?? '')) {
  fail('expected the HTML authorization page')
}
const m = html.match(/window\["__authorizeData"\]=JSON\.parse\("((?:[^"\\]|\\.)*)"\)/)
if (m) {
  const data = JSON.parse(JSON.parse(`"${m[1]}"`))
  step('__authorizeData:', JSON.stringify({
    clientId: data.clientId, clientTrusted: data.clientTrusted,
    clientFirstParty: data.clientFirstParty, promptMode: data.promptMode,
    loginHint: data.loginHint, scope: data.scope, sessions: data.sessions?.length,
  }))
}
if (!opt.full) {
  console.log('OK (use --full to complete the flow without a browser)')
  process.exit(0)
}

const origin = new URL(meta.issuer).origin
async function api(endpoint, body, bearer) {
  const res = await browserRequest('POST', new URL(`/@atproto/oauth-provider/~api${endpoint}`, origin), {
      'content-type': 'application/json',
      'sec-fetch-mode': 'same-origin',
      'sec-fetch-site': 'same-origin',
      'sec-fetch-dest': 'empty',
      origin,
      referer: authUrl.href,
      'x-csrf-token': jar.get('csrf-token') ?? '',
      cookie: cookieHeader(),
      ...(bearer && { authorization: `Bearer ${bearer}` }),
  }, JSON.stringify(body))
  keepCookies(res)
  const json = await res.json()
  step(`POST ~api${endpoint} -> ${res.status}`, JSON.stringify(json).slice(0, 300))
  if (!res.ok) fail(`${endpoint} failed`)
  return json
}

const signIn = await api('/sign-in', { locale: 'en', username: opt.username, password: opt.password })
const consent = await api('/consent', { did: signIn.account.did }, signIn.ephemeralToken)

const redir = await browserRequest('GET', consent.url, {
  'sec-fetch-site': 'same-origin',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  origin,
  referer: authUrl.href,
  cookie: cookieHeader(),
})
const location = redir.headers.get('location')
step(`GET /oauth/authorize/redirect -> ${redir.status} location=${location}`)
if (redir.status !== 303 || !location) fail('expected a 303 to the redirect_uri')
const cb = new URL(location)
if (cb.origin + cb.pathname !== redirectUri) fail('wrong redirect_uri')
if (cb.searchParams.get('state') !== state) fail('state mismatch')
if (cb.searchParams.get('iss') !== meta.issuer) fail('iss mismatch')
const code = cb.searchParams.get('code')
if (!code) fail(`no code: ${cb.search}`)

const tok = await dpopFetch('POST', meta.token_endpoint, {
  form: {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: clientId,
  },
})
if (tok.res.status !== 200) fail('token request failed')
const { access_token, refresh_token, expires_in, token_type, sub, scope } = tok.body
step('token:', JSON.stringify({ token_type, sub, scope, expires_in, has_refresh: !!refresh_token }))
const claims = JSON.parse(Buffer.from(access_token.split('.')[1], 'base64url'))
step('access token claims:', JSON.stringify({ ...claims, lifetime_s: claims.exp - claims.iat }))

const sessUrl = new URL('/xrpc/com.atproto.server.getSession', opt.pds).href
const sess = await dpopFetch('GET', sessUrl, { accessToken: access_token })
if (sess.res.status !== 200 || sess.body.did !== sub) fail('getSession with the access token failed')

if (opt['get-profile']) {
  const u = new URL('/xrpc/app.bsky.actor.getProfile', opt.pds)
  u.searchParams.set('actor', opt['get-profile'])
  const prof = await dpopFetch('GET', u.href, { accessToken: access_token })
  if (prof.res.status !== 200) fail('getProfile through the PDS failed')
}

if (opt['wait-expiry']) {
  const waitMs = claims.exp * 1000 - Date.now() + 1500
  step(`waiting ${Math.round(waitMs / 1000)}s for the access token to expire`)
  await new Promise((r) => setTimeout(r, waitMs))
  const after = await dpopFetch('GET', sessUrl, { accessToken: access_token })
  if (after.res.status !== 401) fail('expired token was accepted')
  step('WWW-Authenticate:', after.res.headers.get('www-authenticate'))
  const ref = await dpopFetch('POST', meta.token_endpoint, {
    form: { grant_type: 'refresh_token', refresh_token, client_id: clientId },
  })
  if (ref.res.status !== 200) fail('refresh failed')
  const again = await dpopFetch('GET', sessUrl, { accessToken: ref.body.access_token })
  if (again.res.status !== 200) fail('refreshed token rejected')
}
console.log('OK')

// Drives the dev PDS's OAuth sign-in + consent UI in headless Chromium (Debian
// package "chromium", not installed by install.sh) through the DevTools
// protocol, as an atoauth loopback client would have a user do.
// Node 22 built-ins only (global WebSocket).
//
//   testenv/node_modules/.bin/node testenv/scripts/browser-probe.mjs \
//     [--pds http://localhost:2583] [--username alice.test] [--password alice-pass]
//     [--redirect-port 8765] [--no-login-hint] [--shots DIR] [--chromium PATH]
//
// Starts a callback server on 127.0.0.1:<redirect-port>, PARs with DPoP,
// opens the authorization URL in Chromium, fills the sign-in form, clicks the
// consent button, and checks that the callback receives code/state/iss.
// Prints the visible text and buttons of each page; --shots saves PNGs.
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values: opt } = parseArgs({
  options: {
    pds: { type: 'string', default: 'http://localhost:2583' },
    username: { type: 'string', default: 'alice.test' },
    password: { type: 'string', default: 'alice-pass' },
    'redirect-port': { type: 'string', default: '8765' },
    'no-login-hint': { type: 'boolean' },
    shots: { type: 'string' },
    chromium: { type: 'string', default: 'chromium' },
    'debug-port': { type: 'string', default: '9333' },
  },
})
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const b64u = (b) => Buffer.from(b).toString('base64url')
const log = (...a) => console.log('-', ...a)
let chrome
const fail = (msg) => {
  console.error(`FAIL: ${msg}`)
  chrome?.kill('SIGKILL')
  process.exit(1)
}

// ------------------------------------------------------------ callback server
let callbackResolve
const callback = new Promise((r) => (callbackResolve = r))
const cbServer = http
  .createServer((req, res) => {
    const u = new URL(req.url, `http://${req.headers.host}`)
    if (u.pathname === '/callback') callbackResolve(u)
    res.setHeader('content-type', 'text/plain')
    res.end('callback received')
  })
  .listen(Number(opt['redirect-port']), '127.0.0.1')

// ------------------------------------------------------------ PAR (DPoP)
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
function proof(htm, htu, nonce) {
  const h = { typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }
  const p = { jti: b64u(crypto.randomBytes(16)), htm, htu, iat: Math.floor(Date.now() / 1000), ...(nonce && { nonce }) }
  const input = `${b64u(JSON.stringify(h))}.${b64u(JSON.stringify(p))}`
  return `${input}.${b64u(crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }))}`
}
const redirectUri = `http://127.0.0.1:${opt['redirect-port']}/callback`
const scope = 'atproto transition:generic'
const clientId = 'http://localhost?' + new URLSearchParams({ redirect_uri: redirectUri, scope })
const meta = await (await fetch(new URL('/.well-known/oauth-authorization-server', opt.pds))).json()
const state = b64u(crypto.randomBytes(16))
const form = new URLSearchParams({
  client_id: clientId,
  response_type: 'code',
  redirect_uri: redirectUri,
  scope,
  state,
  code_challenge: b64u(crypto.createHash('sha256').update(b64u(crypto.randomBytes(32))).digest()),
  code_challenge_method: 'S256',
  ...(!opt['no-login-hint'] && { login_hint: opt.username }),
})
let nonce
let par
for (let i = 0; i < 2; i++) {
  const res = await fetch(meta.pushed_authorization_request_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof('POST', meta.pushed_authorization_request_endpoint, nonce) },
    body: form,
  })
  nonce = res.headers.get('dpop-nonce') ?? nonce
  par = await res.json()
  if (res.status === 201) break
}
if (!par.request_uri) fail(`PAR failed: ${JSON.stringify(par)}`)
const authUrl = new URL(meta.authorization_endpoint)
authUrl.searchParams.set('client_id', clientId)
authUrl.searchParams.set('request_uri', par.request_uri)
log('authorize URL', authUrl.href)

// ------------------------------------------------------------ Chromium + CDP
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'atoauth-chromium-'))
chrome = spawn(opt.chromium, [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--no-default-browser-check', '--no-proxy-server', '--disable-extensions',
  `--user-data-dir=${profile}`, `--remote-debugging-port=${opt['debug-port']}`,
  '--window-size=1000,1000', 'about:blank',
], { stdio: 'ignore' })
const chromeExited = new Promise((r) => chrome.once('exit', r))
async function cleanup() {
  ws?.close()
  chrome.kill('SIGTERM')
  await Promise.race([chromeExited, sleep(5000)])
  chrome.kill('SIGKILL')
  cbServer.close()
  fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 })
}

let target
for (let i = 0; i < 100 && !target; i++) {
  try {
    const list = await (await fetch(`http://127.0.0.1:${opt['debug-port']}/json/list`)).json()
    target = list.find((t) => t.type === 'page')
  } catch {}
  if (!target) await sleep(100)
}
if (!target) fail('Chromium did not start')
var ws = new WebSocket(target.webSocketDebuggerUrl)
await new Promise((r, j) => { ws.onopen = r; ws.onerror = j })
let seq = 0
const pending = new Map()
ws.onmessage = (ev) => {
  const msg = JSON.parse(ev.data)
  if (msg.id && pending.has(msg.id)) {
    const { resolve, reject } = pending.get(msg.id)
    pending.delete(msg.id)
    msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result)
  }
}
const cdp = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = ++seq
    pending.set(id, { resolve, reject })
    ws.send(JSON.stringify({ id, method, params }))
  })
const evaluate = async (expression) =>
  (await cdp('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true })).result.value
async function waitFor(expression, what, ms = 15000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    try { if (await evaluate(expression)) return } catch {}
    await sleep(100)
  }
  fail(`timed out waiting for ${what}`)
}
let shot = 0
async function describe(name) {
  const info = await evaluate(`({
    url: location.href,
    text: document.body.innerText.replace(/\\s+\\n/g, '\\n').slice(0, 600),
    buttons: [...document.querySelectorAll('button')].map(b => b.innerText.trim() || b.getAttribute('aria-label')).filter(Boolean),
    inputs: [...document.querySelectorAll('input:not([aria-hidden])')].map(i => ({ type: i.type, name: i.name, autocomplete: i.autocomplete, value: i.type === 'password' ? '***' : i.value })),
  })`)
  log(`${name}:`, JSON.stringify(info, null, 1))
  if (opt.shots) {
    fs.mkdirSync(opt.shots, { recursive: true })
    const { data } = await cdp('Page.captureScreenshot', { format: 'png' })
    const file = path.join(opt.shots, `${++shot}-${name}.png`)
    fs.writeFileSync(file, Buffer.from(data, 'base64'))
    log('screenshot', file)
  }
}
const clickButton = (label) =>
  evaluate(`(() => { const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === ${JSON.stringify(label)}); if (!b) return false; b.click(); return true })()`)

await cdp('Page.enable')
await cdp('Runtime.enable')
await cdp('Page.navigate', { url: authUrl.href })

if (opt['no-login-hint']) {
  await waitFor(`[...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Sign in')`, 'welcome page')
  await describe('welcome')
  await clickButton('Sign in')
  await waitFor(`!!document.querySelector('input[autocomplete=username]')`, 'username field')
  await evaluate(`document.querySelector('input[autocomplete=username]').focus()`)
  await cdp('Input.insertText', { text: opt.username })
}
await waitFor(`!!document.querySelector('input[type=password]')`, 'sign-in form')
await describe('sign-in')
await evaluate(`document.querySelector('input[type=password]').focus()`)
await cdp('Input.insertText', { text: opt.password })
await evaluate(`document.querySelector('button[type=submit]').click()`)

// Consent ("Authorize") page for untrusted public clients such as loopback ones.
await waitFor(
  `!document.querySelector('input[type=password]') && [...document.querySelectorAll('button')].some(b => /authorize|accept|allow/i.test(b.innerText))`,
  'consent page',
)
await describe('consent')
const accepted = await evaluate(`(() => { const b = [...document.querySelectorAll('button')].find(b => /^(authorize|accept|allow)$/i.test(b.innerText.trim())); if (!b) return null; b.click(); return b.innerText.trim() })()`)
log('clicked', accepted)

const cb = await Promise.race([callback, sleep(15000).then(() => null)])
if (!cb) fail('callback not reached')
log('callback', cb.href)
if (cb.searchParams.get('state') !== state) fail('state mismatch')
if (cb.searchParams.get('iss') !== meta.issuer) fail('iss mismatch')
if (!cb.searchParams.get('code')) fail(`no code: ${cb.search}`)
await cleanup()
console.log('OK')
process.exit(0)

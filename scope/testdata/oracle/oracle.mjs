// oracle.mjs answers atoauth's scope differential test with the reference
// implementation, @atproto/oauth-scopes. It reads one JSON document on
// stdin:
//   {"scopes": ["repo:...", ...],
//    "checks": [{"granted": "atproto ...", "req": {"resource": "repo", ...}}, ...]}
// and writes one JSON document on stdout:
//   {"version": "0.5.12",
//    "scopes": [{"valid": true, "normalized": "repo:..."}, ...],
//    "checks": [{"allowed": true, "needed": "repo:...?action=create"}, ...]}
import { readFileSync } from 'node:fs'
import {
  isAtprotoOauthScope,
  normalizeAtprotoOauthScopeValue,
  ScopePermissionsTransition,
  AccountPermission,
  BlobPermission,
  IdentityPermission,
  RepoPermission,
  RpcPermission,
} from '@atproto/oauth-scopes'

const { version } = JSON.parse(
  readFileSync(new URL('./node_modules/@atproto/oauth-scopes/package.json', import.meta.url), 'utf8'),
)

// The reference throws (URIError) on a malformed positional escape: the
// token is then not a scope it can read.
function attempt(fn, fallback) {
  try {
    return fn()
  } catch {
    return fallback
  }
}

const input = JSON.parse(readFileSync(0, 'utf8'))
const scopes = input.scopes.map((s) => {
  const valid = attempt(() => isAtprotoOauthScope(s), false)
  const normalized = valid ? normalizeAtprotoOauthScopeValue(s) : null
  return { valid, normalized }
})

const needed = {
  account: AccountPermission,
  blob: BlobPermission,
  identity: IdentityPermission,
  repo: RepoPermission,
  rpc: RpcPermission,
}
const checks = input.checks.map(({ granted, req }) => {
  const perms = new ScopePermissionsTransition(granted)
  const { resource, ...opts } = req
  let allowed
  switch (resource) {
    case 'repo': allowed = attempt(() => perms.allowsRepo(opts), false); break
    case 'blob': allowed = attempt(() => perms.allowsBlob(opts), false); break
    case 'rpc': allowed = attempt(() => perms.allowsRpc(opts), false); break
    case 'account': allowed = attempt(() => perms.allowsAccount(opts), false); break
    case 'identity': allowed = attempt(() => perms.allowsIdentity(opts), false); break
    default: throw new Error(`unknown resource ${resource}`)
  }
  return { allowed, needed: needed[resource].scopeNeededFor(opts) }
})

process.stdout.write(JSON.stringify({ version, scopes, checks }))

// Test-environment-only patch for @atproto/oauth-provider: make the access
// token lifetime (TOKEN_MAX_AGE, 60 minutes upstream) overridable with the
// env var ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS, read when the module loads.
//
// Usage: node patch-token-max-age.mjs [--check]
//   (no flag)  apply the patch if needed (idempotent)
//   --check    exit 0 if applied, 1 if not
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const file = path.join(
  here,
  '..',
  'node_modules/@atproto/oauth-provider/dist/oauth-constants.js',
)
const MARKER = 'atoauth-testenv:token-max-age'
const ORIGINAL = 'export const TOKEN_MAX_AGE = 60 * MINUTE;'
const PATCHED =
  `export const TOKEN_MAX_AGE = (() => { /* ${MARKER} */\n` +
  `    const raw = process.env.ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS;\n` +
  `    if (raw == null || raw === '') return 60 * MINUTE;\n` +
  `    const n = Number(raw);\n` +
  `    if (!Number.isFinite(n) || n <= 0) throw new Error('invalid ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS=' + raw);\n` +
  `    return n * SECOND;\n` +
  `})();`

const src = fs.readFileSync(file, 'utf8')
const applied = src.includes(MARKER)

if (process.argv.includes('--check')) {
  process.exit(applied ? 0 : 1)
}
if (applied) {
  console.log(`token-max-age patch: already applied (${file})`)
  process.exit(0)
}
if (!src.includes(ORIGINAL)) {
  console.error(
    `token-max-age patch: cannot find "${ORIGINAL}" in ${file}; ` +
      'did @atproto/oauth-provider change?',
  )
  process.exit(1)
}
fs.writeFileSync(file, src.replace(ORIGINAL, PATCHED))
console.log(`token-max-age patch: applied to ${file}`)

// The official TypeScript client's routing, for comparison with atoauth's
// (e2e/routing_test.go): @atproto/api's AtpAgent, configured by default
// (no configureProxy / withProxy), signs in with a password and calls
// app.bsky.actor.getProfile through the PDS. It prints one JSON line: the
// profile's DID and handle, and the atproto-proxy header of each request
// it sent for getProfile ("" when none).
//
//   node ts-agent-getprofile.mjs <pds-url> <identifier> <password> <actor>
import { AtpAgent } from '@atproto/api'

const [service, identifier, password, actor] = process.argv.slice(2)
if (!actor) {
  console.error('usage: ts-agent-getprofile.mjs <pds-url> <identifier> <password> <actor>')
  process.exit(2)
}
const sent = []
const agent = new AtpAgent({
  service,
  fetch: async (input, init) => {
    const req = new Request(input, init)
    if (req.url.includes('/xrpc/app.bsky.actor.getProfile')) {
      sent.push(req.headers.get('atproto-proxy') ?? '')
    }
    return fetch(req)
  },
})
await agent.login({ identifier, password })
// The AppView indexes new accounts asynchronously: retry briefly.
let res
for (let i = 0; ; i++) {
  try {
    res = await agent.app.bsky.actor.getProfile({ actor })
    break
  } catch (err) {
    if (i >= 50) throw err
    await new Promise((r) => setTimeout(r, 200))
  }
}
console.log(JSON.stringify({ did: res.data.did, handle: res.data.handle, proxyHeaders: sent }))

// An MCP client built on the official MCP TypeScript SDK, run by the Go
// test e2e/mcp_test.go (TestMCP). It connects to an MCP server protected
// by Gatehouse (server.mjs) and lets the SDK's own OAuth code do all of
// the authorization: the 401's WWW-Authenticate resource_metadata,
// RFC 9728 protected resource metadata, RFC 8414 metadata of the
// authorization server it names, registration (a Client ID Metadata
// Document when MCP_CLIENT_METADATA_URL is set and the authorization
// server advertises client_id_metadata_document_supported, otherwise
// RFC 7591 dynamic registration at its registration_endpoint), PKCE, and
// the RFC 8707 resource parameter on the authorization and token
// requests. Then it calls the server's whoami tool, refreshes the token
// (the SDK again sends resource) and calls it again.
//
// Usage: node client.mjs   (configuration in the environment)
//
//   MCP_SERVER_URL           the MCP server, e.g. http://127.0.0.1:PORT/mcp
//   MCP_CLIENT_METADATA_URL  optional: the https URL of this client's
//                            metadata document (its client_id under CIMD)
//   MCP_CLIENT_ID            optional: a pre-registered client_id (public
//                            client); no registration then
//   MCP_CLIENT_NAME          client_name for dynamic registration
//   MCP_OTHER_SERVER_URL     optional: another MCP server (another
//                            resource); the token obtained here must be
//                            refused there, and refreshing it for that
//                            resource must fail with invalid_target
//
// It prints JSON lines on stdout; the Go test plays the browser:
//   1. {"callback": "http://127.0.0.1:PORT/callback"}  its loopback
//      redirect URI (listening before anything else happens);
//   2. {"authorization_url": "..."}  when the SDK redirects the user: the
//      Go test opens it in Chromium, signs in and consents, and the browser
//      lands on the callback, which hands the code to the SDK
//      (transport.finishAuth);
//   3. the result (see the end of main), then exits 0.
// On failure it prints the error on stderr and exits 1.

import http from 'node:http'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { auth, UnauthorizedError, refreshAuthorization, discoverAuthorizationServerMetadata } from '@modelcontextprotocol/sdk/client/auth.js'
import { OAuthError } from '@modelcontextprotocol/sdk/server/auth/errors.js'

function env(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const serverUrl = new URL(env('MCP_SERVER_URL'))
const clientMetadataUrl = process.env.MCP_CLIENT_METADATA_URL || undefined
const otherServerUrl = process.env.MCP_OTHER_SERVER_URL ? new URL(process.env.MCP_OTHER_SERVER_URL) : undefined
for (const u of [serverUrl, otherServerUrl].filter(Boolean)) {
  if (u.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)) {
    throw new Error(`refusing plain HTTP to ${u.href}: only loopback test servers may use it`)
  }
}

// The loopback redirect URI (RFC 8252 §7.3): one authorization response.
let deliver
const callbackQuery = new Promise((resolve) => { deliver = resolve })
const callbackServer = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://127.0.0.1')
  if (u.pathname !== '/callback') {
    res.writeHead(404).end()
    return
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
  res.end('<!doctype html><title>MCP client</title><link rel="icon" href="data:,"><h1 id="callback">Back at the MCP client</h1>')
  deliver(u.searchParams)
})
await new Promise((resolve) => callbackServer.listen(0, '127.0.0.1', resolve))
const redirectUrl = `http://127.0.0.1:${callbackServer.address().port}/callback`
say({ callback: redirectUrl })

// requests records every HTTP request the SDK makes (discovery,
// registration, token requests, MCP messages), without secrets.
const requests = []
async function recordingFetch(input, init) {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url)
  const entry = { method: (init?.method ?? 'GET').toUpperCase(), url: url.origin + url.pathname }
  const body = init?.body
  if (body instanceof URLSearchParams) {
    const params = {}
    for (const [k, v] of body) {
      if (k === 'code' || k === 'refresh_token' || k === 'client_secret') params[k] = v ? '(present)' : ''
      else if (k === 'code_verifier') params[k] = v ? `(${v.length} characters)` : ''
      else params[k] = v
    }
    entry.params = params
  } else if (typeof body === 'string' && entry.url.endsWith('/register')) {
    try { entry.json = JSON.parse(body) } catch { /* not JSON */ }
  }
  const res = await fetch(input, init)
  entry.status = res.status
  requests.push(entry)
  return res
}

// An in-memory OAuthClientProvider, as an MCP client application has one.
class Provider {
  constructor() {
    this.clientMetadataUrl = clientMetadataUrl
    this.authorizationUrl = undefined
    this._state = undefined
    if (process.env.MCP_CLIENT_ID) this._client = { client_id: process.env.MCP_CLIENT_ID }
  }
  get redirectUrl() { return redirectUrl }
  get clientMetadata() {
    return {
      client_name: process.env.MCP_CLIENT_NAME || 'Gatehouse MCP e2e client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }
  }
  state() {
    this._state = 'st-' + crypto.randomUUID()
    return this._state
  }
  clientInformation() { return this._client }
  saveClientInformation(info) { this._client = info }
  tokens() { return this._tokens }
  saveTokens(tokens) { this._tokens = tokens }
  redirectToAuthorization(url) {
    this.authorizationUrl = url
    say({ authorization_url: url.href })
  }
  saveCodeVerifier(v) { this._verifier = v }
  codeVerifier() {
    if (!this._verifier) throw new Error('no code verifier saved')
    return this._verifier
  }
  saveDiscoveryState(s) { this._discovery = s }
  discoveryState() { return this._discovery }
}

// jwtClaims is the payload of a JWT access token (RFC 9068), or null for
// an opaque one.
function jwtClaims(token) {
  const parts = token.split('.')
  if (parts.length !== 3) return null
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
  } catch {
    return null
  }
}

const newClient = () => new Client({ name: 'gatehouse-mcp-e2e', version: '1.0.0' })

// callWhoami connects with transport and calls the whoami tool.
async function callWhoami(transport, greeting) {
  const client = newClient()
  await client.connect(transport)
  try {
    const tools = await client.listTools()
    const result = await client.callTool({ name: 'whoami', arguments: { greeting } })
    if (result.isError) throw new Error(`whoami failed: ${JSON.stringify(result.content)}`)
    return { tools: tools.tools.map((t) => t.name), whoami: JSON.parse(result.content[0].text) }
  } finally {
    await client.close()
  }
}

// refused tries the whoami tool with a bearer token and no authProvider
// (so the SDK cannot go and get another token) and reports how it failed.
async function refused(url, accessToken) {
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
    fetch: recordingFetch,
  })
  try {
    const r = await callWhoami(transport, 'from another resource')
    return { refused: false, whoami: r.whoami }
  } catch (err) {
    return { refused: true, status: err instanceof StreamableHTTPError ? err.code : null, error: `${err?.name}: ${err?.message}` }
  }
}

async function main() {
  const provider = new Provider()

  // 1. Connecting without a token: the server answers 401 and the SDK's
  //    auth() discovers, registers and sends the user to authorize.
  const first = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: recordingFetch })
  try {
    await newClient().connect(first)
    throw new Error('connected without authorization: the MCP server let an unauthenticated client in')
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err
  }
  if (!provider.authorizationUrl) throw new Error('the SDK did not redirect to the authorization server')

  // 2. The browser comes back to the loopback callback.
  const q = await callbackQuery
  if (q.get('error')) throw new Error(`authorization error ${q.get('error')}: ${q.get('error_description')}`)
  if (q.get('state') !== provider._state) throw new Error(`callback state ${q.get('state')}, want ${provider._state}`)
  const code = q.get('code')
  if (!code) throw new Error(`callback without a code: ${q}`)
  await first.finishAuth(code)
  const tokens = provider.tokens()

  // 3. The tool call with the token.
  const call = await callWhoami(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: recordingFetch }), 'hello')

  // 4. Refresh: auth() with a stored refresh token refreshes it (sending
  //    resource again); the new token works too.
  let refreshed = null
  if (tokens.refresh_token) {
    const outcome = await auth(provider, { serverUrl, fetchFn: recordingFetch })
    if (outcome !== 'AUTHORIZED') throw new Error(`refresh: auth() answered ${outcome}`)
    const again = await callWhoami(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: recordingFetch }), 'refreshed')
    refreshed = {
      new_access_token: provider.tokens().access_token !== tokens.access_token,
      access_token_claims: jwtClaims(provider.tokens().access_token),
      whoami: again.whoami,
    }
  }

  // 5. Another resource: this token is refused there, and the refresh
  //    token cannot be turned into a token for it.
  let other = null
  if (otherServerUrl) {
    other = await refused(otherServerUrl, provider.tokens().access_token)
    if (provider.tokens().refresh_token) {
      const issuer = provider.discoveryState()?.authorizationServerUrl
      const metadata = provider.discoveryState()?.authorizationServerMetadata ?? await discoverAuthorizationServerMetadata(issuer)
      try {
        await refreshAuthorization(issuer, {
          metadata, clientInformation: provider.clientInformation(), refreshToken: provider.tokens().refresh_token,
          resource: otherServerUrl, fetchFn: recordingFetch,
        })
        other.refresh_error = null
      } catch (err) {
        other.refresh_error = err instanceof OAuthError ? err.errorCode : `${err?.name}: ${err?.message}`
      }
    }
  }

  const authURL = provider.authorizationUrl
  say({
    authorization_request: Object.fromEntries(authURL.searchParams),
    authorization_endpoint: authURL.origin + authURL.pathname,
    callback_iss: q.get('iss'),
    client_id: provider.clientInformation()?.client_id,
    // What registration returned (the SDK keeps the RFC 7591 fields it
    // knows), without a secret.
    registered: Object.fromEntries(Object.entries(provider.clientInformation() ?? {})
      .map(([k, v]) => [k, k === 'client_secret' ? '(present)' : v])),
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    has_refresh_token: !!tokens.refresh_token,
    access_token_claims: jwtClaims(tokens.access_token),
    tools: call.tools,
    whoami: call.whoami,
    refreshed,
    other,
    requests,
  })
}

try {
  await main()
  callbackServer.close()
  process.exit(0)
} catch (err) {
  process.stderr.write(`${err?.name ?? 'Error'}${err?.code ? ` [${err.code}]` : ''}: ${err?.message ?? err}\n`)
  if (err?.stack) process.stderr.write(err.stack + '\n')
  process.stderr.write(`requests so far: ${JSON.stringify(requests)}\n`)
  process.exit(1)
}

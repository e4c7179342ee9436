// A small MCP server (streamable HTTP) protected by Gatehouse, built from
// the official MCP TypeScript SDK's own pieces: McpServer with one tool,
// StreamableHTTPServerTransport, createMcpExpressApp,
// mcpAuthMetadataRouter (RFC 9728 protected resource metadata naming
// Gatehouse as its authorization server) and requireBearerAuth with a
// verifier that asks Gatehouse's introspection endpoint (RFC 7662). Run by
// the Go test e2e/mcp_test.go (TestMCP) against the real binary.
//
// Usage: node server.mjs   (configuration in the environment)
//
//   MCP_ISSUER         Gatehouse's issuer, e.g. http://127.0.0.1:PORT
//   MCP_CLIENT_ID      a confidential client of Gatehouse, with which the
//   MCP_CLIENT_SECRET  server authenticates to the introspection endpoint
//   MCP_SCOPE          the scope a token needs (e.g. mcp.tools)
//   MCP_NAME           a name for the resource metadata and the tool's answer
//
// It listens on a free loopback port and prints one JSON line:
//   {"url": "http://127.0.0.1:PORT/mcp", "resource_metadata": "<its PRM URL>"}
// The resource URI (the token audience it requires) is that url. Every
// token decision is logged on stderr as one JSON line.
//
// A token is accepted only when introspection says it is active, a Bearer
// (access) token, its aud names this server's resource URI, and its scope
// has MCP_SCOPE (requireBearerAuth's requiredScopes). Otherwise the answer
// is 401 (403 for a missing scope) with
// WWW-Authenticate: Bearer error=..., scope=..., resource_metadata="...".

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js'
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
import * as z from 'zod/v4'

function env(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}

function log(obj) {
  process.stderr.write(JSON.stringify({ server: name, ...obj }) + '\n')
}

const issuer = new URL(env('MCP_ISSUER'))
if (issuer.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
  throw new Error(`refusing plain HTTP to ${issuer.href}: only loopback test servers may use it`)
}
const clientID = env('MCP_CLIENT_ID')
const clientSecret = env('MCP_CLIENT_SECRET')
const requiredScope = env('MCP_SCOPE')
const name = process.env.MCP_NAME || 'MCP test server'

// Gatehouse's authorization server metadata (RFC 8414), as a resource
// server configured with its issuer finds it.
const metaRes = await fetch(new URL('/.well-known/oauth-authorization-server', issuer))
if (!metaRes.ok) throw new Error(`authorization server metadata: HTTP ${metaRes.status}`)
const oauthMetadata = await metaRes.json()
if (oauthMetadata.issuer !== issuer.href.replace(/\/$/, '') && oauthMetadata.issuer !== issuer.href) {
  throw new Error(`authorization server metadata names issuer ${oauthMetadata.issuer}, want ${issuer.href}`)
}
if (!oauthMetadata.introspection_endpoint) throw new Error('the authorization server metadata has no introspection_endpoint')

// The resource URI is the server's own URL, known once it listens.
let resource

// comparable is a resource URI without one trailing slash, as the SDK's
// requireBearerAuth compares them.
const comparable = (u) => String(u).replace(/\/$/, '')

const verifier = {
  async verifyAccessToken(token) {
    let res
    try {
      res = await fetch(oauthMetadata.introspection_endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          // RFC 6749 §2.3.1: form-encoded before Basic.
          authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(clientID)}:${encodeURIComponent(clientSecret)}`).toString('base64'),
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      })
    } catch (err) {
      log({ decision: 'error', reason: `introspection request failed: ${err}` })
      throw new ServerError('the authorization server cannot be reached')
    }
    if (!res.ok) {
      const body = await res.text().catch(() => '')
      log({ decision: 'error', reason: `introspection answered HTTP ${res.status}: ${body}` })
      throw new ServerError('token introspection failed')
    }
    const data = await res.json()
    const aud = [data.aud ?? []].flat()
    const refuse = (reason) => {
      log({ decision: 'refused', reason, active: data.active, aud, client_id: data.client_id })
      throw new InvalidTokenError(reason)
    }
    if (data.active !== true) refuse('the token is not active')
    if (data.token_type && data.token_type.toLowerCase() !== 'bearer') refuse(`a ${data.token_type} is not an access token`)
    if (!aud.some((a) => comparable(a) === comparable(resource))) {
      refuse(`the token's audience ${JSON.stringify(aud)} does not include ${resource}`)
    }
    log({ decision: 'accepted', aud, client_id: data.client_id, scope: data.scope })
    return {
      token,
      clientId: data.client_id,
      scopes: typeof data.scope === 'string' ? data.scope.split(' ').filter(Boolean) : [],
      expiresAt: data.exp,
      resource: new URL(resource),
      extra: { sub: data.sub, username: data.username, aud, iss: data.iss },
    }
  },
}

function mcpServer() {
  const server = new McpServer({ name, version: '1.0.0' })
  server.registerTool('whoami', {
    title: 'Who am I',
    description: 'Says whom the bearer token was issued to, as Gatehouse introspection reports it',
    inputSchema: { greeting: z.string().optional() },
  }, async ({ greeting }, extra) => {
    const info = extra.authInfo
    const answer = {
      server: name,
      greeting: greeting ?? null,
      resource: resource,
      client_id: info?.clientId,
      scopes: info?.scopes,
      sub: info?.extra?.sub,
      username: info?.extra?.username,
      aud: info?.extra?.aud,
    }
    return { content: [{ type: 'text', text: JSON.stringify(answer) }], structuredContent: answer }
  })
  return server
}

const app = createMcpExpressApp({ host: '127.0.0.1' })
const listener = await new Promise((resolve, reject) => {
  const l = app.listen(0, '127.0.0.1', (err) => (err ? reject(err) : resolve(l)))
})
const serverURL = new URL(`http://127.0.0.1:${listener.address().port}/mcp`)
resource = serverURL.href
const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(serverURL)

// RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp: resource,
// authorization_servers [issuer], scopes_supported. (The router also
// mirrors the authorization server metadata at this origin; clients take
// it from the issuer.)
app.use(mcpAuthMetadataRouter({
  oauthMetadata,
  resourceServerUrl: serverURL,
  scopesSupported: [requiredScope],
  resourceName: name,
}))

const bearer = requireBearerAuth({
  verifier,
  requiredScopes: [requiredScope],
  resourceMetadataUrl,
  expectedResource: serverURL,
})

// Stateless streamable HTTP: a server and a transport per request.
app.post('/mcp', bearer, async (req, res) => {
  const server = mcpServer()
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
  res.on('close', () => {
    transport.close()
    server.close()
  })
  try {
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
  } catch (err) {
    log({ error: String(err) })
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null })
    }
  }
})
const notAllowed = (req, res) => {
  res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null })
}
app.get('/mcp', bearer, notAllowed)
app.delete('/mcp', bearer, notAllowed)

process.stdout.write(JSON.stringify({ url: serverURL.href, resource_metadata: resourceMetadataUrl }) + '\n')
process.on('SIGTERM', () => listener.close(() => process.exit(0)))

// The MCP TypeScript SDK's discovery (RFC 9728, then RFC 8414) pointed at
// a resource Gatehouse itself protects, such as its built-in API
// ({issuer}/api, GET /api/user), run by the Go test e2e/mcp_test.go
// (TestMCP): what an MCP client finds when it meets a Gatehouse 401.
//
// Usage: node discover.mjs   (configuration in the environment)
//
//   MCP_SERVER_URL   the protected URL, e.g. http://127.0.0.1:PORT/api/user
//
// It requests the URL without a token, takes resource_metadata (and
// scope) from the 401's WWW-Authenticate with the SDK's
// extractWWWAuthenticateParams, runs discoverOAuthServerInfo with it and
// selectResourceURL (which checks the metadata's resource against the
// URL), and prints one JSON line with what it found; on failure the
// error goes to stderr and it exits 1.

import { discoverOAuthServerInfo, extractWWWAuthenticateParams, selectResourceURL } from '@modelcontextprotocol/sdk/client/auth.js'

const raw = process.env.MCP_SERVER_URL
if (!raw) throw new Error('MCP_SERVER_URL is not set')
const serverUrl = new URL(raw)
if (serverUrl.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(serverUrl.hostname)) {
  throw new Error(`refusing plain HTTP to ${serverUrl.href}: only loopback test servers may use it`)
}

try {
  const res = await fetch(serverUrl, { headers: { accept: 'application/json' } })
  await res.body?.cancel()
  const { resourceMetadataUrl, scope, error } = extractWWWAuthenticateParams(res)
  const info = await discoverOAuthServerInfo(serverUrl, { resourceMetadataUrl })
  // selectResourceURL only looks at the provider's validateResourceURL.
  const resource = await selectResourceURL(serverUrl, {}, info.resourceMetadata)
  process.stdout.write(JSON.stringify({
    status: res.status,
    www_authenticate: res.headers.get('www-authenticate'),
    resource_metadata_url: resourceMetadataUrl?.href ?? null,
    scope: scope ?? null,
    error: error ?? null,
    resource_metadata: info.resourceMetadata ?? null,
    authorization_server_url: info.authorizationServerUrl,
    authorization_server_issuer: info.authorizationServerMetadata?.issuer ?? null,
    resource: resource?.href ?? null,
  }) + '\n')
  process.exit(0)
} catch (err) {
  process.stderr.write(`${err?.name ?? 'Error'}: ${err?.message ?? err}\n${err?.stack ?? ''}\n`)
  process.exit(1)
}

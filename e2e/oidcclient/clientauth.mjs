// Client authentication with JWT assertions (RFC 7523 §2.2, OpenID
// Connect Core §9) by panva's openid-client 6: private_key_jwt
// (client.PrivateKeyJwt) and client_secret_jwt (client.ClientSecretJwt),
// run by the Go test e2e/clientauth_test.go (TestOpenIDClientAssertions)
// against the real binary.
//
// Usage: node clientauth.mjs   (configuration in the environment)
//
//   OIDC_ISSUER     the issuer, e.g. http://127.0.0.1:PORT
//   OIDC_CLIENTS    a JSON array of clients, each
//                   {"name", "client_id", "method": "private_key_jwt",
//                    "jwk": a private JWK with kid and alg}
//                   or {"name", "client_id", "method": "client_secret_jwt",
//                    "secret"}
//
// For each client it discovers the server, gets a client_credentials
// token, introspects it and revokes it (each request authenticated with a
// fresh assertion), introspects it again, and finally sends an assertion
// whose aud is wrong, which must be refused. It prints one JSON object
// with what it saw, keyed by name, and exits 0; on failure it prints the
// error on stderr and exits 1.

import * as client from 'openid-client'

function env(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}

// importKey makes a signing CryptoKey of a private JWK.
async function importKey(jwk) {
  const algs = {
    RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
    ES256: { name: 'ECDSA', namedCurve: 'P-256' },
    EdDSA: { name: 'Ed25519' },
  }
  const alg = algs[jwk.alg]
  if (!alg) throw new Error(`unsupported alg ${jwk.alg}`)
  return crypto.subtle.importKey('jwk', jwk, alg, false, ['sign'])
}

// auth is the openid-client ClientAuth of c, with options (modifyAssertion).
async function auth(c, options) {
  if (c.method === 'private_key_jwt') {
    return client.PrivateKeyJwt({ key: await importKey(c.jwk), kid: c.jwk.kid }, options)
  }
  if (c.method === 'client_secret_jwt') {
    return client.ClientSecretJwt(c.secret, options)
  }
  throw new Error(`unknown method ${c.method}`)
}

async function run(issuer, c) {
  const discover = async (options) => client.discovery(issuer, c.client_id, undefined, await auth(c, options), {
    execute: [client.allowInsecureRequests],
  })
  const config = await discover()
  const md = config.serverMetadata()
  const out = {
    methods_advertised: md.token_endpoint_auth_methods_supported,
    algs_advertised: md.token_endpoint_auth_signing_alg_values_supported,
  }
  const tokens = await client.clientCredentialsGrant(config)
  out.token_type = tokens.token_type
  out.has_access_token = typeof tokens.access_token === 'string' && tokens.access_token.length > 0
  out.introspection = await client.tokenIntrospection(config, tokens.access_token)
  await client.tokenRevocation(config, tokens.access_token)
  out.introspection_after_revocation = await client.tokenIntrospection(config, tokens.access_token)

  // An assertion addressed elsewhere: invalid_client with the cause.
  const wrong = await discover({
    [client.modifyAssertion]: (_header, payload) => { payload.aud = 'https://elsewhere.example' },
  })
  try {
    await client.clientCredentialsGrant(wrong)
    out.wrong_aud = { accepted: true }
  } catch (err) {
    out.wrong_aud = { status: err.status, error: err.error, error_description: err.error_description }
  }
  return out
}

async function main() {
  const issuer = new URL(env('OIDC_ISSUER'))
  if (issuer.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
    throw new Error(`refusing plain HTTP to ${issuer.href}: only loopback test servers may use it`)
  }
  const result = {}
  for (const c of JSON.parse(env('OIDC_CLIENTS'))) {
    result[c.name] = await run(issuer, c)
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch((err) => {
  console.error(err?.stack ?? String(err))
  if (err?.cause) console.error('cause:', JSON.stringify(err.cause))
  process.exit(1)
})

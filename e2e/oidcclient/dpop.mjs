// A relying party built on panva's openid-client 6 that uses DPoP
// (RFC 9449) against Gatehouse, run by the Go test e2e/oidc_test.go
// (TestOpenIDClientDPoP) against the real binary with the dpop_nonce
// setting at "all", so that every first request with a proof is answered
// use_dpop_nonce and openid-client retries with the server's nonce.
//
// Usage: node dpop.mjs   (configuration in the environment)
//
//   OIDC_ISSUER          the issuer, e.g. http://127.0.0.1:PORT
//   OIDC_CLIENT_ID       a confidential client (authorization_code, refresh_token)
//   OIDC_CLIENT_SECRET
//   OIDC_REDIRECT_URI    its registered redirect URI
//   OIDC_CC_CLIENT_ID    a confidential client with client_credentials
//   OIDC_CC_CLIENT_SECRET
//
// The Go test plays the browser: the script prints {"authorization_url"}
// and reads back the callback URL on stdin. With a DPoP handle
// (getDPoPHandle over an ES256 key pair) it then redeems the code, calls
// UserInfo (fetchUserInfo) and /api/user (fetchProtectedResource),
// refreshes, calls /api/user with the new token, and gets a
// client-credentials token with another key. Then it pushes a second
// authorization request with a DPoP proof of a third key
// (buildAuthorizationUrlWithPAR with a DPoP handle), prints a second
// {"authorization_url"}, reads the second callback URL and redeems that
// code with the same handle. It prints one JSON line with
// what it saw — including every request it made (method, path, status,
// whether DPoP-Nonce came back, the error), so that the test sees the
// nonce rounds — and exits 0; on failure it prints the error on stderr
// and exits 1.

import * as client from 'openid-client'
import { createInterface } from 'node:readline'

function env(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
async function readLine() {
  const { value, done } = await lines.next()
  if (done) throw new Error('standard input closed before the browser answered')
  return value.trim()
}

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// requests records every request the client makes.
const requests = []
async function recordingFetch(url, options) {
  const res = await fetch(url, options)
  const u = new URL(url)
  let error
  if (!res.ok) {
    try {
      error = (await res.clone().json()).error
    } catch {}
  }
  requests.push({
    method: options?.method ?? 'GET', path: u.pathname, status: res.status,
    sent_dpop: new Headers(options?.headers).has('dpop'), dpop_nonce: res.headers.has('dpop-nonce'),
    www_authenticate: res.headers.get('www-authenticate') ?? undefined, error,
  })
  return res
}

async function main() {
  const issuer = new URL(env('OIDC_ISSUER'))
  if (issuer.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
    throw new Error(`refusing plain HTTP to ${issuer.href}: only loopback test servers may use it`)
  }
  const redirectURI = env('OIDC_REDIRECT_URI')
  const discover = async (id, secret) => {
    const c = await client.discovery(issuer, id, secret, undefined, { execute: [client.allowInsecureRequests] })
    c[client.customFetch] = recordingFetch
    return c
  }
  const config = await discover(env('OIDC_CLIENT_ID'), env('OIDC_CLIENT_SECRET'))
  const algs = config.serverMetadata().dpop_signing_alg_values_supported
  if (!Array.isArray(algs) || !algs.includes('ES256')) {
    throw new Error(`dpop_signing_alg_values_supported is ${JSON.stringify(algs)}`)
  }
  const keyPair = await client.randomDPoPKeyPair('ES256')
  const DPoP = client.getDPoPHandle(config, keyPair)

  // 1. The code flow, the token bound to the key.
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  say({ authorization_url: client.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI, scope: 'openid profile email user.read', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }).href })
  const tokens = await client.authorizationCodeGrant(config, new URL(await readLine()), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  }, undefined, { DPoP })
  const sub = tokens.claims().sub

  // 2. UserInfo and /api/user with DPoP proofs (ath, the resource
  // nonce). A handle keeps the nonces it was given, per origin: a new
  // handle over the same key starts without, so that UserInfo sees a
  // nonce round of its own.
  const resDPoP = client.getDPoPHandle(config, keyPair)
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP: resDPoP })
  const apiURL = new URL('/api/user', issuer)
  const api = await client.fetchProtectedResource(config, tokens.access_token, apiURL, 'GET', null, undefined, { DPoP: resDPoP })
  const apiUser = api.ok ? await api.json() : { status: api.status }

  // 3. The token without DPoP (as a Bearer token) is refused.
  const asBearer = await fetch(apiURL, { headers: { authorization: `Bearer ${tokens.access_token}` } })

  // 4. Refresh with the same key; the new token works at /api/user.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP })
  const api2 = await client.fetchProtectedResource(config, refreshed.access_token, apiURL, 'GET', null, undefined, { DPoP })

  // 5. Client credentials with another key.
  const cc = await discover(env('OIDC_CC_CLIENT_ID'), env('OIDC_CC_CLIENT_SECRET'))
  const ccTokens = await client.clientCredentialsGrant(cc, undefined, { DPoP: client.getDPoPHandle(cc, await client.randomDPoPKeyPair('ES256')) })

  // 6. A pushed authorization request with a DPoP proof (RFC 9449
  // §10.1) under a new key and handle (so that the PAR endpoint has a
  // nonce round of its own): the code is bound to that key, and redeemed
  // with its proofs.
  const parKeyPair = await client.randomDPoPKeyPair('ES256')
  const parDPoP = client.getDPoPHandle(config, parKeyPair)
  const parVerifier = client.randomPKCECodeVerifier()
  const parState = client.randomState()
  say({ authorization_url: (await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: redirectURI, scope: 'openid user.read', state: parState,
    code_challenge: await client.calculatePKCECodeChallenge(parVerifier), code_challenge_method: 'S256',
  }, { DPoP: parDPoP })).href })
  const parTokens = await client.authorizationCodeGrant(config, new URL(await readLine()), {
    pkceCodeVerifier: parVerifier, expectedState: parState,
  }, undefined, { DPoP: parDPoP })

  say({
    token_type: tokens.token_type, refreshed_token_type: refreshed.token_type, cc_token_type: ccTokens.token_type,
    par_token_type: parTokens.token_type,
    sub, userinfo, api_user: apiUser, api_after_refresh_status: api2.status,
    bearer_status: asBearer.status, bearer_www_authenticate: asBearer.headers.get('www-authenticate'),
    requests,
  })
}

try {
  await main()
  process.exit(0)
} catch (err) {
  process.stderr.write(`${err?.name ?? 'Error'}${err?.code ? ` [${err.code}]` : ''}: ${err?.message ?? err}\n`)
  if (err?.cause !== undefined) process.stderr.write(`  cause: ${JSON.stringify(err.cause)}\n`)
  process.stderr.write(`  requests: ${JSON.stringify(requests)}\n`)
  process.exit(1)
}

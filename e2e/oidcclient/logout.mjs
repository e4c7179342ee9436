// A relying party built on panva's openid-client 6 that signs in and then
// signs out through Gatehouse's end_session_endpoint (OpenID Connect
// RP-Initiated Logout 1.0), run by the Go test e2e/logout_test.go
// (TestOpenIDClientLogout) against the real binary.
//
// Usage: node logout.mjs   (configuration in the environment)
//
//   OIDC_ISSUER                    the issuer, e.g. http://127.0.0.1:PORT
//   OIDC_CLIENT_ID                 a confidential client (authorization_code)
//   OIDC_CLIENT_SECRET
//   OIDC_REDIRECT_URI              its registered redirect URI
//   OIDC_POST_LOGOUT_REDIRECT_URI  its registered post-logout redirect URI
//
// The Go test plays the browser. The script prints one JSON line with a
// URL for the browser to open ({"authorization_url"} or
// {"end_session_url"}) and reads back, as one line on stdin, the URL the
// browser was sent to in the end:
//   1. the authorization request, answered by the callback with a code;
//   2. the end-session URL openid-client builds (id_token_hint,
//      post_logout_redirect_uri, state), answered by the post-logout
//      redirect, whose state it checks;
//   3. an authorization request with prompt=none, which must come back
//      with login_required now that the session is over.
// Then it prints one JSON line with what it saw and exits 0; on failure
// it prints the error on stderr and exits 1.

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

async function main() {
  const issuer = new URL(env('OIDC_ISSUER'))
  if (issuer.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
    throw new Error(`refusing plain HTTP to ${issuer.href}: only loopback test servers may use it`)
  }
  const redirectURI = env('OIDC_REDIRECT_URI')
  const postLogout = env('OIDC_POST_LOGOUT_REDIRECT_URI')
  const config = await client.discovery(issuer, env('OIDC_CLIENT_ID'), env('OIDC_CLIENT_SECRET'), undefined, {
    execute: [client.allowInsecureRequests],
  })
  if (!config.serverMetadata().end_session_endpoint) {
    throw new Error('the discovery document has no end_session_endpoint')
  }

  // 1. Sign in.
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  say({ authorization_url: client.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI, scope: 'openid profile', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }).href })
  const tokens = await client.authorizationCodeGrant(config, new URL(await readLine()), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  })
  const claims = tokens.claims()
  if (!claims.sid) throw new Error('the ID token has no sid claim')

  // 2. Sign out through the end_session_endpoint.
  const logoutState = client.randomState()
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogout, state: logoutState,
  })
  say({ end_session_url: endSession.href })
  const back = new URL(await readLine())
  if (back.origin + back.pathname !== postLogout) {
    throw new Error(`after logout the browser went to ${back.href}, want ${postLogout}`)
  }
  if (back.searchParams.get('state') !== logoutState) {
    throw new Error(`the post-logout redirect carries state ${back.searchParams.get('state')}, want ${logoutState}`)
  }

  // 3. The session is over: prompt=none must answer login_required.
  const state2 = client.randomState()
  say({ authorization_url: client.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI, scope: 'openid', state: state2, prompt: 'none',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  }).href })
  const silent = new URL(await readLine())
  let promptNoneError = null
  try {
    await client.authorizationCodeGrant(config, silent, { pkceCodeVerifier: verifier, expectedState: state2 })
  } catch (err) {
    promptNoneError = err?.error ?? err?.cause?.error ?? String(err)
  }
  say({ sid: claims.sid, prompt_none_error: promptNoneError })
}

try {
  await main()
  process.exit(0)
} catch (err) {
  process.stderr.write(`${err?.name ?? 'Error'}${err?.code ? ` [${err.code}]` : ''}: ${err?.message ?? err}\n`)
  if (err?.cause !== undefined) process.stderr.write(`  cause: ${JSON.stringify(err.cause)}\n`)
  process.exit(1)
}

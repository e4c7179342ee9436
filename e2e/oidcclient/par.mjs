// A relying party built on panva's openid-client (v6), run by the Go test
// e2e/par_test.go (TestPARNode) against the real binary: pushed
// authorization requests (RFC 9126) and the form_post response mode.
//
// Usage: node par.mjs   (configuration in the environment)
//
//   OIDC_ISSUER          the issuer, e.g. http://127.0.0.1:PORT
//   OIDC_CLIENT_ID       a confidential client with the authorization_code
//   OIDC_CLIENT_SECRET   grant (client_secret_basic)
//   OIDC_REDIRECT_URI    its redirect URI
//   OIDC_MODE            par: buildAuthorizationUrlWithPAR, the callback
//                        arrives as a URL (query);
//                        form_post: response_mode=form_post, the callback
//                        arrives as the body of a POST
//
// The script prints one JSON line {"authorization_url": ...} on stdout and
// reads one line on stdin: for par the URL the browser was redirected to;
// for form_post a JSON object {"url": ..., "body": ...}, the request the
// browser posted to the redirect URI, which openid-client reads as a
// Request. It then exchanges the code (PKCE, state, nonce and iss checked,
// the ID token validated), calls UserInfo, prints one JSON line with what
// it saw and exits 0; on any failure it prints the error on stderr and
// exits 1.

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
  if (done) throw new Error('standard input closed before the callback arrived')
  return value.trim()
}

async function main() {
  const issuer = new URL(env('OIDC_ISSUER'))
  if (issuer.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
    throw new Error(`refusing plain HTTP to ${issuer.href}: only loopback test servers may use it`)
  }
  const mode = env('OIDC_MODE')
  const redirectURI = env('OIDC_REDIRECT_URI')
  const config = await client.discovery(issuer, env('OIDC_CLIENT_ID'), undefined,
    client.ClientSecretBasic(env('OIDC_CLIENT_SECRET')), { execute: [client.allowInsecureRequests] })
  const meta = config.serverMetadata()

  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const params = {
    redirect_uri: redirectURI,
    scope: 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  }
  let authorizationURL
  if (mode === 'par') {
    authorizationURL = await client.buildAuthorizationUrlWithPAR(config, params)
  } else if (mode === 'form_post') {
    // prompt=consent: the answer comes from the consent form's POST.
    authorizationURL = client.buildAuthorizationUrl(config, { ...params, response_mode: 'form_post', prompt: 'consent' })
  } else {
    throw new Error(`unknown OIDC_MODE ${mode}`)
  }
  console.log(JSON.stringify({ authorization_url: authorizationURL.href }))

  const line = await readLine()
  let current
  if (mode === 'par') {
    current = new URL(line)
  } else {
    const posted = JSON.parse(line)
    current = new Request(posted.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: posted.body,
    })
  }
  const tokens = await client.authorizationCodeGrant(config, current, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
  const claims = tokens.claims()
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  console.log(JSON.stringify({
    mode,
    authorization_url: authorizationURL.href,
    par_endpoint: meta.pushed_authorization_request_endpoint ?? null,
    response_modes_supported: meta.response_modes_supported ?? null,
    token_type: tokens.token_type,
    id_token_claims: claims,
    userinfo,
  }))
}

main().then(() => process.exit(0), (err) => {
  console.error(`${err.name}: ${err.message}${err.code ? ` [${err.code}]` : ''}${err.error ? ` (${err.error}: ${err.error_description})` : ''}`)
  if (err.cause) console.error('cause:', err.cause)
  process.exit(1)
})

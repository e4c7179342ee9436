// A strict OpenID Connect relying party built on panva's oauth4webapi, run
// by the Go test e2e/oidc_test.go (TestOIDCNode) against the real binary.
//
// Usage: node client.mjs   (configuration in the environment)
//
//   OIDC_ISSUER          the issuer, e.g. http://127.0.0.1:PORT
//   OIDC_CLIENT_ID       a confidential client with the authorization_code
//   OIDC_CLIENT_SECRET   and refresh_token grants
//   OIDC_REDIRECT_URI    its registered redirect URI
//
// The script prints one JSON line {"authorization_url": ...} on stdout and
// reads the URL the browser was redirected to (the callback, with code,
// state and iss) as one line on stdin; the Go test plays the browser in
// between. It then prints one JSON line with what it saw and exits 0; on
// any failure it prints the error (with its code and cause) on stderr and
// exits 1.
//
// Every oauth4webapi processing step is strict: the discovery document's
// issuer, the authorization response's state and iss (RFC 9207), the token
// response and its ID token (iss, aud, azp, exp, iat, nonce, auth_time for
// max_age), the UserInfo subject, and the introspection and revocation
// responses. allowInsecureRequests lets it talk plain HTTP to the loopback
// test server, and is refused for anything else.

import * as oauth from 'oauth4webapi'
import { createInterface } from 'node:readline'

function env(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}

// The configuration, read by main.
let issuer, client, clientAuth, redirectURI
const insecure = { [oauth.allowInsecureRequests]: true }
const maxAge = 600

function configure() {
  issuer = new URL(env('OIDC_ISSUER'))
  if (issuer.protocol !== 'https:' && !['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
    throw new Error(`refusing plain HTTP to ${issuer.href}: only loopback test servers may use it`)
  }
  client = { client_id: env('OIDC_CLIENT_ID') }
  clientAuth = oauth.ClientSecretBasic(env('OIDC_CLIENT_SECRET'))
  redirectURI = env('OIDC_REDIRECT_URI')
}

// readLine returns the next line of standard input.
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
async function readLine() {
  const { value, done } = await lines.next()
  if (done) throw new Error('standard input closed before the callback URL arrived')
  return value.trim()
}

// introspect returns the introspection response for token.
async function introspect(as, token, hint) {
  const res = await oauth.introspectionRequest(as, client, clientAuth, token, {
    ...insecure,
    additionalParameters: { token_type_hint: hint },
  })
  return oauth.processIntrospectionResponse(as, client, res)
}

// userInfoChallenge calls UserInfo with a token that should be refused
// and returns the RFC 6750 challenge's error code.
async function userInfoChallenge(as, accessToken, sub) {
  try {
    const res = await oauth.userInfoRequest(as, client, accessToken, insecure)
    await oauth.processUserInfoResponse(as, client, sub, res)
  } catch (err) {
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      return { status: err.status, error: err.cause[0]?.parameters?.error ?? null }
    }
    throw err
  }
  throw new Error('UserInfo accepted a revoked access token')
}

async function main() {
  configure()

  // Discovery (OpenID Connect Discovery §4): the document's issuer must
  // equal the one asked for.
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))

  // Authorization code with PKCE, state and nonce, and max_age so that
  // auth_time must be present and recent.
  const codeVerifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const nonce = oauth.generateRandomNonce()
  const authURL = new URL(as.authorization_endpoint)
  authURL.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: redirectURI,
    response_type: 'code',
    scope: 'openid profile email',
    state,
    nonce,
    max_age: String(maxAge),
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  }).toString()
  process.stdout.write(JSON.stringify({ authorization_url: authURL.href }) + '\n')

  // The callback: state and, since the metadata says
  // authorization_response_iss_parameter_supported, iss (RFC 9207).
  const callback = new URL(await readLine())
  const params = oauth.validateAuthResponse(as, client, callback, state)

  const tokenRes = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectURI, codeVerifier, insecure)
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenRes, {
    expectedNonce: nonce,
    maxAge,
    requireIdToken: true,
  })
  const claims = oauth.getValidatedIdTokenClaims(tokens)

  const userInfo = await oauth.processUserInfoResponse(
    as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token, insecure))

  const activeAccess = await introspect(as, tokens.access_token, 'access_token')
  const activeRefresh = tokens.refresh_token ? await introspect(as, tokens.refresh_token, 'refresh_token') : null

  // Revoke the access token (RFC 7009): introspection says inactive, and
  // UserInfo refuses it.
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, client, clientAuth, tokens.access_token, {
      ...insecure,
      additionalParameters: { token_type_hint: 'access_token' },
    }))
  const revokedAccess = await introspect(as, tokens.access_token, 'access_token')
  const revokedUserInfo = await userInfoChallenge(as, tokens.access_token, claims.sub)

  // Revoke the refresh token too.
  let revokedRefresh = null
  if (tokens.refresh_token) {
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, clientAuth, tokens.refresh_token, insecure))
    revokedRefresh = await introspect(as, tokens.refresh_token, 'refresh_token')
  }

  process.stdout.write(JSON.stringify({
    issuer: as.issuer,
    iss_in_callback: callback.searchParams.get('iss'),
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    has_refresh_token: Boolean(tokens.refresh_token),
    id_token_claims: claims,
    userinfo: userInfo,
    introspection_active: activeAccess,
    introspection_refresh_active: activeRefresh,
    introspection_revoked: revokedAccess,
    introspection_refresh_revoked: revokedRefresh,
    userinfo_after_revocation: revokedUserInfo,
  }) + '\n')
}

// describe renders an oauth4webapi error with everything that helps: its
// class, code, message, the OAuth error fields and the cause.
function describe(err) {
  const out = [`${err?.name ?? 'Error'}${err?.code ? ` [${err.code}]` : ''}: ${err?.message ?? err}`]
  if (err?.error) out.push(`  error=${err.error} error_description=${err.error_description ?? ''}`)
  if (err?.status) out.push(`  status=${err.status}`)
  if (err?.cause !== undefined) {
    let cause = err.cause
    if (cause instanceof Response) cause = `HTTP ${cause.status} response`
    try {
      out.push(`  cause: ${typeof cause === 'string' ? cause : JSON.stringify(cause, null, 2)}`)
    } catch {
      out.push(`  cause: ${cause}`)
    }
  }
  return out.join('\n')
}

try {
  await main()
  process.exit(0)
} catch (err) {
  process.stderr.write(describe(err) + '\n')
  process.exit(1)
}

package oauth

import "context"

// Signing algorithms (JWS "alg") of ID tokens: RS256, which OpenID
// Connect requires and clients get unless they registered another
// id_token_signed_response_alg, and ES256.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// IDTokenSigningAlgs lists the id_token_signed_response_alg values a
// client may have, the default first.
var IDTokenSigningAlgs = []string{AlgRS256, AlgES256}

// JWT header "typ" values.
const (
	TypeIDToken     = "JWT"    // OpenID Connect ID tokens
	TypeAccessToken = "at+jwt" // RFC 9068 access tokens
)

// Signer signs JWTs with the server's current signing key and publishes
// the public keys (app/keys implements it over the database, shared by
// every instance).
type Signer interface {
	// Sign returns the compact JWS of claims (marshalled as JSON) with
	// the header "typ" set to typ and "kid" naming the key, signed with
	// the current RS256 key.
	Sign(ctx context.Context, claims any, typ string) (string, error)
	// SignWith is Sign with the current key of algorithm alg (RS256 or
	// ES256): the ID tokens of a client whose id_token_signed_response_alg
	// is ES256.
	SignWith(ctx context.Context, alg string, claims any, typ string) (string, error)
	// Verify checks a compact JWS signed by one of the published keys
	// with header "typ" typ, and returns its payload. It checks the
	// signature only, not the claims.
	Verify(ctx context.Context, token string, typ string) ([]byte, error)
}

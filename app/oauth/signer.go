package oauth

import "context"

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
	// Verify checks a compact JWS signed by one of the published keys
	// with header "typ" typ, and returns its payload. It checks the
	// signature only, not the claims.
	Verify(ctx context.Context, token string, typ string) ([]byte, error)
}

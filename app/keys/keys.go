// Package keys manages Gatehouse's JOSE signing keys: an RS256 key (the one
// that signs ID tokens and JWT access tokens) and an ES256 key (the one that
// signs the ID tokens of clients whose id_token_signed_response_alg is
// ES256), generated on
// first start and kept in the database so that every instance on one
// database signs with the same keys; their public parts are published as a
// JWK Set. Private keys are stored as PKCS#8 DER, encrypted with AES-256-GCM
// under a key derived (HKDF-SHA256) from the configured key secret, when
// there is one.
//
// Rotation makes new keys current and retires the previous ones, which
// stay published until every token they signed has expired (Retention).
//
// A Manager keeps the parsed keys in memory and reloads them after a short
// TTL, at once after its own Rotate, after Invalidate, and (rate-limited)
// when asked to verify a token whose key it does not know, so that a
// rotation on another instance is seen quickly.
package keys

import (
	"errors"
	"slices"
	"time"
)

// Signing algorithms of the keys Gatehouse makes.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// KeyAlgorithms lists the algorithms of the keys Ensure and Rotate make,
// in the order they are published: RS256 (required by OpenID Connect)
// first.
var KeyAlgorithms = []string{RS256, ES256}

// Errors. Problems with a token wrap ErrInvalidToken.
var (
	// ErrInvalidToken is a token that is malformed, has the wrong typ, was
	// not signed by a published key, or whose signature does not verify.
	ErrInvalidToken = errors.New("invalid token")
	// ErrNoKey means there is no current key of the algorithm asked for
	// (Ensure makes them).
	ErrNoKey = errors.New("no current signing key")
	// ErrSecretRequired means a key is stored encrypted but no key secret
	// is configured.
	ErrSecretRequired = errors.New("signing key is encrypted but no key secret is configured")
	// ErrWrongSecret means a key cannot be decrypted with the configured
	// key secret.
	ErrWrongSecret = errors.New("signing key cannot be decrypted with the configured key secret")
)

// keyError is an error for people running the server, matching kind with
// errors.Is.
type keyError struct {
	kind error
	msg  string
}

func (e *keyError) Error() string { return e.msg }
func (e *keyError) Unwrap() error { return e.kind }

func supported(alg string) bool { return alg == RS256 || alg == ES256 }

// olderLast orders keys newest first, and keys made together (by one
// rotation) in KeyAlgorithms order.
func olderLast(ca, cb time.Time, algA, algB string) int {
	if c := cb.Compare(ca); c != 0 {
		return c
	}
	return algRank(algA) - algRank(algB)
}

func algRank(alg string) int {
	if i := slices.Index(KeyAlgorithms, alg); i >= 0 {
		return i
	}
	return len(KeyAlgorithms)
}

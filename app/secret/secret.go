// Package secret makes and compares the random secrets Gatehouse hands out
// (tokens, codes, client secrets, session IDs). They carry 256 bits from
// crypto/rand, so a SHA-256 digest is a safe way to store them; comparisons
// are constant-time.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// Random returns n random bytes from crypto/rand.
func Random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return b
}

// New returns prefix followed by 256 random bits in unpadded base64url,
// e.g. New("gha_") for an access token.
func New(prefix string) string {
	return prefix + base64.RawURLEncoding.EncodeToString(Random(32))
}

// Digest is the SHA-256 of s, the form in which secrets are stored.
func Digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// Equal compares two byte strings in constant time.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// EqualString compares two strings in constant time.
func EqualString(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// ReplayModel remembers single-use identifiers — the jti of client
// assertions (RFC 7523 §3), of JWT bearer grant assertions and of DPoP
// proofs (RFC 9449 §11.1) — so that every instance sharing the storage
// refuses a second use.
type ReplayModel interface {
	// UseOnce records key until expiresAt. A key recorded before whose
	// time has not passed by now gives an error matching
	// store.ErrAlreadyExists; of concurrent calls with one key exactly one
	// succeeds. A key whose time has passed may be recorded again.
	UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error
}

// Replay namespaces (ReplayKey): an identifier is single use within its
// namespace and issuer.
const (
	ReplayClientAssertion = "client_assertion"
	ReplayJWTBearer       = "jwt_bearer"
	ReplayDPoP            = "dpop"
)

// ReplayKey names a single-use identifier for ReplayModel.UseOnce: the
// hex SHA-256 of the namespace, the issuer (a client ID, a trusted issuer,
// a DPoP key thumbprint) and the identifier, so that the stored key has a
// fixed length whatever the sender chose.
func ReplayKey(namespace, issuer, id string) string {
	h := sha256.New()
	for _, p := range []string{namespace, issuer, id} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// dpopProver makes DPoP proofs (RFC 9449) with one ES256 key, as a client
// does: a new proof, with a random jti, for every request. The load
// generator signs them on the same machine as the server, so their cost
// is in the measurement twice: once signing here, once verifying there.
type dpopProver struct{ key *ecdsa.PrivateKey }

func newDPoPProver() (*dpopProver, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &dpopProver{key: k}, nil
}

// proof is a proof for method and htu, issued now.
func (p *dpopProver) proof(method, htu string) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	payload, err := json.Marshal(map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": htu,
		"iat": time.Now().Unix()})
	if err != nil {
		return "", err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign a DPoP proof: %w", err)
	}
	return jws.CompactSerialize()
}

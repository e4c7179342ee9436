package oauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits of a JWK Set of public keys (a client's jwks, a trusted
// issuer's).
const (
	// MaxJWKSKeys bounds the keys of one set.
	MaxJWKSKeys = 100
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
)

// ParsePublicJWKS parses a JWK Set (RFC 7517 §5) of public signing keys: RSA
// of at least MinRSABits, EC on P-256, P-384 or P-521, and Ed25519. A
// private key, a symmetric key, a key of another type or a key meant for
// encryption (use enc) refuses the set with the reason; so do duplicate
// kids and more than MaxJWKSKeys keys. The reason never quotes key material.
func ParsePublicJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errors.New("not a JSON object with a keys array")
	}
	if raw.Keys == nil {
		return nil, errors.New(`no "keys" array`)
	}
	if len(raw.Keys) == 0 {
		return nil, errors.New("the set has no keys")
	}
	if len(raw.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("more than %d keys", MaxJWKSKeys)
	}
	set := &jose.JSONWebKeySet{}
	kids := map[string]bool{}
	for i, rk := range raw.Keys {
		name := fmt.Sprintf("key %d", i+1)
		var probe struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			D   string `json:"d"`
			K   string `json:"k"`
			Use string `json:"use"`
		}
		if err := json.Unmarshal(rk, &probe); err != nil {
			return nil, fmt.Errorf("%s is not a JSON object", name)
		}
		if probe.Kid != "" {
			name = fmt.Sprintf("key %q", truncate(probe.Kid, 64))
		}
		switch {
		case probe.Kty == "oct" || probe.K != "":
			return nil, fmt.Errorf("%s is a symmetric key: a JWK Set here holds public keys only", name)
		case probe.D != "":
			return nil, fmt.Errorf("%s is a private key: register the public key only (and consider this private key exposed)", name)
		case probe.Kty != "RSA" && probe.Kty != "EC" && probe.Kty != "OKP":
			return nil, fmt.Errorf("%s has unsupported kty %q (RSA, EC or OKP)", name, truncate(probe.Kty, 20))
		case probe.Use != "" && probe.Use != "sig":
			return nil, fmt.Errorf("%s has use %q: keys that verify signatures have use sig or none", name, truncate(probe.Use, 20))
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rk); err != nil {
			return nil, fmt.Errorf("%s is not a valid JWK: %s", name, strings.TrimPrefix(err.Error(), "go-jose/go-jose: "))
		}
		if !k.IsPublic() || !k.Valid() {
			return nil, fmt.Errorf("%s is not a valid public key", name)
		}
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < MinRSABits {
				return nil, fmt.Errorf("%s is an RSA key of %d bits (at least %d)", name, pk.N.BitLen(), MinRSABits)
			}
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() && pk.Curve != elliptic.P384() && pk.Curve != elliptic.P521() {
				return nil, fmt.Errorf("%s is on an unsupported curve", name)
			}
		case ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("%s is not a supported public key (RSA, EC, Ed25519)", name)
		}
		if k.KeyID != "" {
			if kids[k.KeyID] {
				return nil, fmt.Errorf("two keys have kid %q", truncate(k.KeyID, 64))
			}
			kids[k.KeyID] = true
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

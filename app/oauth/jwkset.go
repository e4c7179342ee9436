package oauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// ParsePublicJWKS parses a JWK Set (RFC 7517 §5) of public signing keys
// that someone registers (a client's jwks, pasted or in a registration or
// metadata document): RSA of at least MinRSABits, EC on P-256 (ES256) and
// Ed25519 (EdDSA). A private key, a symmetric key, a key of another type
// or curve, a key meant for encryption (use enc) or declaring an alg its
// key cannot verify refuses the set with the reason; so do duplicate kids
// and more than MaxJWKSKeys keys. The reason never quotes key material.
func ParsePublicJWKS(data []byte) (*jose.JSONWebKeySet, error) { return parseJWKS(data, false) }

// ParsePublishedJWKS parses a JWK Set published at a jwks_uri, where a
// party keeps keys for other uses too (encryption keys, other curves,
// algorithms Gatehouse does not verify): those are left out (RFC 7517 §5:
// keys not understood are ignored). A private or symmetric key still
// refuses the whole set (it would be a leak), and so does a set with no
// usable key left.
func ParsePublishedJWKS(data []byte) (*jose.JSONWebKeySet, error) { return parseJWKS(data, true) }

// parseJWKS is ParsePublicJWKS, or, with skip, ParsePublishedJWKS.
func parseJWKS(data []byte, skip bool) (*jose.JSONWebKeySet, error) {
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
	skipped := ""
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
		// Leaks refuse the set either way.
		switch {
		case probe.Kty == "oct" || probe.K != "":
			return nil, fmt.Errorf("%s is a symmetric key: a JWK Set here holds public keys only", name)
		case probe.D != "":
			return nil, fmt.Errorf("%s is a private key: register the public key only (and consider this private key exposed)", name)
		}
		k, why := usableJWK(rk, probe.Kty, probe.Use)
		if why != "" {
			if skip {
				skipped = name + " " + why
				continue
			}
			return nil, errors.New(name + " " + why)
		}
		if k.KeyID != "" {
			if kids[k.KeyID] {
				return nil, fmt.Errorf("two keys have kid %q", truncate(k.KeyID, 64))
			}
			kids[k.KeyID] = true
		}
		set.Keys = append(set.Keys, *k)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key can verify signatures (RSA of %d bits or more, EC P-256, Ed25519): %s", MinRSABits, skipped)
	}
	return set, nil
}

// usableJWK parses a public JWK (of type kty, for use) that verifies one
// of the assertion algorithms, or says why it is not one.
func usableJWK(rk json.RawMessage, kty, use string) (*jose.JSONWebKey, string) {
	switch {
	case kty != "RSA" && kty != "EC" && kty != "OKP":
		return nil, fmt.Sprintf("has unsupported kty %q (RSA, EC or OKP)", truncate(kty, 20))
	case use != "" && use != "sig":
		return nil, fmt.Sprintf("has use %q: keys that verify signatures have use sig or none", truncate(use, 20))
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(rk); err != nil {
		return nil, "is not a valid JWK: " + strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
	}
	if !k.IsPublic() || !k.Valid() {
		return nil, "is not a valid public key"
	}
	var algs []string
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < MinRSABits {
			return nil, fmt.Sprintf("is an RSA key of %d bits (at least %d)", pk.N.BitLen(), MinRSABits)
		}
		algs = []string{"RS256", "PS256"}
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() {
			return nil, fmt.Sprintf("is on the curve %s: ES256 keys are on P-256", pk.Curve.Params().Name)
		}
		algs = []string{"ES256"}
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	default:
		return nil, "is not a supported public key (RSA, EC P-256, Ed25519)"
	}
	if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
		return nil, fmt.Sprintf("has alg %s: this key can verify %s", truncate(k.Algorithm, 20), strings.Join(algs, " or "))
	}
	return &k, ""
}

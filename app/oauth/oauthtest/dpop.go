package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
)

// DPoPKey is a client's DPoP key pair (RFC 9449), for tests: it makes
// proofs with go-jose, the public key embedded in the header.
type DPoPKey struct {
	T   testing.TB
	Alg jose.SignatureAlgorithm
	Key crypto.Signer
}

// NewDPoPKey makes a key for alg: ES256, EdDSA, RS256 or PS256.
func NewDPoPKey(t testing.TB, alg jose.SignatureAlgorithm) *DPoPKey {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case jose.RS256, jose.PS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no DPoP test key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &DPoPKey{T: t, Alg: alg, Key: k}
}

// JKT is the key's JWK SHA-256 thumbprint, base64url (cnf.jkt).
func (k *DPoPKey) JKT() string {
	k.T.Helper()
	tp, err := (&jose.JSONWebKey{Key: k.Key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		k.T.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// ProofOptions change a proof from the default: typ dpop+jwt, a random
// jti, iat now.
type ProofOptions struct {
	Typ         string    // "" for dpop+jwt
	JTI         string    // "" for a random one
	IAT         time.Time // zero for Now
	Now         time.Time // the clock of the default iat (zero: time.Now)
	AccessToken string    // sets ath to its hash
	ATH         string    // ath as given (wins over AccessToken)
	Nonce       string
	// Claims replaces the claims altogether when set.
	Claims map[string]any
}

// Proof returns a DPoP proof for method and url.
func (k *DPoPKey) Proof(method, url string, o ProofOptions) string {
	k.T.Helper()
	claims := o.Claims
	if claims == nil {
		iat := o.IAT
		if iat.IsZero() {
			iat = o.Now
		}
		if iat.IsZero() {
			iat = time.Now()
		}
		jti := o.JTI
		if jti == "" {
			jti = base64.RawURLEncoding.EncodeToString(secret.Random(12))
		}
		claims = map[string]any{"jti": jti, "htm": method, "htu": url, "iat": iat.Unix()}
		if o.AccessToken != "" {
			claims["ath"] = oauth.DPoPAccessTokenHash(o.AccessToken)
		}
		if o.ATH != "" {
			claims["ath"] = o.ATH
		}
		if o.Nonce != "" {
			claims["nonce"] = o.Nonce
		}
	}
	typ := o.Typ
	if typ == "" {
		typ = oauth.TypeDPoPProof
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		k.T.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(jose.ContentType(typ)))
	if err != nil {
		k.T.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		k.T.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		k.T.Fatal(err)
	}
	return out
}

// RawProof assembles a compact JWS from a header and claims as given and
// a signature of the header and payload made by sign (nil: a dummy
// signature), for proofs go-jose would not make (alg none, a private
// jwk in the header).
func RawProof(t testing.TB, header, claims map[string]any, sign func(signingInput []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sig := []byte("not a signature")
	if sign != nil {
		sig = sign([]byte(in))
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

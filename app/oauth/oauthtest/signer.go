package oauthtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// WithSigner is a NewCore option: the core signs ID tokens and JWT access
// tokens with Signer.
func WithSigner(o *oauth.Options) { o.Signer = Signer{} }

// The "kid"s of Signer's keys.
const (
	SignerKeyID      = "oauthtest-rs256"
	SignerES256KeyID = "oauthtest-es256"
)

// signerKey is Signer's RSA key, made once per test process.
var signerKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("oauthtest: " + err.Error())
	}
	return k
})

// signerES256Key is Signer's P-256 key, made once per test process.
var signerES256Key = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("oauthtest: " + err.Error())
	}
	return k
})

// Signer is an oauth.Signer over one RS256 and one ES256 key made once per
// test process (as app/keys signs: "typ" and "kid" in the header).
type Signer struct{}

var _ oauth.Signer = Signer{}

// signerKeys are Signer's keys by algorithm: private key and kid.
func signerKeys(alg string) (crypto.Signer, string, bool) {
	switch alg {
	case oauth.AlgRS256:
		return signerKey(), SignerKeyID, true
	case oauth.AlgES256:
		return signerES256Key(), SignerES256KeyID, true
	}
	return nil, "", false
}

// Sign implements oauth.Signer.
func (s Signer) Sign(ctx context.Context, claims any, typ string) (string, error) {
	return s.SignWith(ctx, oauth.AlgRS256, claims, typ)
}

// SignWith implements oauth.Signer: RS256 or ES256.
func (Signer) SignWith(_ context.Context, alg string, claims any, typ string) (string, error) {
	key, kid, ok := signerKeys(alg)
	if !ok {
		return "", fmt.Errorf("oauthtest: no %s key", alg)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Verify implements oauth.Signer: RS256 or ES256 with Signer's key of
// that algorithm, header "typ" exactly typ and "kid" naming that key.
func (Signer) Verify(_ context.Context, token string, typ string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("oauthtest: want one signature")
	}
	h := jws.Signatures[0].Protected
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); got != typ {
		return nil, fmt.Errorf("oauthtest: typ %q, want %q", got, typ)
	}
	key, kid, ok := signerKeys(h.Algorithm)
	if !ok || h.KeyID != kid {
		return nil, fmt.Errorf("oauthtest: alg %q kid %q is not one of Signer's keys", h.Algorithm, h.KeyID)
	}
	return jws.Verify(key.Public())
}

// SignerPublicKeys are the public keys of Signer, for verifiers outside
// the core (coreos/go-oidc's StaticKeySet in tests).
func SignerPublicKeys() []crypto.PublicKey {
	return []crypto.PublicKey{signerKey().Public(), signerES256Key().Public()}
}

// Claims verifies a JWT signed by Signer with header "typ" typ and
// decodes its claims into v (failing the test otherwise).
func (c *Core) Claims(token, typ string, v any) {
	c.T.Helper()
	payload, err := Signer{}.Verify(context.Background(), token, typ)
	if err != nil {
		c.T.Fatalf("JWT %.40s…: %v", token, err)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		c.T.Fatal(err)
	}
}

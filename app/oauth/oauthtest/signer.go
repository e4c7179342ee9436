package oauthtest

import (
	"context"
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

// SignerKeyID is the "kid" of Signer's key.
const SignerKeyID = "oauthtest-rs256"

// signerKey is Signer's RSA key, made once per test process.
var signerKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("oauthtest: " + err.Error())
	}
	return k
})

// Signer is an oauth.Signer over one RS256 key made once per test
// process (as app/keys signs: "typ" and "kid" in the header).
type Signer struct{}

var _ oauth.Signer = Signer{}

// Sign implements oauth.Signer.
func (Signer) Sign(_ context.Context, claims any, typ string) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: signerKey(), KeyID: SignerKeyID}},
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

// Verify implements oauth.Signer: RS256 with Signer's key, header "typ"
// exactly typ and "kid" SignerKeyID.
func (Signer) Verify(_ context.Context, token string, typ string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
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
	if h.KeyID != SignerKeyID {
		return nil, fmt.Errorf("oauthtest: kid %q, want %q", h.KeyID, SignerKeyID)
	}
	return jws.Verify(&signerKey().PublicKey)
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

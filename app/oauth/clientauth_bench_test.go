package oauth_test

import (
	"context"
	"net/url"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/jwks"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// BenchmarkClientAuthentication is the server's cost of authenticating a
// client (AuthenticateClient over the in-memory model, pasted keys through
// app/jwks): a
// secret in Basic against assertions of each method. The assertions are
// signed before the timer starts (one per request: each jti is single
// use). Run with e.g. -benchtime 2000x.
func BenchmarkClientAuthentication(b *testing.B) {
	// The application's key source: pasted sets parsed once.
	c := oauthtest.NewCore(&testing.T{}, nil, func(o *oauth.Options) { o.Keys = jwks.New(jwks.Options{}); o.TokenEndpoint = tokenEndpoint })
	f := &jwtFixture{c: c, lim: &oauthtest.FakeLimiter{}}
	rs, es, ed := newRSAKey(b, "rs", jose.RS256), newECKey(b, "es"), newEdKey(b, "ed")
	pkj := f.client(oauth.Client{TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKS: jwksJSON(b, rs, es, ed)})
	csj, csjSec := f.clientWithSecret(oauth.Client{TokenEndpointAuthMethod: oauth.AuthSecretJWT}, true)
	basic, basicSec := f.clientWithSecret(oauth.Client{}, false)
	ctx := context.Background()
	run := func(b *testing.B, req func(i int) *oauth.ClientRequest) {
		reqs := make([]*oauth.ClientRequest, b.N)
		for i := range reqs {
			reqs[i] = req(i)
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := c.Server.AuthenticateClient(ctx, reqs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	assertion := func(raw string) *oauth.ClientRequest {
		return &oauth.ClientRequest{Form: url.Values{"client_assertion_type": {oauth.ClientAssertionTypeJWT}, "client_assertion": {raw}}}
	}
	b.Run("client_secret_basic", func(b *testing.B) {
		run(b, func(int) *oauth.ClientRequest {
			return &oauth.ClientRequest{Authorization: oauthtest.BasicAuth(basic, basicSec)}
		})
	})
	b.Run("client_secret_jwt_HS256", func(b *testing.B) {
		run(b, func(int) *oauth.ClientRequest {
			return assertion(sign(b, jose.HS256, []byte(csjSec), "", claimsFor(csj, testIssuer, c.Now())))
		})
	})
	for _, k := range []signingKey{rs, es, ed} {
		b.Run("private_key_jwt_"+string(k.alg), func(b *testing.B) {
			run(b, func(int) *oauth.ClientRequest {
				return assertion(sign(b, k.alg, k.priv, k.kid, claimsFor(pkj, testIssuer, c.Now())))
			})
		})
	}
}

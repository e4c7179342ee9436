package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// header decodes the JOSE header of a compact JWS.
func header(t *testing.T, jws string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.SplitN(jws, ".", 2)[0])
	var h map[string]any
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("JWS header of %.30s…: %v", jws, err)
	}
	return h
}

// id_token_signed_response_alg (OIDC Dynamic Client Registration §2): a
// client's ID tokens, at the code exchange and on refresh, are signed
// with the server's key of the algorithm it registered, RS256 when it
// registered none; a relying party verifies them with coreos/go-oidc
// (signature, alg, at_hash). JWT access tokens stay RS256 whatever the
// client chose: they are for resource servers, not for the client.
// RP-initiated logout takes an ES256 ID token as its hint.
func TestIDTokenSignedResponseAlg(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil, oauthtest.WithSigner, oauthtest.WithPolicy(func(p *oauth.Policy) { p.AccessTokenFormat = oauth.AccessTokenFormatJWT }))
	alice := c.User("alice", "pw")
	keys := &oidc.StaticKeySet{PublicKeys: oauthtest.SignerPublicKeys()}
	for _, tc := range []struct {
		registered, alg, kid string
	}{
		{"", oauth.AlgRS256, oauthtest.SignerKeyID},
		{oauth.AlgRS256, oauth.AlgRS256, oauthtest.SignerKeyID},
		{oauth.AlgES256, oauth.AlgES256, oauthtest.SignerES256KeyID},
	} {
		t.Run("registered "+tc.registered, func(t *testing.T) {
			id, sec := c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"}, IDTokenSignedResponseAlg: tc.registered,
				PostLogoutRedirectURIs: []string{"https://app.example/bye"}})
			first := c.CodeTokens(id, sec, alice, "openid")
			refreshed, err := c.Token(id, sec, refreshForm(first.RefreshToken))
			if err != nil {
				t.Fatal(err)
			}
			verifier := oidc.NewVerifier("https://gatehouse.test", keys, &oidc.Config{ClientID: id, SupportedSigningAlgs: []string{tc.alg}, Now: c.Now})
			for what, resp := range map[string]*oauth.TokenResponse{"code exchange": first, "refresh": refreshed} {
				if h := header(t, resp.IDToken); h["alg"] != tc.alg || h["kid"] != tc.kid || h["typ"] != oauth.TypeIDToken {
					t.Fatalf("%s: ID token header %v, want alg %s kid %s", what, h, tc.alg, tc.kid)
				}
				tok, err := verifier.Verify(context.Background(), resp.IDToken)
				if err != nil {
					t.Fatalf("%s: go-oidc refuses the ID token: %v", what, err)
				}
				if err := tok.VerifyAccessToken(resp.AccessToken); err != nil || tok.Subject != alice.Subject {
					t.Fatalf("%s: at_hash %v, sub %s", what, err, tok.Subject)
				}
				if h := header(t, resp.AccessToken); h["alg"] != oauth.AlgRS256 {
					t.Fatalf("%s: JWT access token signed with %v", what, h["alg"])
				}
			}
			// The algorithm is enforced, not merely accepted: a relying
			// party expecting the other one refuses the token.
			other := oauth.AlgES256
			if tc.alg == oauth.AlgES256 {
				other = oauth.AlgRS256
			}
			strict := oidc.NewVerifier("https://gatehouse.test", keys, &oidc.Config{ClientID: id, SupportedSigningAlgs: []string{other}, Now: c.Now})
			if _, err := strict.Verify(context.Background(), first.IDToken); err == nil {
				t.Fatalf("a %s ID token verified as %s", tc.alg, other)
			}
			r, err := c.Server.ParseLogoutRequest(context.Background(), url.Values{"id_token_hint": {first.IDToken}, "post_logout_redirect_uri": {"https://app.example/bye"}})
			if err != nil || r.Client == nil || r.Client.ID != id || r.Hint == nil || r.Hint.Subject != alice.Subject {
				t.Fatalf("logout with the ID token as hint: %+v %v", r, err)
			}
		})
	}
}

// Clients may register RS256 or ES256 (the keys the server has), and the
// discovery document says so.
func TestIDTokenSigningAlgsSupported(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil, oauthtest.WithSigner)
	m, err := c.Server.Metadata(context.Background(), oauth.Endpoints{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.IDTokenSigningAlgValuesSupported, " ") != "RS256 ES256" || strings.Join(oauth.IDTokenSigningAlgs, " ") != "RS256 ES256" {
		t.Fatalf("id_token_signing_alg_values_supported %v", m.IDTokenSigningAlgValuesSupported)
	}
	if (&oauth.Client{}).IDTokenAlg() != oauth.AlgRS256 || (&oauth.Client{IDTokenSignedResponseAlg: "ES256"}).IDTokenAlg() != oauth.AlgES256 {
		t.Fatal("IDTokenAlg")
	}
}

package oauth_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of the token exchange grant (grant_token_exchange.go; RFC 8693,
// the down-scoping case).

const refreshTokenType = "urn:ietf:params:oauth:token-type:refresh_token"

// exchangeForm is a token exchange of subject, changed by pairs (an empty
// value removes the parameter).
func exchangeForm(subject string, pairs ...string) url.Values {
	return oauthtest.Change(url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {oauth.TokenTypeAccessToken}}, pairs...)
}

// A client trades one of its live access tokens for one with the same or
// fewer scopes (and the same or a narrower audience) that expires no
// later, in the same family (revoking the grant revokes it too), without
// refresh or ID token. A subject token that is unknown, not a live access
// token, another client's or a disabled user's is invalid_request (RFC
// 8693 §2.2.2), not invalid_grant.
func TestTokenExchange(t *testing.T) {
	t.Parallel()
	const (
		granted = "openid user.read"
		dead    = "the subject_token is invalid, expired or revoked"
	)
	exchangeGrants := []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantTokenExchange}
	cases := []struct {
		name    string
		form    []string // changes to exchangeForm(the access token)
		present func(c *oauthtest.Core, pair *oauth.TokenResponse) string
		other   bool // another client with the grant presents it
		before  func(c *oauthtest.Core, u *oauth.User)
		scope   string
		code    string
		desc    string
	}{
		{name: "the same scope", scope: granted},
		{name: "fewer scopes", form: []string{"scope", "openid"}, scope: "openid"},
		{name: "requested_token_type access_token", form: []string{"requested_token_type", oauth.TokenTypeAccessToken}, scope: granted},
		{name: "wider scope", form: []string{"scope", "openid email"}, code: "invalid_scope", desc: "the requested scope is wider than the subject token's"},
		{name: "no subject_token", form: []string{"subject_token", ""}, code: "invalid_request", desc: "the request has no subject_token"},
		{name: "no subject_token_type", form: []string{"subject_token_type", ""}, code: "invalid_request", desc: "subject_token_type must be " + oauth.TokenTypeAccessToken},
		{name: "subject_token_type refresh_token", form: []string{"subject_token_type", refreshTokenType}, code: "invalid_request", desc: "subject_token_type must be"},
		{name: "requested_token_type refresh_token", form: []string{"requested_token_type", refreshTokenType}, code: "invalid_request", desc: "only access tokens can be requested"},
		// Actor tokens (delegation): grant_token_exchange_delegation_test.go.
		{name: "actor_token without actor_token_type", form: []string{"actor_token", "x"}, code: "invalid_request", desc: "no actor_token_type"},
		// resource and audience narrow the audience like RFC 8707's
		// resource at the token endpoint: the subject token's (user.read:
		// the built-in {issuer}/api), compared canonically.
		{name: "resource of the subject token", form: []string{"resource", "HTTPS://Gatehouse.TEST:443/api/"}, scope: granted},
		{name: "audience of the subject token", form: []string{"audience", "https://gatehouse.test/api"}, scope: granted},
		{name: "resource outside the subject token's", form: []string{"resource", "https://api.example"}, code: "invalid_target",
			desc: "the resource https://api.example was not part of the grant"},
		{name: "audience that is no URI", form: []string{"audience", "api"}, code: "invalid_target", desc: "must be an absolute URI"},
		{name: "an unknown subject token", form: []string{"subject_token", "gat_unknown"}, code: "invalid_request", desc: "the subject_token is invalid"},
		{name: "a refresh token as subject", present: func(_ *oauthtest.Core, p *oauth.TokenResponse) string { return p.RefreshToken }, code: "invalid_request", desc: dead},
		{name: "a revoked subject token", present: func(c *oauthtest.Core, p *oauth.TokenResponse) string {
			if err := c.Model.RevokeToken(context.Background(), c.StoredToken(p.AccessToken).Hash, c.Now()); err != nil {
				c.T.Fatal(err)
			}
			return p.AccessToken
		}, code: "invalid_request", desc: dead},
		{name: "an expired subject token", before: func(c *oauthtest.Core, _ *oauth.User) { c.Advance(30 * time.Minute) }, code: "invalid_request", desc: dead},
		{name: "another client's token", other: true, code: "invalid_request", desc: "the subject_token was issued to another client"},
		{name: "a disabled user", before: func(c *oauthtest.Core, u *oauth.User) {
			if err := c.Model.UpdateUser(u.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
				c.T.Fatal(err)
			}
		}, code: "invalid_request", desc: "the user of this grant is disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := oauthtest.NewCore(t, nil, oauthtest.WithSigner)
			id, sec := c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: exchangeGrants})
			other, otherSec := c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: exchangeGrants})
			u := c.User("alice", "pw")
			pair := c.CodeTokens(id, sec, u, granted)
			c.Advance(30 * time.Minute)
			if tc.before != nil {
				tc.before(c, u)
			}
			plain := pair.AccessToken
			if tc.present != nil {
				plain = tc.present(c, pair)
			}
			if tc.other {
				id, sec = other, otherSec
			}
			resp, err := c.Token(id, sec, exchangeForm(plain, tc.form...))
			if !oauthtest.WantTokens(t, resp, err, tc.code, tc.desc) {
				return
			}
			// Half the subject's hour is left: the new token gets no more.
			if resp.Scope != tc.scope || resp.IssuedTokenType != oauth.TokenTypeAccessToken || resp.TokenType != "Bearer" || resp.ExpiresIn != 1800 ||
				resp.RefreshToken != "" || resp.IDToken != "" {
				t.Fatalf("response %+v", resp)
			}
			subject, st := c.StoredToken(pair.AccessToken), c.StoredToken(resp.AccessToken)
			if st.FamilyID != subject.FamilyID || *st.UserID != u.ID || !st.AuthTime.Equal(*subject.AuthTime) || !st.ExpiresAt.Equal(subject.ExpiresAt) ||
				st.Scope != tc.scope || subject.RevokedAt != nil {
				t.Fatalf("stored %+v, subject %+v", st, subject)
			}
		})
	}
}

// Token exchange of a client-credentials token yields only machine
// scopes the client still lists (rule 51): asking for another is
// invalid_scope; scopes the subject token carried that the client may no
// longer have are dropped.
func TestRule51_TokenExchangeOfClientCredentialsTokenKeepsToMachineScopes(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, machineTestScopes)
	id, sec := c.Client(oauth.Client{GrantTypes: ccGrants, Scopes: []string{"files.write", "admin.panel"}})
	cc, err := c.Token(id, sec, ccForm("files.write"))
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(subject, scope string) (*oauth.TokenResponse, error) {
		return c.Token(id, sec, exchangeForm(subject, "scope", scope))
	}
	_, err = exchange(cc.AccessToken, "admin.panel")
	oauthtest.WantError(t, err, "invalid_scope", "wider than the subject token's")
	if resp, err := exchange(cc.AccessToken, ""); err != nil || resp.Scope != "files.write" {
		t.Fatalf("plain exchange: %+v %v", resp, err)
	}

	// A token issued before the upgrade (or before an admin took the
	// machine flag away) carrying a non-machine scope: the exchange drops
	// it, and naming it is refused with the reason.
	legacy := c.SeedToken(oauth.Token{ClientID: id, Scope: "admin.panel files.write"})
	_, err = exchange(legacy, "admin.panel")
	oauthtest.WantError(t, err, "invalid_scope", "not a machine scope")
	resp, err := exchange(legacy, "")
	if err != nil || resp.Scope != "files.write" {
		t.Fatalf("legacy token exchanged: %+v %v", resp, err)
	}
	if st := c.StoredToken(resp.AccessToken); st.UserID != nil || st.Scope != "files.write" {
		t.Fatalf("stored: %+v", st)
	}

	// The client no longer lists files.write: nothing is left to carry.
	if err := c.Model.UpdateClient(id, func(cl *oauth.Client) error { cl.Scopes = []string{"admin.panel"}; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err = exchange(cc.AccessToken, "files.write")
	oauthtest.WantError(t, err, "invalid_scope", "not listed for this client")
	if resp, err := exchange(cc.AccessToken, ""); err != nil || resp.Scope != "" {
		t.Fatalf("unlisted scope dropped: %+v %v", resp, err)
	}
}

// revokingModel revokes a family just before tokens of it are stored: a
// revocation (a password change, a revoked app) racing a grant.
type revokingModel struct {
	*oauthtest.MemModel
	family string
}

func (m *revokingModel) SaveTokens(ctx context.Context, tokens ...*oauth.Token) error {
	if m.family != "" {
		if _, err := m.MemModel.RevokeFamily(ctx, m.family, time.Now()); err != nil {
			return err
		}
	}
	return m.MemModel.SaveTokens(ctx, tokens...)
}

// A token exchange racing the revocation of the subject token's grant
// leaves no live token in the revoked grant.
func TestTokenExchangeRacingRevocation(t *testing.T) {
	t.Parallel()
	rm := &revokingModel{}
	c := oauthtest.NewCore(t, machineTestScopes, func(o *oauth.Options) {
		rm.MemModel = o.Model.(*oauthtest.MemModel)
		o.Model = rm
	})
	id, sec := c.Client(oauth.Client{GrantTypes: ccGrants, Scopes: []string{"files.write"}})
	cc, err := c.Token(id, sec, ccForm("files.write"))
	if err != nil {
		t.Fatal(err)
	}
	rm.family = c.StoredToken(cc.AccessToken).FamilyID
	resp, err := c.Token(id, sec, exchangeForm(cc.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.StoredToken(resp.AccessToken); st.RevokedAt == nil {
		t.Fatal("the exchanged token lives on in a grant revoked while it was issued")
	}
}

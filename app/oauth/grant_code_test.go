package oauth_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/secret"
)

// Tests of the authorization code grant at the token endpoint
// (grant_code.go; RFC 6749 §4.1.3, RFC 7636 §4.6).

const codeRedirect = "https://app.example/cb"

// codeCore is a core with a confidential client (one redirect URI, the
// default grants), a public one, another confidential one, and alice.
type codeCore struct {
	*oauthtest.Core
	conf, confSec   string
	other, otherSec string
	pub             string
	alice           *oauth.User
}

func newCodeCore(t *testing.T, options ...func(*oauth.Options)) *codeCore {
	c := &codeCore{Core: oauthtest.NewCore(t, nil, options...)}
	c.conf, c.confSec = c.Client(oauth.Client{RedirectURIs: []string{codeRedirect}})
	c.other, c.otherSec = c.Client(oauth.Client{RedirectURIs: []string{codeRedirect}})
	c.pub, _ = c.Client(oauth.Client{Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	c.alice = c.User("alice", "pw")
	return c
}

// client is the public client (secret "") when public, otherwise the
// confidential one.
func (c *codeCore) client(public bool) (id, secret string) {
	if public {
		return c.pub, ""
	}
	return c.conf, c.confSec
}

// exchange is the code exchange form: the code and Verifier, changed by
// pairs (an empty value removes the parameter).
func exchange(code string, pairs ...string) url.Values {
	return oauthtest.Change(url.Values{"grant_type": {oauth.GrantAuthorizationCode}, "code": {code}, "code_verifier": {oauthtest.Verifier}}, pairs...)
}

// The code is bound to its client, its redirect_uri and its PKCE
// challenge, lives authorization_code_lifetime, and is redeemed only for
// a user who still may sign in (rules 23, 25, 26).
func TestRules23_25_26_CodeExchange(t *testing.T) {
	t.Parallel()
	const (
		mismatch = "redirect_uri does not match the authorization request"
		wrongPKC = "code_verifier does not match the code_challenge"
	)
	cases := []struct {
		name string
		// authorize changes PKCERequest(conf, "user.read"): "" removes.
		authorize []string
		// public: the public client asks and redeems; other: the other
		// confidential client redeems the conf client's code.
		public, other bool
		token         []string // changes to exchange(code)
		before        func(c *codeCore)
		code, desc    string
	}{
		{name: "PKCE: the right verifier"},
		{name: "PKCE: a wrong verifier", token: []string{"code_verifier", strings.Repeat("a", 43)}, code: "invalid_grant", desc: wrongPKC},
		{name: "PKCE: the verifier in upper case", token: []string{"code_verifier", strings.ToUpper(oauthtest.Verifier)}, code: "invalid_grant", desc: wrongPKC},
		{name: "PKCE: the challenge sent as verifier (plain)", token: []string{"code_verifier", oauthtest.VerifierChallenge}, code: "invalid_grant", desc: wrongPKC},
		{name: "PKCE: a malformed verifier", token: []string{"code_verifier", "short"}, code: "invalid_grant", desc: wrongPKC},
		{name: "PKCE: no verifier", token: []string{"code_verifier", ""}, code: "invalid_grant", desc: "code_verifier is missing"},
		{name: "PKCE: a verifier for a code without challenge (downgrade)", authorize: []string{"code_challenge", "", "code_challenge_method", ""},
			code: "invalid_grant", desc: "code_verifier sent for a code issued without code_challenge"},
		{name: "PKCE: no challenge, no verifier", authorize: []string{"code_challenge", "", "code_challenge_method", ""}, token: []string{"code_verifier", ""}},
		{name: "PKCE: public client, the right verifier", public: true},
		{name: "PKCE: public client, no verifier", public: true, token: []string{"code_verifier", ""}, code: "invalid_grant", desc: "code_verifier is missing"},

		{name: "redirect_uri sent, the same at the token endpoint", authorize: []string{"redirect_uri", codeRedirect}, token: []string{"redirect_uri", codeRedirect}},
		{name: "redirect_uri sent, omitted at the token endpoint", authorize: []string{"redirect_uri", codeRedirect}, code: "invalid_grant", desc: mismatch},
		{name: "redirect_uri sent, another at the token endpoint", authorize: []string{"redirect_uri", codeRedirect}, token: []string{"redirect_uri", "https://evil.example/cb"},
			code: "invalid_grant", desc: mismatch},
		{name: "redirect_uri sent, a trailing slash more", authorize: []string{"redirect_uri", codeRedirect}, token: []string{"redirect_uri", codeRedirect + "/"},
			code: "invalid_grant", desc: mismatch},
		{name: "redirect_uri omitted, omitted at the token endpoint"},
		{name: "redirect_uri omitted, the registered one at the token endpoint", token: []string{"redirect_uri", codeRedirect}},
		{name: "redirect_uri omitted, another at the token endpoint", token: []string{"redirect_uri", "https://evil.example/cb"}, code: "invalid_grant", desc: mismatch},
		{name: "redirect_uri omitted, the client has registered a second one since", token: []string{"redirect_uri", codeRedirect},
			before: func(c *codeCore) {
				if err := c.Model.UpdateClient(c.conf, func(cl *oauth.Client) error {
					cl.RedirectURIs = append(cl.RedirectURIs, "https://app.example/other")
					return nil
				}); err != nil {
					c.T.Fatal(err)
				}
			}, code: "invalid_grant", desc: mismatch},

		{name: "another client's code", other: true, code: "invalid_grant", desc: "the authorization code was issued to another client"},
		{name: "just before expiry", before: func(c *codeCore) { c.Advance(5*time.Minute - time.Second) }},
		{name: "at expiry", before: func(c *codeCore) { c.Advance(5 * time.Minute) }, code: "invalid_grant", desc: "the authorization code has expired"},
		{name: "a disabled user", before: func(c *codeCore) {
			if err := c.Model.UpdateUser(c.alice.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
				c.T.Fatal(err)
			}
		}, code: "invalid_grant", desc: "the user of this grant is disabled"},
		{name: "no code", token: []string{"code", ""}, code: "invalid_request", desc: "the request has no code"},
		{name: "an unknown code", token: []string{"code", "gac_unknown"}, code: "invalid_grant", desc: "the authorization code is invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCodeCore(t)
			id, sec := c.client(tc.public)
			code := c.Code(c.alice, oauthtest.Change(oauthtest.PKCERequest(id, "user.read"), tc.authorize...))
			if tc.before != nil {
				tc.before(c)
			}
			if tc.other {
				id, sec = c.other, c.otherSec
			}
			resp, err := c.Token(id, sec, exchange(code, tc.token...))
			if !oauthtest.WantTokens(t, resp, err, tc.code, tc.desc) {
				return
			}
			st := c.StoredToken(resp.AccessToken)
			if resp.Scope != "user.read" || st.ClientID != id || *st.UserID != c.alice.ID || st.AuthTime == nil || st.Scope != "user.read" {
				t.Fatalf("response %+v, stored %+v", resp, st)
			}
		})
	}

	t.Run("a deleted user", func(t *testing.T) {
		c := newCodeCore(t)
		code := oauth.RandomGenerator{}.AuthorizationCode()
		if err := c.Model.SaveAuthorizationCode(context.Background(), &oauth.AuthorizationCode{Hash: secret.Digest(code), ClientID: c.conf,
			UserID: 999, Scope: "user.read", FamilyID: "f", AuthTime: c.Now(), ExpiresAt: c.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Token(c.conf, c.confSec, exchange(code, "code_verifier", ""))
		oauthtest.WantError(t, err, "invalid_grant", "the user of this grant no longer exists")
	})
}

// Rule 24 (RFC 6749 §4.1.2): a code works once. A second redemption is
// invalid_grant and revokes every token issued from the first (access
// and refresh), whoever presents it, and is reported as
// SecurityCodeReplay. A redemption that failed (a wrong verifier) used
// the code up too.
func TestRule24_CodeReplayRevokesItsTokens(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// replayOther: the other client presents the code again.
		replayOther bool
	}{
		{"replayed by its client", false},
		{"replayed by another client", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCodeCore(t)
			code := c.Code(c.alice, oauthtest.PKCERequest(c.conf, "user.read"))
			first, err := c.Token(c.conf, c.confSec, exchange(code))
			if err != nil {
				t.Fatal(err)
			}
			id, sec := c.conf, c.confSec
			if tc.replayOther {
				id, sec = c.other, c.otherSec
			}
			c.Advance(time.Second)
			_, err = c.Token(id, sec, exchange(code))
			oauthtest.WantError(t, err, "invalid_grant", "the authorization code was already used")
			for _, tok := range []string{first.AccessToken, first.RefreshToken} {
				if st := c.StoredToken(tok); st.RevokedAt == nil || !st.RevokedAt.Equal(c.Now()) {
					t.Fatalf("a token issued from the replayed code lives on: %+v", st)
				}
			}
			ev := c.Events()
			if len(ev) != 1 || ev[0].Kind != oauth.SecurityCodeReplay || ev[0].Grant != oauth.GrantAuthorizationCode || ev[0].ClientID != c.conf ||
				ev[0].UserID == nil || *ev[0].UserID != c.alice.ID || ev[0].Revoked != 2 || ev[0].RemoteAddr != "192.0.2.1" {
				t.Fatalf("events %+v", ev)
			}
		})
	}
	t.Run("a failed redemption uses the code up", func(t *testing.T) {
		c := newCodeCore(t)
		code := c.Code(c.alice, oauthtest.PKCERequest(c.conf, "user.read"))
		_, err := c.Token(c.conf, c.confSec, exchange(code, "code_verifier", strings.Repeat("a", 43)))
		oauthtest.WantError(t, err, "invalid_grant", "does not match")
		_, err = c.Token(c.conf, c.confSec, exchange(code))
		oauthtest.WantError(t, err, "invalid_grant", "the authorization code was already used")
	})
}

// Rule 24: of concurrent redemptions of one code exactly one gets
// tokens; the others are replays, so the winner's tokens end revoked
// whichever order the writes took.
func TestRule24_ConcurrentRedemptionsOneWinner(t *testing.T) {
	t.Parallel()
	c := newCodeCore(t)
	for round := range 3 {
		code := c.Code(c.alice, oauthtest.PKCERequest(c.conf, "user.read"))
		winner := oauthtest.OneWinner(t, 16, func() (*oauth.TokenResponse, error) {
			return c.Server.Token(context.Background(), c.ClientRequest(c.conf, c.confSec, exchange(code)))
		})
		for _, tok := range []string{winner.AccessToken, winner.RefreshToken} {
			if c.StoredToken(tok).RevokedAt == nil {
				t.Fatalf("round %d: the winner's token survived the replay", round)
			}
		}
	}
}

// A refresh token comes with the code exchange when, and only when, the
// client may use the refresh grant; asking for offline_access changes
// nothing.
func TestCodeExchangeRefreshTokenOnlyWithTheRefreshGrant(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil)
	u := c.User("alice", "pw")
	codeOnly := []string{oauth.GrantAuthorizationCode}
	withRefresh := []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
	cases := []struct {
		name   string
		public bool
		grants []string
		scope  string
		want   bool
	}{
		{"the default grants", false, nil, "user.read", true},
		{"code and refresh", false, withRefresh, "user.read", true},
		{"code only", false, codeOnly, "user.read", false},
		{"code only, offline_access asked", false, codeOnly, "offline_access user.read", false},
		{"code and refresh, offline_access asked", false, withRefresh, "offline_access", true},
		{"public client, the default grants", true, nil, "user.read", true},
		{"public client, code only", true, codeOnly, "user.read", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, sec := c.Client(oauth.Client{Public: tc.public, RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: tc.grants})
			resp := c.CodeTokens(id, sec, u, tc.scope)
			if got := resp.RefreshToken != ""; got != tc.want {
				t.Fatalf("refresh token %v, want %v (%+v)", got, tc.want, resp)
			}
			if tc.want {
				if st := c.StoredToken(resp.RefreshToken); st.Kind != oauth.KindRefresh || st.FamilyID != c.StoredToken(resp.AccessToken).FamilyID {
					t.Fatalf("refresh token stored as %+v", st)
				}
			}
		})
	}
}

// Rule 33 (OIDC Core §3.1.3.3): with the openid scope and a signer, the
// code exchange answers an ID token for the user, audience the client,
// with auth_time, the request's nonce, at_hash of the access token, and
// the claims the scopes allow. Without openid, or without a signer, no ID
// token.
func TestRule33_IDTokenOfTheCodeExchange(t *testing.T) {
	t.Parallel()
	c := newCodeCore(t, oauthtest.WithSigner)
	authTime := c.Now()
	c.Advance(30 * time.Second) // the code is issued later than the sign-in
	params := oauthtest.PKCERequest(c.conf, "openid profile")
	params.Set("nonce", "n-0S6_WzA2Mj")
	req, err := c.Server.ParseAuthorizeRequest(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := c.Server.Approve(context.Background(), req, oauth.Visitor{User: c.alice, AuthTime: authTime}, true)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc.Location())
	c.Advance(10 * time.Second)
	resp, err := c.Token(c.conf, c.confSec, exchange(u.Query().Get("code")))
	if err != nil || resp.IDToken == "" {
		t.Fatalf("%+v %v", resp, err)
	}
	var cl oauth.IDTokenClaims
	c.Claims(resp.IDToken, oauth.TypeIDToken, &cl)
	now := c.Now().Unix()
	want := oauth.IDTokenClaims{Issuer: "https://gatehouse.test", Subject: c.alice.Subject, Audience: c.conf, AuthorizedParty: c.conf,
		IssuedAt: now, Expiry: now + 3600, AuthTime: authTime.Unix(), Nonce: "n-0S6_WzA2Mj", AtHash: oauthtest.AtHash(resp.AccessToken),
		UserClaims: oauth.UserClaims{Name: "Alice", PreferredUsername: "alice"}}
	if cl != want {
		t.Fatalf("claims\n%+v\nwant\n%+v", cl, want)
	}

	t.Run("no openid scope: no ID token", func(t *testing.T) {
		if resp := c.CodeTokens(c.conf, c.confSec, c.alice, "profile user.read"); resp.IDToken != "" {
			t.Fatal("ID token without openid")
		}
	})
	t.Run("no signer: no ID token", func(t *testing.T) {
		c := newCodeCore(t)
		if resp := c.CodeTokens(c.conf, c.confSec, c.alice, "openid"); resp.IDToken != "" {
			t.Fatal("ID token without a signer")
		}
	})
}

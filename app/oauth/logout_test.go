package oauth_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

const logoutRedirect = "https://app.example/signed-out"

// logoutCore is a core with a signer, a client registering
// logoutRedirect as post-logout address, another client, and alice with
// an ID token of the first client issued in browser session "sid-1".
type logoutCore struct {
	*oauthtest.Core
	app, appSec, other string
	alice              *oauth.User
	idToken            string
}

func newLogoutCore(t *testing.T) *logoutCore {
	c := &logoutCore{Core: oauthtest.NewCore(t, nil, oauthtest.WithSigner)}
	c.app, c.appSec = c.Client(oauth.Client{RedirectURIs: []string{codeRedirect}, PostLogoutRedirectURIs: []string{logoutRedirect}})
	c.other, _ = c.Client(oauth.Client{RedirectURIs: []string{codeRedirect}, PostLogoutRedirectURIs: []string{"https://other.example/bye"}})
	c.alice = c.User("alice", "pw")
	c.idToken = c.sessionTokens(c.app, c.appSec, "sid-1", "openid").IDToken
	return c
}

// sessionTokens runs the code flow for alice approved in browser session
// sid and returns the token response.
func (c *logoutCore) sessionTokens(id, secret, sid, scope string) *oauth.TokenResponse {
	c.T.Helper()
	ctx := context.Background()
	req, err := c.Server.ParseAuthorizeRequest(ctx, oauthtest.PKCERequest(id, scope))
	if err != nil {
		c.T.Fatal(err)
	}
	loc, err := c.Server.Approve(ctx, req, oauth.Visitor{User: c.alice, AuthTime: c.Now(), SID: sid}, true)
	if err != nil {
		c.T.Fatal(err)
	}
	l, _ := url.Parse(loc.Location())
	resp, err := c.Token(id, secret, exchange(l.Query().Get("code")))
	if err != nil {
		c.T.Fatal(err)
	}
	return resp
}

// Rule 40 (RP-Initiated Logout §2-§3): which end-session requests are
// honoured, who they name, and where they may send the browser.
func TestRule40_LogoutRequest(t *testing.T) {
	t.Parallel()
	c := newLogoutCore(t)
	tampered := c.idToken[:len(c.idToken)-4] + "AAAA"
	if tampered == c.idToken {
		tampered = c.idToken[:len(c.idToken)-4] + "BBBB"
	}
	c.Advance(48 * time.Hour) // the ID token has long expired: still a valid hint
	cases := []struct {
		name     string
		params   url.Values
		desc     string // refused with invalid_request saying this ("" accepted)
		client   string
		location string
	}{
		{name: "hint and registered address", params: url.Values{"id_token_hint": {c.idToken}, "post_logout_redirect_uri": {logoutRedirect}, "state": {"s 1"}},
			client: c.app, location: logoutRedirect + "?state=s+1"},
		{name: "hint and matching client_id", params: url.Values{"id_token_hint": {c.idToken}, "client_id": {c.app}, "post_logout_redirect_uri": {logoutRedirect}},
			client: c.app, location: logoutRedirect},
		{name: "client_id alone", params: url.Values{"client_id": {c.app}, "post_logout_redirect_uri": {logoutRedirect}, "state": {"x"}},
			client: c.app, location: logoutRedirect + "?state=x"},
		{name: "nothing at all", params: url.Values{}},
		{name: "hint alone", params: url.Values{"id_token_hint": {c.idToken}}, client: c.app},
		{name: "unregistered address", params: url.Values{"id_token_hint": {c.idToken}, "post_logout_redirect_uri": {"https://evil.example/"}},
			desc: "post_logout_redirect_uri is not registered for this application"},
		{name: "another client's address", params: url.Values{"client_id": {c.app}, "post_logout_redirect_uri": {"https://other.example/bye"}},
			desc: "not registered for this application"},
		{name: "address differing in case", params: url.Values{"client_id": {c.app}, "post_logout_redirect_uri": {strings.ToUpper(logoutRedirect)}},
			desc: "not registered"},
		{name: "address with a suffix", params: url.Values{"client_id": {c.app}, "post_logout_redirect_uri": {logoutRedirect + "/x"}},
			desc: "not registered"},
		{name: "address without a client", params: url.Values{"post_logout_redirect_uri": {logoutRedirect}},
			desc: "needs client_id or id_token_hint"},
		{name: "hint for another client", params: url.Values{"id_token_hint": {c.idToken}, "client_id": {c.other}},
			desc: "issued to another application"},
		{name: "unknown client", params: url.Values{"client_id": {"nobody"}}, desc: "no application is registered"},
		{name: "malformed hint", params: url.Values{"id_token_hint": {"not.a.jwt"}}, desc: "not a valid ID token of this server"},
		{name: "forged hint", params: url.Values{"id_token_hint": {tampered}}, desc: "not a valid ID token of this server"},
		{name: "repeated parameter", params: url.Values{"client_id": {c.app, c.app}}, desc: "sent more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := c.Server.ParseLogoutRequest(context.Background(), tc.params)
			if tc.desc != "" {
				if oauthtest.Code(err) != "invalid_request" || !strings.Contains(err.Error(), tc.desc) || r != nil {
					t.Fatalf("got %+v, %v; want invalid_request saying %q", r, err, tc.desc)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if r.Client != nil {
				got = r.Client.ID
			}
			if got != tc.client || r.Location() != tc.location {
				t.Fatalf("client %q, location %q; want %q, %q", got, r.Location(), tc.client, tc.location)
			}
		})
	}
}

// A hint ends a session without asking only when it names that very
// session of that very user.
func TestRule40_HintForSession(t *testing.T) {
	t.Parallel()
	c := newLogoutCore(t)
	r, err := c.Server.ParseLogoutRequest(context.Background(), url.Values{"id_token_hint": {c.idToken}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.ForSession("sid-1", c.alice.Subject) {
		t.Error("the hint of this session does not name it")
	}
	if r.ForSession("sid-2", c.alice.Subject) {
		t.Error("the hint names another session")
	}
	if r.ForSession("sid-1", "someone-else") {
		t.Error("the hint names another user's session")
	}
	// An ID token issued outside a browser session names none.
	noSession := c.sessionTokens(c.app, c.appSec, "", "openid").IDToken
	r, err = c.Server.ParseLogoutRequest(context.Background(), url.Values{"id_token_hint": {noSession}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ForSession("", c.alice.Subject) {
		t.Error("a hint without sid names the session without one")
	}
	// An access token is no ID token, even signed by the same key.
	jc := oauthtest.NewCore(t, nil, oauthtest.WithSigner, oauthtest.WithPolicy(func(p *oauth.Policy) { p.AccessTokenFormat = oauth.AccessTokenFormatJWT }))
	id, sec := jc.Client(oauth.Client{RedirectURIs: []string{codeRedirect}})
	u := jc.User("bob", "pw")
	at := jc.CodeTokens(id, sec, u, "openid").AccessToken
	if _, err := jc.Server.ParseLogoutRequest(context.Background(), url.Values{"id_token_hint": {at}}); oauthtest.Code(err) != "invalid_request" {
		t.Errorf("a JWT access token accepted as id_token_hint: %v", err)
	}
}

// ID tokens carry the sid of the browser session the grant was approved
// in, and every token of the grant remembers it through refreshes and
// token exchange (Back-Channel Logout §2.1, Front-Channel Logout §3).
func TestSIDInTokens(t *testing.T) {
	t.Parallel()
	c := newLogoutCore(t)
	resp := c.sessionTokens(c.app, c.appSec, "sid-9", "openid offline_access")
	var claims map[string]any
	c.Claims(resp.IDToken, oauth.TypeIDToken, &claims)
	if claims["sid"] != "sid-9" {
		t.Fatalf("ID token sid = %v", claims["sid"])
	}
	for _, tok := range []string{resp.AccessToken, resp.RefreshToken} {
		if got := c.StoredToken(tok).SID; got != "sid-9" {
			t.Fatalf("stored token sid = %q", got)
		}
	}
	again, err := c.Token(c.app, c.appSec, url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {resp.RefreshToken}})
	if err != nil {
		t.Fatal(err)
	}
	c.Claims(again.IDToken, oauth.TypeIDToken, &claims)
	if claims["sid"] != "sid-9" || c.StoredToken(again.RefreshToken).SID != "sid-9" || c.StoredToken(again.AccessToken).SID != "sid-9" {
		t.Fatalf("refresh lost the sid: %v, %q", claims["sid"], c.StoredToken(again.RefreshToken).SID)
	}
	// Without a session (sid ""), no sid claim at all.
	plain := c.sessionTokens(c.app, c.appSec, "", "openid")
	claims = nil
	c.Claims(plain.IDToken, oauth.TypeIDToken, &claims)
	if _, ok := claims["sid"]; ok {
		t.Fatalf("sid claim without a session: %v", claims["sid"])
	}
}

func TestFrontChannelLogoutURL(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil)
	cases := map[string]string{
		"https://app.example/fc":         "https://app.example/fc?iss=https%3A%2F%2Fgatehouse.test&sid=s+1",
		"https://app.example/fc?x=1":     "https://app.example/fc?iss=https%3A%2F%2Fgatehouse.test&sid=s+1&x=1",
		"http://127.0.0.1:8080/fc?iss=z": "http://127.0.0.1:8080/fc?iss=https%3A%2F%2Fgatehouse.test&sid=s+1",
	}
	for in, want := range cases {
		got, origin := c.Server.FrontChannelLogoutURL(in, "s 1")
		if wantOrigin := want[:strings.Index(want, "/fc")]; got != want || origin != wantOrigin {
			t.Errorf("%s: %s (origin %s), want %s (%s)", in, got, origin, want, wantOrigin)
		}
	}
}

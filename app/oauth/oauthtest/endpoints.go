package oauthtest

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
)

// Helpers for the tests of the endpoints (authorize, introspect, revoke,
// bearer, userinfo, metadata, device authorization) on top of Core.

// WithPolicy is a NewCore option: DefaultPolicy changed by change.
func WithPolicy(change func(*oauth.Policy)) func(*oauth.Options) {
	return func(o *oauth.Options) {
		p := DefaultPolicy
		if change != nil {
			change(&p)
		}
		o.Policy = p
	}
}

// TestState is the state AuthorizeParams sends: characters that must
// survive a round trip through a URL byte for byte.
const TestState = "st&=ate/1 é+%"

// AuthorizeParams is an authorization code request of clientID to
// redirectURI ("": omitted) with TestState and scope user.read, changed
// by kv: pairs of name and value, an empty value deleting the parameter.
func AuthorizeParams(clientID, redirectURI string, kv ...string) url.Values {
	v := url.Values{"response_type": {oauth.ResponseTypeCode}, "client_id": {clientID}, "state": {TestState}, "scope": {"user.read"}}
	if redirectURI != "" {
		v.Set("redirect_uri", redirectURI)
	}
	return Change(v, kv...)
}

// Location is a redirect to a client split up: the URI without query and
// fragment, and the parameters of each.
type Location struct {
	Base     string
	Query    url.Values
	Fragment url.Values
	// RawQuery and RawFragment are as sent ("" when absent).
	RawQuery, RawFragment string
}

// ParseLocation splits a location the authorization endpoint answers.
func ParseLocation(t testing.TB, loc string) Location {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	l := Location{RawQuery: u.RawQuery, RawFragment: u.EscapedFragment()}
	if l.Query, err = url.ParseQuery(u.RawQuery); err != nil {
		t.Fatalf("query of %q: %v", loc, err)
	}
	if l.Fragment, err = url.ParseQuery(l.RawFragment); err != nil {
		t.Fatalf("fragment of %q: %v", loc, err)
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	l.Base = u.String()
	return l
}

// SeedToken stores tok under a new plaintext token, which it returns:
// a token in a state a test needs, or one no grant would issue today
// (made before an upgrade or a change of settings). Unset fields get
// defaults: kind access, a family of its own, issued now (the core's
// clock) and expiring an hour later.
func (c *Core) SeedToken(tok oauth.Token) string {
	c.T.Helper()
	if tok.Kind == "" {
		tok.Kind = oauth.KindAccess
	}
	plain := oauth.RandomGenerator{}.AccessToken()
	if tok.Kind == oauth.KindRefresh {
		plain = oauth.RandomGenerator{}.RefreshToken()
	}
	tok.Hash = secret.Digest(plain)
	if tok.FamilyID == "" {
		tok.FamilyID = secret.New("fam_")
	}
	if tok.IssuedAt.IsZero() {
		tok.IssuedAt = c.Now()
	}
	if tok.ExpiresAt.IsZero() {
		tok.ExpiresAt = c.Now().Add(time.Hour)
	}
	if err := c.Model.SaveTokens(context.Background(), &tok); err != nil {
		c.T.Fatal(err)
	}
	return plain
}

// StoredToken returns the stored token of a plain access or refresh
// token (failing the test when there is none).
func (c *Core) StoredToken(plain string) *oauth.Token {
	c.T.Helper()
	tok, err := c.Model.GetToken(context.Background(), secret.Digest(plain))
	if err != nil {
		c.T.Fatalf("token %.8s…: %v", plain, err)
	}
	return tok
}

package oauth_test

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// The introspection endpoint (introspect.go, RFC 7662) without HTTP.

// codeTokens runs the code flow of the confidential client for alice
// with scope and returns the token response.
func (f *fixture) codeTokens(scope string) *oauth.TokenResponse {
	f.c.T.Helper()
	return f.c.CodeTokens(f.conf, f.confSec, f.user, scope)
}

// refresh uses the confidential client's refresh token rt.
func (f *fixture) refresh(rt string) *oauth.TokenResponse {
	f.c.T.Helper()
	resp, err := f.c.Token(f.conf, f.confSec, url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {rt}})
	if err != nil {
		f.c.T.Fatalf("refresh: %v", err)
	}
	return resp
}

// machineToken is a client-credentials token of rs for jobs.run.
func (f *fixture) machineToken() string {
	f.c.T.Helper()
	resp, err := f.c.Token(f.rs, f.rsSec, url.Values{"grant_type": {oauth.GrantClientCredentials}, "scope": {"jobs.run"}})
	if err != nil {
		f.c.T.Fatalf("client credentials: %v", err)
	}
	return resp.AccessToken
}

// seed stores a token of the confidential client for alice (changed by
// change) and returns it.
func (f *fixture) seed(change func(tok *oauth.Token)) string {
	f.c.T.Helper()
	uid := f.user.ID
	tok := oauth.Token{ClientID: f.conf, UserID: &uid, Scope: "user.read"}
	if change != nil {
		change(&tok)
	}
	return f.c.SeedToken(tok)
}

// Rule 37: an active token is described (active, scope, client_id,
// username, sub, exp, iat, token_type, and aud, iss, auth_time); any
// token that cannot be used (unknown, expired, revoked, rotated, of a
// disabled or deleted user) is exactly {"active": false}. Any
// confidential client may ask about any token.
func TestRule37_Introspection(t *testing.T) {
	t.Parallel()
	hour := time.Hour
	cases := []struct {
		name string
		// token makes the token asked about and what the answer must be
		// (the zero Introspection: inactive).
		token func(f *fixture) (string, oauth.Introspection)
	}{
		{"unknown", func(*fixture) (string, oauth.Introspection) { return "gat_unknown", oauth.Introspection{} }},
		{"access token", func(f *fixture) (string, oauth.Introspection) {
			now := f.c.Now()
			return f.codeTokens("user.read email").AccessToken, oauth.Introspection{Active: true, Scope: "email user.read", ClientID: f.conf,
				Username: "alice", TokenType: "Bearer", Expiry: now.Add(hour).Unix(), IssuedAt: now.Unix(), Subject: "sub-alice",
				Audience: oauth.Audience{issuer + "/api"}, Issuer: issuer, AuthTime: now.Unix()}
		}},
		{"refresh token", func(f *fixture) (string, oauth.Introspection) {
			now := f.c.Now()
			return f.codeTokens("user.read").RefreshToken, oauth.Introspection{Active: true, Scope: "user.read", ClientID: f.conf,
				Username: "alice", TokenType: "refresh_token", Expiry: now.Add(720 * hour).Unix(), IssuedAt: now.Unix(), Subject: "sub-alice",
				Audience: oauth.Audience{issuer + "/api"}, Issuer: issuer, AuthTime: now.Unix()}
		}},
		{"the new tokens of a refresh", func(f *fixture) (string, oauth.Introspection) {
			rt := f.codeTokens("user.read").RefreshToken
			f.c.Advance(time.Minute)
			now := f.c.Now()
			return f.refresh(rt).AccessToken, oauth.Introspection{Active: true, Scope: "user.read", ClientID: f.conf, Username: "alice",
				TokenType: "Bearer", Expiry: now.Add(hour).Unix(), IssuedAt: now.Unix(), Subject: "sub-alice", Audience: oauth.Audience{issuer + "/api"},
				Issuer: issuer, AuthTime: now.Add(-time.Minute).Unix()}
		}},
		{"client-credentials token: sub is the client", func(f *fixture) (string, oauth.Introspection) {
			now := f.c.Now()
			return f.machineToken(), oauth.Introspection{Active: true, Scope: "jobs.run", ClientID: f.rs, TokenType: "Bearer",
				Expiry: now.Add(hour).Unix(), IssuedAt: now.Unix(), Subject: f.rs, Audience: oauth.Audience{issuer}, Issuer: issuer}
		}},
		{"rule 51: a user-less token shows its machine scopes only", func(f *fixture) (string, oauth.Introspection) {
			now := f.c.Now()
			tok := f.c.SeedToken(oauth.Token{ClientID: f.rs, Scope: "jobs.run user.read"})
			return tok, oauth.Introspection{Active: true, Scope: "jobs.run", ClientID: f.rs, TokenType: "Bearer",
				Expiry: now.Add(hour).Unix(), IssuedAt: now.Unix(), Subject: f.rs, Audience: oauth.Audience{issuer}, Issuer: issuer}
		}},
		{"expired access token", func(f *fixture) (string, oauth.Introspection) {
			return f.seed(func(t *oauth.Token) { t.ExpiresAt = f.c.Now().Add(-time.Second) }), oauth.Introspection{}
		}},
		{"access token at its expiry", func(f *fixture) (string, oauth.Introspection) {
			return f.seed(func(t *oauth.Token) { t.ExpiresAt = f.c.Now() }), oauth.Introspection{}
		}},
		{"access token expired since issued", func(f *fixture) (string, oauth.Introspection) {
			at := f.codeTokens("user.read").AccessToken
			f.c.Advance(hour)
			return at, oauth.Introspection{}
		}},
		{"revoked access token", func(f *fixture) (string, oauth.Introspection) {
			return f.seed(func(t *oauth.Token) { now := f.c.Now(); t.RevokedAt = &now }), oauth.Introspection{}
		}},
		{"expired refresh token", func(f *fixture) (string, oauth.Introspection) {
			return f.seed(func(t *oauth.Token) { t.Kind, t.ExpiresAt = oauth.KindRefresh, f.c.Now().Add(-time.Second) }), oauth.Introspection{}
		}},
		{"revoked refresh token", func(f *fixture) (string, oauth.Introspection) {
			return f.seed(func(t *oauth.Token) { now := f.c.Now(); t.Kind, t.RevokedAt = oauth.KindRefresh, &now }), oauth.Introspection{}
		}},
		{"rotated refresh token", func(f *fixture) (string, oauth.Introspection) {
			rt := f.codeTokens("user.read").RefreshToken
			f.refresh(rt)
			return rt, oauth.Introspection{}
		}},
		{"token of a disabled user", func(f *fixture) (string, oauth.Introspection) {
			at := f.codeTokens("user.read").AccessToken
			if err := f.c.Model.UpdateUser(f.user.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
				f.c.T.Fatal(err)
			}
			return at, oauth.Introspection{}
		}},
		{"token of a deleted user", func(f *fixture) (string, oauth.Introspection) {
			return f.seed(func(t *oauth.Token) { gone := int64(4242); t.UserID = &gone }), oauth.Introspection{}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			tok, want := tc.token(f)
			// rs asks: a resource server introspects other clients' tokens.
			got, err := f.c.Server.Introspect(context.Background(), f.c.ClientRequest(f.rs, f.rsSec, url.Values{"token": {tok}}))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
			if !want.Active {
				if b, _ := json.Marshal(got); string(b) != `{"active":false}` {
					t.Errorf("inactive answer %s, want exactly {\"active\":false}", b)
				}
			}
		})
	}
}

// Rule 37 (the caller): introspection needs an authenticated
// confidential client (public clients are refused) and one token.
func TestRule37_IntrospectionCaller(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		req  func(f *fixture, tok string) *oauth.ClientRequest
		err  string
	}{
		{"Basic", func(f *fixture, tok string) *oauth.ClientRequest {
			return f.c.ClientRequest(f.rs, f.rsSec, url.Values{"token": {tok}})
		}, ""},
		{"client_secret_post", func(f *fixture, tok string) *oauth.ClientRequest {
			return &oauth.ClientRequest{Form: url.Values{"token": {tok}, "client_id": {f.conf}, "client_secret": {f.confSec}}}
		}, ""},
		{"token_type_hint ignored", func(f *fixture, tok string) *oauth.ClientRequest {
			return f.c.ClientRequest(f.rs, f.rsSec, url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}})
		}, ""},
		{"no client authentication", func(_ *fixture, tok string) *oauth.ClientRequest {
			return &oauth.ClientRequest{Form: url.Values{"token": {tok}}}
		}, "invalid_client"},
		{"wrong secret", func(f *fixture, tok string) *oauth.ClientRequest {
			return f.c.ClientRequest(f.rs, "wrong", url.Values{"token": {tok}})
		}, "invalid_client"},
		{"unknown client", func(_ *fixture, tok string) *oauth.ClientRequest {
			return &oauth.ClientRequest{Form: url.Values{"token": {tok}, "client_id": {"nope"}, "client_secret": {"x"}}}
		}, "invalid_client"},
		{"public client", func(f *fixture, tok string) *oauth.ClientRequest {
			return f.c.ClientRequest(f.pub, "", url.Values{"token": {tok}})
		}, "invalid_client"},
		{"public client, Basic with an empty secret", func(f *fixture, tok string) *oauth.ClientRequest {
			r := f.c.ClientRequest(f.pub, "x", url.Values{"token": {tok}})
			r.Authorization = oauthtest.BasicAuth(f.pub, "")
			return r
		}, "invalid_client"},
		{"no token", func(f *fixture, _ string) *oauth.ClientRequest {
			return f.c.ClientRequest(f.rs, f.rsSec, url.Values{})
		}, "invalid_request"},
		{"empty token", func(f *fixture, _ string) *oauth.ClientRequest {
			return f.c.ClientRequest(f.rs, f.rsSec, url.Values{"token": {""}})
		}, "invalid_request"},
		{"token twice", func(f *fixture, tok string) *oauth.ClientRequest {
			return f.c.ClientRequest(f.rs, f.rsSec, url.Values{"token": {tok, tok}})
		}, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			tok := f.codeTokens("user.read").AccessToken
			got, err := f.c.Server.Introspect(context.Background(), tc.req(f, tok))
			if code := oauthtest.Code(err); code != tc.err {
				t.Fatalf("got %+v %v, want %q", got, err, tc.err)
			}
			if tc.err == "" && !got.Active {
				t.Errorf("inactive: %+v", got)
			}
			if tc.err == "invalid_client" && oauth.AsError(err).Status != 401 {
				t.Errorf("status %d", oauth.AsError(err).Status)
			}
		})
	}
}

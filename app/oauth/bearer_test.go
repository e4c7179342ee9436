package oauth_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Protected resources (bearer.go, RFC 6750) without HTTP.

// Rules 38 and 39: where a resource request may carry its token. The
// Authorization header always; the access_token query or form parameter
// only while allow_query_access_token is on. More than one way, or a
// malformed header, is invalid_request; another scheme (Basic) carries
// no bearer token at all (the bare challenge, RFC 6750 §3.1).
func TestRule39_ExtractBearer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		src        oauth.BearerSource
		allowQuery bool
		want, err  string
	}{
		{name: "header", src: oauth.BearerSource{Authorization: "Bearer abc"}, want: "abc"},
		{name: "scheme in lower case", src: oauth.BearerSource{Authorization: "bearer abc"}, want: "abc"},
		{name: "spaces around", src: oauth.BearerSource{Authorization: "  BEARER   abc  "}, want: "abc"},
		{name: "nothing", src: oauth.BearerSource{}},
		{name: "Basic", src: oauth.BearerSource{Authorization: "Basic eHg6eXk="}},
		{name: "another scheme with query on", src: oauth.BearerSource{Authorization: "Basic eHg6eXk=", Query: []string{"q"}}, allowQuery: true, want: "q"},
		{name: "scheme alone", src: oauth.BearerSource{Authorization: "Bearer"}, err: "invalid_request"},
		{name: "scheme and spaces", src: oauth.BearerSource{Authorization: "Bearer   "}, err: "invalid_request"},
		{name: "two tokens in the header", src: oauth.BearerSource{Authorization: "Bearer a b"}, err: "invalid_request"},
		{name: "a tab in the token", src: oauth.BearerSource{Authorization: "Bearer a\tb"}, err: "invalid_request"},
		{name: "query while off", src: oauth.BearerSource{Query: []string{"q"}}},
		{name: "form while off", src: oauth.BearerSource{Form: []string{"f"}}},
		{name: "header and query while off: the header", src: oauth.BearerSource{Authorization: "Bearer h", Query: []string{"q"}}, want: "h"},
		{name: "query while on", src: oauth.BearerSource{Query: []string{"q"}}, allowQuery: true, want: "q"},
		{name: "form while on", src: oauth.BearerSource{Form: []string{"f"}}, allowQuery: true, want: "f"},
		{name: "empty query token", src: oauth.BearerSource{Query: []string{""}}, allowQuery: true, err: "invalid_request"},
		{name: "header and query", src: oauth.BearerSource{Authorization: "Bearer h", Query: []string{"q"}}, allowQuery: true, err: "invalid_request"},
		{name: "header and form", src: oauth.BearerSource{Authorization: "Bearer h", Form: []string{"f"}}, allowQuery: true, err: "invalid_request"},
		{name: "query and form", src: oauth.BearerSource{Query: []string{"q"}, Form: []string{"f"}}, allowQuery: true, err: "invalid_request"},
		{name: "query twice", src: oauth.BearerSource{Query: []string{"a", "a"}}, allowQuery: true, err: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oauth.ExtractBearer(tc.src, tc.allowQuery)
			if got != tc.want || oauthtest.Code(err) != tc.err {
				t.Errorf("ExtractBearer = %q %v, want %q %q", got, err, tc.want, tc.err)
			}
		})
	}
}

// Rule 38 (the token): a resource accepts an access token that is
// neither expired nor revoked and whose user exists and is enabled;
// anything else is invalid_token (401). A token without a user grants
// its machine scopes only (rule 51).
func TestRule38_AuthenticateAccessToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		token  func(f *fixture) string
		err    string
		user   bool     // the access has alice as its user
		scopes []string // the scopes it grants
	}{
		{name: "access token", token: func(f *fixture) string { return f.codeTokens("user.read email").AccessToken },
			user: true, scopes: []string{"email", "user.read"}},
		{name: "client-credentials token", token: func(f *fixture) string { return f.machineToken() }, scopes: []string{"jobs.run"}},
		{name: "rule 51: user-less token with a scope that is no machine scope", token: func(f *fixture) string {
			return f.c.SeedToken(oauth.Token{ClientID: f.rs, Scope: "jobs.run user.read"})
		}, scopes: []string{"jobs.run"}},
		{name: "unknown", token: func(*fixture) string { return "gat_unknown" }, err: "invalid_token"},
		{name: "refresh token", token: func(f *fixture) string { return f.codeTokens("user.read").RefreshToken }, err: "invalid_token"},
		{name: "expired", token: func(f *fixture) string {
			at := f.codeTokens("user.read").AccessToken
			f.c.Advance(time.Hour)
			return at
		}, err: "invalid_token"},
		{name: "revoked", token: func(f *fixture) string {
			return f.seed(func(t *oauth.Token) { now := f.c.Now(); t.RevokedAt = &now })
		}, err: "invalid_token"},
		{name: "of a revoked family", token: func(f *fixture) string {
			resp := f.codeTokens("user.read")
			if err := f.c.Server.Revoke(context.Background(), f.c.ClientRequest(f.conf, f.confSec, map[string][]string{"token": {resp.RefreshToken}})); err != nil {
				f.c.T.Fatal(err)
			}
			return resp.AccessToken
		}, err: "invalid_token"},
		{name: "of a disabled user", token: func(f *fixture) string {
			at := f.codeTokens("user.read").AccessToken
			if err := f.c.Model.UpdateUser(f.user.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
				f.c.T.Fatal(err)
			}
			return at
		}, err: "invalid_token"},
		{name: "of a deleted user", token: func(f *fixture) string {
			return f.seed(func(t *oauth.Token) { gone := int64(4242); t.UserID = &gone })
		}, err: "invalid_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			a, err := f.c.Server.AuthenticateAccessToken(context.Background(), tc.token(f))
			if oauthtest.Code(err) != tc.err {
				t.Fatalf("got %+v %v, want %q", a, err, tc.err)
			}
			if tc.err != "" {
				if a != nil || oauth.AsError(err).Status != 401 {
					t.Errorf("access %+v, status %d", a, oauth.AsError(err).Status)
				}
				return
			}
			if (a.User != nil) != tc.user || tc.user && a.User.ID != f.user.ID || !slices.Equal(a.Scopes, tc.scopes) || a.Token == nil {
				t.Errorf("access %+v (user %+v), want user %v scopes %v", a, a.User, tc.user, tc.scopes)
			}
		})
	}
}

// Rule 38 (the scope): a granted scope must guard the method and path;
// otherwise insufficient_scope (403) naming the scopes that would do,
// none when nothing guards the resource (deny by default). Targets the
// scope rules cannot vouch for are refused.
func TestRule38_CheckResource(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, []oauth.Scope{
		{ID: "files.read", ResourcePath: "/files/*", Method: "GET"},
		{ID: "files.write", ResourcePath: "/files/*", Method: "PUT"},
		{ID: "files.all", ResourcePath: "/files/*", Method: "*"},
	})
	cases := []struct {
		name             string
		granted          []string
		method, resource string
		ok               bool
		needed           []string
	}{
		{name: "guarded and granted", granted: []string{"files.write"}, method: "PUT", resource: "/files/a/b.txt", ok: true},
		{name: "the subtree's root", granted: []string{"files.write"}, method: "PUT", resource: "/files", ok: true},
		{name: "GET guards HEAD", granted: []string{"files.read"}, method: "HEAD", resource: "/files/a", ok: true},
		{name: "method * guards every method", granted: []string{"files.all"}, method: "DELETE", resource: "/files/a", ok: true},
		{name: "the query is no part of the path", granted: []string{"files.write"}, method: "PUT", resource: "/files/a?x=1&y=%2F..", ok: true},
		{name: "dot segments staying inside", granted: []string{"files.write"}, method: "PUT", resource: "/files/x/../a", ok: true},
		{name: "another method", granted: []string{"files.read"}, method: "PUT", resource: "/files/a", needed: []string{"files.all", "files.write"}},
		{name: "nothing granted", method: "GET", resource: "/api/user", needed: []string{"user.read"}},
		{name: "nothing guards it", granted: []string{"files.all", "user.read"}, method: "GET", resource: "/elsewhere"},
		{name: "dot segments climbing out", granted: []string{"files.all"}, method: "PUT", resource: "/files/../admin"},
		{name: "encoded dot segments climbing out", granted: []string{"files.all"}, method: "PUT", resource: "/files/%2e%2e/admin"},
		{name: "double-encoded dots", granted: []string{"files.all"}, method: "PUT", resource: "/files/%252e%252e/admin/x"},
		{name: "path parameter", granted: []string{"files.all"}, method: "PUT", resource: "/files/..;/admin"},
		{name: "encoded slash", granted: []string{"files.all"}, method: "PUT", resource: "/files/a%2f..%2f..%2fadmin"},
		{name: "raw #", granted: []string{"files.all"}, method: "PUT", resource: "/files/x#/../../admin/x"},
		{name: "not an absolute path", granted: []string{"files.all"}, method: "PUT", resource: "files/a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Server.CheckResource(context.Background(), &oauth.Access{Scopes: tc.granted}, tc.method, tc.resource)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *oauth.ScopeError
			if !errors.As(err, &se) {
				t.Fatalf("got %v (%T), want a *ScopeError", err, err)
			}
			if se.Err.Code != "insufficient_scope" || se.Err.Status != 403 || se.Err.Description == "" || !slices.Equal(se.Needed, tc.needed) {
				t.Errorf("error %+v needed %v, want insufficient_scope needing %v", se.Err, se.Needed, tc.needed)
			}
		})
	}
}

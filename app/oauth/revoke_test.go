package oauth_test

import (
	"context"
	"net/url"
	"slices"
	"sort"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// The revocation endpoint (revoke.go, RFC 7009) without HTTP.

// Rule 36: revocation needs client authentication; revoking a refresh
// token revokes its whole family (every access and refresh token of the
// grant, RFC 7009 §2.1), an access token only itself; unknown tokens,
// tokens already revoked and other clients' tokens are answered like a
// success and nothing happens (§2.2); token_type_hint changes nothing.
func TestRule36_Revocation(t *testing.T) {
	t.Parallel()
	// The tokens every row starts with: A1/R1 from a code, refreshed into
	// A2/R2 (same family, R1 rotated); A3/R3 from another code; P, the
	// public client's access token.
	all := []string{"A1", "R1", "A2", "R2", "A3", "R3", "P"}
	family := []string{"A1", "A2", "R1", "R2"}
	cases := []struct {
		name   string
		caller string // conf, rs (another confidential client), pub, or "" (none)
		form   url.Values
		token  string // the key of the token to revoke, in form's "token"
		prep   func(f *fixture, tokens map[string]string)
		err    string
		want   []string // the tokens revoked afterwards
	}{
		{name: "refresh token: its family", caller: "conf", token: "R2", want: family},
		{name: "rotated refresh token: its family", caller: "conf", token: "R1", want: family},
		{name: "refresh token of the other grant", caller: "conf", token: "R3", want: []string{"A3", "R3"}},
		{name: "access token: itself only", caller: "conf", token: "A2", want: []string{"A2"}},
		{name: "older access token of the family: itself only", caller: "conf", token: "A1", want: []string{"A1"}},
		{name: "hint access_token on a refresh token", caller: "conf", token: "R2", form: url.Values{"token_type_hint": {"access_token"}}, want: family},
		{name: "hint refresh_token on an access token", caller: "conf", token: "A2", form: url.Values{"token_type_hint": {"refresh_token"}}, want: []string{"A2"}},
		{name: "unknown hint", caller: "conf", token: "A2", form: url.Values{"token_type_hint": {"id_token"}}, want: []string{"A2"}},
		{name: "another client's access token: nothing", caller: "rs", token: "A2"},
		{name: "another client's refresh token: nothing", caller: "rs", token: "R2"},
		{name: "a public client's token by a confidential one: nothing", caller: "conf", token: "P"},
		{name: "unknown token", caller: "conf", form: url.Values{"token": {"gat_unknown"}}},
		{name: "already revoked", caller: "conf", token: "A2", prep: func(f *fixture, tokens map[string]string) {
			if err := f.c.Server.Revoke(context.Background(), f.c.ClientRequest(f.conf, f.confSec, url.Values{"token": {tokens["A2"]}})); err != nil {
				f.c.T.Fatal(err)
			}
		}, want: []string{"A2"}},
		{name: "refresh token after its access token", caller: "conf", token: "R2", prep: func(f *fixture, tokens map[string]string) {
			if err := f.c.Server.Revoke(context.Background(), f.c.ClientRequest(f.conf, f.confSec, url.Values{"token": {tokens["A2"]}})); err != nil {
				f.c.T.Fatal(err)
			}
		}, want: family},
		{name: "public client, its own token (client_id alone, RFC 7009 §5)", caller: "pub", token: "P", want: []string{"P"}},
		{name: "public client, another's token: nothing", caller: "pub", token: "A2"},
		{name: "no client authentication", caller: "", token: "A2", err: "invalid_client"},
		{name: "wrong secret", caller: "conf-wrong", token: "R2", err: "invalid_client"},
		{name: "no token", caller: "conf", err: "invalid_request"},
		{name: "token twice", caller: "conf", token: "R2", form: url.Values{"token": {"gat_other"}}, err: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			ctx := context.Background()
			tokens := map[string]string{}
			first := f.codeTokens("user.read")
			tokens["A1"], tokens["R1"] = first.AccessToken, first.RefreshToken
			second := f.refresh(first.RefreshToken)
			tokens["A2"], tokens["R2"] = second.AccessToken, second.RefreshToken
			other := f.codeTokens("user.read")
			tokens["A3"], tokens["R3"] = other.AccessToken, other.RefreshToken
			tokens["P"] = f.c.CodeTokens(f.pub, "", f.user, "user.read").AccessToken
			if tc.prep != nil {
				tc.prep(f, tokens)
			}

			form := url.Values{}
			for k, v := range tc.form {
				form[k] = append([]string(nil), v...)
			}
			if tc.token != "" {
				form.Add("token", tokens[tc.token])
			}
			var r *oauth.ClientRequest
			switch tc.caller {
			case "conf":
				r = f.c.ClientRequest(f.conf, f.confSec, form)
			case "conf-wrong":
				r = f.c.ClientRequest(f.conf, "wrong", form)
			case "rs":
				r = f.c.ClientRequest(f.rs, f.rsSec, form)
			case "pub":
				r = f.c.ClientRequest(f.pub, "", form)
			default:
				r = &oauth.ClientRequest{Form: form}
			}
			if err := f.c.Server.Revoke(ctx, r); oauthtest.Code(err) != tc.err {
				t.Fatalf("Revoke = %v, want %q", err, tc.err)
			}
			var revoked []string
			for _, k := range all {
				if f.c.StoredToken(tokens[k]).RevokedAt != nil {
					revoked = append(revoked, k)
				}
			}
			want := append([]string(nil), tc.want...)
			sort.Strings(revoked)
			sort.Strings(want)
			if !slices.Equal(revoked, want) {
				t.Errorf("revoked %v, want %v", revoked, want)
			}
			// What is revoked is inactive at once.
			for _, k := range want {
				got, err := f.c.Server.Introspect(ctx, f.c.ClientRequest(f.rs, f.rsSec, url.Values{"token": {tokens[k]}}))
				if err != nil || got.Active {
					t.Errorf("%s still active: %+v %v", k, got, err)
				}
			}
		})
	}
}

// Discard revokes the tokens of a response that will not be sent; tokens
// it does not know are no error.
func TestDiscard(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	resp := f.codeTokens("user.read")
	keep := f.codeTokens("user.read")
	if err := f.c.Server.Discard(ctx, resp); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{resp.AccessToken, resp.RefreshToken} {
		if f.c.StoredToken(tok).RevokedAt == nil {
			t.Errorf("%.4s… not revoked", tok)
		}
	}
	for _, tok := range []string{keep.AccessToken, keep.RefreshToken} {
		if f.c.StoredToken(tok).RevokedAt != nil {
			t.Errorf("%.4s… of another response revoked", tok)
		}
	}
	if err := f.c.Server.Discard(ctx, &oauth.TokenResponse{AccessToken: "gat_unknown"}); err != nil {
		t.Errorf("unknown token: %v", err)
	}
}

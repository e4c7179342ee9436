package oauth_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of delegation in token exchange (grant_token_exchange.go; RFC 8693
// §1.1, §2.1, §4.1; SPEC.md §7.4): actor tokens, the act claim and the
// may_act policy.

// delegationFixture: clients A (the requester), B (a stranger) and C
// (listed in A's may_act), each with the code, client-credentials and
// token exchange grants; users alice (the subject) and bob.
type delegationFixture struct {
	c            *oauthtest.Core
	a, aSec      string
	b, bSec      string
	cl, clSec    string
	alice, bob   *oauth.User
	subject      string // alice's access token issued to A ("openid user.read")
	subjectToken *oauth.Token
}

func newDelegationFixture(t *testing.T, options ...func(*oauth.Options)) *delegationFixture {
	t.Helper()
	c := oauthtest.NewCore(t, machineTestScopes, append([]func(*oauth.Options){oauthtest.WithSigner}, options...)...)
	f := &delegationFixture{c: c}
	client := func(mayAct ...string) (string, string) {
		return c.Client(oauth.Client{RedirectURIs: []string{"https://app.example/cb"}, MayAct: mayAct,
			GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials, oauth.GrantTokenExchange},
			Scopes:     []string{"openid", "user.read", "files.write", "offline_access"}})
	}
	f.b, f.bSec = client()
	f.cl, f.clSec = client()
	f.a, f.aSec = client(f.cl)
	f.alice, f.bob = c.User("alice", "pw"), c.User("bob", "pw")
	f.subject = c.CodeTokens(f.a, f.aSec, f.alice, "openid user.read").AccessToken
	f.subjectToken = c.StoredToken(f.subject)
	return f
}

// cc is a client-credentials token of client id.
func (f *delegationFixture) cc(id, sec string) string {
	f.c.T.Helper()
	resp, err := f.c.Token(id, sec, ccForm("files.write"))
	if err != nil {
		f.c.T.Fatal(err)
	}
	return resp.AccessToken
}

// delegate exchanges subject as client A with actor (actor_token_type
// access_token) and further changes to the form.
func (f *delegationFixture) delegate(subject, actor string, pairs ...string) (*oauth.TokenResponse, error) {
	return f.c.Token(f.a, f.aSec, exchangeForm(subject, append([]string{"actor_token", actor, "actor_token_type", oauth.TokenTypeAccessToken}, pairs...)...))
}

// actOf is the stored act claim of a plain token, decoded (nil for none).
func (f *delegationFixture) actOf(plain string) *oauth.Actor {
	f.c.T.Helper()
	st := f.c.StoredToken(plain)
	if st.Act == "" {
		return nil
	}
	var a oauth.Actor
	if err := json.Unmarshal([]byte(st.Act), &a); err != nil {
		f.c.T.Fatalf("stored act %q: %v", st.Act, err)
	}
	return &a
}

func actJSON(a *oauth.Actor) string {
	b, _ := json.Marshal(a)
	return string(b)
}

// Every rule of actor tokens: a token of the client itself (its own
// client-credentials token, or a user's token issued to it) or of a
// client its may_act lists makes a delegated token whose act names the
// actor; anything else is invalid_request (RFC 8693 §2.2.2) saying why.
func TestTokenExchangeDelegation(t *testing.T) {
	t.Parallel()
	const dead = "the actor_token is invalid, expired or revoked"
	cases := []struct {
		name  string
		actor func(f *delegationFixture) string // the actor_token
		form  []string                          // further changes to the form
		act   func(f *delegationFixture) *oauth.Actor
		code  string
		desc  string
	}{
		{name: "own client-credentials token", actor: func(f *delegationFixture) string { return f.cc(f.a, f.aSec) },
			act: func(f *delegationFixture) *oauth.Actor { return &oauth.Actor{Subject: f.a, ClientID: f.a} }},
		{name: "a user's token issued to the client itself", actor: func(f *delegationFixture) string {
			return f.c.CodeTokens(f.a, f.aSec, f.bob, "user.read").AccessToken
		}, act: func(f *delegationFixture) *oauth.Actor { return &oauth.Actor{Subject: f.bob.Subject, ClientID: f.a} }},
		{name: "a token of a client in may_act", actor: func(f *delegationFixture) string { return f.cc(f.cl, f.clSec) },
			act: func(f *delegationFixture) *oauth.Actor { return &oauth.Actor{Subject: f.cl, ClientID: f.cl} }},
		{name: "a user's token of a client in may_act", actor: func(f *delegationFixture) string {
			return f.c.CodeTokens(f.cl, f.clSec, f.bob, "user.read").AccessToken
		}, act: func(f *delegationFixture) *oauth.Actor { return &oauth.Actor{Subject: f.bob.Subject, ClientID: f.cl} }},
		{name: "a token of a client not in may_act", actor: func(f *delegationFixture) string { return f.cc(f.b, f.bSec) },
			code: "invalid_request", desc: "which this client's may_act does not list"},
		{name: "a user's token of a client not in may_act", actor: func(f *delegationFixture) string {
			return f.c.CodeTokens(f.b, f.bSec, f.bob, "user.read").AccessToken
		}, code: "invalid_request", desc: "which this client's may_act does not list"},
		{name: "an unknown actor token", actor: func(*delegationFixture) string { return "gat_unknown" },
			code: "invalid_request", desc: "the actor_token is invalid"},
		{name: "a revoked actor token", actor: func(f *delegationFixture) string {
			at := f.cc(f.a, f.aSec)
			if err := f.c.Model.RevokeToken(context.Background(), f.c.StoredToken(at).Hash, f.c.Now()); err != nil {
				f.c.T.Fatal(err)
			}
			return at
		}, code: "invalid_request", desc: dead},
		{name: "an expired actor token", actor: func(f *delegationFixture) string {
			at := f.c.SeedToken(oauth.Token{ClientID: f.a, Scope: "files.write", ExpiresAt: f.c.Now().Add(time.Minute)})
			f.c.Advance(2 * time.Minute)
			return at
		}, code: "invalid_request", desc: dead},
		{name: "a refresh token as actor", actor: func(f *delegationFixture) string {
			return f.c.CodeTokens(f.a, f.aSec, f.bob, "user.read offline_access").RefreshToken
		}, code: "invalid_request", desc: dead},
		{name: "an actor token whose user is disabled", actor: func(f *delegationFixture) string {
			at := f.c.CodeTokens(f.a, f.aSec, f.bob, "user.read").AccessToken
			if err := f.c.Model.UpdateUser(f.bob.ID, func(u *oauth.User) error { u.Disabled = true; return nil }); err != nil {
				f.c.T.Fatal(err)
			}
			return at
		}, code: "invalid_request", desc: "the user of the actor_token no longer exists or is disabled"},
		{name: "the subject token as actor", actor: func(f *delegationFixture) string { return f.subject },
			code: "invalid_request", desc: "the actor_token is the subject_token"},
		{name: "a delegated token as actor", actor: func(f *delegationFixture) string {
			return f.c.SeedToken(oauth.Token{ClientID: f.a, Scope: "files.write", Act: `{"sub":"x","client_id":"x"}`})
		}, code: "invalid_request", desc: "the actor_token is itself a delegated token"},
		{name: "no actor_token_type", actor: func(f *delegationFixture) string { return f.cc(f.a, f.aSec) },
			form: []string{"actor_token_type", ""}, code: "invalid_request", desc: "the request has an actor_token but no actor_token_type"},
		{name: "actor_token_type refresh_token", actor: func(f *delegationFixture) string { return f.cc(f.a, f.aSec) },
			form: []string{"actor_token_type", refreshTokenType}, code: "invalid_request", desc: "actor_token_type must be " + oauth.TokenTypeAccessToken},
		{name: "actor_token_type jwt", actor: func(f *delegationFixture) string { return f.cc(f.a, f.aSec) },
			form: []string{"actor_token_type", "urn:ietf:params:oauth:token-type:jwt"}, code: "invalid_request", desc: "actor_token_type must be"},
		{name: "actor_token_type without actor_token", actor: func(*delegationFixture) string { return "" },
			code: "invalid_request", desc: "actor_token_type was sent without an actor_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDelegationFixture(t)
			resp, err := f.delegate(f.subject, tc.actor(f), tc.form...)
			if !oauthtest.WantTokens(t, resp, err, tc.code, tc.desc) {
				return
			}
			want := tc.act(f)
			if got := f.actOf(resp.AccessToken); actJSON(got) != actJSON(want) {
				t.Fatalf("act %s, want %s", actJSON(got), actJSON(want))
			}
			// The delegated token is the subject's: same user, family,
			// scope and expiry, and no refresh or ID token.
			st := f.c.StoredToken(resp.AccessToken)
			if *st.UserID != f.alice.ID || st.FamilyID != f.subjectToken.FamilyID || st.Scope != "openid user.read" ||
				!st.ExpiresAt.Equal(f.subjectToken.ExpiresAt) || resp.RefreshToken != "" || resp.IDToken != "" ||
				resp.IssuedTokenType != oauth.TokenTypeAccessToken {
				t.Fatalf("response %+v, stored %+v", resp, st)
			}
			// The actor's token is left as it was.
			if f.c.StoredToken(f.subject).RevokedAt != nil {
				t.Fatal("the subject token was revoked")
			}
		})
	}
}

// A delegation lasts no longer than the actor token: the new token
// expires with whichever of the subject and actor tokens expires first.
func TestTokenExchangeDelegationExpiresWithTheActor(t *testing.T) {
	t.Parallel()
	f := newDelegationFixture(t)
	actor := f.c.SeedToken(oauth.Token{ClientID: f.a, Scope: "files.write", ExpiresAt: f.c.Now().Add(10 * time.Minute)})
	resp, err := f.delegate(f.subject, actor)
	if err != nil {
		t.Fatal(err)
	}
	if st := f.c.StoredToken(resp.AccessToken); resp.ExpiresIn != 600 || !st.ExpiresAt.Equal(f.c.Now().Add(10*time.Minute)) {
		t.Fatalf("expires_in %d, stored expiry %v", resp.ExpiresIn, st.ExpiresAt)
	}
	// A longer-lived actor leaves the subject's expiry.
	long := f.c.SeedToken(oauth.Token{ClientID: f.a, Scope: "files.write", ExpiresAt: f.c.Now().Add(5 * time.Hour)})
	if resp, err = f.delegate(f.subject, long); err != nil || resp.ExpiresIn != 3600 {
		t.Fatalf("%+v %v", resp, err)
	}
}

// Chains (RFC 8693 §4.1): exchanging a delegated token with a new actor
// makes the new actor current and nests the earlier ones; exchanging it
// without an actor keeps its act (a delegated token never becomes one
// that looks like the subject's own); chains stop at
// MaxDelegationDepth actors.
func TestTokenExchangeDelegationChain(t *testing.T) {
	t.Parallel()
	f := newDelegationFixture(t)
	first, err := f.delegate(f.subject, f.cc(f.a, f.aSec))
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.delegate(first.AccessToken, f.cc(f.cl, f.clSec))
	if err != nil {
		t.Fatal(err)
	}
	want := &oauth.Actor{Subject: f.cl, ClientID: f.cl, Act: &oauth.Actor{Subject: f.a, ClientID: f.a}}
	if got := f.actOf(second.AccessToken); actJSON(got) != actJSON(want) {
		t.Fatalf("chain %s, want %s", actJSON(got), actJSON(want))
	}
	plain, err := f.c.Token(f.a, f.aSec, exchangeForm(second.AccessToken, "scope", "openid"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.actOf(plain.AccessToken); actJSON(got) != actJSON(want) {
		t.Fatalf("down-scoped delegated token: act %s, want %s", actJSON(got), actJSON(want))
	}
	// A plain exchange of an undelegated token stays undelegated.
	if undelegated, err := f.c.Token(f.a, f.aSec, exchangeForm(f.subject)); err != nil || f.actOf(undelegated.AccessToken) != nil {
		t.Fatalf("plain exchange: %v, act %v", err, err == nil && f.actOf(undelegated.AccessToken) != nil)
	}

	// Depth: second has 2 actors; 6 more reach the limit, the next is refused.
	tok := second.AccessToken
	for i := 2; i < oauth.MaxDelegationDepth; i++ {
		resp, err := f.delegate(tok, f.cc(f.a, f.aSec))
		if err != nil {
			t.Fatalf("actor %d: %v", i+1, err)
		}
		tok = resp.AccessToken
	}
	n := 0
	for a := f.actOf(tok); a != nil; a = a.Act {
		n++
	}
	if n != oauth.MaxDelegationDepth {
		t.Fatalf("chain of %d actors, want %d", n, oauth.MaxDelegationDepth)
	}
	_, err = f.delegate(tok, f.cc(f.a, f.aSec))
	oauthtest.WantError(t, err, "invalid_request", "the delegation chain would have more than 8 actors")
}

// The act claim is where resource servers look: in JWT access tokens
// (RFC 9068 + RFC 8693 §4.1) and in introspection answers, nested for
// chains; tokens without delegation show none.
func TestTokenExchangeDelegationShowsAct(t *testing.T) {
	t.Parallel()
	f := newDelegationFixture(t, oauthtest.WithPolicy(func(p *oauth.Policy) { p.AccessTokenFormat = oauth.AccessTokenFormatJWT }))
	first, err := f.delegate(f.subject, f.cc(f.a, f.aSec))
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.delegate(first.AccessToken, f.cc(f.cl, f.clSec))
	if err != nil {
		t.Fatal(err)
	}
	rs, rsSec := f.c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}})
	for _, tc := range []struct {
		name, token, act string
	}{
		{"undelegated", f.subject, ""},
		{"one actor", first.AccessToken, `{"sub":"` + f.a + `","client_id":"` + f.a + `"}`},
		{"a chain", second.AccessToken, `{"sub":"` + f.cl + `","client_id":"` + f.cl + `","act":{"sub":"` + f.a + `","client_id":"` + f.a + `"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var claims map[string]json.RawMessage
			f.c.Claims(tc.token, oauth.TypeAccessToken, &claims)
			if string(claims["act"]) != tc.act {
				t.Errorf("JWT act %s, want %s", claims["act"], tc.act)
			}
			if string(claims["sub"]) != `"`+f.alice.Subject+`"` {
				t.Errorf("JWT sub %s: the subject stays the user", claims["sub"])
			}
			in, err := f.c.Server.Introspect(context.Background(), f.c.ClientRequest(rs, rsSec, url.Values{"token": {tc.token}}))
			if err != nil || !in.Active {
				t.Fatalf("introspect: %+v %v", in, err)
			}
			b, _ := json.Marshal(in)
			var got map[string]json.RawMessage
			_ = json.Unmarshal(b, &got)
			if string(got["act"]) != tc.act || string(got["sub"]) != `"`+f.alice.Subject+`"` {
				t.Errorf("introspection act %s sub %s, want act %s", got["act"], got["sub"], tc.act)
			}
		})
	}
}

// Resource and audience narrow a delegated token as they narrow any
// exchanged token (RFC 8707, RFC 8693 §2.1): the audience a subset of the
// subject token's, the scopes those of the resources kept; the actor
// token's audience plays no part.
func TestTokenExchangeDelegationWithResources(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t)
	both := f.tokens("mcp.tools files.read", mcpURI, filesURI).AccessToken
	filesOnly := f.tokens("files.read", filesURI).AccessToken
	cc, err := f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantClientCredentials}, "scope": {"jobs.run"}, "resource": {mcpURI}})
	if err != nil {
		t.Fatal(err)
	}
	wantAud(t, "actor token", f.aud(cc.AccessToken), mcpURI)
	wantAct := `{"sub":"` + f.id + `","client_id":"` + f.id + `"}`
	for _, tc := range []struct {
		name       string
		subject    string
		form       []string
		scope      string
		aud        []string
		code, desc string
	}{
		{"resource", both, []string{"resource", filesURI}, "files.read", []string{filesURI}, "", ""},
		{"audience", both, []string{"audience", mcpURI}, "mcp.tools", []string{mcpURI}, "", ""},
		{"no narrowing", both, nil, "files.read mcp.tools", []string{filesURI, mcpURI}, "", ""},
		{"a resource outside the subject token's", both, []string{"resource", elseURI}, "", nil, "invalid_target", "was not part of the grant"},
		{"the actor token's audience does not widen the subject's", filesOnly, []string{"resource", mcpURI}, "", nil, "invalid_target",
			"the resource " + mcpURI + " was not part of the grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := exchangeForm(tc.subject, append([]string{"actor_token", cc.AccessToken, "actor_token_type", oauth.TokenTypeAccessToken}, tc.form...)...)
			resp, err := f.c.Token(f.id, f.sec, form)
			if !oauthtest.WantTokens(t, resp, err, tc.code, tc.desc) {
				return
			}
			st := f.c.StoredToken(resp.AccessToken)
			if resp.Scope != tc.scope || st.Act != wantAct {
				t.Fatalf("scope %q act %s, want %q %s", resp.Scope, st.Act, tc.scope, wantAct)
			}
			wantAud(t, tc.name, st.Audience, tc.aud...)
		})
	}
}

// Token exchange issues no refresh token, but a delegated refresh token
// (stored act) keeps its act through refreshes: both the new access
// token and the new refresh token carry it.
func TestRefreshKeepsAct(t *testing.T) {
	t.Parallel()
	f := newDelegationFixture(t)
	act := `{"sub":"` + f.cl + `","client_id":"` + f.cl + `"}`
	rt := f.c.SeedToken(oauth.Token{Kind: oauth.KindRefresh, ClientID: f.a, UserID: &f.alice.ID, Scope: "openid user.read", Act: act})
	resp, err := f.c.Token(f.a, f.aSec, refreshForm(rt))
	if err != nil {
		t.Fatal(err)
	}
	if a, r := f.c.StoredToken(resp.AccessToken).Act, f.c.StoredToken(resp.RefreshToken).Act; a != act || r != act {
		t.Fatalf("after refresh: access act %q, refresh act %q, want %s", a, r, act)
	}
}

// Another client's token (one of may_act) acts only when issued for
// Gatehouse itself: for no resource, the built-in API or the issuer. One
// issued for a resource server is refused as actor (invalid_request), so
// that a client whose API a token of another reached cannot name that
// other as its actor; the client's own tokens act whatever their audience.
func TestTokenExchangeDelegationActorAudience(t *testing.T) {
	t.Parallel()
	issuer, err := oauth.CanonicalResource("https://gatehouse.test")
	if err != nil {
		t.Fatal(err)
	}
	const (
		api     = "https://gatehouse.test/api"
		foreign = "https://m.example/api" // the requester's own API, say
		refused = "for the resource https://m.example/api: another client's token acts only when issued for no resource or for Gatehouse's own API"
	)
	cases := []struct {
		name   string
		own    bool // a token of the requester itself, else of the client in its may_act
		aud    []string
		reason string // "" when accepted
	}{
		{"may_act client, no audience", false, nil, ""},
		{"may_act client, the built-in API", false, []string{api}, ""},
		{"may_act client, the issuer", false, []string{issuer}, ""},
		{"may_act client, a resource server", false, []string{foreign}, refused},
		{"may_act client, the built-in API and a resource server", false, []string{api, foreign}, refused},
		{"own token, a resource server", true, []string{foreign}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDelegationFixture(t)
			owner := f.cl
			if tc.own {
				owner = f.a
			}
			actor := f.c.SeedToken(oauth.Token{ClientID: owner, UserID: &f.bob.ID, Scope: "user.read", Audience: tc.aud})
			resp, err := f.delegate(f.subject, actor)
			code := ""
			if tc.reason != "" {
				code = "invalid_request"
			}
			if !oauthtest.WantTokens(t, resp, err, code, tc.reason) {
				return
			}
			want := &oauth.Actor{Subject: f.bob.Subject, ClientID: owner}
			if got := f.actOf(resp.AccessToken); actJSON(got) != actJSON(want) {
				t.Fatalf("act %s, want %s", actJSON(got), actJSON(want))
			}
		})
	}
}

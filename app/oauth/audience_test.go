package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Tests of resource indicators (RFC 8707, audience.go) and of protected
// resource metadata (RFC 9728) in the core: RFC-CHECKLIST rules 42, 43.

const (
	mcpURI   = "https://mcp.example/mcp"
	filesURI = "https://files.example"
	apiURI   = "https://gatehouse.test/api" // the built-in resource of NewCore's issuer
	elseURI  = "https://else.example"       // registered, in no grant of the tests
)

// resourceScopes: mcp.tools and jobs.run (machine) belong to the MCP
// server, files.read to the files API, notes to none; user.read
// (built-in, a default scope) to {issuer}/api.
var resourceScopes = []oauth.Scope{
	{ID: "mcp.tools", Resource: mcpURI},
	{ID: "jobs.run", Resource: mcpURI, Machine: true},
	{ID: "files.read", Resource: filesURI},
	{ID: "notes"},
}

type resourceFixture struct {
	c        *oauthtest.Core
	id, sec  string
	alice    *oauth.User
	redirect string
}

func newResourceFixture(t *testing.T, options ...func(*oauth.Options)) *resourceFixture {
	t.Helper()
	c := oauthtest.NewCore(t, resourceScopes, append([]func(*oauth.Options){oauthtest.WithSigner}, options...)...)
	for _, r := range []oauth.Resource{{URI: mcpURI, Name: "MCP server"}, {URI: filesURI, Name: "Files"}, {URI: elseURI, Name: "Else"}} {
		if err := c.Model.CreateResource(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	f := &resourceFixture{c: c, redirect: "https://app.example/cb"}
	f.id, f.sec = c.Client(oauth.Client{RedirectURIs: []string{f.redirect},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials, oauth.GrantPassword,
			oauth.GrantDeviceCode, oauth.GrantTokenExchange},
		Scopes: []string{"mcp.tools", "jobs.run", "files.read", "notes", "user.read", "openid", "offline_access"}})
	f.alice = c.User("alice", "pw")
	return f
}

// authorize is an authorization request of scope with resources.
func (f *resourceFixture) authorize(scope string, resources ...string) url.Values {
	v := oauthtest.PKCERequest(f.id, scope)
	v["resource"] = resources
	return v
}

// code runs the request through approval and returns the code.
func (f *resourceFixture) code(scope string, resources ...string) string {
	f.c.T.Helper()
	return f.c.Code(f.alice, f.authorize(scope, resources...))
}

// exchange redeems code, with resource parameters.
func (f *resourceFixture) exchange(code string, resources ...string) (*oauth.TokenResponse, error) {
	return f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantAuthorizationCode}, "code": {code},
		"code_verifier": {oauthtest.Verifier}, "resource": resources})
}

func (f *resourceFixture) tokens(scope string, resources ...string) *oauth.TokenResponse {
	f.c.T.Helper()
	resp, err := f.exchange(f.code(scope, resources...))
	if err != nil {
		f.c.T.Fatal(err)
	}
	return resp
}

// aud is the stored audience of a plain token.
func (f *resourceFixture) aud(plain string) []string { return f.c.StoredToken(plain).Audience }

func wantAud(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s: audience %q, want %q", what, got, want)
	}
}

// Rule 42: an unknown resource is invalid_target at every endpoint that
// takes resource parameters; at the authorization endpoint it goes back
// to the client (the redirect URI is valid).
func TestRule42_UnknownResourceIsInvalidTarget(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t, allowPassword())
	const unknown = "https://unknown.example/api"
	_, err := f.c.Server.ParseAuthorizeRequest(context.Background(), f.authorize("mcp.tools", mcpURI, unknown))
	var ae *oauth.AuthorizeError
	if !errors.As(err, &ae) || !ae.Redirect || ae.Err.Code != "invalid_target" || !strings.Contains(ae.Err.Description, unknown) {
		t.Fatalf("authorize: %v", err)
	}
	if loc := oauthtest.ParseLocation(t, f.c.Server.ErrorResponse(ae).Location()); loc.Base != f.redirect || loc.Query.Get("error") != "invalid_target" {
		t.Fatalf("authorize error location %+v", loc)
	}
	_, err = f.c.Server.ParseAuthorizeRequest(context.Background(), f.authorize("mcp.tools", "https://mcp.example/mcp#x"))
	if !errors.As(err, &ae) || !ae.Redirect || ae.Err.Code != "invalid_target" {
		t.Fatalf("authorize, malformed: %v", err)
	}
	_, err = f.c.Server.DeviceAuthorization(context.Background(), f.c.ClientRequest(f.id, f.sec,
		url.Values{"scope": {"mcp.tools"}, "resource": {unknown}}))
	oauthtest.WantError(t, err, "invalid_target", "is not known")
	_, err = f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantClientCredentials}, "resource": {unknown}})
	oauthtest.WantError(t, err, "invalid_target", "is not known")
	_, err = f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantPassword}, "username": {"alice"}, "password": {"pw"},
		"resource": {unknown}})
	oauthtest.WantError(t, err, "invalid_target", "is not known")
}

// Password grant is off by default; the fixture's core needs it.
func allowPassword() func(*oauth.Options) {
	return oauthtest.WithPolicy(func(p *oauth.Policy) { p.AllowPasswordGrant = true })
}

// A requested scope that belongs to a resource the request did not name
// is invalid_target; scopes in no resource go with any resource; default
// scopes of other resources are left out (user.read, a default scope of
// {issuer}/api, does not join a request for the MCP server).
func TestRule42_ScopeOutsideRequestedResources(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t, allowPassword())
	_, err := f.c.Server.ParseAuthorizeRequest(context.Background(), f.authorize("mcp.tools files.read", mcpURI))
	oauthtest.WantError(t, err, "invalid_target", `scope "files.read" belongs to resource https://files.example, which was not requested`)
	req, err := f.c.Server.ParseAuthorizeRequest(context.Background(), f.authorize("mcp.tools notes openid", mcpURI))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(req.Scopes, []string{"mcp.tools", "notes", "openid"}) || !slices.Equal(req.Resources, []string{mcpURI}) {
		t.Fatalf("scopes %q resources %q", req.Scopes, req.Resources)
	}
	// Without resources, the default scope joins as before.
	if req, err = f.c.Server.ParseAuthorizeRequest(context.Background(), f.authorize("notes")); err != nil ||
		!slices.Equal(req.Scopes, []string{"notes", "user.read"}) {
		t.Fatalf("no resources: %v %v", req, err)
	}
	_, err = f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantPassword}, "username": {"alice"}, "password": {"pw"},
		"scope": {"files.read"}, "resource": {mcpURI}})
	oauthtest.WantError(t, err, "invalid_target", `scope "files.read" belongs to resource`)
	_, err = f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantClientCredentials}, "scope": {"jobs.run"}, "resource": {filesURI}})
	oauthtest.WantError(t, err, "invalid_target", `scope "jobs.run" belongs to resource https://mcp.example/mcp`)
	// Client credentials without a scope: the machine scopes of the
	// requested resources only (none of the files API: nothing).
	resp, err := f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantClientCredentials}, "resource": {filesURI}})
	if err != nil || resp.Scope != "" {
		t.Fatalf("client credentials for files: %+v %v", resp, err)
	}
	wantAud(t, "client credentials for files", f.aud(resp.AccessToken), filesURI)
	_, err = f.c.Server.DeviceAuthorization(context.Background(), f.c.ClientRequest(f.id, f.sec,
		url.Values{"scope": {"mcp.tools"}, "resource": {filesURI}}))
	oauthtest.WantError(t, err, "invalid_target", `scope "mcp.tools" belongs to resource`)
}

// Rule 42: the audience of issued tokens is the requested resources
// (compared canonically); without any, the resources of the granted
// scopes (user.read: {issuer}/api); none for scopes in no resource.
func TestRule42_Audience(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t, allowPassword())
	cases := []struct {
		name, scope string
		resources   []string
		want        []string
	}{
		{"requested", "mcp.tools", []string{"HTTPS://MCP.example:443/mcp/"}, []string{mcpURI}},
		{"several requested", "mcp.tools files.read notes", []string{filesURI, mcpURI}, []string{filesURI, mcpURI}},
		{"requested, scopes in no resource", "notes", []string{filesURI}, []string{filesURI}},
		{"from the scopes", "mcp.tools files.read", nil, []string{filesURI, apiURI, mcpURI}}, // user.read joins
		{"user.read", "user.read", nil, []string{apiURI}},
		{"the built-in resource requested", "user.read", []string{apiURI}, []string{apiURI}},
	}
	for _, tc := range cases {
		resp := f.tokens(tc.scope, tc.resources...)
		wantAud(t, tc.name+": access token", f.aud(resp.AccessToken), tc.want...)
		wantAud(t, tc.name+": refresh token", f.aud(resp.RefreshToken), tc.want...)
	}
	// Scopes in no resource only (the client may not have user.read):
	// no audience, as tokens issued before resources existed.
	id, sec := f.c.Client(oauth.Client{RedirectURIs: []string{f.redirect}, Scopes: []string{"notes", "openid"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantPassword}})
	resp := f.c.CodeTokens(id, sec, f.alice, "notes openid")
	wantAud(t, "scopes in no resource", f.aud(resp.AccessToken))
	// The password grant.
	resp, err := f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantPassword}, "username": {"alice"}, "password": {"pw"},
		"scope": {"mcp.tools"}, "resource": {mcpURI}})
	if err != nil {
		t.Fatal(err)
	}
	wantAud(t, "password grant", f.aud(resp.AccessToken), mcpURI)
	// The implicit grant.
	f2 := newResourceFixture(t, oauthtest.WithPolicy(func(p *oauth.Policy) { p.AllowImplicitGrant = true }))
	if err := f2.c.Model.UpdateClient(f2.id, func(c *oauth.Client) error { c.GrantTypes = append(c.GrantTypes, oauth.GrantImplicit); return nil }); err != nil {
		t.Fatal(err)
	}
	v := f2.authorize("mcp.tools", mcpURI)
	v.Set("response_type", oauth.ResponseTypeToken)
	v.Del("code_challenge")
	v.Del("code_challenge_method")
	req, err := f2.c.Server.ParseAuthorizeRequest(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := f2.c.Server.Approve(context.Background(), req, oauth.Visitor{User: f2.alice, AuthTime: f2.c.Now()}, true)
	if err != nil {
		t.Fatal(err)
	}
	wantAud(t, "implicit grant", f2.aud(oauthtest.ParseLocation(t, loc.Location()).Fragment.Get("access_token")), mcpURI)
}

// At the token endpoint after a code, resource parameters name a subset
// of the grant's resources (invalid_target otherwise) and narrow the
// access token's audience; the refresh token keeps the grant's. A code
// issued for no resource (and scopes in none) takes none.
func TestRule42_CodeExchangeNarrows(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t)
	resp, err := f.exchange(f.code("mcp.tools files.read", mcpURI, filesURI), "https://files.example/")
	if err != nil {
		t.Fatal(err)
	}
	wantAud(t, "narrowed access token", f.aud(resp.AccessToken), filesURI)
	wantAud(t, "refresh token", f.aud(resp.RefreshToken), filesURI, mcpURI)
	// The narrowed access token takes only its resource's scopes (and
	// those of none) along; the refresh token keeps them all.
	if resp.Scope != "files.read" || f.c.StoredToken(resp.AccessToken).Scope != "files.read" ||
		f.c.StoredToken(resp.RefreshToken).Scope != "files.read mcp.tools" {
		t.Errorf("narrowed scopes: response %q, access %q, refresh %q", resp.Scope,
			f.c.StoredToken(resp.AccessToken).Scope, f.c.StoredToken(resp.RefreshToken).Scope)
	}
	// Repeated resource parameters are allowed (RFC 8707 §2).
	if resp, err = f.exchange(f.code("mcp.tools files.read", mcpURI, filesURI), mcpURI, filesURI); err != nil {
		t.Fatal(err)
	}
	wantAud(t, "both", f.aud(resp.AccessToken), filesURI, mcpURI)
	// The grant's resources from its scopes (none requested) narrow too.
	if resp, err = f.exchange(f.code("mcp.tools"), mcpURI); err != nil {
		t.Fatal(err)
	}
	wantAud(t, "narrowed to a scope's resource", f.aud(resp.AccessToken), mcpURI)
	wantAud(t, "its refresh token", f.aud(resp.RefreshToken), apiURI, mcpURI)
	_, err = f.exchange(f.code("mcp.tools", mcpURI), elseURI)
	oauthtest.WantError(t, err, "invalid_target", "the resource https://else.example was not part of the grant")
	_, err = f.exchange(f.code("mcp.tools", mcpURI), "https://unknown.example")
	oauthtest.WantError(t, err, "invalid_target", "was not part of the grant")
	id, sec := f.c.Client(oauth.Client{RedirectURIs: []string{f.redirect}, Scopes: []string{"notes"}})
	code := f.c.Code(f.alice, oauthtest.PKCERequest(id, "notes"))
	_, err = f.c.Token(id, sec, url.Values{"grant_type": {oauth.GrantAuthorizationCode}, "code": {code}, "code_verifier": {oauthtest.Verifier},
		"resource": {mcpURI}})
	oauthtest.WantError(t, err, "invalid_target", "the grant was issued for no resource")
}

// A refresh keeps the refresh token's audience for the new refresh token;
// resource parameters narrow the new access token's (a subset, else
// invalid_target). A refresh token without an audience (issued before
// resources existed) takes them as a new request for its scopes.
func TestRule42_RefreshKeepsOrNarrowsTheAudience(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t)
	refresh := func(rt string, resources ...string) (*oauth.TokenResponse, error) {
		return f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {rt}, "resource": resources})
	}
	rt := f.tokens("mcp.tools files.read", mcpURI, filesURI).RefreshToken
	resp, err := refresh(rt)
	if err != nil {
		t.Fatal(err)
	}
	wantAud(t, "plain refresh: access", f.aud(resp.AccessToken), filesURI, mcpURI)
	wantAud(t, "plain refresh: refresh", f.aud(resp.RefreshToken), filesURI, mcpURI)
	if resp, err = refresh(resp.RefreshToken, mcpURI); err != nil {
		t.Fatal(err)
	}
	wantAud(t, "narrowing refresh: access", f.aud(resp.AccessToken), mcpURI)
	wantAud(t, "narrowing refresh: refresh keeps the grant's", f.aud(resp.RefreshToken), filesURI, mcpURI)
	if resp.Scope != "mcp.tools" || f.c.StoredToken(resp.RefreshToken).Scope != "files.read mcp.tools" {
		t.Errorf("narrowing refresh scopes: response %q, refresh %q", resp.Scope, f.c.StoredToken(resp.RefreshToken).Scope)
	}
	// ... so that the next refresh may name the other one.
	rt = resp.RefreshToken
	if resp, err = refresh(rt, filesURI); err != nil {
		t.Fatal(err)
	}
	wantAud(t, "the other resource", f.aud(resp.AccessToken), filesURI)
	_, err = refresh(resp.RefreshToken, elseURI)
	oauthtest.WantError(t, err, "invalid_target", "was not part of the grant")

	// A refresh token from before resources existed.
	legacy := func() string {
		return f.c.SeedToken(oauth.Token{Kind: oauth.KindRefresh, ClientID: f.id, UserID: &f.alice.ID, Scope: "mcp.tools notes"})
	}
	if resp, err = refresh(legacy()); err != nil {
		t.Fatal(err)
	}
	wantAud(t, "legacy refresh: access stays without", f.aud(resp.AccessToken))
	wantAud(t, "legacy refresh: refresh stays without", f.aud(resp.RefreshToken))
	if resp, err = refresh(legacy(), mcpURI); err != nil {
		t.Fatal(err)
	}
	wantAud(t, "legacy refresh with resource: access", f.aud(resp.AccessToken), mcpURI)
	wantAud(t, "legacy refresh with resource: refresh", f.aud(resp.RefreshToken))
	_, err = refresh(legacy(), filesURI)
	oauthtest.WantError(t, err, "invalid_target", `scope "mcp.tools" belongs to resource https://mcp.example/mcp, which was not requested`)
	_, err = refresh(legacy(), "https://unknown.example")
	oauthtest.WantError(t, err, "invalid_target", "is not known")
}

// The device flow: the device authorization's resources go with the
// device code; a poll's resource parameters narrow like a code
// exchange's, and a wrong one does not use the approval up.
func TestRule42_DeviceCodeResources(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t)
	da, err := f.c.Server.DeviceAuthorization(context.Background(), f.c.ClientRequest(f.id, f.sec,
		url.Values{"scope": {"mcp.tools files.read"}, "resource": {mcpURI, filesURI}}))
	if err != nil {
		t.Fatal(err)
	}
	req, err := f.c.Server.LookupUserCode(context.Background(), da.UserCode)
	if err != nil || !slices.Equal(req.Resources, []string{filesURI, mcpURI}) {
		t.Fatalf("device request %+v %v", req, err)
	}
	f.c.DecideDevice(da.UserCode, f.alice, true)
	poll := func(resources ...string) (*oauth.TokenResponse, error) {
		return f.c.Token(f.id, f.sec, url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {da.DeviceCode}, "resource": resources})
	}
	_, err = poll(elseURI)
	oauthtest.WantError(t, err, "invalid_target", "was not part of the grant")
	resp, err := poll(mcpURI)
	if err != nil {
		t.Fatalf("poll after a refused one: %v", err)
	}
	wantAud(t, "device: access", f.aud(resp.AccessToken), mcpURI)
	wantAud(t, "device: refresh", f.aud(resp.RefreshToken), filesURI, mcpURI)
}

// Token exchange uses the same canonicalisation and narrowing: resource
// and audience parameters name a subset of the subject token's audience.
func TestTokenExchangeAudience(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t)
	at := f.tokens("mcp.tools files.read", mcpURI, filesURI).AccessToken
	exchange := func(kv ...string) (*oauth.TokenResponse, error) {
		form := exchangeForm(at)
		for i := 0; i+1 < len(kv); i += 2 {
			form.Add(kv[i], kv[i+1])
		}
		return f.c.Token(f.id, f.sec, form)
	}
	resp, err := exchange()
	if err != nil {
		t.Fatal(err)
	}
	wantAud(t, "plain exchange", f.aud(resp.AccessToken), filesURI, mcpURI)
	if resp, err = exchange("audience", "https://MCP.example/mcp/"); err != nil {
		t.Fatal(err)
	}
	wantAud(t, "audience", f.aud(resp.AccessToken), mcpURI)
	if resp, err = exchange("resource", filesURI, "audience", mcpURI); err != nil {
		t.Fatal(err)
	}
	wantAud(t, "resource and audience", f.aud(resp.AccessToken), filesURI, mcpURI)
	_, err = exchange("resource", elseURI)
	oauthtest.WantError(t, err, "invalid_target", "was not part of the grant")
}

// Rule 42: a JWT access token's aud is its audience: a string for one
// resource, an array for several, the issuer for a token for none (as
// before resources existed). Introspection reports the same aud.
func TestRule42_JWTAndIntrospectionAudience(t *testing.T) {
	t.Parallel()
	jwt := oauthtest.WithPolicy(func(p *oauth.Policy) { p.AccessTokenFormat = oauth.AccessTokenFormatJWT })
	f := newResourceFixture(t, jwt)
	rs, rsSec := f.c.Client(oauth.Client{GrantTypes: []string{oauth.GrantClientCredentials}})
	noResource, nrSec := f.c.Client(oauth.Client{RedirectURIs: []string{f.redirect}, Scopes: []string{"notes"}})
	cases := []struct {
		name string
		at   func() string
		want string // aud as JSON
	}{
		{"one resource", func() string { return f.tokens("mcp.tools", mcpURI).AccessToken }, `"https://mcp.example/mcp"`},
		{"several", func() string { return f.tokens("mcp.tools files.read", mcpURI, filesURI).AccessToken },
			`["https://files.example","https://mcp.example/mcp"]`},
		{"none", func() string { return f.c.CodeTokens(noResource, nrSec, f.alice, "notes").AccessToken }, `"https://gatehouse.test"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at()
			var claims map[string]json.RawMessage
			f.c.Claims(at, oauth.TypeAccessToken, &claims)
			if string(claims["aud"]) != tc.want {
				t.Errorf("JWT aud %s, want %s", claims["aud"], tc.want)
			}
			in, err := f.c.Server.Introspect(context.Background(), f.c.ClientRequest(rs, rsSec, url.Values{"token": {at}}))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(in)
			var got map[string]json.RawMessage
			_ = json.Unmarshal(b, &got)
			if string(got["aud"]) != tc.want {
				t.Errorf("introspection aud %s, want %s", got["aud"], tc.want)
			}
		})
	}
}

// CheckAudience: a token is for a resource when its audience includes it;
// a token without an audience is for any where tokens of the previous
// release must keep working, for none where the check is strict;
// otherwise invalid_token.
func TestCheckAudience(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		aud  []string
		ok   bool
		name string
	}{
		{nil, true, "no audience"},
		{[]string{mcpURI}, true, "the resource"},
		{[]string{filesURI, mcpURI}, true, "one of several"},
		{[]string{filesURI}, false, "another resource"},
	} {
		err := oauth.CheckAudience(&oauth.Token{Audience: tc.aud}, mcpURI, true)
		if tc.ok != (err == nil) || (err != nil && oauth.AsError(err).Code != "invalid_token") {
			t.Errorf("%s: %v", tc.name, err)
		}
		// Strict (a {P}/verify resource): no audience is refused too.
		err = oauth.CheckAudience(&oauth.Token{Audience: tc.aud}, mcpURI, false)
		if (tc.ok && tc.aud != nil) != (err == nil) || (err != nil && oauth.AsError(err).Code != "invalid_token") {
			t.Errorf("%s, strict: %v", tc.name, err)
		}
	}
}

// Rule 43: the metadata of Gatehouse's own API names it and the issuer
// as its authorization server, with the scopes of the resource; a
// registered resource's path finds it on the origin asked (the Host), else
// on Gatehouse's; anything else is not found.
func TestRule43_ResourceMetadata(t *testing.T) {
	t.Parallel()
	f := newResourceFixture(t)
	ctx := context.Background()
	onIssuer := oauth.Resource{URI: "https://gatehouse.test/tools", Name: "Tools here"}
	sameOther := oauth.Resource{URI: "https://tools.example/tools", Name: "Tools there"}
	bare := oauth.Resource{URI: "https://bare.example", Name: "No path"}
	query := oauth.Resource{URI: "https://gatehouse.test/q?tenant=a/", Name: "With a query"}
	for _, r := range []oauth.Resource{onIssuer, sameOther, bare, query} {
		if err := f.c.Model.CreateResource(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.c.Model.CreateScope(ctx, oauth.Scope{ID: "tools.use", Resource: onIssuer.URI}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		host, suffix string
		want         string // resource; "" not found
		scopes       []string
	}{
		{"gatehouse.test", "", apiURI, []string{"user.read"}},
		{"gatehouse.test", "/api", apiURI, []string{"user.read"}},
		{"gatehouse.test", "/tools", onIssuer.URI, []string{"tools.use"}},
		{"tools.example", "/tools", sameOther.URI, nil},
		{"TOOLS.example:443", "/tools/", sameOther.URI, nil},
		{"elsewhere.example", "/tools", onIssuer.URI, []string{"tools.use"}}, // no resource's host: Gatehouse under another name
		{"mcp.example", "/tools", "", nil},                                   // a resource's host: its resources only (RFC 9728 §3.3)
		{"mcp.example", "", "", nil},
		{"mcp.example", "/mcp", mcpURI, []string{"jobs.run", "mcp.tools"}},
		{"gatehouse.test", "/mcp", "", nil}, // on another origin, asked on Gatehouse's
		{"gatehouse.test", "/nothing", "", nil},
		{"bare.example", "", bare.URI, nil},                      // a resource without a path, on its origin
		{"elsewhere.example", "", apiURI, []string{"user.read"}}, // the bare address elsewhere: Gatehouse's API
		{"gatehouse.test", "/q?tenant=a/", query.URI, nil},       // the query as it is
		{"gatehouse.test", "/q/?tenant=a/", query.URI, nil},      // a trailing slash of the path
		{"gatehouse.test", "/q?tenant=a", "", nil},
	}
	for _, tc := range cases {
		m, ok, err := f.c.Server.ResourceMetadata(ctx, tc.host, tc.suffix)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == "" {
			if ok {
				t.Errorf("%s%s: %+v, want not found", tc.host, tc.suffix, m)
			}
			continue
		}
		if !ok || m.Resource != tc.want || !slices.Equal(m.AuthorizationServers, []string{"https://gatehouse.test"}) ||
			!slices.Equal(m.ScopesSupported, tc.scopes) || !slices.Equal(m.BearerMethodsSupported, []string{"header"}) || m.ResourceName == "" {
			t.Errorf("%s%s: %+v %v, want %s with %q", tc.host, tc.suffix, m, ok, tc.want, tc.scopes)
		}
	}
}

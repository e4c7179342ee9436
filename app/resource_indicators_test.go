package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// Resource indicators (RFC 8707) and protected resource metadata
// (RFC 9728) on the wire, on SQLite and PostgreSQL: RFC-CHECKLIST rules
// 42 and 43, the audience checks of /api/user and {P}/verify. The rules
// themselves: app/oauth/audience_test.go.

const (
	mcpResource   = "https://mcp.example.com/mcp"
	otherResource = "https://other.example.com"
	issuerAPI     = "http://localhost:8080/api" // the built-in resource of the test issuer
)

// registerResource stores a resource row as the registry would (the
// registry's own service is app/resources').
func registerResource(t *testing.T, h *harness, uri, name string) {
	t.Helper()
	if err := h.store.DB().WithContext(context.Background()).Create(&models.Resource{URI: uri, Name: name}).Error; err != nil {
		t.Fatal(err)
	}
}

// resourceFixture is an oauthFixture with two registered resources: the
// MCP server (scope mcp.tools guards POST /mcp on it) and another API
// (scope other.read guards GET /other/*), and files.write, a scope in no
// resource guarding PUT /files/*.
func newResourceWireFixture(t *testing.T, h *harness) *oauthFixture {
	t.Helper()
	f := newOAuthFixture(t, h)
	registerResource(t, h, mcpResource, "MCP server")
	registerResource(t, h, otherResource, "Other API")
	ctx := context.Background()
	for _, sc := range []*models.Scope{
		{ScopeID: "mcp.tools", Name: "Use the tools", ResourcePath: "/mcp", Method: "POST", Resource: mcpResource},
		{ScopeID: "other.read", Name: "Read other", ResourcePath: "/other/*", Method: "GET", Resource: otherResource},
		{ScopeID: "files.write", Name: "Files", ResourcePath: "/files/*", Method: "PUT"},
	} {
		if err := h.store.CreateScope(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	f.signIn()
	return f
}

// resourceTokens runs the code flow for scope with resources on the
// authorization request and exchange (each a list of resource
// parameters) and returns the token response.
func (f *oauthFixture) resourceTokens(scope string, atAuthorize, atToken []string) map[string]any {
	f.t.Helper()
	v := f.authzParams("scope", scope)
	v["resource"] = atAuthorize
	code := f.code(v)
	r, m := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect}, "resource": atToken}, true)
	if r.StatusCode != http.StatusOK {
		f.t.Fatalf("exchange: %d %s", r.StatusCode, r.body)
	}
	return m
}

// verifyAt asks {P}/verify (its URL with query) about method and uri.
func (f *oauthFixture) verifyAt(verifyURL, method, uri, token string, headers ...string) *response {
	f.t.Helper()
	h := append([]string{"X-Forwarded-Method", method, "X-Forwarded-Uri", uri}, headers...)
	if token != "" {
		h = append(h, "Authorization", "Bearer "+token)
	}
	return f.do(http.MethodGet, verifyURL, nil, h...)
}

// Rule 42 end to end: a JWT access token issued with resource=R has aud
// R (given in another form, compared canonically), introspection reports
// it, and an unregistered resource is invalid_target at the authorization
// endpoint (back to the client) and at the token endpoint.
func TestRule42_ResourceIndicatorsOnTheWire(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newResourceWireFixture(t, h)
		f.set("access_token_format", "jwt")
		// The consent screen names the resource the tokens will be for.
		cv := f.authzParams("scope", "mcp.tools")
		cv["resource"] = []string{mcpResource}
		if r := f.authorize(cv); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `<span class="font-medium text-slate-900">MCP server</span> <span class="text-slate-500">(mcp.example.com)</span>`) {
			t.Errorf("consent without the resource's name: %d", r.StatusCode)
		}
		m := f.resourceTokens("mcp.tools", []string{"HTTPS://MCP.example.com:443/mcp/"}, nil)
		at := m["access_token"].(string)
		if _, c := f.verifyJWT(at); c["aud"] != mcpResource {
			t.Errorf("JWT aud %v, want %s", c["aud"], mcpResource)
		}
		if in := f.introspect(at); in["aud"] != mcpResource || in["active"] != true {
			t.Errorf("introspection %v", in)
		}
		// Several resources: aud is an array, and the token endpoint's
		// resource parameters narrow the access token only.
		m = f.resourceTokens("mcp.tools other.read", []string{mcpResource, otherResource}, []string{otherResource})
		if _, c := f.verifyJWT(m["access_token"].(string)); c["aud"] != otherResource {
			t.Errorf("narrowed JWT aud %v", c["aud"])
		}
		if in := f.introspect(m["refresh_token"].(string)); !slices.Equal(toStrings(in["aud"]), []string{mcpResource, otherResource}) {
			t.Errorf("refresh token aud %v", in["aud"])
		}
		r, rm := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, true)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.StatusCode, r.body)
		}
		if _, c := f.verifyJWT(rm["access_token"].(string)); !slices.Equal(toStrings(c["aud"]), []string{mcpResource, otherResource}) {
			t.Errorf("refreshed JWT aud %v", c["aud"])
		}
		// An unregistered resource.
		v := f.authzParams("scope", "mcp.tools", "resource", "https://unknown.example.com/mcp")
		if q := redirectParams(t, f.authorize(v), false); q.Get("error") != "invalid_target" || q.Get("state") != "st&=ate/1" {
			t.Errorf("authorize with an unknown resource: %v", q)
		}
		giveMachine(t, f.harness, f.confID, "mcp.tools")
		r, tm := f.token(url.Values{"grant_type": {"client_credentials"}, "resource": {"https://unknown.example.com/mcp"}}, true)
		wantOAuthError(t, r, tm, http.StatusBadRequest, "invalid_target")
		// A scope outside the requested resources.
		r, tm = f.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp.tools"}, "resource": {otherResource}}, true)
		wantOAuthError(t, r, tm, http.StatusBadRequest, "invalid_target")
		if !strings.Contains(tm["error_description"].(string), `scope "mcp.tools" belongs to resource https://mcp.example.com/mcp`) {
			t.Errorf("description %q", tm["error_description"])
		}
		// A client-credentials token for the MCP server.
		r, tm = f.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp.tools"}, "resource": {mcpResource}}, true)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("client credentials: %d %s", r.StatusCode, r.body)
		}
		if _, c := f.verifyJWT(tm["access_token"].(string)); c["aud"] != mcpResource {
			t.Errorf("client-credentials JWT aud %v", c["aud"])
		}
	})
}

// /api/user is the built-in resource {issuer}/api: a token for another
// resource is 401 invalid_token naming the API's metadata; a user.read
// token (aud {issuer}/api) and a token without an audience (issued
// before resources existed) work.
func TestAPIUserRefusesTokensForAnotherResource(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newResourceWireFixture(t, h)
		// user.read is a default scope, left out for another resource.
		m := f.resourceTokens("mcp.tools profile", []string{mcpResource}, nil)
		r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+m["access_token"].(string))
		wa := r.Header.Get("WWW-Authenticate")
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(wa, `error="invalid_token"`) ||
			!strings.Contains(wa, `resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource/api"`) ||
			!strings.Contains(r.body, "audience does not include "+issuerAPI) {
			t.Fatalf("token for the MCP server at /api/user: %d %q %s", r.StatusCode, wa, r.body)
		}
		// A user.read token asked for with the API and the MCP server.
		m = f.resourceTokens("mcp.tools user.read", []string{mcpResource, issuerAPI}, nil)
		if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+m["access_token"].(string)); r.StatusCode != http.StatusOK {
			t.Fatalf("token for both: %d %s", r.StatusCode, r.body)
		}
		at, _ := f.refreshPair("user.read")
		if in := f.introspect(at); in["aud"] != issuerAPI {
			t.Errorf("user.read token aud %v", in["aud"])
		}
		if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+at); r.StatusCode != http.StatusOK {
			t.Fatalf("user.read token: %d %s", r.StatusCode, r.body)
		}
		legacy := seedLegacyToken(t, f, "user.read")
		if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+legacy); r.StatusCode != http.StatusOK {
			t.Fatalf("token without an audience: %d %s", r.StatusCode, r.body)
		}
	})
}

// seedLegacyToken stores an access token of alice and the confidential
// client with scope and no audience, as the previous release issued them.
func seedLegacyToken(t *testing.T, f *oauthFixture, scope string) string {
	t.Helper()
	plain := "gat_legacy" + strings.ReplaceAll(scope, ".", "") + f.confID
	uid := f.user.ID
	now := time.Now()
	if err := f.store.CreateTokens(context.Background(), &models.Token{TokenHash: secret.Digest(plain), Kind: "access", ClientID: f.confID,
		UserID: &uid, Scope: scope, FamilyID: "legacy-" + scope, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return plain
}

// {P}/verify told which resource it guards (X-Gatehouse-Resource, or the
// resource parameter of the verify URL): a token for it passes (200 with
// X-Gatehouse-Resource and X-Gatehouse-Audience), a token for another
// resource is 401 invalid_token naming the guarded resource's metadata
// (RFC 9728 §5.1) on its own origin, a token without an audience passes
// as before; an unknown, malformed or conflicting resource is the
// proxy's misconfiguration: 400 naming the header.
func TestVerifyResourceAudience(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newResourceWireFixture(t, h)
		mcpToken := f.resourceTokens("mcp.tools", []string{mcpResource}, nil)["access_token"].(string)
		otherToken := f.resourceTokens("other.read mcp.tools", []string{otherResource, mcpResource}, []string{otherResource})["access_token"].(string)
		const mcpMetadata = `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
		for name, via := range map[string]struct {
			url     string
			headers []string
		}{
			"header":    {"/oauth/verify", []string{"X-Gatehouse-Resource", "https://MCP.example.com/mcp/"}},
			"parameter": {"/oauth/verify?resource=" + url.QueryEscape(mcpResource), nil},
			"both":      {"/oauth/verify?resource=" + url.QueryEscape(mcpResource), []string{"X-Gatehouse-Resource", mcpResource}},
		} {
			r := f.verifyAt(via.url, "POST", "/mcp", mcpToken, via.headers...)
			if r.StatusCode != http.StatusOK || r.Header.Get("X-Gatehouse-Resource") != mcpResource ||
				r.Header.Get("X-Gatehouse-Audience") != mcpResource || r.Header.Get("X-Gatehouse-User") != "alice" {
				t.Errorf("%s: token for the resource: %d %v", name, r.StatusCode, r.Header)
			}
			// other.read + mcp.tools, narrowed to the other API: refused
			// although its scope would allow the path.
			r = f.verifyAt(via.url, "POST", "/mcp", otherToken, via.headers...)
			if wa := r.Header.Get("WWW-Authenticate"); r.StatusCode != http.StatusUnauthorized || !strings.Contains(wa, `error="invalid_token"`) ||
				!strings.Contains(wa, mcpMetadata) || r.Header.Get("X-Gatehouse-User") != "" {
				t.Errorf("%s: token for another resource: %d %q", name, r.StatusCode, wa)
			}
			if r := f.verifyAt(via.url, "POST", "/mcp", "", via.headers...); r.StatusCode != http.StatusUnauthorized ||
				r.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse", `+mcpMetadata {
				t.Errorf("%s: no token: %d %q", name, r.StatusCode, r.Header.Get("WWW-Authenticate"))
			}
		}
		// The same token where the other API is guarded.
		if r := f.verifyAt("/oauth/verify", "GET", "/other/x", otherToken, "X-Gatehouse-Resource", otherResource); r.StatusCode != http.StatusOK {
			t.Errorf("token for the other API there: %d %s", r.StatusCode, r.body)
		}
		// Without a resource named, verify checks scopes only (as before)...
		if r := f.verifyAt("/oauth/verify", "POST", "/mcp", mcpToken); r.StatusCode != http.StatusOK || r.Header.Get("X-Gatehouse-Resource") != "" {
			t.Errorf("no resource named: %d %v", r.StatusCode, r.Header)
		}
		// ... and the token narrowed to the other API no longer carries
		// mcp.tools (RFC 8707 §2.2): refused there too.
		if r := f.verifyAt("/oauth/verify", "POST", "/mcp", otherToken); r.StatusCode != http.StatusForbidden {
			t.Errorf("narrowed token, no resource named: %d %v", r.StatusCode, r.Header)
		}
		// A token without an audience (issued before resources existed, or
		// for scopes in no resource) is refused where a resource is named
		// (the check is new there: the MCP spec's MUST), and passes where
		// none is; introspection says it is for this server.
		filesToken := seedLegacyToken(t, f, "files.write")
		if in := f.introspect(filesToken); in["aud"] != "http://localhost:8080" {
			t.Errorf("files.write token aud %v", in["aud"])
		}
		if r := f.verifyAt("/oauth/verify", "PUT", "/files/a", filesToken, "X-Gatehouse-Resource", mcpResource); r.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) || !strings.Contains(r.Header.Get("WWW-Authenticate"), "resource_metadata=") {
			t.Errorf("token without an audience at a named resource: %d %v", r.StatusCode, r.Header)
		}
		if r := f.verifyAt("/oauth/verify", "PUT", "/files/a", filesToken); r.StatusCode != http.StatusOK || r.Header.Get("X-Gatehouse-Audience") != "" {
			t.Errorf("token without an audience, no resource named: %d %v", r.StatusCode, r.Header)
		}
		// Misconfigured proxies.
		for name, tc := range map[string]struct {
			url     string
			headers []string
			want    string
		}{
			"unknown":     {"/oauth/verify", []string{"X-Gatehouse-Resource", "https://unknown.example.com"}, "not registered"},
			"malformed":   {"/oauth/verify", []string{"X-Gatehouse-Resource", "mcp"}, "is not valid"},
			"conflicting": {"/oauth/verify?resource=" + url.QueryEscape(otherResource), []string{"X-Gatehouse-Resource", mcpResource}, "differ"},
			"repeated":    {"/oauth/verify?resource=" + url.QueryEscape(mcpResource) + "&resource=" + url.QueryEscape(mcpResource), nil, "more than once"},
		} {
			r := f.verifyAt(tc.url, "POST", "/mcp", mcpToken, tc.headers...)
			if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, tc.want) || !strings.Contains(r.body, "X-Gatehouse-Resource") &&
				name != "repeated" {
				t.Errorf("%s: %d %s", name, r.StatusCode, r.body)
			}
		}
	})
}

// Rule 43: /.well-known/oauth-protected-resource describes Gatehouse's
// API (resource {issuer}/api, the issuer as authorization server, its
// scopes), also at the path-suffixed address; a registered resource on
// Gatehouse's origin at its path; a resource on another origin when the
// proxy routes that origin's well-known path here (the Host kept);
// anything else a JSON 404. A 401 of /api/user names the metadata.
func TestRule43_ProtectedResourceMetadata(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newResourceWireFixture(t, h)
		registerResource(t, h, "http://localhost:8080/tools", "Tools")
		get := func(host, path string) (*response, map[string]any) {
			req := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
			r := f.send(req)
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			return r, m
		}
		for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/api"} {
			r, m := get("localhost:8080", path)
			if r.StatusCode != http.StatusOK || m["resource"] != issuerAPI || !slices.Equal(toStrings(m["authorization_servers"]), []string{"http://localhost:8080"}) ||
				!slices.Contains(toStrings(m["scopes_supported"]), "user.read") || !slices.Equal(toStrings(m["bearer_methods_supported"]), []string{"header"}) ||
				m["resource_name"] == nil || !strings.HasPrefix(r.Header.Get("Cache-Control"), "public") ||
				r.Header.Get("Access-Control-Allow-Origin") != "" && r.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("%s: %d %v %v", path, r.StatusCode, m, r.Header)
			}
		}
		if r, m := get("localhost:8080", "/.well-known/oauth-protected-resource/tools"); r.StatusCode != http.StatusOK || m["resource"] != "http://localhost:8080/tools" {
			t.Errorf("registered resource on Gatehouse's origin: %d %v", r.StatusCode, m)
		}
		if r, m := get("mcp.example.com", "/.well-known/oauth-protected-resource/mcp"); r.StatusCode != http.StatusOK || m["resource"] != mcpResource ||
			!slices.Equal(toStrings(m["scopes_supported"]), []string{"mcp.tools"}) || r.Header.Get("Vary") != "Host" {
			t.Errorf("resource on its own origin: %d %v %v", r.StatusCode, m, r.Header)
		}
		// On a resource's origin, nothing but its resources (RFC 9728
		// §3.3): not Gatehouse's API, not Gatehouse's resources.
		for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/tools"} {
			if r, m := get("mcp.example.com", path); r.StatusCode != http.StatusNotFound {
				t.Errorf("%s on the MCP server's origin: %d %v", path, r.StatusCode, m)
			}
		}
		// X-Forwarded-Host, which any client can send, does not choose the
		// origin (the answer is cacheable).
		req := httptest.NewRequest(http.MethodGet, "http://mcp.example.com/.well-known/oauth-protected-resource/mcp", nil)
		req.Header.Set("X-Forwarded-Host", "localhost:8080")
		if r := f.send(req); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"resource":"`+mcpResource+`"`) {
			t.Errorf("X-Forwarded-Host chose the origin: %d %s", r.StatusCode, r.body)
		}
		for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource/nothing",
			"/.well-known/oauth-protected-resourcex"} {
			if r, m := get("localhost:8080", path); r.StatusCode != http.StatusNotFound || m["error"] == nil || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: %d %v", path, r.StatusCode, m)
			}
		}
		// The challenge of /api/user names the metadata, which names the
		// resource the client is calling.
		wa := f.get("/api/user").Header.Get("WWW-Authenticate")
		const want = `resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource/api"`
		if !strings.Contains(wa, want) {
			t.Errorf("/api/user challenge %q", wa)
		}
	})
}

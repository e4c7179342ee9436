package app

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

// --- helpers ------------------------------------------------------------

// jwks fetches the published key set from the jwks_uri's path.
func (f *oauthFixture) jwks() jose.JSONWebKeySet {
	f.t.Helper()
	r := f.get("/oauth/jwks")
	var set jose.JSONWebKeySet
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.body), &set) != nil {
		f.t.Fatalf("jwks: %d %.300s", r.StatusCode, r.body)
	}
	return set
}

// verifyJWT checks a compact JWS against the published keys (by kid, as a
// relying party does) and returns its header and claims.
func (f *oauthFixture) verifyJWT(token string) (jose.Header, map[string]any) {
	f.t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		f.t.Fatalf("not a JWS: %v", err)
	}
	hdr := jws.Signatures[0].Header
	set := f.jwks()
	keys := set.Key(hdr.KeyID)
	if hdr.KeyID == "" || len(keys) != 1 {
		f.t.Fatalf("kid %q is not resolvable in the JWKS", hdr.KeyID)
	}
	payload, err := jws.Verify(keys[0].Public())
	if err != nil {
		f.t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		f.t.Fatal(err)
	}
	return hdr, claims
}

// oidcTokens runs the code flow for scope (with a nonce) and returns the
// token response.
func (f *oauthFixture) oidcTokens(scope, nonce string) map[string]any {
	f.t.Helper()
	code := f.code(f.authzParams("scope", scope, "nonce", nonce))
	r, m := f.exchange(code)
	if r.StatusCode != http.StatusOK {
		f.t.Fatalf("exchange: %d %s", r.StatusCode, r.body)
	}
	return m
}

// clientPost posts form to an endpoint with the confidential client's
// Basic credentials.
func (f *oauthFixture) clientPost(path string, form url.Values) *response {
	f.t.Helper()
	return f.do(http.MethodPost, path, form, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec))))
}

func (f *oauthFixture) introspect(token string) map[string]any {
	f.t.Helper()
	r := f.clientPost("/oauth/introspect", url.Values{"token": {token}})
	var m map[string]any
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.body), &m) != nil {
		f.t.Fatalf("introspect: %d %s", r.StatusCode, r.body)
	}
	return m
}

// wantInactive checks the exact inactive answer of RFC 7662 §2.2.
func (f *oauthFixture) wantInactive(token, why string) {
	f.t.Helper()
	r := f.clientPost("/oauth/introspect", url.Values{"token": {token}})
	if r.StatusCode != http.StatusOK || strings.TrimSpace(r.body) != `{"active":false}` {
		f.t.Fatalf("%s: introspection gave %d %s, want exactly {\"active\":false}", why, r.StatusCode, r.body)
	}
}

func metadata(t *testing.T, h *harness, path string) (map[string]any, string) {
	t.Helper()
	r := h.get(path)
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s: %d %s", path, r.StatusCode, r.Header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatal(err)
	}
	return m, r.body
}

func strList(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// --- Metadata -------------------------------------------------------------

func TestRule01_MetadataIssuerExact(t *testing.T) {
	t.Parallel()
	const issuer = "https://login.example.test:8443/tenant-a"
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_ISSUER": issuer, "GATEHOUSE_OAUTH_PREFIX": "/o2"})
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		m, body := metadata(t, h, p)
		if !strings.Contains(body, `"issuer":"`+issuer+`"`) || m["issuer"] != issuer {
			t.Fatalf("%s: issuer %v, want %s byte for byte", p, m["issuer"], issuer)
		}
		for key, want := range map[string]string{"authorization_endpoint": "/o2/authorize", "token_endpoint": "/o2/token",
			"userinfo_endpoint": "/o2/userinfo", "jwks_uri": "/o2/jwks", "revocation_endpoint": "/o2/revoke",
			"introspection_endpoint": "/o2/introspect", "device_authorization_endpoint": "/o2/device/code"} {
			if m[key] != issuer+want {
				t.Errorf("%s: %s = %v, want %s", p, key, m[key], issuer+want)
			}
		}
	}
	// The paths advertised are the paths served.
	if r := h.get("/o2/jwks"); r.StatusCode != http.StatusOK {
		t.Errorf("jwks at the advertised path: %d", r.StatusCode)
	}
}

// Rule 2 on the wire: the document follows the settings from the next
// request on, and every kid that signs ID tokens is in the JWKS at
// jwks_uri. What it lists under which policy: oauth.TestRule02_*,
// oauth.TestRule01_MetadataDocument.
func TestRule02_MetadataListsOnlyWhatIsEnabled(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	m, _ := metadata(t, f.harness, "/.well-known/openid-configuration")
	if grants := strList(m["grant_types_supported"]); slices.Contains(grants, "password") || slices.Contains(grants, "implicit") {
		t.Errorf("disabled grants listed: %v", grants)
	}
	f.set("allow_password_grant", "true")
	f.set("allow_implicit_grant", "true")
	m, _ = metadata(t, f.harness, "/.well-known/oauth-authorization-server")
	grants := strList(m["grant_types_supported"])
	if !slices.Contains(grants, "password") || !slices.Contains(grants, "implicit") {
		t.Errorf("enabled grants not listed: %v", grants)
	}
	if rt := strList(m["response_types_supported"]); !slices.Equal(rt, []string{"code", "token"}) {
		t.Errorf("response types with implicit on: %v", rt)
	}
	f.signIn()
	tok := f.oidcTokens("openid", "n")
	u, _ := url.Parse(m["jwks_uri"].(string))
	if u.Path != "/oauth/jwks" {
		t.Fatalf("jwks_uri %s", u)
	}
	f.verifyJWT(tok["id_token"].(string))
}

// --- ID tokens ----------------------------------------------------------------

func TestRule33_IDTokenClaims(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		before := time.Now().Add(-time.Second).Unix()
		m := f.oidcTokens("openid profile email", "n-0S6_WzA2Mj")
		hdr, c := f.verifyJWT(m["id_token"].(string))
		if hdr.Algorithm != "RS256" || hdr.ExtraHeaders["typ"] != oauth.TypeIDToken {
			t.Errorf("header: alg %s typ %v", hdr.Algorithm, hdr.ExtraHeaders["typ"])
		}
		now := time.Now().Unix()
		if c["iss"] != f.srv.Config.Issuer || c["sub"] != f.user.Subject || c["aud"] != f.confID || c["azp"] != f.confID {
			t.Errorf("iss/sub/aud/azp: %v", c)
		}
		if c["nonce"] != "n-0S6_WzA2Mj" {
			t.Errorf("nonce: %v", c["nonce"])
		}
		iat, exp, at := int64(c["iat"].(float64)), int64(c["exp"].(float64)), int64(c["auth_time"].(float64))
		if iat < before || iat > now+1 || exp != iat+3600 || at < before || at > now+1 {
			t.Errorf("iat %d exp %d auth_time %d (now %d)", iat, exp, at, now)
		}
		sum := sha256.Sum256([]byte(m["access_token"].(string)))
		if c["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:16]) {
			t.Errorf("at_hash %v", c["at_hash"])
		}
		if c["email"] != "alice@example.com" || c["email_verified"] != false || c["preferred_username"] != "alice" {
			t.Errorf("profile/email claims: %v", c)
		}
		// Without openid there is no ID token; without profile/email, no
		// such claims.
		if m := f.oidcTokens("user.read", ""); m["id_token"] != nil {
			t.Errorf("ID token without openid: %v", m)
		}
		_, c = f.verifyJWT(f.oidcTokens("openid", "")["id_token"].(string))
		for _, k := range []string{"nonce", "email", "name", "preferred_username"} {
			if _, ok := c[k]; ok {
				t.Errorf("claim %s present: %v", k, c)
			}
		}
	})
}

func TestRule13_PromptLoginUpdatesIDTokenAuthTime(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	start := time.Now()
	f.signIn()
	// Half an hour later.
	later := func() time.Time { return time.Now().Add(30 * time.Minute) }
	f.srv.Handlers.Now = later
	_, c := f.verifyJWT(f.oidcTokens("openid", "a")["id_token"].(string))
	if at := int64(c["auth_time"].(float64)); at > start.Add(time.Minute).Unix() {
		t.Fatalf("first auth_time %d should be the first sign-in (%d)", at, start.Unix())
	}
	// max_age=60: that sign-in is too old; signing in again updates
	// auth_time.
	r := f.authorize(f.authzParams("scope", "openid", "max_age", "60"))
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/login?") {
		t.Fatalf("max_age: %d %s", r.StatusCode, loc)
	}
	next, _ := url.Parse(loc)
	lp := f.get(loc)
	lr := f.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {alicePW}, "next": {next.Query().Get("next")},
		"csrf_token": {csrfRE.FindStringSubmatch(lp.body)[1]}})
	cr := f.get(lr.Header.Get("Location"))
	if cr.StatusCode == http.StatusOK {
		cr = f.decide(cr, "allow")
	}
	q := redirectParams(t, cr, false)
	tr, m := f.exchange(q.Get("code"))
	if tr.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %s", tr.body)
	}
	_, c = f.verifyJWT(m["id_token"].(string))
	if at := int64(c["auth_time"].(float64)); at < start.Add(29*time.Minute).Unix() {
		t.Fatalf("auth_time %d not updated by the new sign-in (start %d)", at, start.Unix())
	}
}

func TestRule34_RefreshedIDToken(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	m := f.oidcTokens("openid email", "nonce-1")
	_, first := f.verifyJWT(m["id_token"].(string))
	r, m2 := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, true)
	if r.StatusCode != http.StatusOK || m2["id_token"] == nil {
		t.Fatalf("refresh: %d %s", r.StatusCode, r.body)
	}
	_, c := f.verifyJWT(m2["id_token"].(string))
	if c["sub"] != first["sub"] || c["auth_time"] != first["auth_time"] || c["aud"] != f.confID {
		t.Errorf("refreshed: sub %v auth_time %v, first: %v %v", c["sub"], c["auth_time"], first["sub"], first["auth_time"])
	}
	if _, ok := c["nonce"]; ok {
		t.Errorf("refreshed ID token has a nonce: %v", c)
	}
	sum := sha256.Sum256([]byte(m2["access_token"].(string)))
	if c["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:16]) {
		t.Errorf("at_hash of the new access token: %v", c["at_hash"])
	}
	// Narrowed to a scope without openid: no ID token.
	_, m3 := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m2["refresh_token"].(string)}, "scope": {"email"}}, true)
	if m3["access_token"] == nil || m3["id_token"] != nil {
		t.Errorf("narrowed refresh: %v", m3)
	}
}

// --- UserInfo -----------------------------------------------------------

// Rule 35 on the wire: UserInfo answers GET, POST, and POST with the
// token in the form (while allowed), not cached, with the ID token's sub;
// refusals are RFC 6750 challenges (insufficient_scope naming openid).
// Which claims for which scopes: oauth.TestRule35_UserInfo.
func TestRule35_UserInfo(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		if err := f.store.UpdateUser(context.Background(), f.user.ID, func(u *models.User) error { u.Name = "Alice Liddell"; return nil }); err != nil {
			t.Fatal(err)
		}
		f.signIn()
		m := f.oidcTokens("openid profile", "x")
		_, idc := f.verifyJWT(m["id_token"].(string))
		at := m["access_token"].(string)
		get := f.do(http.MethodGet, "/oauth/userinfo", nil, "Authorization", "Bearer "+at)
		post := f.do(http.MethodPost, "/oauth/userinfo", url.Values{}, "Authorization", "Bearer "+at)
		// The form body token (RFC 6750 §2.2) needs allow_query_access_token.
		f.set("allow_query_access_token", "true")
		form := f.do(http.MethodPost, "/oauth/userinfo", url.Values{"access_token": {at}})
		for name, r := range map[string]*response{"GET": get, "POST": post, "POST form": form} {
			var c map[string]any
			if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.body), &c) != nil {
				t.Fatalf("%s: %d %s", name, r.StatusCode, r.body)
			}
			if c["sub"] != idc["sub"] || c["name"] != "Alice Liddell" || c["preferred_username"] != "alice" {
				t.Errorf("%s: %v", name, c)
			}
			if r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s: Cache-Control %q Content-Type %q", name, r.Header.Get("Cache-Control"), r.Header.Get("Content-Type"))
			}
		}
		// A token without openid: 403 insufficient_scope naming openid.
		at3 := f.oidcTokens("user.read", "")["access_token"].(string)
		r := f.do(http.MethodGet, "/oauth/userinfo", nil, "Authorization", "Bearer "+at3)
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
			!strings.Contains(r.Header.Get("WWW-Authenticate"), `scope="openid"`) {
			t.Errorf("without openid: %d %s", r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
		// No token, a bad token.
		if r := f.get("/oauth/userinfo"); r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse"` {
			t.Errorf("no token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
		if r := f.do(http.MethodGet, "/oauth/userinfo", nil, "Authorization", "Bearer gat_nope"); r.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("bad token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	})
}

// --- Revocation ---------------------------------------------------------------

// Rule 36 on the wire: 401 invalid_client without client authentication
// (with WWW-Authenticate after Basic), 400 without a token, and 200 with
// an empty body; a revoked refresh token's access token is refused at
// once by a resource. What is revoked, and what is not:
// oauth.TestRule36_Revocation.
func TestRule36_Revocation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		m := f.oidcTokens("user.read", "")
		access, refresh := m["access_token"].(string), m["refresh_token"].(string)

		// Client authentication is required.
		r := f.do(http.MethodPost, "/oauth/revoke", url.Values{"token": {access}})
		var e map[string]any
		_ = json.Unmarshal([]byte(r.body), &e)
		wantOAuthError(t, r, e, http.StatusUnauthorized, "invalid_client")
		r = f.do(http.MethodPost, "/oauth/revoke", url.Values{"token": {access}}, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.confID+":wrong")))
		if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("wrong secret: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
		if r := f.clientPost("/oauth/revoke", url.Values{}); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "invalid_request") {
			t.Errorf("no token: %d %s", r.StatusCode, r.body)
		}
		if r := f.clientPost("/oauth/revoke", url.Values{"token": {refresh}}); r.StatusCode != http.StatusOK || r.body != "" {
			t.Fatalf("revoke refresh: %d %q", r.StatusCode, r.body)
		}
		f.wantInactive(refresh, "revoked refresh token")
		if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+access); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("resource after revocation: %d", r.StatusCode)
		}
	})
}

// --- Introspection --------------------------------------------------------

// Rule 37 on the wire: 401 invalid_client without client
// authentication, 400 without a token, the active token's JSON, and the
// inactive answer's exact body. What is active, and what the answer
// holds: oauth.TestRule37_*.
func TestRule37_Introspection(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		access := f.oidcTokens("user.read email", "")["access_token"].(string)

		r := f.do(http.MethodPost, "/oauth/introspect", url.Values{"token": {access}})
		var e map[string]any
		_ = json.Unmarshal([]byte(r.body), &e)
		wantOAuthError(t, r, e, http.StatusUnauthorized, "invalid_client")
		if r := f.clientPost("/oauth/introspect", url.Values{}); r.StatusCode != http.StatusBadRequest {
			t.Errorf("no token: %d", r.StatusCode)
		}

		a := f.introspect(access)
		iat, exp := a["iat"].(float64), a["exp"].(float64)
		if a["active"] != true || a["scope"] != "email user.read" || a["client_id"] != f.confID || a["username"] != "alice" ||
			a["sub"] != f.user.Subject || a["token_type"] != "Bearer" || exp-iat != 3600 || a["iss"] != f.srv.Config.Issuer {
			t.Errorf("active access token: %v", a)
		}
		f.wantInactive("gat_unknown", "unknown token")
	})
}

// --- JWT access tokens (RFC 9068) ---------------------------------------------

func TestJWTAccessTokens(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.set("access_token_format", "jwt")
		f.signIn()
		m := f.oidcTokens("openid user.read", "n")
		at := m["access_token"].(string)
		hdr, c := f.verifyJWT(at)
		if hdr.ExtraHeaders["typ"] != oauth.TypeAccessToken {
			t.Errorf("typ %v", hdr.ExtraHeaders["typ"])
		}
		if c["iss"] != f.srv.Config.Issuer || c["sub"] != f.user.Subject || c["client_id"] != f.confID || c["aud"] != f.srv.Config.Issuer+"/api" ||
			c["scope"] != "openid user.read" || c["jti"] == "" || c["exp"].(float64)-c["iat"].(float64) != 3600 || c["auth_time"] == nil {
			t.Errorf("claims: %v", c)
		}
		// It is accepted where opaque tokens are, and its at_hash binds
		// the ID token to it.
		if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+at); r.StatusCode != http.StatusOK {
			t.Fatalf("/api/user with a JWT: %d %s", r.StatusCode, r.body)
		}
		_, idc := f.verifyJWT(m["id_token"].(string))
		sum := sha256.Sum256([]byte(at))
		if idc["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:16]) {
			t.Error("at_hash does not match the JWT access token")
		}
		// Client credentials: sub is the client.
		svc, svcSec := machineClient(t, f.harness)
		_, cc := tokenAs(f.harness, svc, svcSec, url.Values{"grant_type": {"client_credentials"}, "scope": {"jobs.run"}})
		if _, c := f.verifyJWT(cc["access_token"].(string)); c["sub"] != svc || c["scope"] != "jobs.run" {
			t.Errorf("client credentials sub %v scope %v", c["sub"], c["scope"])
		}
		// Still revocable: introspection and resources refuse it at once.
		if f.introspect(at)["active"] != true {
			t.Fatal("JWT inactive before revocation")
		}
		if r := f.clientPost("/oauth/revoke", url.Values{"token": {at}}); r.StatusCode != http.StatusOK {
			t.Fatal(r.StatusCode)
		}
		f.wantInactive(at, "revoked JWT access token")
		if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+at); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("revoked JWT at /api/user: %d", r.StatusCode)
		}
		// Back to opaque.
		f.set("access_token_format", "opaque")
		if at := f.oidcTokens("user.read", "")["access_token"].(string); !strings.HasPrefix(at, oauth.AccessTokenPrefix) {
			t.Errorf("opaque token: %s", at)
		}
	})
}

// Single-page apps call the token, revocation, userinfo, JWKS, metadata
// and API endpoints from another origin: they answer CORS, without
// credentials. Pages and the authorization endpoint do not (rule 17).
func TestCORSOnMachineEndpointsOnly(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	origin := "https://spa.example"
	for _, p := range []string{"/oauth/token", "/oauth/revoke", "/oauth/userinfo", "/.well-known/openid-configuration", "/api/user"} {
		r := f.do(http.MethodOptions, p, nil, "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization,content-type")
		if r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "*" ||
			r.Header.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Errorf("preflight %s: %d %v", p, r.StatusCode, r.Header)
		}
	}
	r := f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {f.confID}, "client_secret": {f.confSec}}, "Origin", origin)
	if r.StatusCode != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("token: %d %q", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, p := range []string{"/oauth/authorize?" + f.authzParams().Encode(), "/login", "/consent?id=x", "/oauth/introspect"} {
		r := f.do(http.MethodGet, p, nil, "Origin", origin)
		if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("%s sends Access-Control-Allow-Origin %q", p, v)
		}
	}
}

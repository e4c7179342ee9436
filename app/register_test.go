package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
)

// Dynamic client registration (RFC 7591) and its management (RFC 7592)
// over HTTP: SPEC.md §7.3, rule 44.

const registerPath = "/oauth/register"

// sendJSON sends body as application/json with method to path; headers
// are name, value pairs.
func (h *harness) sendJSON(method, path, body string, headers ...string) (*response, map[string]any) {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	r := h.send(req)
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return r, m
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// setRegistration sets the dynamic_registration setting.
func (h *harness) setRegistration(mode string) {
	h.t.Helper()
	if _, err := h.srv.Handlers.Settings.Set(context.Background(), "dynamic_registration", mode); err != nil {
		h.t.Fatal(err)
	}
}

// register posts a registration and wants 201; it returns the answer.
func (h *harness) register(body string, headers ...string) map[string]any {
	h.t.Helper()
	r, m := h.sendJSON(http.MethodPost, registerPath, body, headers...)
	if r.StatusCode != http.StatusCreated {
		h.t.Fatalf("registration: %d %s", r.StatusCode, r.body)
	}
	return m
}

const mcpRegistration = `{"redirect_uris": ["http://127.0.0.1:33418/callback"], "token_endpoint_auth_method": "none",
	"grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "client_name": "MCP Agent",
	"client_uri": "https://agent.example", "software_id": "agent", "software_version": "2.0", "unknown_field": [1, 2]}`

const confidentialRegistration = `{"redirect_uris": ["https://app.example/cb"], "client_name": "Web App", "scope": "openid user.read",
	"contacts": ["ops@app.example"], "tos_uri": "https://app.example/tos"}`

// Rule 44: off → not advertised and 404; open → 201 with client_id,
// client_id_issued_at, registration_access_token, registration_client_uri
// (and the secret of a confidential client, once); invalid redirect URIs
// → 400 invalid_redirect_uri; invalid metadata → 400
// invalid_client_metadata; nothing stored on a refusal.
func TestRule44_DynamicRegistration(t *testing.T) {
	t.Parallel()
	forEachThrottledBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		doc, _ := metadata(t, h, "/.well-known/oauth-authorization-server")
		if _, ok := doc["registration_endpoint"]; ok {
			t.Error("registration_endpoint advertised while off")
		}
		if !slices.Contains(strList(doc["token_endpoint_auth_methods_supported"]), "none") {
			t.Error("none not in token_endpoint_auth_methods_supported")
		}
		if r, _ := h.sendJSON(http.MethodPost, registerPath, mcpRegistration); r.StatusCode != http.StatusNotFound {
			t.Errorf("off: %d", r.StatusCode)
		}
		if r, _ := h.sendJSON(http.MethodGet, registerPath+"/abc", "", bearer("x")...); r.StatusCode != http.StatusNotFound {
			t.Errorf("off, configuration endpoint: %d", r.StatusCode)
		}

		h.setRegistration("open")
		for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
			doc, _ = metadata(t, h, p)
			if doc["registration_endpoint"] != "http://localhost:8080/oauth/register" {
				t.Errorf("%s: registration_endpoint %v", p, doc["registration_endpoint"])
			}
		}

		before := h.countClients()
		r, m := h.sendJSON(http.MethodPost, registerPath, confidentialRegistration)
		if r.StatusCode != http.StatusCreated || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("open: %d %q %s", r.StatusCode, r.Header.Get("Cache-Control"), r.body)
		}
		id, _ := m["client_id"].(string)
		tok, _ := m["registration_access_token"].(string)
		sec, _ := m["client_secret"].(string)
		if id == "" || tok == "" || !strings.HasPrefix(sec, "gcs_") || m["client_secret_expires_at"] != 0.0 ||
			m["registration_client_uri"] != "http://localhost:8080/oauth/register/"+id {
			t.Fatalf("answer %v", m)
		}
		if at, _ := m["client_id_issued_at"].(float64); at < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("client_id_issued_at %v", m["client_id_issued_at"])
		}
		for k, want := range map[string]any{"client_name": "Web App", "scope": "openid user.read", "token_endpoint_auth_method": "client_secret_basic",
			"tos_uri": "https://app.example/tos"} {
			if m[k] != want {
				t.Errorf("%s = %v, want %v", k, m[k], want)
			}
		}
		if strings.Join(strList(m["grant_types"]), " ") != "authorization_code" || strings.Join(strList(m["response_types"]), " ") != "code" ||
			strings.Join(strList(m["contacts"]), " ") != "ops@app.example" {
			t.Errorf("lists: %v", m)
		}
		c, err := h.store.GetClient(ctx, id)
		if err != nil || c.Registration != models.ClientRegisteredDynamic || !secret.Equal(c.RegistrationTokenHash, secret.Digest(tok)) ||
			!secret.Equal(c.SecretHash, secret.Digest(sec)) || c.OwnerID != nil {
			t.Fatalf("stored %v %+v", err, c)
		}
		evs := admAudit(t, h, "client.registered")
		if len(evs) != 1 || evs[0].Target != id || evs[0].RemoteAddr == "" || evs[0].Details["mode"] != "open" {
			t.Errorf("audit %+v", evs)
		}

		// A public client: no secret.
		m = h.register(mcpRegistration)
		if _, ok := m["client_secret"]; ok || m["token_endpoint_auth_method"] != "none" || m["software_version"] != "2.0" {
			t.Errorf("public: %v", m)
		}
		if _, ok := m["unknown_field"]; ok {
			t.Error("an unknown field came back")
		}

		// Refusals: the RFC 7591 §3.2.2 codes, nothing stored.
		refusals := []struct{ name, body, contentType, code string }{
			{"javascript redirect", `{"redirect_uris": ["javascript:alert(1)"]}`, "", "invalid_redirect_uri"},
			{"http redirect", `{"redirect_uris": ["http://evil.example/cb"], "token_endpoint_auth_method": "none"}`, "", "invalid_redirect_uri"},
			{"fragment", `{"redirect_uris": ["https://app.example/cb#x"]}`, "", "invalid_redirect_uri"},
			{"wildcard", `{"redirect_uris": ["https://*.app.example/cb"]}`, "", "invalid_redirect_uri"},
			{"no redirect", `{"client_name": "x"}`, "", "invalid_redirect_uri"},
			{"client credentials", `{"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"]}`, "", "invalid_client_metadata"},
			{"implicit", `{"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}`, "", "invalid_client_metadata"},
			{"private_key_jwt", `{"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}`, "", "invalid_client_metadata"},
			{"unknown scope", `{"redirect_uris": ["https://app.example/cb"], "scope": "openid admin.everything"}`, "", "invalid_client_metadata"},
			{"http logo", `{"redirect_uris": ["https://app.example/cb"], "logo_uri": "http://app.example/l.png"}`, "", "invalid_client_metadata"},
			{"not JSON", `redirect_uris=https://app.example/cb`, "", "invalid_client_metadata"},
			{"form body", `{"redirect_uris": ["https://app.example/cb"]}`, "application/x-www-form-urlencoded", "invalid_client_metadata"},
			{"too large", `{"redirect_uris": ["https://app.example/cb"], "client_name": "` + strings.Repeat("x", 70<<10) + `"}`, "", "invalid_client_metadata"},
		}
		for i, rc := range refusals {
			req := httptest.NewRequest(http.MethodPost, registerPath, strings.NewReader(rc.body))
			req.Header.Set("Content-Type", "application/json")
			// Each from its own address: the per-address limit is
			// TestRegistrationThrottled's.
			req.Header.Set("X-Forwarded-For", "192.0.2."+strconv.Itoa(100+i))
			if rc.contentType != "" {
				req.Header.Set("Content-Type", rc.contentType)
			}
			r := h.send(req)
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			if r.StatusCode != http.StatusBadRequest || m["error"] != rc.code || m["error_description"] == "" {
				t.Errorf("%s: %d %s, want 400 %s", rc.name, r.StatusCode, r.body, rc.code)
			}
		}
		if n := h.countClients(); n != before+2 {
			t.Errorf("%d clients, want %d: a refusal stored one", n, before+2)
		}
	})
}

// In token mode a registration needs an initial access token: missing,
// unknown, expired or used → 401 invalid_token with a Bearer challenge;
// the right one registers once. A refused registration keeps the token.
func TestRegistrationInitialAccessToken(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.setRegistration("token")
		doc, _ := metadata(t, h, "/.well-known/openid-configuration")
		if doc["registration_endpoint"] == nil {
			t.Error("registration_endpoint not advertised in token mode")
		}
		tok, _, err := clients.NewInitialAccessToken(ctx, h.store, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		expired, _, err := clients.NewInitialAccessToken(ctx, h.store, time.Hour, time.Now().Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		before := h.countClients()
		for name, hdr := range map[string][]string{"missing": nil, "unknown": bearer("giat_nope"), "expired": bearer(expired),
			"basic": {"Authorization", "Basic " + tok}} {
			r, m := h.sendJSON(http.MethodPost, registerPath, mcpRegistration, hdr...)
			if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("%s: %d %s %q", name, r.StatusCode, r.body, r.Header.Get("WWW-Authenticate"))
			}
			// RFC 6750 §3.1: no error code in the challenge without credentials.
			if named := strings.Contains(r.Header.Get("WWW-Authenticate"), "error="); named != (hdr != nil) {
				t.Errorf("%s: challenge %q", name, r.Header.Get("WWW-Authenticate"))
			}
		}
		// Bad metadata with the right token: 400, and the token still works.
		if r, m := h.sendJSON(http.MethodPost, registerPath, `{"redirect_uris": ["http://evil.example/cb"]}`, bearer(tok)...); r.StatusCode != 400 || m["error"] != "invalid_redirect_uri" {
			t.Fatalf("bad metadata: %d %s", r.StatusCode, r.body)
		}
		h.register(mcpRegistration, bearer(tok)...)
		if r, m := h.sendJSON(http.MethodPost, registerPath, mcpRegistration, bearer(tok)...); r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" {
			t.Errorf("used: %d %s", r.StatusCode, r.body)
		}
		if n := h.countClients(); n != before+1 {
			t.Errorf("%d clients, want %d", n, before+1)
		}
		if evs := admAudit(t, h, "client.registered"); len(evs) != 1 || evs[0].Details["mode"] != "token" {
			t.Errorf("audit %+v", evs)
		}
	})
}

// RFC 7592: the registration access token reads, replaces and deletes
// the client's registration; a missing or wrong token, another client's,
// an unknown client and an admin-made one all get the same 401.
func TestRegistrationManagement(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.setRegistration("open")
		a := h.register(mcpRegistration)
		b := h.register(confidentialRegistration)
		id, tok := a["client_id"].(string), a["registration_access_token"].(string)
		uri := registerPath + "/" + id
		admin, _, _, err := clients.Create(ctx, h.store, clients.Input{Name: "Admin-made", RedirectURIs: []string{"https://x.example/cb"}}, nil)
		if err != nil {
			t.Fatal(err)
		}

		r, m := h.sendJSON(http.MethodGet, uri, "", bearer(tok)...)
		if r.StatusCode != 200 || m["client_id"] != id || m["client_name"] != "MCP Agent" || m["registration_client_uri"] != "http://localhost:8080"+uri ||
			r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("read: %d %s", r.StatusCode, r.body)
		}
		for _, k := range []string{"registration_access_token", "client_secret"} {
			if _, ok := m[k]; ok {
				t.Errorf("read sent %s", k)
			}
		}
		for name, req := range map[string][2]string{
			"no token":             {uri, ""},
			"wrong token":          {uri, "grat_wrong"},
			"another's token":      {uri, b["registration_access_token"].(string)},
			"unknown client":       {registerPath + "/nope", tok},
			"admin-made client":    {registerPath + "/" + admin.ClientID, tok},
			"client secret as one": {registerPath + "/" + b["client_id"].(string), b["client_secret"].(string)},
		} {
			var hdr []string
			if req[1] != "" {
				hdr = bearer(req[1])
			}
			for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
				r, m := h.sendJSON(method, req[0], `{"client_id": "`+id+`", "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}`, hdr...)
				if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" || r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: %d %s", name, method, r.StatusCode, r.body)
				}
			}
		}

		// Update: replaces the metadata; client_id must match.
		if r, m := h.sendJSON(http.MethodPut, uri, `{"client_id": "other", "redirect_uris": ["http://127.0.0.1/cb"]}`, bearer(tok)...); r.StatusCode != 400 || m["error"] != "invalid_client_metadata" {
			t.Errorf("other client_id: %d %s", r.StatusCode, r.body)
		}
		if r, m := h.sendJSON(http.MethodPut, uri, `{"client_id": "`+id+`", "redirect_uris": ["http://evil.example/cb"]}`, bearer(tok)...); r.StatusCode != 400 || m["error"] != "invalid_redirect_uri" {
			t.Errorf("bad redirect: %d %s", r.StatusCode, r.body)
		}
		r, m = h.sendJSON(http.MethodPut, uri, `{"client_id": "`+id+`", "client_id_issued_at": 1, "registration_access_token": "x",
			"redirect_uris": ["http://127.0.0.1:9999/cb"], "token_endpoint_auth_method": "none", "client_name": "Renamed"}`, bearer(tok)...)
		if r.StatusCode != 200 || m["client_name"] != "Renamed" || strings.Join(strList(m["redirect_uris"]), " ") != "http://127.0.0.1:9999/cb" {
			t.Fatalf("update: %d %s", r.StatusCode, r.body)
		}
		if _, ok := m["software_version"]; ok {
			t.Error("an omitted field was kept (RFC 7592 §2.2: omitted means removed)")
		}
		if c, _ := h.store.GetClient(ctx, id); c.Name != "Renamed" || c.RedirectURIs[0] != "http://127.0.0.1:9999/cb" {
			t.Errorf("stored %+v", c)
		}
		if evs := admAudit(t, h, "client.registration_updated"); len(evs) != 1 || evs[0].Target != id {
			t.Errorf("audit %+v", evs)
		}

		// Delete: 204, gone, and the token no longer reads it.
		if r, _ := h.sendJSON(http.MethodDelete, uri, "", bearer(tok)...); r.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.StatusCode, r.body)
		}
		if _, err := h.store.GetClient(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
		if r, _ := h.sendJSON(http.MethodGet, uri, "", bearer(tok)...); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("read after delete: %d", r.StatusCode)
		}
	})
}

// Registered clients complete the authorization code flow: a public one
// with PKCE, a confidential one with the secret it was given, at the
// token endpoint.
func TestRegisteredClientsCompleteTheCodeFlow(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.harness.setRegistration("open")
	pub := f.register(mcpRegistration)
	conf := f.register(`{"redirect_uris": ["https://app.example/cb"], "client_name": "Web", "token_endpoint_auth_method": "client_secret_post",
		"grant_types": ["authorization_code", "refresh_token"]}`)
	f.signIn()

	redirect := "http://127.0.0.1:33418/callback"
	authz := url.Values{"response_type": {"code"}, "client_id": {pub["client_id"].(string)}, "redirect_uri": {redirect}, "state": {"s"},
		"scope": {"openid"}, "code_challenge": {f.challenge}, "code_challenge_method": {"S256"}}
	// The consent screen marks it unverified.
	if consent := f.authorize(authz); consent.StatusCode != http.StatusOK || !strings.Contains(consent.body, "Unverified app") {
		t.Errorf("consent for a registered client: %d, no unverified mark", consent.StatusCode)
	}
	code := f.code(authz)
	r, m := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {pub["client_id"].(string)}, "code_verifier": {f.verifier}}, false)
	if r.StatusCode != 200 || m["access_token"] == nil || m["refresh_token"] == nil {
		t.Fatalf("public registered client: %d %s", r.StatusCode, r.body)
	}
	// Without PKCE, refused as for any public client; being unverified,
	// on the error page, not redirected (no open redirector).
	noPKCE := f.authorize(url.Values{"response_type": {"code"}, "client_id": {pub["client_id"].(string)}, "redirect_uri": {redirect}, "state": {"s"}})
	if noPKCE.StatusCode != http.StatusBadRequest || noPKCE.Header.Get("Location") != "" || !strings.Contains(noPKCE.body, "PKCE") {
		t.Errorf("public registered client without PKCE: %d %v", noPKCE.StatusCode, noPKCE.Header)
	}

	code = f.code(url.Values{"response_type": {"code"}, "client_id": {conf["client_id"].(string)}, "redirect_uri": {"https://app.example/cb"},
		"state": {"s"}, "scope": {"openid"}})
	r, m = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example/cb"},
		"client_id": {conf["client_id"].(string)}, "client_secret": {conf["client_secret"].(string)}}, false)
	if r.StatusCode != 200 || m["access_token"] == nil {
		t.Fatalf("confidential registered client: %d %s", r.StatusCode, r.body)
	}
	// It has no client credentials grant.
	r, m = f.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {conf["client_id"].(string)},
		"client_secret": {conf["client_secret"].(string)}}, false)
	if r.StatusCode != 400 || m["error"] != "unauthorized_client" {
		t.Errorf("client credentials: %d %s", r.StatusCode, r.body)
	}
}

// handlers.RegistrationsPerAddress registration requests per address an
// hour, whatever their outcome; the next gets 429 with Retry-After and stores nothing; other
// addresses go on.
func TestRegistrationThrottled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dbtest.SQLiteURL(t), throttleEnv(""))
	h.setRegistration("open")
	const ip = "192.0.2.44"
	for i := range handlers.RegistrationsPerAddress {
		body, want := mcpRegistration, http.StatusCreated
		if i%2 == 1 {
			body, want = `{"redirect_uris": ["http://evil.example/cb"]}`, http.StatusBadRequest
		}
		if r, _ := h.sendJSON(http.MethodPost, registerPath, body, xff(ip)...); r.StatusCode != want {
			t.Fatalf("registration %d: %d, want %d", i+1, r.StatusCode, want)
		}
	}
	before := h.countClients()
	r, m := h.sendJSON(http.MethodPost, registerPath, mcpRegistration, xff(ip)...)
	if r.StatusCode != http.StatusTooManyRequests || m["error"] == nil {
		t.Fatalf("one over the limit: %d %s", r.StatusCode, r.body)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 3000 || ra > 3600 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if h.countClients() != before {
		t.Error("the throttled registration stored a client")
	}
	if r, _ := h.sendJSON(http.MethodPost, registerPath, mcpRegistration, xff("192.0.2.45")...); r.StatusCode != http.StatusCreated {
		t.Errorf("another address: %d", r.StatusCode)
	}
}

// `gatehouse clients registration-token` prints a single-use initial
// access token that registers one client while the setting is token; an
// expiry past 30 days is refused.
func TestRegistrationTokenCLI(t *testing.T) {
	t.Parallel()
	dbURL := "sqlite://" + t.TempDir() + "/g.db"
	run := func(args ...string) (int, string, string) {
		var out, errb strings.Builder
		status := Main(append(args, "--database-url", dbURL), IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		return status, out.String(), errb.String()
	}
	if status, out, errs := run("clients", "registration-token"); status != 0 || !strings.Contains(out, "giat_") || !strings.Contains(out, "dynamic_registration") {
		t.Fatalf("plain: %d %q %q", status, out, errs)
	}
	if status, _, errs := run("settings", "set", "dynamic_registration", "token"); status != 0 {
		t.Fatal(errs)
	}
	status, out, errs := run("clients", "registration-token", "--expires", "2h", "--json")
	var m map[string]string
	if status != 0 || json.Unmarshal([]byte(out), &m) != nil || !strings.HasPrefix(m["initial_access_token"], "giat_") ||
		m["registration_endpoint"] != "http://localhost:8080/oauth/register" {
		t.Fatalf("json: %d %q %q", status, out, errs)
	}
	if exp, err := time.Parse(time.RFC3339, m["expires_at"]); err != nil || time.Until(exp) < 110*time.Minute || time.Until(exp) > 2*time.Hour {
		t.Errorf("expires_at %q", m["expires_at"])
	}
	for _, bad := range []string{"31d", "0s", "-1h", "soon"} {
		if status, _, errs := run("clients", "registration-token", "--expires", bad); status != 1 || !strings.Contains(errs, "--expires") {
			t.Errorf("--expires %s: %d %q", bad, status, errs)
		}
	}

	h := newHarness(t, dbURL, nil)
	h.register(mcpRegistration, bearer(m["initial_access_token"])...)
	if r, _ := h.sendJSON(http.MethodPost, registerPath, mcpRegistration, bearer(m["initial_access_token"])...); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("second use: %d", r.StatusCode)
	}
	if evs := admAudit(t, h, "client.registration_token_created"); len(evs) != 2 || evs[0].Actor != "cli" {
		t.Errorf("audit %+v", evs)
	}
}

var initialTokenRE = regexp.MustCompile(`value="(giat_[A-Za-z0-9_-]+)"`)

// The dashboard lists self-registered clients as "registered by the
// client"; admins make initial access tokens (shown once), promote a
// self-registered client (audited; its registration access token stops
// working and it becomes editable) or delete it; the edit form and secret
// rotation are not offered before promotion. Developers see none of it.
func TestRegisteredClientsInTheDashboard(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.setRegistration("open")
		a := h.register(confidentialRegistration)
		b := h.register(mcpRegistration)
		id, tok := a["client_id"].(string), a["registration_access_token"].(string)
		admSignIn(t, h, "root", models.RoleAdmin)

		list := h.get("/dashboard/clients")
		admContains(t, "list", list.body, "Registered by the client", "Dynamic client registration", "Open: any application", "Create an initial access token")
		if strings.Count(list.body, "Registered by the client") < 2 {
			t.Error("each self-registered client has the badge")
		}

		// Initial access token: shown once, works once.
		r := h.post("/dashboard/clients", "/dashboard/clients/registration-token", url.Values{"expires": {"1h"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("token: %d", r.StatusCode)
		}
		page := h.get("/dashboard/clients")
		m := initialTokenRE.FindStringSubmatch(page.body)
		if m == nil {
			t.Fatalf("token not shown: %.300s", page.body)
		}
		if initialTokenRE.MatchString(h.get("/dashboard/clients").body) {
			t.Error("token shown twice")
		}
		if evs := admAudit(t, h, "client.registration_token_created"); len(evs) != 1 || evs[0].Actor != "root" {
			t.Errorf("audit %+v", evs)
		}
		h.setRegistration("token")
		anon := h.browser(t)
		anon.register(mcpRegistration, bearer(m[1])...)
		h.setRegistration("open")

		// Before promotion: no edit form, no rotation; a posted edit
		// changes nothing.
		detail := h.get("/dashboard/clients/" + id)
		admContains(t, "detail", detail.body, "Registered by the client", "Promote to a verified client", "registration access token")
		if strings.Contains(detail.body, `id="settings-title"`) || strings.Contains(detail.body, "rotate-secret") {
			t.Error("the edit form or secret rotation is offered for a self-registered client")
		}
		r = h.postMultipart("/dashboard/clients/"+id, "/dashboard/clients/"+id, clientForm(func(v url.Values) {
			v.Set("grant_types", "client_credentials")
		}))
		if c, _ := h.store.GetClient(ctx, id); r.StatusCode != http.StatusSeeOther || c.Name != "Web App" || len(c.GrantTypes) != 1 {
			t.Errorf("edit of a self-registered client: %d %+v", r.StatusCode, c)
		}
		if r := h.post("/dashboard/clients/"+id, "/dashboard/clients/"+id+"/rotate-secret", url.Values{}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("rotate: %d", r.StatusCode)
		}
		if evs := admAudit(t, h, "client.secret_rotated"); len(evs) != 0 {
			t.Error("the secret of a self-registered client was rotated")
		}

		// Promote.
		if r := h.post("/dashboard/clients/"+id, "/dashboard/clients/"+id+"/promote", url.Values{}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("promote: %d", r.StatusCode)
		}
		c, err := h.store.GetClient(ctx, id)
		if err != nil || c.Registration != "" || c.RegistrationTokenHash != nil {
			t.Fatalf("promoted: %v %+v", err, c)
		}
		if r, _ := anon.sendJSON(http.MethodGet, registerPath+"/"+id, "", bearer(tok)...); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("registration token after promotion: %d", r.StatusCode)
		}
		if evs := admAudit(t, h, "client.promoted"); len(evs) != 1 || evs[0].Target != id || evs[0].Actor != "root" {
			t.Errorf("audit %+v", evs)
		}
		detail = h.get("/dashboard/clients/" + id)
		if !strings.Contains(detail.body, `id="settings-title"`) || strings.Contains(detail.body, "Promote to a verified client") {
			t.Error("the promoted client's page")
		}

		// Delete the other one from the dashboard.
		bid := b["client_id"].(string)
		if r := h.post("/dashboard/clients/"+bid+"/delete", "/dashboard/clients/"+bid+"/delete", url.Values{}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("delete: %d", r.StatusCode)
		}
		if _, err := h.store.GetClient(ctx, bid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted: %v", err)
		}

		// Developers: no panel, no token, no promotion.
		dev := h.browser(t)
		admSignIn(t, dev, "dev", models.RoleDeveloper)
		if strings.Contains(dev.get("/dashboard/clients").body, "Dynamic client registration") {
			t.Error("a developer sees the registration panel")
		}
		if r := dev.post("/dashboard/clients", "/dashboard/clients/registration-token", url.Values{}); r.StatusCode != http.StatusForbidden {
			t.Errorf("developer token: %d", r.StatusCode)
		}
	})
}

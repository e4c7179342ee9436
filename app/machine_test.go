package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// Machine scopes (SPEC.md §7.1, RFC-CHECKLIST rule 51) through HTTP: the
// attacks of issue 14 item 2 on tokens without a user.

// machineScopes defines, as an admin would, the machine scopes
// files.write (PUT /files/*) and billing.write (POST /billing/*), and a
// scope admin.panel (any method on /admin/*) that is not one.
func machineScopes(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	for _, sc := range []*models.Scope{
		{ScopeID: "files.write", Name: "Write files", ResourcePath: "/files/*", Method: "PUT", Machine: true},
		{ScopeID: "billing.write", Name: "Write invoices", ResourcePath: "/billing/*", Method: "POST", Machine: true},
		{ScopeID: "admin.panel", Name: "Admin panel", ResourcePath: "/admin/*", Method: "*"},
	} {
		if err := h.store.CreateScope(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
}

// giveMachine makes the scopes machine scopes (creating them, guarding
// GET /<id>/*, when they do not exist) and sets the client's list to
// them, as an admin would.
func giveMachine(t *testing.T, h *harness, clientID string, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		err := h.store.UpdateScope(ctx, id, func(sc *models.Scope) error { sc.Machine = true; return nil })
		if err != nil {
			if err := h.store.CreateScope(ctx, &models.Scope{ScopeID: id, Name: id, ResourcePath: "/" + id + "/*", Method: "GET", Machine: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := h.store.UpdateClient(ctx, clientID, func(c *models.Client) error { c.Scopes = ids; return nil }); err != nil {
		t.Fatal(err)
	}
}

// machineClient registers, as an admin, a confidential client with client
// credentials and the machine scope jobs.run (created when missing), and
// returns its ID and secret.
func machineClient(t *testing.T, h *harness) (string, string) {
	t.Helper()
	c, sec, errs, err := clients.Create(context.Background(), h.store, clients.Input{Name: "Batch service",
		GrantTypes: []string{oauth.GrantClientCredentials}}, nil)
	if err != nil {
		t.Fatal(err, errs)
	}
	giveMachine(t, h, c.ClientID, "jobs.run")
	return c.ClientID, sec
}

// tokenAs posts a token request authenticated with HTTP Basic.
func tokenAs(h *harness, id, sec string, form url.Values) (*response, map[string]any) {
	h.t.Helper()
	r := h.do(http.MethodPost, "/oauth/token", form, "Authorization",
		"Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec))))
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return r, m
}

// forwardAuth asks {P}/verify whether token may make request method uri.
func forwardAuth(h *harness, token, method, uri string) *response {
	h.t.Helper()
	return h.do(http.MethodGet, "/oauth/verify", nil, "X-Forwarded-Method", method, "X-Forwarded-Uri", uri, "Authorization", "Bearer "+token)
}

// Attack (a): a developer's confidential client with client credentials
// and an empty scope list asked for admin.panel and files.write and got a
// token that passed {P}/verify. Now: no scope that is not a machine scope
// the client lists; the token without scope passes nothing.
func TestMachineAttack_EmptyListClientCredentialsGetsNothing(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		machineScopes(t, h)
		signInAs(t, h, "dev", models.RoleDeveloper)
		id, sec := h.createClient(clientForm(func(v url.Values) {
			v["grant_types"] = []string{"client_credentials"}
			v.Del("scopes")
			v.Set("redirect_uris", "")
		}))
		for _, scope := range []string{"admin.panel", "admin.panel files.write", "files.write", "user.read", "openid"} {
			r, m := tokenAs(h, id, sec, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
			if r.StatusCode != http.StatusBadRequest || m["error"] != "invalid_scope" || m["error_description"] == "" {
				t.Fatalf("scope %q: %d %v, want invalid_scope", scope, r.StatusCode, m)
			}
		}
		r, m := tokenAs(h, id, sec, url.Values{"grant_type": {"client_credentials"}})
		if r.StatusCode != http.StatusOK || m["scope"] != nil {
			t.Fatalf("without scope: %d %v, want a token without scope", r.StatusCode, m)
		}
		at := m2s(t, m, "access_token")
		if st, err := h.store.GetToken(context.Background(), secret.Digest(at)); err != nil || st.Scope != "" || st.UserID != nil {
			t.Fatalf("stored token %+v %v", st, err)
		}
		for _, req := range [][2]string{{"GET", "/admin/users"}, {"PUT", "/files/a.txt"}, {"GET", "/api/user"}} {
			if r := forwardAuth(h, at, req[0], req[1]); r.StatusCode != http.StatusForbidden {
				t.Errorf("verify %s %s: %d, want 403", req[0], req[1], r.StatusCode)
			}
		}
	})
}

// Rule 51 through HTTP: a client_credentials token never carries a scope
// without the machine flag nor one the client does not list, whatever
// the request; refused requests say why.
func TestRule51_ClientCredentialsTokens(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		machineScopes(t, h)
		if err := h.store.UpdateClient(context.Background(), f.confID, func(c *models.Client) error {
			c.Scopes = []string{"files.write", "admin.panel", "openid", "user.read"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		machine := map[string]bool{"files.write": true, "billing.write": true}
		for _, c := range []struct{ scope, want, why string }{
			{"", "files.write", ""},
			{"files.write", "files.write", ""},
			{"admin.panel", "", "not a machine scope"},
			{"user.read", "", "not a machine scope"},
			{"openid files.write", "", "not a machine scope"},
			{"billing.write", "", "not listed for this client"},
			{"nope", "", "unknown scope"},
		} {
			form := url.Values{"grant_type": {"client_credentials"}}
			if c.scope != "" {
				form.Set("scope", c.scope)
			}
			r, m := f.token(form, true)
			if c.why != "" {
				desc, _ := m["error_description"].(string)
				if r.StatusCode != http.StatusBadRequest || m["error"] != "invalid_scope" || !strings.Contains(desc, c.why) {
					t.Errorf("scope %q: %d %v, want invalid_scope saying %q", c.scope, r.StatusCode, m, c.why)
				}
				continue
			}
			if r.StatusCode != http.StatusOK || m["scope"] != c.want {
				t.Errorf("scope %q: %d %v, want %q", c.scope, r.StatusCode, m, c.want)
				continue
			}
			st, err := h.store.GetToken(context.Background(), secret.Digest(m2s(t, m, "access_token")))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range strings.Fields(st.Scope) {
				if !machine[s] {
					t.Errorf("stored client-credentials token carries %q", s)
				}
			}
		}
	})
}

// Attack (e): token exchange of a client-credentials token cannot get a
// scope that is not a machine scope the client lists, even from a token
// issued before the upgrade that carries one.
func TestMachineAttack_TokenExchangeOfClientCredentialsToken(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		f := newOAuthFixture(t, h)
		machineScopes(t, h)
		if err := h.store.UpdateClient(ctx, f.confID, func(c *models.Client) error {
			c.Scopes = []string{"files.write", "admin.panel"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		exchange := func(subject, scope string) (*response, map[string]any) {
			v := url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {oauth.TokenTypeAccessToken}}
			if scope != "" {
				v.Set("scope", scope)
			}
			return f.token(v, true)
		}
		_, m := f.token(url.Values{"grant_type": {"client_credentials"}}, true)
		cc := m2s(t, m, "access_token")
		if r, m := exchange(cc, "admin.panel"); r.StatusCode != http.StatusBadRequest || m["error"] != "invalid_scope" {
			t.Fatalf("exchange for admin.panel: %d %v", r.StatusCode, m)
		}
		// A token from before the upgrade, carrying admin.panel.
		legacy := oauth.RandomGenerator{}.AccessToken()
		if err := h.store.CreateTokens(ctx, &models.Token{TokenHash: secret.Digest(legacy), Kind: models.TokenAccess, ClientID: f.confID,
			Scope: "admin.panel files.write", FamilyID: "legacy", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if r, m := exchange(legacy, "admin.panel"); r.StatusCode != http.StatusBadRequest || m["error"] != "invalid_scope" {
			t.Fatalf("legacy exchange for admin.panel: %d %v", r.StatusCode, m)
		}
		r, m := exchange(legacy, "")
		if r.StatusCode != http.StatusOK || m["scope"] != "files.write" {
			t.Fatalf("legacy exchange: %d %v", r.StatusCode, m)
		}
		at := m2s(t, m, "access_token")
		if r := forwardAuth(h, at, "GET", "/admin/users"); r.StatusCode != http.StatusForbidden {
			t.Fatalf("exchanged token at /admin: %d", r.StatusCode)
		}
		if r := forwardAuth(h, at, "PUT", "/files/a"); r.StatusCode != http.StatusOK {
			t.Fatalf("exchanged token at /files: %d", r.StatusCode)
		}
	})
}

// gatehouse scopes create --machine; the command line acts as an admin,
// so it may register a client with client credentials and that scope.
func TestCLIMachineScope(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.SQLiteURL(t)
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL}
	if r := runCLI(env, "", "scopes", "create", "--id", "jobs.run", "--name", "Run jobs", "--machine", "--method", "POST", "--path", "/jobs/*"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	if r := runCLI(env, "", "scopes", "list"); !regexp.MustCompile(`(?m)^jobs\.run +POST /jobs/\* +machine +- +Run jobs$`).MatchString(r.stdout) ||
		regexp.MustCompile(`(?m)^user\.read .*machine`).MatchString(r.stdout) {
		t.Fatalf("list:\n%s", r.stdout)
	}
	r := runCLI(env, "", "clients", "create", "--name", "Batch", "--grant-type", "client_credentials", "--scope", "jobs.run", "--json")
	if r.code != 0 {
		t.Fatalf("clients create: %+v", r)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, dbURL, nil)
	if r, m := tokenAs(h, out["client_id"], out["client_secret"], url.Values{"grant_type": {"client_credentials"}}); r.StatusCode != http.StatusOK || m["scope"] != "jobs.run" {
		t.Fatalf("token: %d %v", r.StatusCode, m)
	}
}

// A client-credentials token issued before the upgrade carrying a scope
// that is not a machine scope (admin.panel) opens nothing with it at
// {P}/verify; its machine scope still works, until an admin takes that
// scope's flag away (rule 51 at use).
func TestRule51_LegacyClientCredentialsTokenAtVerify(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		machineScopes(t, h)
		ctx := context.Background()
		legacy := "gha_legacy-client-credentials-token-from-before-the-upgrade"
		now := time.Now()
		if err := h.store.CreateTokens(ctx, &models.Token{TokenHash: secret.Digest(legacy), Kind: models.TokenAccess, ClientID: f.confID,
			Scope: "admin.panel files.write", FamilyID: "legacy-family", ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if r := forwardAuth(h, legacy, "GET", "/admin/users"); r.StatusCode != http.StatusForbidden {
			t.Fatalf("legacy token with admin.panel at verify: %d, want 403", r.StatusCode)
		}
		if r := forwardAuth(h, legacy, "PUT", "/files/a.txt"); r.StatusCode != http.StatusOK || r.Header.Get("X-Gatehouse-Scope") != "files.write" {
			t.Fatalf("legacy token with files.write at verify: %d %q", r.StatusCode, r.Header.Get("X-Gatehouse-Scope"))
		}
		r := h.do(http.MethodPost, "/oauth/introspect", url.Values{"token": {legacy}}, "Authorization",
			"Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec))))
		var in map[string]any
		_ = json.Unmarshal([]byte(r.body), &in)
		if in["active"] != true || in["scope"] != "files.write" {
			t.Fatalf("introspection of the legacy token: %d %s, want active with scope files.write only", r.StatusCode, r.body)
		}
		if err := h.store.UpdateScope(ctx, "files.write", func(sc *models.Scope) error { sc.Machine = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if r := forwardAuth(h, legacy, "PUT", "/files/a.txt"); r.StatusCode != http.StatusForbidden {
			t.Fatalf("after the machine flag was taken away: %d, want 403", r.StatusCode)
		}
	})
}

package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// Settings, clients, scopes and users are cached in each instance (see
// app/cache). These tests run two instances on one database (one SQLite
// file; one PostgreSQL schema) and change things through the first, or
// through the command line as another process would, and check that the
// very next request to the second instance obeys the change.

// twoInstances returns a fixture on instance A and a harness B on the
// same database, and the database URL.
func twoInstances(t *testing.T, dbURL string) (*oauthFixture, *harness) {
	t.Helper()
	a := newOAuthFixture(t, newHarness(t, dbURL, nil))
	b := newHarness(t, dbURL, nil)
	return a, b
}

// ccToken asks instance h for a client-credentials token of the fixture's
// confidential client (with secret sec).
func ccToken(t *testing.T, h *harness, id, sec string) (*response, map[string]any) {
	t.Helper()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))
	r := h.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", auth)
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return r, m
}

func apiUser(h *harness, token string) *response {
	return h.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+token)
}

func forEachDatabase(t *testing.T, fn func(t *testing.T, dbURL string)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) { fn(t, b.URL(t)) })
	}
}

func TestCacheSettingsChangeReachesOtherInstanceAndProcess(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		a, b := twoInstances(t, dbURL)
		// B caches the settings and the client.
		for i := 0; i < 2; i++ {
			if r, m := ccToken(t, b, a.confID, a.confSec); r.StatusCode != 200 || m["expires_in"] != 3600.0 {
				t.Fatalf("B before: %d %v", r.StatusCode, m)
			}
		}
		a.set("access_token_lifetime", "2m")
		if r, m := ccToken(t, b, a.confID, a.confSec); r.StatusCode != 200 || m["expires_in"] != 120.0 {
			t.Fatalf("B after A's change: %d %v", r.StatusCode, m)
		}
		// Another process: the command line.
		res := runCLI(map[string]string{"GATEHOUSE_DATABASE_URL": dbURL}, "", "settings", "set", "access_token_lifetime", "3m")
		if res.code != 0 {
			t.Fatalf("settings set: %+v", res)
		}
		for _, h := range []*harness{a.harness, b} {
			if r, m := ccToken(t, h, a.confID, a.confSec); r.StatusCode != 200 || m["expires_in"] != 180.0 {
				t.Fatalf("after the CLI's change: %d %v", r.StatusCode, m)
			}
		}
		// A setting checked on resources: the query-string token (of a
		// client-credentials token with user.read, a machine scope here).
		giveMachine(t, a.harness, a.confID, "user.read")
		a.set("allow_query_access_token", "true")
		access := m2s(t, ccTokenOK(t, b, a.confID, a.confSec), "access_token")
		verify := func() *response {
			return b.do(http.MethodGet, "/oauth/verify", nil, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/user?access_token="+access)
		}
		if r := verify(); r.StatusCode != http.StatusOK {
			t.Fatalf("query token while allowed: %d, want 200", r.StatusCode)
		}
		a.set("allow_query_access_token", "false")
		if r := verify(); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("query token accepted by B after A turned it off: %d", r.StatusCode)
		}
	})
}

func TestCacheClientChangeReachesOtherInstance(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		a, b := twoInstances(t, dbURL)
		ctx := context.Background()
		ccTokenOK(t, b, a.confID, a.confSec)
		// A new secret: the old one stops working on B at once.
		newSec := "new-secret-" + base64.RawURLEncoding.EncodeToString(secret.Random(16))
		if err := a.store.UpdateClient(ctx, a.confID, func(c *models.Client) error { c.SecretHash = secret.Digest(newSec); return nil }); err != nil {
			t.Fatal(err)
		}
		if r, m := ccToken(t, b, a.confID, a.confSec); r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Fatalf("old secret on B: %d %v", r.StatusCode, m)
		}
		ccTokenOK(t, b, a.confID, newSec)
		// A grant type taken away.
		if err := a.store.UpdateClient(ctx, a.confID, func(c *models.Client) error {
			c.GrantTypes = []string{oauth.GrantAuthorizationCode}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if r, m := ccToken(t, b, a.confID, newSec); r.StatusCode != http.StatusBadRequest || m["error"] != "unauthorized_client" {
			t.Fatalf("grant removed: %d %v", r.StatusCode, m)
		}
		// B served both refused requests speculatively (client-credentials
		// issuance runs on the last counters it read, alongside a fresh
		// read): each issued a token on the stale client, found the change,
		// revoked the token unsent and answered from the state in force.
		// Only the two tokens actually sent are live.
		var live, revoked int64
		db := a.store.DB().Model(&models.Token{})
		if err := db.Where("client_id = ? AND revoked_at IS NULL", a.confID).Count(&live).Error; err != nil {
			t.Fatal(err)
		}
		if err := a.store.DB().Model(&models.Token{}).Where("client_id = ? AND revoked_at IS NOT NULL", a.confID).Count(&revoked).Error; err != nil {
			t.Fatal(err)
		}
		if live != 2 || revoked != 2 {
			t.Errorf("tokens of the client: %d live (want 2, the ones sent), %d revoked (want 2, the speculative ones)", live, revoked)
		}
		// Deleted.
		if err := a.store.DeleteClient(ctx, a.confID); err != nil {
			t.Fatal(err)
		}
		if r, m := ccToken(t, b, a.confID, newSec); r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Fatalf("deleted client on B: %d %v", r.StatusCode, m)
		}
	})
}

func TestCacheUserAndScopeChangesReachOtherInstance(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		a, b := twoInstances(t, dbURL)
		ctx := context.Background()
		a.signIn()
		access, _ := a.refreshPair("user.read")
		if r := apiUser(b, access); r.StatusCode != 200 {
			t.Fatalf("B /api/user: %d %s", r.StatusCode, r.body)
		}
		// Disabled on A: refused on B on the next request, and back.
		setDisabled := func(v bool) {
			t.Helper()
			if err := a.store.UpdateUser(ctx, a.user.ID, func(u *models.User) error { u.Disabled = v; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		setDisabled(true)
		if r := apiUser(b, access); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("disabled user's token on B: %d %s", r.StatusCode, r.body)
		}
		setDisabled(false)
		if r := apiUser(b, access); r.StatusCode != 200 {
			t.Fatalf("re-enabled user's token on B: %d %s", r.StatusCode, r.body)
		}
		// A user's profile change shows at once.
		if err := a.store.UpdateUser(ctx, a.user.ID, func(u *models.User) error { u.Role = models.RoleDeveloper; return nil }); err != nil {
			t.Fatal(err)
		}
		if r := apiUser(b, access); r.StatusCode != 200 || !jsonHas(r.body, "role", "developer") {
			t.Fatalf("role change not seen by B: %d %s", r.StatusCode, r.body)
		}
		// The scope now guards another path: /api/user is forbidden.
		if err := a.store.UpdateScope(ctx, "user.read", func(s *models.Scope) error { s.ResourcePath = "/api/other"; return nil }); err != nil {
			t.Fatal(err)
		}
		if r := apiUser(b, access); r.StatusCode != http.StatusForbidden {
			t.Fatalf("scope change not seen by B: %d %s", r.StatusCode, r.body)
		}
		if err := a.store.UpdateScope(ctx, "user.read", func(s *models.Scope) error { s.ResourcePath = "/api/user"; return nil }); err != nil {
			t.Fatal(err)
		}
		if r := apiUser(b, access); r.StatusCode != 200 {
			t.Fatalf("scope restored: %d %s", r.StatusCode, r.body)
		}
		// Revoked on A: refused on B at once (B cached the token; the
		// revocation moved the tokens counter).
		if err := a.store.RevokeToken(ctx, secret.Digest(access), time.Now()); err != nil {
			t.Fatal(err)
		}
		if r := apiUser(b, access); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("revoked token on B: %d %s", r.StatusCode, r.body)
		}
		// Deleted user: their other tokens die with them.
		access2, _ := a.refreshPair("user.read")
		if r := apiUser(b, access2); r.StatusCode != 200 {
			t.Fatalf("second token: %d", r.StatusCode)
		}
		if err := a.store.DeleteUser(ctx, a.user.ID); err != nil {
			t.Fatal(err)
		}
		if r := apiUser(b, access2); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("deleted user's token on B: %d %s", r.StatusCode, r.body)
		}
	})
}

// TestCacheCountersMoveWithEveryChange checks the triggers behind the
// caches: every kind of write to a cached table moves its counter, and
// only its own.
func TestCacheCountersMoveWithEveryChange(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		f := newOAuthFixture(t, newHarness(t, dbURL, nil))
		ctx := context.Background()
		st := f.store
		before, err := st.CacheVersions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// step checks that write moves the counter field returns, and no
		// other (but Tokens when cascade is set: deleting a client or user
		// deletes its tokens).
		step := func(name string, field func(v cache.Vector) int64, write func() error, cascade ...bool) {
			t.Helper()
			old, err := st.CacheVersions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := write(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			now, err := st.CacheVersions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if field(now) <= field(old) {
				t.Errorf("%s: counter did not move (%d -> %d)", name, field(old), field(now))
			}
			changed := 0
			for _, g := range []func(cache.Vector) int64{
				func(v cache.Vector) int64 { return v.Settings }, func(v cache.Vector) int64 { return v.Clients },
				func(v cache.Vector) int64 { return v.Scopes }, func(v cache.Vector) int64 { return v.Users },
				func(v cache.Vector) int64 { return v.Keys }, func(v cache.Vector) int64 { return v.Tokens },
			} {
				if g(now) != g(old) {
					changed++
				}
			}
			if len(cascade) > 0 && now.Tokens != old.Tokens {
				changed--
			}
			if changed != 1 {
				t.Errorf("%s: %d counters moved, want 1 (%+v -> %+v)", name, changed, old, now)
			}
		}
		settingsF := func(v cache.Vector) int64 { return v.Settings }
		clientsF := func(v cache.Vector) int64 { return v.Clients }
		scopesF := func(v cache.Vector) int64 { return v.Scopes }
		usersF := func(v cache.Vector) int64 { return v.Users }
		keysF := func(v cache.Vector) int64 { return v.Keys }
		step("setting", settingsF, func() error { return st.SetSetting(ctx, "enforce_state", "false") })
		step("setting again", settingsF, func() error { return st.SetSetting(ctx, "enforce_state", "true") })
		step("client update", clientsF, func() error {
			return st.UpdateClient(ctx, f.pubID, func(c *models.Client) error { c.Name = "Renamed"; return nil })
		})
		step("client delete", clientsF, func() error { return st.DeleteClient(ctx, f.pubID) }, true)
		step("scope create", scopesF, func() error {
			return st.CreateScope(ctx, &models.Scope{ScopeID: "notes.read", Name: "Notes"})
		})
		step("scope delete", scopesF, func() error { return st.DeleteScope(ctx, "notes.read") })
		step("user update", usersF, func() error {
			return st.UpdateUser(ctx, f.user.ID, func(u *models.User) error { u.Name = "Alice"; return nil })
		})
		step("signing key", keysF, func() error {
			return st.DB().Exec("INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at) VALUES ('k1', 'RS256', ?, '{}', ?)",
				[]byte{1}, time.Now().UTC()).Error
		})
		// Issuing tokens, the hot path, moves nothing; revoking one moves
		// the tokens counter.
		old, _ := st.CacheVersions(ctx)
		tok := &models.Token{TokenHash: secret.Random(32), Kind: models.TokenAccess, ClientID: f.confID,
			FamilyID: "f", ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.CreateTokens(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if now, _ := st.CacheVersions(ctx); now != old {
			t.Errorf("a token insert moved the counters: %+v -> %+v", old, now)
		}
		tokensF := func(v cache.Vector) int64 { return v.Tokens }
		step("token revoked", tokensF, func() error { return st.RevokeToken(ctx, tok.TokenHash, time.Now()) })
		tok2 := &models.Token{TokenHash: secret.Random(32), Kind: models.TokenAccess, ClientID: f.confID,
			FamilyID: "f2", ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.CreateTokens(ctx, tok2); err != nil {
			t.Fatal(err)
		}
		step("token family revoked", tokensF, func() error { _, err := st.RevokeFamily(ctx, "f2", time.Now()); return err })
		if before == (cache.Vector{}) {
			t.Errorf("counters start at zero: %+v", before)
		}
	})
}

func ccTokenOK(t *testing.T, h *harness, id, sec string) map[string]any {
	t.Helper()
	r, m := ccToken(t, h, id, sec)
	if r.StatusCode != 200 {
		t.Fatalf("token: %d %v", r.StatusCode, m)
	}
	return m
}

func m2s(t *testing.T, m map[string]any, k string) string {
	t.Helper()
	s, ok := m[k].(string)
	if !ok || s == "" {
		t.Fatalf("no %s in %v", k, m)
	}
	return s
}

func jsonHas(body, key, want string) bool {
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) != nil {
		return false
	}
	return m[key] == want
}

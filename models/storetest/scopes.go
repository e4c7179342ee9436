package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testScopeCRUD(t *testing.T, s *models.Store) {
	ctx := t.Context()
	seeded := []string{"email", "offline_access", "openid", "profile", "user.read"}
	list, err := s.ListScopes(ctx)
	ok(t, err)
	eq(t, "seeded scopes", pluck(list, func(sc models.Scope) string { return sc.ScopeID }), seeded)
	for _, sc := range list {
		eq(t, "built-in scope "+sc.ScopeID+" is a machine scope", sc.Machine, false)
	}
	n, err := s.CountScopes(ctx)
	ok(t, err)
	eq(t, "CountScopes", n, int64(5))

	sc := &models.Scope{ScopeID: "api.write", Name: "Write", Description: "{client_name} écrit pour {user}",
		Icon: "fa-solid fa-pen", ResourcePath: "/api/*", Method: "POST", IsDefault: true, Machine: true}
	ok(t, s.CreateScope(ctx, sc))
	got, err := s.GetScope(ctx, "api.write")
	ok(t, err)
	eq(t, "scope", *got, *sc)
	isErr(t, s.CreateScope(ctx, &models.Scope{ScopeID: "openid", Name: "dup"}), store.ErrAlreadyExists)

	ok(t, s.UpdateScope(ctx, "api.write", func(x *models.Scope) error {
		x.IsDefault = false
		x.Machine = false
		x.Method = ""
		x.ResourcePath = ""
		x.Name = "Write things"
		return nil
	}))
	got, err = s.GetScope(ctx, "api.write")
	ok(t, err)
	eq(t, "IsDefault", got.IsDefault, false)
	eq(t, "Machine", got.Machine, false)
	eq(t, "Method", got.Method, "")
	eq(t, "ResourcePath", got.ResourcePath, "")
	eq(t, "Name", got.Name, "Write things")
	boom := errors.New("boom")
	isErr(t, s.UpdateScope(ctx, "api.write", func(x *models.Scope) error { x.Name = "never"; return boom }), boom)
	if err := s.UpdateScope(ctx, "api.write", func(x *models.Scope) error { x.ScopeID = "x"; return nil }); err == nil {
		t.Error("UpdateScope changed the scope ID")
	}
	got, err = s.GetScope(ctx, "api.write")
	ok(t, err)
	eq(t, "Name", got.Name, "Write things")
	isErr(t, s.UpdateScope(ctx, "nope", func(*models.Scope) error { return nil }), store.ErrNotFound)

	ok(t, s.DeleteScope(ctx, "api.write"))
	_, err = s.GetScope(ctx, "api.write")
	isErr(t, err, store.ErrNotFound)
	isErr(t, s.DeleteScope(ctx, "api.write"), store.ErrNotFound)
}

func testScopeUsage(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "c1", nil, withScopes("openid", "offline_access"))
	newClient(t, s, "c2", nil, withScopes("offline_access"))
	newClient(t, s, "c3", nil, withScopes("offlineXaccess", "offline_access_plus"))
	newClient(t, s, "c4", nil, withScopes())
	exp := now().Add(time.Hour)
	tok := func(name, scope string, mods ...func(*models.Token)) *models.Token {
		tk := newToken(name, models.TokenAccess, "c1", &u.ID, "f", exp)
		tk.Scope = scope
		for _, m := range mods {
			m(tk)
		}
		return tk
	}
	revoked := now()
	ok(t, s.CreateTokens(ctx,
		tok("t1", "offline_access"),
		tok("t2", "openid offline_access profile"),
		tok("t3", "openid  offline_access"),
		tok("t4", "offline_access_plus offlineXaccess OFFLINE_ACCESS"),
		tok("t5", "offline_access", func(tk *models.Token) { tk.RevokedAt = &revoked }),
		tok("t6", "offline_access", func(tk *models.Token) { tk.ExpiresAt = now().Add(-time.Second) }),
	))
	clients, active, err := s.ScopeUsage(ctx, "offline_access")
	ok(t, err)
	eq(t, "clients", clients, int64(2))
	eq(t, "active tokens", active, int64(3))
	clients, active, err = s.ScopeUsage(ctx, "profile")
	ok(t, err)
	eq(t, "clients (profile)", clients, int64(0))
	eq(t, "active tokens (profile)", active, int64(1))
	clients, active, err = s.ScopeUsage(ctx, "unused")
	ok(t, err)
	eq(t, "usage of unused", [2]int64{clients, active}, [2]int64{0, 0})
}

func testDeleteScopeDetached(t *testing.T, s *models.Store) {
	ctx := t.Context()
	for _, id := range []string{"docs.read", "docs.write"} {
		ok(t, s.CreateScope(ctx, &models.Scope{ScopeID: id, Name: id}))
	}
	newClient(t, s, "both", nil, withScopes("openid", "docs.read", "docs.write"))
	newClient(t, s, "only", nil, withScopes("docs.read"))
	newClient(t, s, "lookalike", nil, withScopes("docs.readX", "docs"))
	newClient(t, s, "any", nil, withScopes())

	only, err := s.ClientsLimitedToScope(ctx, "docs.read")
	ok(t, err)
	if len(only) != 1 || only[0].ClientID != "only" {
		t.Fatalf("ClientsLimitedToScope = %+v, want [only]", only)
	}
	only, err = s.ClientsLimitedToScope(ctx, "docs.write")
	ok(t, err)
	eq(t, "limited to docs.write", len(only), 0)

	// docs.read is the only scope of "only": refused, nothing changed.
	_, err = s.DeleteScopeDetached(ctx, "docs.read")
	var inUse *models.ScopeInUseError
	if !errors.As(err, &inUse) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete sole scope: %v, want *ScopeInUseError", err)
	}
	eq(t, "clients limited", inUse.Clients, []string{"only"})
	_, err = s.GetScope(ctx, "docs.read")
	ok(t, err)
	c, err := s.GetClient(ctx, "both")
	ok(t, err)
	eq(t, "scopes after refusal", c.Scopes, []string{"openid", "docs.read", "docs.write"})

	before := c.UpdatedAt
	time.Sleep(2 * time.Millisecond)
	n, err := s.DeleteScopeDetached(ctx, "docs.write")
	ok(t, err)
	eq(t, "clients changed", n, int64(1))
	_, err = s.GetScope(ctx, "docs.write")
	isErr(t, err, store.ErrNotFound)
	c, err = s.GetClient(ctx, "both")
	ok(t, err)
	eq(t, "scopes after delete", c.Scopes, []string{"openid", "docs.read"})
	if !c.UpdatedAt.After(before) {
		t.Errorf("UpdatedAt %v not after %v", c.UpdatedAt, before)
	}
	c, err = s.GetClient(ctx, "lookalike")
	ok(t, err)
	eq(t, "lookalike untouched", c.Scopes, []string{"docs.readX", "docs"})
	c, err = s.GetClient(ctx, "any")
	ok(t, err)
	eq(t, "unrestricted untouched", c.Scopes, []string{})

	// Once "only" has another scope, docs.read can go.
	ok(t, s.UpdateClient(ctx, "only", func(c *models.Client) error { c.Scopes = append(c.Scopes, "openid"); return nil }))
	n, err = s.DeleteScopeDetached(ctx, "docs.read")
	ok(t, err)
	eq(t, "clients changed", n, int64(2))
	c, err = s.GetClient(ctx, "only")
	ok(t, err)
	eq(t, "only's scopes", c.Scopes, []string{"openid"})
	_, err = s.DeleteScopeDetached(ctx, "docs.read")
	isErr(t, err, store.ErrNotFound)
}

// testScopeClientUsage: clients with an empty scope list may ask for any
// scope, so they count for every scope.
func testScopeClientUsage(t *testing.T, s *models.Store) {
	ctx := t.Context()
	use, err := s.ScopeClientUsage(ctx, "docs.read")
	ok(t, err)
	eq(t, "usage without clients", use, models.ScopeClientUse{})

	newClient(t, s, "any1", nil, withScopes())
	newClient(t, s, "any2", nil, func(c *models.Client) { c.Scopes = nil })
	// A JSON null, as a client written by hand might hold, is no list either.
	ok(t, s.DB().Exec(`UPDATE clients SET scopes = 'null' WHERE client_id = ?`, "any2").Error)
	use, err = s.ScopeClientUsage(ctx, "docs.read")
	ok(t, err)
	eq(t, "usage by any-scope clients", use, models.ScopeClientUse{AnyScope: 2})
	eq(t, "total", use.Total(), int64(2))

	newClient(t, s, "both", nil, withScopes("openid", "docs.read"))
	newClient(t, s, "only", nil, withScopes("docs.read"))
	newClient(t, s, "lookalike", nil, withScopes("docs.readX", "docs"))
	use, err = s.ScopeClientUsage(ctx, "docs.read")
	ok(t, err)
	eq(t, "usage", use, models.ScopeClientUse{Listed: 2, AnyScope: 2})
	use, err = s.ScopeClientUsage(ctx, "unknown")
	ok(t, err)
	eq(t, "usage of an unlisted scope", use, models.ScopeClientUse{AnyScope: 2})
	listing, err := s.ClientsListingScope(ctx, "docs.read")
	ok(t, err)
	eq(t, "ClientsListingScope", pluck(listing, func(c models.Client) string { return c.ClientID }), []string{"both", "only"})

	// A client given a list no longer counts as any-scope.
	ok(t, s.UpdateClient(ctx, "any1", func(c *models.Client) error { c.Scopes = []string{"profile"}; return nil }))
	use, err = s.ScopeClientUsage(ctx, "docs.read")
	ok(t, err)
	eq(t, "usage after any1 got a list", use, models.ScopeClientUse{Listed: 2, AnyScope: 1})
}

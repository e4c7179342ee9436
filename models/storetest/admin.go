package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// adminTests cover the store methods of the admin dashboard and the
// authorized-apps page (models/store_admin.go).
var adminTests = []Test{
	{"Admin/KeepLastAdmin", testKeepLastAdmin},
	{"Admin/KeepLastAdminConcurrent", testKeepLastAdminConcurrent},
	{"Admin/DeleteScopeDetached", testDeleteScopeDetached},
	{"Admin/ScopeClientUsage", testScopeClientUsage},
	{"Admin/GetClientsByID", testGetClientsByID},
	{"Admin/RevokeApp", testRevokeApp},
}

func admin(u *models.User) { u.Role = models.RoleAdmin }

func testKeepLastAdmin(t *testing.T, s *models.Store) {
	ctx := t.Context()
	a := newUser(t, s, "a1", admin)
	off := newUser(t, s, "a-off", admin, func(u *models.User) { u.Disabled = true })
	dev := newUser(t, s, "dev", func(u *models.User) { u.Role = models.RoleDeveloper })

	demote := func(u *models.User) error { u.Role = models.RoleUser; return nil }
	disable := func(u *models.User) error { u.Disabled = true; return nil }
	isErr(t, s.UpdateUserKeepingAdmin(ctx, a.ID, demote), models.ErrLastAdmin)
	isErr(t, s.UpdateUserKeepingAdmin(ctx, a.ID, disable), store.ErrConflict)
	got := mustUser(t, s, "a1")
	eq(t, "role after refused demotion", got.Role, models.RoleAdmin)
	eq(t, "disabled after refused disabling", got.Disabled, false)

	// Changes that keep the admin, or concern others, go through.
	ok(t, s.UpdateUserKeepingAdmin(ctx, a.ID, func(u *models.User) error { u.Name = "Root"; return nil }))
	eq(t, "name", mustUser(t, s, "a1").Name, "Root")
	ok(t, s.UpdateUserKeepingAdmin(ctx, dev.ID, disable))
	ok(t, s.UpdateUserKeepingAdmin(ctx, off.ID, demote)) // a disabled admin does not count
	boom := errors.New("boom")
	isErr(t, s.UpdateUserKeepingAdmin(ctx, dev.ID, func(*models.User) error { return boom }), boom)
	isErr(t, s.UpdateUserKeepingAdmin(ctx, 99999, demote), store.ErrNotFound)

	// With a second enabled admin, the first may go.
	b := newUser(t, s, "a2", admin)
	ok(t, s.UpdateUserKeepingAdmin(ctx, a.ID, demote))
	isErr(t, s.UpdateUserKeepingAdmin(ctx, b.ID, disable), models.ErrLastAdmin)
	// Enabling a disabled admin makes two again.
	ok(t, s.UpdateUserKeepingAdmin(ctx, off.ID, func(u *models.User) error { u.Role = models.RoleAdmin; u.Disabled = false; return nil }))
	ok(t, s.UpdateUserKeepingAdmin(ctx, b.ID, disable))
	n, err := s.CountAdmins(ctx)
	ok(t, err)
	eq(t, "enabled admins", n, int64(1))
}

// testKeepLastAdminConcurrent demotes every admin at once: exactly one
// must stay.
func testKeepLastAdminConcurrent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	const n = 4
	var ids []int64
	for _, name := range []string{"a0", "a1", "a2", "a3"} {
		ids = append(ids, newUser(t, s, name, admin).ID)
	}
	errs := concurrently(n, func(i int) error {
		return s.UpdateUserKeepingAdmin(ctx, ids[i], func(u *models.User) error {
			if i%2 == 0 {
				u.Role = models.RoleDeveloper
			} else {
				u.Disabled = true
			}
			return nil
		})
	})
	refused := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, models.ErrLastAdmin):
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	eq(t, "refused", refused, 1)
	left, err := s.CountAdmins(ctx)
	ok(t, err)
	eq(t, "enabled admins left", left, int64(1))
}

// testScopeClientUsage: clients with an empty scope list may ask for any
// scope, so they count for every scope.
func testScopeClientUsage(t *testing.T, s *models.Store) {
	ctx := t.Context()
	withScopes := func(sc ...string) func(*models.Client) { return func(c *models.Client) { c.Scopes = sc } }
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
	var ids []string
	for _, c := range listing {
		ids = append(ids, c.ClientID)
	}
	eq(t, "ClientsListingScope", ids, []string{"both", "only"})

	// A client given a list no longer counts as any-scope.
	ok(t, s.UpdateClient(ctx, "any1", func(c *models.Client) error { c.Scopes = []string{"profile"}; return nil }))
	use, err = s.ScopeClientUsage(ctx, "docs.read")
	ok(t, err)
	eq(t, "usage after any1 got a list", use, models.ScopeClientUse{Listed: 2, AnyScope: 1})
}

func testDeleteScopeDetached(t *testing.T, s *models.Store) {
	ctx := t.Context()
	for _, id := range []string{"docs.read", "docs.write"} {
		ok(t, s.CreateScope(ctx, &models.Scope{ScopeID: id, Name: id}))
	}
	withScopes := func(sc ...string) func(*models.Client) { return func(c *models.Client) { c.Scopes = sc } }
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

func testGetClientsByID(t *testing.T, s *models.Store) {
	ctx := t.Context()
	newClient(t, s, "c1", nil, func(c *models.Client) { c.Name = "One"; c.Icon = "/icons/abc" })
	newClient(t, s, "c2", nil)
	newClient(t, s, "c3", nil)
	got, err := s.GetClientsByID(ctx, []string{"c1", "c3", "missing"})
	ok(t, err)
	eq(t, "found", len(got), 2)
	if got["c1"] == nil || got["c1"].Name != "One" || got["c1"].Icon != "/icons/abc" || got["c3"] == nil {
		t.Errorf("GetClientsByID = %+v", got)
	}
	got, err = s.GetClientsByID(ctx, nil)
	ok(t, err)
	eq(t, "none", len(got), 0)
}

func testRevokeApp(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	newClient(t, s, "app", nil)
	newClient(t, s, "other", nil)
	ok(t, s.UpsertConsent(ctx, u.ID, "app", "openid"))
	ok(t, s.UpsertConsent(ctx, u.ID, "other", "openid"))
	ok(t, s.UpsertConsent(ctx, v.ID, "app", "openid"))
	exp := now().Add(time.Hour)
	ok(t, s.CreateTokens(ctx,
		newToken("u-app-1", models.TokenAccess, "app", &u.ID, "f1", exp),
		newToken("u-app-2", models.TokenRefresh, "app", &u.ID, "f1", exp),
		newToken("u-other", models.TokenAccess, "other", &u.ID, "f2", exp),
		newToken("v-app", models.TokenAccess, "app", &v.ID, "f3", exp),
	))
	ok(t, s.CreateAuthorizationCode(ctx, newCode("u-code", "app", u.ID, exp)))
	ok(t, s.CreateAuthorizationCode(ctx, newCode("v-code", "app", v.ID, exp)))
	d := newDevice("u-dev", "AAAA-BBBB", "app", exp)
	ok(t, s.CreateDeviceCode(ctx, d))
	ok(t, s.UpdateDeviceCode(ctx, d.ID, func(x *models.DeviceCode) error {
		x.Status = models.DeviceApproved
		x.UserID = &u.ID
		return nil
	}))

	at := now()
	n, err := s.RevokeApp(ctx, u.ID, "app", at)
	ok(t, err)
	eq(t, "tokens revoked", n, int64(2))
	_, err = s.GetConsent(ctx, u.ID, "app")
	isErr(t, err, store.ErrNotFound)
	for _, name := range []string{"u-app-1", "u-app-2"} {
		tk, err := s.GetToken(ctx, sha(name))
		ok(t, err)
		sameTimePtr(t, name+" revoked", tk.RevokedAt, &at)
	}
	for _, name := range []string{"u-other", "v-app"} {
		tk, err := s.GetToken(ctx, sha(name))
		ok(t, err)
		if tk.RevokedAt != nil {
			t.Errorf("%s revoked", name)
		}
	}
	_, err = s.GetAuthorizationCode(ctx, sha("u-code"))
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetAuthorizationCode(ctx, sha("v-code"))
	ok(t, err)
	dev, err := s.GetDeviceCode(ctx, sha("u-dev"))
	ok(t, err)
	eq(t, "device status", dev.Status, models.DeviceDenied)
	_, err = s.GetConsent(ctx, u.ID, "other")
	ok(t, err)
	_, err = s.GetConsent(ctx, v.ID, "app")
	ok(t, err)

	// No consent: nothing changes.
	ok(t, s.CreateTokens(ctx, newToken("u-app-3", models.TokenAccess, "app", &u.ID, "f4", exp)))
	_, err = s.RevokeApp(ctx, u.ID, "app", now())
	isErr(t, err, store.ErrNotFound)
	tk, err := s.GetToken(ctx, sha("u-app-3"))
	ok(t, err)
	if tk.RevokedAt != nil {
		t.Error("RevokeApp without consent revoked a token")
	}
}

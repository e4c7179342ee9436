package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testClientCreateGet(t *testing.T, s *models.Store) {
	ctx := t.Context()
	owner := newUser(t, s, "dev")
	rotated := time.Date(2029, 2, 3, 4, 5, 6, 7000, zone)
	c := &models.Client{ClientID: "web-app", SecretHash: sha("secret"), SecretHint: "cret", Name: "Wébapp ✓",
		Description: "Ünïcödé 日本語 \"quoted\" <b>", Icon: "/icons/abc", Homepage: "https://app.example",
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1:8080/cb?x=1&y=\"2\"", "https://日本.example/コールバック"},
		GrantTypes:   []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile", "offline_access"},
		OwnerID: &owner.ID, SecretRotatedAt: &rotated}
	ok(t, s.CreateClient(ctx, c))
	if c.ID == 0 {
		t.Fatal("ID not set")
	}
	got, err := s.GetClient(ctx, "web-app")
	ok(t, err)
	eq(t, "client", *got, *c)
	sameTimePtr(t, "SecretRotatedAt", got.SecretRotatedAt, &rotated)

	// nil lists are stored as [] and read back empty, not nil
	p := &models.Client{ClientID: "public-app", Name: "Public", Public: true}
	ok(t, s.CreateClient(ctx, p))
	var raw []string
	ok(t, s.DB().Raw("SELECT CAST(redirect_uris AS TEXT) FROM clients WHERE client_id = ? UNION ALL "+
		"SELECT CAST(grant_types AS TEXT) FROM clients WHERE client_id = ? UNION ALL "+
		"SELECT CAST(scopes AS TEXT) FROM clients WHERE client_id = ?", "public-app", "public-app", "public-app").Scan(&raw).Error)
	eq(t, "stored lists", raw, []string{"[]", "[]", "[]"})
	got, err = s.GetClient(ctx, "public-app")
	ok(t, err)
	eq(t, "RedirectURIs", got.RedirectURIs, []string{})
	eq(t, "GrantTypes", got.GrantTypes, []string{})
	eq(t, "Scopes", got.Scopes, []string{})
	eq(t, "SecretHash", got.SecretHash, []byte(nil))
	if got.OwnerID != nil || got.SecretRotatedAt != nil {
		t.Errorf("OwnerID, SecretRotatedAt = %v, %v; want nil", got.OwnerID, got.SecretRotatedAt)
	}
	eq(t, "Public", got.Public, true)

	isErr(t, s.CreateClient(ctx, &models.Client{ClientID: "web-app", Name: "again"}), store.ErrAlreadyExists)
	_, err = s.GetClient(ctx, "nope")
	isErr(t, err, store.ErrNotFound)
}

func testClientUpdate(t *testing.T, s *models.Store) {
	ctx := t.Context()
	owner := newUser(t, s, "dev")
	rotated := now()
	c := newClient(t, s, "app", &owner.ID, func(c *models.Client) {
		c.Public = true
		c.Description = "desc"
		c.SecretHash = sha("s")
		c.SecretRotatedAt = &rotated
	})
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpdateClient(ctx, "app", func(x *models.Client) error {
		x.Public = false
		x.Description = ""
		x.SecretHash = nil
		x.SecretRotatedAt = nil
		x.OwnerID = nil
		x.RedirectURIs = nil
		x.GrantTypes = []string{}
		x.Scopes = []string{"openid", "émoji 🎉"}
		x.Name = "Renamed"
		return nil
	}))
	got, err := s.GetClient(ctx, "app")
	ok(t, err)
	eq(t, "Public", got.Public, false)
	eq(t, "Description", got.Description, "")
	eq(t, "SecretHash", got.SecretHash, []byte(nil))
	eq(t, "SecretRotatedAt", got.SecretRotatedAt, (*time.Time)(nil))
	eq(t, "OwnerID", got.OwnerID, (*int64)(nil))
	eq(t, "RedirectURIs", got.RedirectURIs, []string{})
	eq(t, "GrantTypes", got.GrantTypes, []string{})
	eq(t, "Scopes", got.Scopes, []string{"openid", "émoji 🎉"})
	eq(t, "Name", got.Name, "Renamed")
	sameTime(t, "CreatedAt", got.CreatedAt, c.CreatedAt)
	if !got.UpdatedAt.After(c.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, c.UpdatedAt)
	}

	boom := errors.New("boom")
	isErr(t, s.UpdateClient(ctx, "app", func(x *models.Client) error { x.Name = "never"; return boom }), boom)
	if err := s.UpdateClient(ctx, "app", func(x *models.Client) error { x.ClientID = "other"; return nil }); err == nil {
		t.Error("UpdateClient changed the client ID")
	}
	got, err = s.GetClient(ctx, "app")
	ok(t, err)
	eq(t, "Name", got.Name, "Renamed")
	isErr(t, s.UpdateClient(ctx, "nope", func(*models.Client) error { return nil }), store.ErrNotFound)
}

func testClientList(t *testing.T, s *models.Store) {
	ctx := t.Context()
	a := newUser(t, s, "a")
	b := newUser(t, s, "b")
	mk := func(id, name string, owner *int64) {
		newClient(t, s, id, owner, func(c *models.Client) { c.Name = name })
	}
	mk("z-1", "Zeta", &a.ID)
	mk("a-2", "Alpha", &a.ID)
	mk("a-1", "Alpha", &b.ID)
	mk("m-1", "Mobile App", nil)
	mk("photo-sync", "Beta", &b.ID)

	ids := func(cs []models.Client) []string {
		return pluck(cs, func(c models.Client) string { return c.ClientID })
	}
	cases := []struct {
		f     models.ClientFilter
		want  []string
		total int64
	}{
		{models.ClientFilter{}, []string{"a-1", "a-2", "photo-sync", "m-1", "z-1"}, 5},
		{models.ClientFilter{OwnerID: &a.ID}, []string{"a-2", "z-1"}, 2},
		{models.ClientFilter{OwnerID: &b.ID, Query: "PHOTO"}, []string{"photo-sync"}, 1},
		{models.ClientFilter{Query: "app"}, []string{"m-1"}, 1},
		{models.ClientFilter{Query: "ALP"}, []string{"a-1", "a-2"}, 2},
		{models.ClientFilter{Offset: 1, Limit: 3}, []string{"a-2", "photo-sync", "m-1"}, 5},
		{models.ClientFilter{OwnerID: ptr(int64(9999))}, []string{}, 0},
	}
	for _, c := range cases {
		got, total, err := s.ListClients(ctx, c.f)
		ok(t, err)
		eq(t, fmt.Sprintf("ListClients(%+v)", c.f), ids(got), c.want)
		eq(t, fmt.Sprintf("total of ListClients(%+v)", c.f), total, c.total)
	}
	n, err := s.CountClients(ctx, nil)
	ok(t, err)
	eq(t, "CountClients(nil)", n, int64(5))
	n, err = s.CountClients(ctx, &b.ID)
	ok(t, err)
	eq(t, "CountClients(b)", n, int64(2))
}

func testClientDeleteCascades(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	doomed := newClient(t, s, "doomed", nil)
	kept := newClient(t, s, "kept", nil)
	exp := now().Add(time.Hour)
	for _, c := range []*models.Client{doomed, kept} {
		ok(t, s.CreateAuthorizationCode(ctx, newCode("code-"+c.ClientID, c.ClientID, u.ID, exp)))
		ok(t, s.CreateTokens(ctx,
			newToken("at-"+c.ClientID, models.TokenAccess, c.ClientID, &u.ID, "f-"+c.ClientID, exp),
			newToken("rt-"+c.ClientID, models.TokenRefresh, c.ClientID, &u.ID, "f-"+c.ClientID, exp)))
		ok(t, s.UpsertConsent(ctx, u.ID, c.ClientID, "openid"))
		ok(t, s.CreateDeviceCode(ctx, newDevice("dev-"+c.ClientID, "CODE-"+c.ClientID, c.ClientID, exp)))
	}
	ok(t, s.DeleteClient(ctx, "doomed"))
	_, err := s.GetClient(ctx, "doomed")
	isErr(t, err, store.ErrNotFound)
	for _, table := range []string{"authorization_codes", "tokens", "consents", "device_codes"} {
		eq(t, "rows of the deleted client in "+table, count(t, s, table, "client_id = ?", "doomed"), int64(0))
		if count(t, s, table, "client_id = ?", "kept") == 0 {
			t.Errorf("rows of the other client in %s were deleted", table)
		}
	}
	isErr(t, s.DeleteClient(ctx, "doomed"), store.ErrNotFound)
}

func testClientOwnerNames(t *testing.T, s *models.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	gone := newUser(t, s, "gone")
	a1 := newClient(t, s, "a1", &alice.ID)
	a2 := newClient(t, s, "a2", &alice.ID)
	b1 := newClient(t, s, "b1", &bob.ID)
	orphan := newClient(t, s, "orphan", nil)
	g1 := newClient(t, s, "g1", &gone.ID)
	ok(t, s.DeleteUser(ctx, gone.ID))
	g1.OwnerID = &gone.ID // as read before the owner was deleted

	names, err := s.ClientOwnerNames(ctx, []models.Client{*a1, *a2, *b1, *orphan, *g1})
	ok(t, err)
	eq(t, "owner names", names, map[int64]string{alice.ID: "alice", bob.ID: "bob"})

	got, err := s.GetClient(ctx, "g1")
	ok(t, err)
	if got.OwnerID != nil {
		t.Errorf("owner of g1 after its owner was deleted = %v, want nil", *got.OwnerID)
	}

	names, err = s.ClientOwnerNames(ctx, nil)
	ok(t, err)
	if names == nil || len(names) != 0 {
		t.Errorf("no clients: names = %#v, want an empty map", names)
	}
}

func testClientUsage(t *testing.T, s *models.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	app := newClient(t, s, "app", nil)
	other := newClient(t, s, "other", nil)

	u, err := s.GetClientUsage(ctx, "app")
	ok(t, err)
	eq(t, "usage of an unused client", u, models.ClientUsage{})

	later, past := now().Add(time.Hour), now().Add(-time.Minute)
	ok(t, s.CreateTokens(ctx,
		newToken("at1", models.TokenAccess, app.ClientID, &alice.ID, "f1", later),
		newToken("rt1", models.TokenRefresh, app.ClientID, &alice.ID, "f1", later),
		newToken("cc", models.TokenAccess, app.ClientID, nil, "f2", later),
		newToken("expired", models.TokenAccess, app.ClientID, &bob.ID, "f4", past),
		newToken("revoked", models.TokenAccess, app.ClientID, &alice.ID, "f3", later),
		newToken("elsewhere", models.TokenAccess, other.ClientID, &alice.ID, "f5", later),
	))
	_, err = s.RevokeFamily(ctx, "f3", now())
	ok(t, err)
	ok(t, s.UpsertConsent(ctx, alice.ID, app.ClientID, "openid"))
	ok(t, s.UpsertConsent(ctx, bob.ID, app.ClientID, "openid profile"))
	ok(t, s.UpsertConsent(ctx, bob.ID, other.ClientID, "openid"))

	u, err = s.GetClientUsage(ctx, "app")
	ok(t, err)
	eq(t, "usage", u, models.ClientUsage{ActiveTokens: 3, Consents: 2})
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

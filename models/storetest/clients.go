package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// clientTests cover the store methods the dashboard's client pages added.
var clientTests = []Test{
	{"Client/OwnerNames", testClientOwnerNames},
	{"Client/Usage", testClientUsage},
}

// Registered here, so that this file is the only one to change when the
// client pages need more of the store.
func init() { Tests = append(Tests, clientTests...) }

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

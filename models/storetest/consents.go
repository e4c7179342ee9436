package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testConsent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	for _, id := range []string{"a", "b", "c"} {
		newClient(t, s, id, nil)
	}
	ok(t, s.UpsertConsent(ctx, u.ID, "a", "openid"))
	first, err := s.GetConsent(ctx, u.ID, "a")
	ok(t, err)
	eq(t, "Scope", first.Scope, "openid")
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpsertConsent(ctx, u.ID, "b", "openid"))
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpsertConsent(ctx, u.ID, "c", ""))
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpsertConsent(ctx, u.ID, "a", "openid profile"))
	ok(t, s.UpsertConsent(ctx, v.ID, "a", "email"))

	got, err := s.GetConsent(ctx, u.ID, "a")
	ok(t, err)
	eq(t, "Scope", got.Scope, "openid profile")
	eq(t, "ID", got.ID, first.ID)
	sameTime(t, "CreatedAt", got.CreatedAt, first.CreatedAt)
	if !got.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, first.UpdatedAt)
	}
	list, err := s.ListConsents(ctx, u.ID)
	ok(t, err)
	eq(t, "consents newest first", pluck(list, func(c models.Consent) string { return c.ClientID }), []string{"a", "c", "b"})
	list, err = s.ListConsents(ctx, 9999)
	ok(t, err)
	eq(t, "consents of nobody", len(list), 0)

	_, err = s.GetConsent(ctx, v.ID, "b")
	isErr(t, err, store.ErrNotFound)
	ok(t, s.DeleteConsent(ctx, u.ID, "a"))
	isErr(t, s.DeleteConsent(ctx, u.ID, "a"), store.ErrNotFound)
	_, err = s.GetConsent(ctx, v.ID, "a")
	ok(t, err)
}

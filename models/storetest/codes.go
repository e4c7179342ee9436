package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testCodeRedeem(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	c := newCode("code", "app", u.ID, now().Add(time.Minute))
	c.AuthTime = c.AuthTime.In(zone)
	ok(t, s.CreateAuthorizationCode(ctx, c))
	if c.ID == 0 {
		t.Fatal("ID not set")
	}
	got, err := s.GetAuthorizationCode(ctx, sha("code"))
	ok(t, err)
	eq(t, "code", *got, *c)
	isErr(t, s.CreateAuthorizationCode(ctx, newCode("code", "app", u.ID, now())), store.ErrAlreadyExists)

	at := now().In(zone)
	red, err := s.RedeemAuthorizationCode(ctx, sha("code"), at)
	ok(t, err)
	want := *c
	want.RedeemedAt = ptr(at.UTC())
	eq(t, "redeemed code", *red, want)
	again, err := s.RedeemAuthorizationCode(ctx, sha("code"), at.Add(time.Second))
	isErr(t, err, store.ErrConflict)
	if again == nil {
		t.Fatal("second redemption returned no code")
	}
	eq(t, "code on second redemption", *again, want)

	_, err = s.RedeemAuthorizationCode(ctx, sha("unknown"), at)
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetAuthorizationCode(ctx, sha("unknown"))
	isErr(t, err, store.ErrNotFound)

	// an expired code can still be redeemed: expiry is the caller's business
	ok(t, s.CreateAuthorizationCode(ctx, newCode("old", "app", u.ID, now().Add(-time.Hour))))
	_, err = s.RedeemAuthorizationCode(ctx, sha("old"), now())
	ok(t, err)
}

func testCodeConcurrentRedeem(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	ok(t, s.CreateAuthorizationCode(ctx, newCode("code", "app", u.ID, now().Add(time.Minute))))
	codes := make([]*models.AuthorizationCode, racers)
	errs := oauthtest.Concurrently(racers, func(i int) error {
		var err error
		codes[i], err = s.RedeemAuthorizationCode(ctx, sha("code"), now())
		return err
	})
	for i, err := range errs {
		if errors.Is(err, store.ErrConflict) && (codes[i] == nil || codes[i].RedeemedAt == nil) {
			t.Errorf("racer %d: conflict without the redeemed code", i)
		}
	}
	oneWinner(t, "successful redemptions", errs, store.ErrConflict)
}

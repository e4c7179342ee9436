package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testTokenCreateGet(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	ok(t, s.CreateTokens(ctx))
	exp := now().Add(time.Hour)
	auth := now().Add(-time.Minute)
	at := newToken("at", models.TokenAccess, "app", &u.ID, "fam", exp)
	at.AuthTime = &auth
	rt := newToken("rt", models.TokenRefresh, "app", &u.ID, "fam", exp.Add(24*time.Hour))
	cc := newToken("cc", models.TokenAccess, "app", nil, "fam2", exp) // client credentials: no user
	cc.Scope = ""
	ok(t, s.CreateTokens(ctx, at, rt, cc))
	for _, tk := range []*models.Token{at, rt, cc} {
		if tk.ID == 0 {
			t.Fatalf("ID of %x not set", tk.TokenHash[:4])
		}
		got, err := s.GetToken(ctx, tk.TokenHash)
		ok(t, err)
		eq(t, "token", *got, *tk)
	}
	_, err := s.GetToken(ctx, sha("unknown"))
	isErr(t, err, store.ErrNotFound)

	// one duplicate fails the whole statement
	err = s.CreateTokens(ctx, newToken("new", models.TokenAccess, "app", nil, "f", exp), newToken("at", models.TokenAccess, "app", nil, "f", exp))
	isErr(t, err, store.ErrAlreadyExists)
	_, err = s.GetToken(ctx, sha("new"))
	isErr(t, err, store.ErrNotFound)
}

func testTokenRotate(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	exp := now().Add(time.Hour)
	ok(t, s.CreateTokens(ctx,
		newToken("rt", models.TokenRefresh, "app", &u.ID, "fam", exp),
		newToken("rt-revoked", models.TokenRefresh, "app", &u.ID, "fam", exp),
		newToken("at", models.TokenAccess, "app", &u.ID, "fam", exp)))
	at := now()
	got, err := s.RotateRefreshToken(ctx, sha("rt"), at)
	ok(t, err)
	sameTimePtr(t, "RotatedAt", got.RotatedAt, &at)
	eq(t, "FamilyID", got.FamilyID, "fam")
	again, err := s.RotateRefreshToken(ctx, sha("rt"), at)
	isErr(t, err, store.ErrConflict)
	if again == nil || again.FamilyID != "fam" {
		t.Fatalf("reuse returned %+v, want the token", again)
	}
	sameTimePtr(t, "RotatedAt on reuse", again.RotatedAt, &at)

	ok(t, s.RevokeToken(ctx, sha("rt-revoked"), at))
	_, err = s.RotateRefreshToken(ctx, sha("rt-revoked"), at)
	isErr(t, err, store.ErrConflict)
	_, err = s.RotateRefreshToken(ctx, sha("at"), at)
	isErr(t, err, store.ErrNotFound)
	_, err = s.RotateRefreshToken(ctx, sha("unknown"), at)
	isErr(t, err, store.ErrNotFound)
}

func testTokenConcurrentRotate(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	ok(t, s.CreateTokens(ctx, newToken("rt", models.TokenRefresh, "app", &u.ID, "fam", now().Add(time.Hour))))
	errs := oauthtest.Concurrently(racers, func(int) error {
		_, err := s.RotateRefreshToken(ctx, sha("rt"), now())
		return err
	})
	oneWinner(t, "successful rotations", errs, store.ErrConflict)
}

func testTokenRevoke(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	newClient(t, s, "app", nil)
	newClient(t, s, "other", nil)
	exp := now().Add(time.Hour)
	ok(t, s.CreateTokens(ctx,
		newToken("a1", models.TokenAccess, "app", &u.ID, "f1", exp),
		newToken("r1", models.TokenRefresh, "app", &u.ID, "f1", exp),
		newToken("a2", models.TokenAccess, "app", &u.ID, "f2", exp),
		newToken("a3", models.TokenAccess, "other", &u.ID, "f3", exp),
		newToken("a4", models.TokenAccess, "app", &v.ID, "f4", exp)))

	at := now()
	ok(t, s.RevokeToken(ctx, sha("a1"), at))
	ok(t, s.RevokeToken(ctx, sha("a1"), at.Add(time.Hour))) // again: no error, first time kept
	got, err := s.GetToken(ctx, sha("a1"))
	ok(t, err)
	sameTimePtr(t, "RevokedAt", got.RevokedAt, &at)
	isErr(t, s.RevokeToken(ctx, sha("unknown"), at), store.ErrNotFound)

	n, err := s.RevokeFamily(ctx, "f1", at)
	ok(t, err)
	eq(t, "revoked in family f1", n, int64(1)) // a1 was revoked already
	n, err = s.RevokeFamily(ctx, "f1", at)
	ok(t, err)
	eq(t, "revoked in family f1 again", n, int64(0))
	n, err = s.RevokeFamily(ctx, "nope", at)
	ok(t, err)
	eq(t, "revoked in unknown family", n, int64(0))
	// The tombstone stays for writers that store tokens afterwards.
	for fam, want := range map[string]bool{"f1": true, "nope": true, "f2": false} {
		got, err := s.FamilyRevoked(ctx, fam)
		ok(t, err)
		eq(t, "FamilyRevoked("+fam+")", got, want)
	}

	n, err = s.RevokeUserClientTokens(ctx, u.ID, "app", at)
	ok(t, err)
	eq(t, "revoked for alice at app", n, int64(1)) // a2
	for name, revoked := range map[string]bool{"a2": true, "a3": false, "a4": false, "r1": true} {
		tk, err := s.GetToken(ctx, sha(name))
		ok(t, err)
		eq(t, name+" revoked", tk.RevokedAt != nil, revoked)
	}
	// Tombstones older than an hour before the sweep's cut-off go.
	_, err = s.DeleteExpiredTokens(ctx, at.Add(2*time.Hour), 0)
	ok(t, err)
	gone, err := s.FamilyRevoked(ctx, "f1")
	ok(t, err)
	eq(t, "tombstone after the sweep", gone, false)
}

func testDeleteExpired(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "app", nil)
	cut := now()
	past, future := cut.Add(-time.Minute), cut.Add(time.Minute)
	for i := range 5 {
		ok(t, s.CreateTokens(ctx, newToken(fmt.Sprint("old", i), models.TokenAccess, "app", &u.ID, "f", past)))
	}
	ok(t, s.CreateTokens(ctx,
		newToken("at-cut", models.TokenAccess, "app", &u.ID, "f", cut), // not before cut: kept
		newToken("new", models.TokenAccess, "app", &u.ID, "f", future)))
	for i := range 3 {
		ok(t, s.CreateAuthorizationCode(ctx, newCode(fmt.Sprint("oldcode", i), "app", u.ID, past)))
	}
	ok(t, s.CreateAuthorizationCode(ctx, newCode("newcode", "app", u.ID, future)))
	ok(t, s.CreateDeviceCode(ctx, newDevice("olddev", "OLD", "app", past)))
	ok(t, s.CreateDeviceCode(ctx, newDevice("newdev", "NEW", "app", future)))

	n, err := s.DeleteExpiredTokens(ctx, cut, 2)
	ok(t, err)
	eq(t, "first batch", n, int64(2+2+1))
	n, err = s.DeleteExpiredTokens(ctx, cut.In(zone), 2)
	ok(t, err)
	eq(t, "second batch", n, int64(2+1))
	n, err = s.DeleteExpiredTokens(ctx, cut, 0)
	ok(t, err)
	eq(t, "third batch", n, int64(1))
	n, err = s.DeleteExpiredTokens(ctx, cut, 2)
	ok(t, err)
	eq(t, "nothing left", n, int64(0))
	eq(t, "tokens left", count(t, s, "tokens", ""), int64(2))
	eq(t, "codes left", count(t, s, "authorization_codes", ""), int64(1))
	eq(t, "device codes left", count(t, s, "device_codes", ""), int64(1))
	_, err = s.GetToken(ctx, sha("at-cut"))
	ok(t, err)
}

// testRevokeUserFamilies: a password change signs the user out of every
// app: each family with a live token or an unexpired code is revoked
// with its tombstone (a code being redeemed right now included), pending
// codes and approved device codes are cancelled, and nobody else's grants
// are touched.
func testRevokeUserFamilies(t *testing.T, s *models.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	newClient(t, s, "app", nil)
	newClient(t, s, "other", nil)
	at := now()
	live, gone := at.Add(time.Hour), at.Add(-time.Minute)
	ok(t, s.CreateTokens(ctx,
		newToken("a1", models.TokenAccess, "app", &alice.ID, "f1", live),
		newToken("r1", models.TokenRefresh, "app", &alice.ID, "f1", live),
		newToken("a2", models.TokenAccess, "app", &alice.ID, "f2", gone), // expired
		newToken("a3", models.TokenAccess, "app", &alice.ID, "f3", live), // revoked below
		newToken("r4", models.TokenRefresh, "other", &alice.ID, "f4", live),
		newToken("a5", models.TokenAccess, "app", &bob.ID, "f5", live)))
	ok(t, s.RevokeToken(ctx, sha("a3"), at.Add(-time.Second)))
	for _, c := range []*models.AuthorizationCode{
		newCode("pending", "app", alice.ID, live),
		newCode("redeemed", "other", alice.ID, live),
		newCode("expired", "app", alice.ID, gone),
		newCode("bobs", "app", bob.ID, live),
	} {
		ok(t, s.CreateAuthorizationCode(ctx, c))
	}
	_, err := s.RedeemAuthorizationCode(ctx, sha("redeemed"), at)
	ok(t, err)
	for i, uid := range []int64{alice.ID, bob.ID} {
		d := newDevice("dev"+string(rune('a'+i)), "AAAA-BBB"+string(rune('A'+i)), "app", live)
		ok(t, s.CreateDeviceCode(ctx, d))
		ok(t, s.UpdateDeviceCode(ctx, d.ID, func(x *models.DeviceCode) error {
			x.Status, x.UserID, x.AuthTime = models.DeviceApproved, &uid, &at
			return nil
		}))
	}

	n, err := s.RevokeUserFamilies(ctx, alice.ID, at)
	ok(t, err)
	eq(t, "families revoked", n, int64(3)) // f1, f4 and the pending code's
	for name, revoked := range map[string]bool{"a1": true, "r1": true, "a2": false, "r4": true, "a5": false} {
		tk, err := s.GetToken(ctx, sha(name))
		ok(t, err)
		eq(t, name+" revoked", tk.RevokedAt != nil, revoked)
	}
	// a3's revocation time is kept.
	tk, err := s.GetToken(ctx, sha("a3"))
	ok(t, err)
	if tk.RevokedAt == nil || !tk.RevokedAt.Before(at) {
		t.Errorf("a3 revoked again: %v", tk.RevokedAt)
	}
	for fam, want := range map[string]bool{"f1": true, "f4": true, "family-pending": true, "family-redeemed": true,
		"f2": false, "f3": false, "f5": false, "family-expired": false, "family-bobs": false} {
		got, err := s.FamilyRevoked(ctx, fam)
		ok(t, err)
		eq(t, "FamilyRevoked("+fam+")", got, want)
	}
	eq(t, "alice's pending codes", count(t, s, "authorization_codes", "user_id = ? AND redeemed_at IS NULL AND expires_at > ?", alice.ID, at), int64(0))
	eq(t, "bob's pending codes", count(t, s, "authorization_codes", "user_id = ?", bob.ID), int64(1))
	eq(t, "alice's approved device codes", count(t, s, "device_codes", "user_id = ? AND status = ?", alice.ID, models.DeviceApproved), int64(0))
	eq(t, "alice's denied device codes", count(t, s, "device_codes", "user_id = ? AND status = ?", alice.ID, models.DeviceDenied), int64(1))
	eq(t, "bob's approved device codes", count(t, s, "device_codes", "user_id = ? AND status = ?", bob.ID, models.DeviceApproved), int64(1))

	// Again: nothing is left to revoke.
	n, err = s.RevokeUserFamilies(ctx, alice.ID, at)
	ok(t, err)
	eq(t, "families revoked again", n, int64(0))
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

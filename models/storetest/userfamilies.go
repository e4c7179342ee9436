package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// Registered here, so that this file is the only one to change when
// signing a user out of their apps needs more of the store.
func init() {
	Tests = append(Tests, Test{"Token/RevokeUserFamilies", testRevokeUserFamilies})
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

package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// deviceRacers is how many goroutines race in the concurrency tests.
const deviceRacers = 20

func mustDevice(t *testing.T, s *models.Store, name string) *models.DeviceCode {
	t.Helper()
	d, err := s.GetDeviceCode(t.Context(), sha(name))
	ok(t, err)
	return d
}

func testDeviceCode(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "tv", nil)
	d := newDevice("dc", "WDJB-MJHT", "tv", now().Add(10*time.Minute))
	ok(t, s.CreateDeviceCode(ctx, d))
	eq(t, "Status", d.Status, models.DevicePending)
	got, err := s.GetDeviceCode(ctx, sha("dc"))
	ok(t, err)
	eq(t, "device code", *got, *d)
	got, err = s.GetDeviceCodeByUserCode(ctx, "WDJB-MJHT")
	ok(t, err)
	eq(t, "device code by user code", *got, *d)
	isErr(t, s.CreateDeviceCode(ctx, newDevice("dc2", "WDJB-MJHT", "tv", now())), store.ErrAlreadyExists)
	_, err = s.GetDeviceCode(ctx, sha("nope"))
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetDeviceCodeByUserCode(ctx, "NOPE-NOPE")
	isErr(t, err, store.ErrNotFound)

	auth := now().In(zone)
	ok(t, s.UpdateDeviceCode(ctx, d.ID, func(x *models.DeviceCode) error {
		x.Status = models.DeviceApproved
		x.UserID = &u.ID
		x.AuthTime = &auth
		x.LastPolledAt = &auth
		x.IntervalSeconds = 10
		x.UserCode = "IGNORED"
		return nil
	}))
	got, err = s.GetDeviceCode(ctx, sha("dc"))
	ok(t, err)
	eq(t, "Status", got.Status, models.DeviceApproved)
	eq(t, "UserID", got.UserID, &u.ID)
	sameTimePtr(t, "AuthTime", got.AuthTime, &auth)
	eq(t, "IntervalSeconds", got.IntervalSeconds, 10)
	eq(t, "UserCode", got.UserCode, "WDJB-MJHT")

	// back to zero values
	ok(t, s.UpdateDeviceCode(ctx, d.ID, func(x *models.DeviceCode) error {
		x.UserID, x.AuthTime, x.LastPolledAt, x.Scope = nil, nil, nil, ""
		x.Status = models.DeviceDenied
		return nil
	}))
	got, err = s.GetDeviceCode(ctx, sha("dc"))
	ok(t, err)
	if got.UserID != nil || got.AuthTime != nil || got.LastPolledAt != nil || got.Scope != "" {
		t.Errorf("zero values not written: %+v", got)
	}
	boom := errors.New("boom")
	isErr(t, s.UpdateDeviceCode(ctx, d.ID, func(x *models.DeviceCode) error { x.Status = models.DeviceRedeemed; return boom }), boom)
	got, err = s.GetDeviceCode(ctx, sha("dc"))
	ok(t, err)
	eq(t, "Status", got.Status, models.DeviceDenied)
	isErr(t, s.UpdateDeviceCode(ctx, 9999, func(*models.DeviceCode) error { return nil }), store.ErrNotFound)
}

func testDeviceDecide(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "tv", nil)
	base := now()
	d := newDevice("d", "UC-D", "tv", base.Add(10*time.Minute))
	ok(t, s.CreateDeviceCode(ctx, d))
	auth := base.Add(-time.Hour).In(zone)

	isErr(t, s.DecideDeviceCode(ctx, 9999, models.DeviceApproved, u.ID, auth, "openid", base), store.ErrNotFound)
	if err := s.DecideDeviceCode(ctx, d.ID, models.DeviceRedeemed, u.ID, auth, "openid", base); err == nil {
		t.Error("a decision other than approved or denied was accepted")
	}
	ok(t, s.DecideDeviceCode(ctx, d.ID, models.DeviceApproved, u.ID, auth, "openid profile", base))
	got := mustDevice(t, s, "d")
	eq(t, "Status", got.Status, models.DeviceApproved)
	eq(t, "UserID", got.UserID, &u.ID)
	sameTimePtr(t, "AuthTime", got.AuthTime, &auth)
	eq(t, "Scope", got.Scope, "openid profile")

	// Decided once: a second decision (the other tab, a replayed form)
	// changes nothing.
	isErr(t, s.DecideDeviceCode(ctx, d.ID, models.DeviceDenied, u.ID, auth, "", base), store.ErrConflict)
	eq(t, "Status after a second decision", mustDevice(t, s, "d").Status, models.DeviceApproved)

	// Expired: no decision, at the expiry instant or later.
	e := newDevice("e", "UC-E", "tv", base)
	ok(t, s.CreateDeviceCode(ctx, e))
	isErr(t, s.DecideDeviceCode(ctx, e.ID, models.DeviceApproved, u.ID, auth, "openid", base), store.ErrConflict)
	isErr(t, s.DecideDeviceCode(ctx, e.ID, models.DeviceDenied, u.ID, auth, "openid", base.Add(time.Second).In(zone)), store.ErrConflict)
	eq(t, "Status of the expired code", mustDevice(t, s, "e").Status, models.DevicePending)
	ok(t, s.DecideDeviceCode(ctx, e.ID, models.DeviceDenied, u.ID, auth, "openid", base.Add(-time.Microsecond)))
	got = mustDevice(t, s, "e")
	eq(t, "Status of the denied code", got.Status, models.DeviceDenied)
	eq(t, "UserID of the denied code", got.UserID, &u.ID)
}

func testDevicePoll(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "tv", nil)
	base := now()
	d := newDevice("d", "UC-D", "tv", base.Add(10*time.Minute))
	ok(t, s.CreateDeviceCode(ctx, d))

	first := mustDevice(t, s, "d")
	ok(t, s.PollDeviceCode(ctx, first, base.In(zone), 5))
	got := mustDevice(t, s, "d")
	sameTimePtr(t, "LastPolledAt", got.LastPolledAt, &base)
	eq(t, "IntervalSeconds", got.IntervalSeconds, 5)

	// The row as first read is stale now: the poll does not count.
	isErr(t, s.PollDeviceCode(ctx, first, base.Add(time.Second), 5), store.ErrConflict)
	// So is a row read with another interval.
	stale := *got
	stale.IntervalSeconds = 10
	isErr(t, s.PollDeviceCode(ctx, &stale, base.Add(time.Second), 15), store.ErrConflict)

	second := base.Add(2 * time.Second)
	ok(t, s.PollDeviceCode(ctx, got, second, 10))
	got = mustDevice(t, s, "d")
	sameTimePtr(t, "LastPolledAt", got.LastPolledAt, &second)
	eq(t, "IntervalSeconds after slow_down", got.IntervalSeconds, 10)

	// Decided: polls are no longer recorded.
	ok(t, s.DecideDeviceCode(ctx, d.ID, models.DeviceApproved, u.ID, base, "openid", base))
	got = mustDevice(t, s, "d")
	isErr(t, s.PollDeviceCode(ctx, got, base.Add(time.Minute), 10), store.ErrConflict)

	gone := *got
	gone.ID = 9999
	isErr(t, s.PollDeviceCode(ctx, &gone, base, 5), store.ErrNotFound)
}

func testDeviceRedeem(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "tv", nil)
	base := now()
	auth := base.Add(-time.Minute)
	d := newDevice("d", "UC-D", "tv", base.Add(10*time.Minute))
	ok(t, s.CreateDeviceCode(ctx, d))

	_, err := s.RedeemDeviceCode(ctx, sha("nope"), base)
	isErr(t, err, store.ErrNotFound)
	_, err = s.RedeemDeviceCode(ctx, sha("d"), base)
	isErr(t, err, store.ErrConflict) // pending
	eq(t, "Status after redeeming a pending code", mustDevice(t, s, "d").Status, models.DevicePending)

	ok(t, s.DecideDeviceCode(ctx, d.ID, models.DeviceApproved, u.ID, auth, "openid email", base))
	got, err := s.RedeemDeviceCode(ctx, sha("d"), base.In(zone))
	ok(t, err)
	eq(t, "Status", got.Status, models.DeviceRedeemed)
	eq(t, "ID", got.ID, d.ID)
	eq(t, "ClientID", got.ClientID, "tv")
	eq(t, "UserID", got.UserID, &u.ID)
	eq(t, "Scope", got.Scope, "openid email")
	sameTimePtr(t, "AuthTime", got.AuthTime, &auth)
	sameTime(t, "ExpiresAt", got.ExpiresAt, d.ExpiresAt)
	_, err = s.RedeemDeviceCode(ctx, sha("d"), base)
	isErr(t, err, store.ErrConflict) // once only

	// Denied codes and expired approvals are not redeemed.
	n := newDevice("n", "UC-N", "tv", base.Add(time.Minute))
	ok(t, s.CreateDeviceCode(ctx, n))
	ok(t, s.DecideDeviceCode(ctx, n.ID, models.DeviceDenied, u.ID, auth, "", base))
	_, err = s.RedeemDeviceCode(ctx, sha("n"), base)
	isErr(t, err, store.ErrConflict)
	x := newDevice("x", "UC-X", "tv", base.Add(time.Minute))
	ok(t, s.CreateDeviceCode(ctx, x))
	ok(t, s.DecideDeviceCode(ctx, x.ID, models.DeviceApproved, u.ID, auth, "openid", base))
	_, err = s.RedeemDeviceCode(ctx, sha("x"), base.Add(time.Minute))
	isErr(t, err, store.ErrConflict)
	eq(t, "Status of the expired approval", mustDevice(t, s, "x").Status, models.DeviceApproved)
}

func testDeviceConcurrentRedeem(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "tv", nil)
	d := newDevice("d", "UC-D", "tv", now().Add(time.Minute))
	ok(t, s.CreateDeviceCode(ctx, d))
	ok(t, s.DecideDeviceCode(ctx, d.ID, models.DeviceApproved, u.ID, now(), "openid", now()))
	got := make([]*models.DeviceCode, deviceRacers)
	errs := oauthtest.Concurrently(deviceRacers, func(i int) error {
		var err error
		got[i], err = s.RedeemDeviceCode(ctx, sha("d"), now())
		return err
	})
	i := oneWinner(t, "successful redemptions", errs, store.ErrConflict)
	if got[i].Status != models.DeviceRedeemed || got[i].UserID == nil {
		t.Errorf("racer %d won with %+v", i, got[i])
	}
}

func testDeviceConcurrentPoll(t *testing.T, s *models.Store) {
	ctx := t.Context()
	newClient(t, s, "tv", nil)
	d := newDevice("d", "UC-D", "tv", now().Add(time.Minute))
	ok(t, s.CreateDeviceCode(ctx, d))
	// Every racer read the row before any poll was recorded.
	read := mustDevice(t, s, "d")
	errs := oauthtest.Concurrently(deviceRacers, func(i int) error {
		prev := *read
		return s.PollDeviceCode(ctx, &prev, now(), 5+i)
	})
	winner := oneWinner(t, "polls recorded", errs, store.ErrConflict)
	eq(t, "interval of the one recorded poll", mustDevice(t, s, "d").IntervalSeconds, 5+winner)
}

func testDeviceConcurrentDecide(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "tv", nil)
	d := newDevice("d", "UC-D", "tv", now().Add(time.Minute))
	ok(t, s.CreateDeviceCode(ctx, d))
	errs := oauthtest.Concurrently(deviceRacers, func(i int) error {
		status := models.DeviceApproved
		if i%2 == 1 {
			status = models.DeviceDenied
		}
		return s.DecideDeviceCode(ctx, d.ID, status, u.ID, now(), "openid", now())
	})
	winner := oneWinner(t, "decisions recorded", errs, store.ErrConflict)
	want := models.DeviceApproved
	if winner%2 == 1 {
		want = models.DeviceDenied
	}
	eq(t, "Status is the winner's decision", mustDevice(t, s, "d").Status, want)
}

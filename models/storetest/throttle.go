package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

func testThrottle(t *testing.T, s *models.Store) {
	ctx := t.Context()
	t0 := now().Add(-time.Hour)
	n, oldest, err := s.CountThrottleEvents(ctx, "login:alice", t0)
	ok(t, err)
	eq(t, "n on empty", n, int64(0))
	eq(t, "oldest on empty", oldest.IsZero(), true)

	for _, m := range []int{0, 10, 20, 30} {
		_, err := s.AddThrottleEvent(ctx, "login:alice", t0.Add(time.Duration(m)*time.Minute).In(zone))
		ok(t, err)
	}
	bobID, err := s.AddThrottleEvent(ctx, "login:bob", t0.Add(15*time.Minute))
	ok(t, err)
	if bobID == 0 {
		t.Fatal("AddThrottleEvent returned no ID")
	}
	n, oldest, err = s.CountThrottleEvents(ctx, "login:alice", t0.Add(10*time.Minute))
	ok(t, err)
	eq(t, "n since +10m", n, int64(3))
	sameTime(t, "oldest since +10m", oldest, t0.Add(10*time.Minute))
	n, oldest, err = s.CountThrottleEvents(ctx, "login:alice", t0.Add(-time.Minute).In(zone))
	ok(t, err)
	eq(t, "n since -1m", n, int64(4))
	sameTime(t, "oldest since -1m", oldest, t0)
	n, _, err = s.CountThrottleEvents(ctx, "login:alice", t0.Add(31*time.Minute))
	ok(t, err)
	eq(t, "n since +31m", n, int64(0))

	deleted, err := s.DeleteThrottleEventsBefore(ctx, t0.Add(15*time.Minute))
	ok(t, err)
	eq(t, "deleted before +15m", deleted, int64(2))
	ok(t, s.ClearThrottle(ctx, "login:alice"))
	n, _, err = s.CountThrottleEvents(ctx, "login:alice", t0.Add(-time.Hour))
	ok(t, err)
	eq(t, "n after clear", n, int64(0))
	n, _, err = s.CountThrottleEvents(ctx, "login:bob", t0)
	ok(t, err)
	eq(t, "other key kept", n, int64(1))
	ok(t, s.ClearThrottle(ctx, "login:nobody"))

	ok(t, s.DeleteThrottleEvents(ctx, bobID))
	n, _, err = s.CountThrottleEvents(ctx, "login:bob", t0)
	ok(t, err)
	eq(t, "after DeleteThrottleEvents", n, int64(0))
	ok(t, s.DeleteThrottleEvents(ctx))
}

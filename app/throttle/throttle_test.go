package throttle

import (
	"context"
	"sort"
	"testing"
	"time"
)

type mem struct{ ev map[string][]time.Time }

func (m *mem) AddThrottleEvent(_ context.Context, k string, at time.Time) error {
	m.ev[k] = append(m.ev[k], at)
	return nil
}
func (m *mem) CountThrottleEvents(_ context.Context, k string, since time.Time) (int64, time.Time, error) {
	var in []time.Time
	for _, t := range m.ev[k] {
		if !t.Before(since) {
			in = append(in, t)
		}
	}
	if len(in) == 0 {
		return 0, time.Time{}, nil
	}
	sort.Slice(in, func(i, j int) bool { return in[i].Before(in[j]) })
	return int64(len(in)), in[0], nil
}
func (m *mem) ClearThrottle(_ context.Context, k string) error { delete(m.ev, k); return nil }

func TestLimits(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := New(&mem{ev: map[string][]time.Time{}}, "login")
	l.Now = func() time.Time { return now }

	for i := 0; i < 9; i++ {
		l.Fail(ctx, "Alice", "192.0.2.1")
	}
	if w, _ := l.Check(ctx, "alice", "192.0.2.1"); w != 0 {
		t.Fatal("blocked after 9 failures")
	}
	l.Fail(ctx, "alice", "192.0.2.1")
	w, _ := l.Check(ctx, "ALICE", "198.51.100.9")
	if w != 10*time.Minute {
		t.Fatalf("account not blocked after 10 failures (case-insensitive), wait=%v", w)
	}
	if w, _ := l.Check(ctx, "bob", "192.0.2.1"); w != 0 {
		t.Fatal("address blocked after 10 failures; limit is 30")
	}
	now = now.Add(10*time.Minute + time.Second)
	if w, _ := l.Check(ctx, "alice", "192.0.2.1"); w != 0 {
		t.Fatal("still blocked after the window passed")
	}

	// 30 failures from one address across accounts block the address.
	for i := 0; i < 30; i++ {
		l.Fail(ctx, string(rune('a'+i%26))+"user", "2001:db8::1")
	}
	if w, _ := l.Check(ctx, "fresh", "2001:db8::2"); w == 0 {
		t.Fatal("address (same /64) not blocked after 30 failures")
	}

	// Success clears the account, not the address.
	l.Fail(ctx, "carol", "203.0.113.5")
	l.Succeed(ctx, "carol")
	if n, _, _ := l.Store.CountThrottleEvents(ctx, "login:account:carol", time.Time{}); n != 0 {
		t.Fatal("success did not clear the account")
	}
	if n, _, _ := l.Store.CountThrottleEvents(ctx, "login:address:203.0.113.5", time.Time{}); n != 1 {
		t.Fatal("success cleared the address")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	if RetryAfterSeconds(1500*time.Millisecond) != 2 || RetryAfterSeconds(0) != 1 {
		t.Fatal("rounding")
	}
}

package throttle

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"
)

type mem struct {
	mu   sync.Mutex
	next int64
	ev   map[string]map[int64]time.Time
}

func newMem() *mem { return &mem{ev: map[string]map[int64]time.Time{}} }

func (m *mem) AddThrottleEvent(_ context.Context, k string, at time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	if m.ev[k] == nil {
		m.ev[k] = map[int64]time.Time{}
	}
	m.ev[k][m.next] = at
	return m.next, nil
}
func (m *mem) DeleteThrottleEvents(_ context.Context, ids ...int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, evs := range m.ev {
		for _, id := range ids {
			delete(evs, id)
		}
	}
	return nil
}
func (m *mem) CountThrottleEvents(_ context.Context, k string, since time.Time) (int64, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
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
func (m *mem) ClearThrottle(_ context.Context, k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ev, k)
	return nil
}

// fail makes one failed attempt; it reports whether it was allowed.
func fail(l *Limiter, account, address string) bool {
	a, wait, err := l.Begin(context.Background(), account, address)
	if err != nil {
		panic(err)
	}
	return a != nil && wait == 0
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := newMem()
	l := New(st, "login")
	l.Now = func() time.Time { return now }

	for i := 0; i < 10; i++ {
		if !fail(l, "Alice", "192.0.2.1") {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	a, w, _ := l.Begin(ctx, "ALICE", "198.51.100.9")
	if a != nil || w != 10*time.Minute {
		t.Fatalf("11th attempt for the account (case-insensitive) allowed, wait=%v", w)
	}
	if !fail(l, "bob", "192.0.2.1") {
		t.Fatal("address blocked after 11 attempts; limit is 30")
	}
	// Refused attempts do not count: the block ends when the window passes.
	now = now.Add(10*time.Minute + time.Second)
	if a, _, _ := l.Begin(ctx, "alice", "192.0.2.1"); a == nil {
		t.Fatal("still blocked after the window passed")
	}

	// 30 failures from one address across accounts block the address.
	for i := 0; i < 30; i++ {
		fail(l, string(rune('a'+i%26))+"user", "2001:db8::1")
	}
	if fail(l, "fresh", "2001:db8::2") {
		t.Fatal("address (same /64) not blocked after 30 failures")
	}

	// Success forgets the attempt and the account's failures, not the
	// address's earlier ones.
	fail(l, "carol", "203.0.113.5")
	a, _, _ = l.Begin(ctx, "carol", "203.0.113.5")
	a.Succeeded(ctx)
	if n, _, _ := st.CountThrottleEvents(ctx, "login:account:carol", time.Time{}); n != 0 {
		t.Fatal("success did not clear the account")
	}
	if n, _, _ := st.CountThrottleEvents(ctx, "login:address:203.0.113.5", time.Time{}); n != 1 {
		t.Fatalf("address events after one failure and one success = %d, want 1", n)
	}
}

// TestParallelAttemptsCannotOvershoot: attempts are counted before they are
// tried, so of 40 parallel attempts at most 10 get through.
func TestParallelAttemptsCannotOvershoot(t *testing.T) {
	l := New(newMem(), "login")
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if fail(l, "alice", "192.0.2.1") {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed > 10 {
		t.Fatalf("%d parallel attempts allowed, want at most 10", allowed)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	if RetryAfterSeconds(1500*time.Millisecond) != 2 || RetryAfterSeconds(0) != 1 {
		t.Fatal("rounding")
	}
}

// Under Hold, Fail records nothing until Release; a dropped Held counts
// nothing at all.
func TestHoldKeepsFailuresBackUntilRelease(t *testing.T) {
	m := newMem()
	l := New(m, "client")
	bg := context.Background()
	count := func() int64 {
		n, _, _ := m.CountThrottleEvents(bg, "client:account:c1", time.Time{})
		return n
	}
	ctx, held := Hold(bg)
	if err := l.Fail(ctx, "c1", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d failures recorded while held", n)
	}
	if err := held.Release(bg); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d failures after Release, want 1", n)
	}
	if err := held.Release(bg); err != nil || count() != 1 {
		t.Fatalf("a second Release recorded again: %d", count())
	}
	ctx, _ = Hold(bg)
	_ = l.Fail(ctx, "c1", "192.0.2.1")
	if n := count(); n != 1 {
		t.Fatalf("a dropped hold recorded: %d", n)
	}
}

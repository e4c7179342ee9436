package throttle_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/models"
)

// RedisEnv names the variable holding the Redis test server URL (e.g.
// redis://127.0.0.1:6379/15); without it the Redis store is not tested,
// except in CI, where that is a failure.
const RedisEnv = "GATEHOUSE_TEST_REDIS_URL"

// RedisStore returns a Redis store under a fresh key prefix (deleted when
// the test ends), or skips the test when no Redis server is configured.
func redisStore(t *testing.T) *throttle.Redis {
	t.Helper()
	raw := os.Getenv(RedisEnv)
	if raw == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s must be set in CI", RedisEnv)
		}
		t.Skipf("%s not set; skipping Redis", RedisEnv)
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	r := throttle.NewRedis(redis.NewClient(opts))
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	r.Prefix = "test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := r.Client.Keys(ctx, r.Prefix+"*").Result()
		if len(keys) > 0 {
			r.Client.Del(ctx, keys...)
		}
		r.Close()
	})
	return r
}

// eachStore runs fn against every store: in memory, the database (SQLite,
// PostgreSQL when configured) and Redis (when configured).
func eachStore(t *testing.T, fn func(t *testing.T, st throttle.Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, throttle.Database(newMem())) })
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) { fn(t, throttle.Database(models.New(dbtest.Open(t, b.URL(t))))) })
	}
	t.Run("redis", func(t *testing.T) { fn(t, redisStore(t)) })
}

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
func fail(l *throttle.Limiter, account, address string) bool {
	a, wait, err := l.Begin(context.Background(), account, address)
	if err != nil {
		panic(err)
	}
	return a != nil && wait == 0
}

func TestLimits(t *testing.T) { eachStore(t, testLimits) }

func testLimits(t *testing.T, st throttle.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	l := throttle.New(st, "login")
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
	t.Parallel()
	eachStore(t, func(t *testing.T, st throttle.Store) { testParallelAttemptsCannotOvershoot(t, st) })
}

func testParallelAttemptsCannotOvershoot(t *testing.T, st throttle.Store) {
	l := throttle.New(st, "login")
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
	t.Parallel()
	if throttle.RetryAfterSeconds(1500*time.Millisecond) != 2 || throttle.RetryAfterSeconds(0) != 1 {
		t.Fatal("rounding")
	}
}

// A Held's Fail records nothing until Release; a dropped Held counts
// nothing at all.
func TestHoldKeepsFailuresBackUntilRelease(t *testing.T) {
	t.Parallel()
	eachStore(t, testHoldKeepsFailuresBackUntilRelease)
}

func testHoldKeepsFailuresBackUntilRelease(t *testing.T, m throttle.Store) {
	l := throttle.New(m, "client")
	bg := context.Background()
	count := func() int64 {
		n, _, _ := m.CountThrottleEvents(bg, "client:account:c1", time.Time{})
		return n
	}
	held := l.Hold()
	if err := held.Fail(bg, "c1", "192.0.2.1"); err != nil {
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
	_ = l.Hold().Fail(bg, "c1", "192.0.2.1")
	if n := count(); n != 1 {
		t.Fatalf("a dropped hold recorded: %d", n)
	}
}

// Redis keys expire on their own: nothing needs sweeping.
func TestRedisKeysExpire(t *testing.T) {
	t.Parallel()
	r := redisStore(t)
	ctx := context.Background()
	if _, err := r.AddThrottleEvent(ctx, "login:account:ada", time.Now()); err != nil {
		t.Fatal(err)
	}
	ttl, err := r.Client.PTTL(ctx, r.Prefix+"login:account:ada").Result()
	if err != nil || ttl <= 0 || ttl > r.TTL {
		t.Fatalf("TTL %v, %v; want (0, %v]", ttl, err, r.TTL)
	}
}

// An unreachable store fails the attempt: it is neither let through
// unthrottled nor refused as throttled.
func TestStoreErrorFailsAttempt(t *testing.T) {
	t.Parallel()
	r := throttle.NewRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second}))
	defer r.Close()
	l := throttle.New(r, "login")
	ctx := context.Background()
	if a, wait, err := l.Begin(ctx, "ada", "192.0.2.1"); err == nil || a != nil || wait != 0 {
		t.Fatalf("Begin with Redis down: %v, %v, %v", a, wait, err)
	}
	if _, err := l.Blocked(ctx, "ada", "192.0.2.1"); err == nil {
		t.Fatal("Blocked with Redis down: no error")
	}
	if err := l.Fail(ctx, "ada", "192.0.2.1"); err == nil {
		t.Fatal("Fail with Redis down: no error")
	}
	if err := r.Ping(ctx); err == nil {
		t.Fatal("Ping with Redis down: no error")
	}
}

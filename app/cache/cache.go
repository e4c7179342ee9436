// Package cache keeps what Gatehouse reads on every request and rarely
// changes (settings, clients, scopes, users, signing keys) in memory,
// without ever serving a value older than the request.
//
// Correctness across instances and processes comes from one database row
// of counters (the cache_state table): triggers bump a table's counter in
// the same transaction as any change to that table, whoever makes it (this
// instance, another instance, the `gatehouse settings set` command, psql).
// A request reads the row once (Versions.Current) and every cached value
// whose counter has moved is reloaded. So a change committed before a
// request starts is seen by that request on every instance: "takes effect
// on the next request" (SPEC.md §4), at the price of one primary-key read
// per request instead of one query per cached thing.
//
// WithRequest gives a request its memo, so that the row is read once per
// request whatever the number of cached lookups; without it every lookup
// reads the row (still correct, just slower).
package cache

import (
	"context"
	"sync"
	"time"
)

// Vector holds the change counters of the cached tables. Two vectors
// read at different times differ in a field exactly when that table
// changed in between.
type Vector struct {
	Settings int64
	Clients  int64
	Scopes   int64
	Users    int64
	Keys     int64
	// Tokens moves when a token is revoked or deleted (not when one is
	// issued).
	Tokens int64
}

// Source reads the counters (models.Store.CacheVersions).
type Source interface {
	CacheVersions(ctx context.Context) (Vector, error)
}

// Versions hands out the counters in force for a request. Concurrent
// requests share reads: a request waits for a read that started after it
// arrived (never an older one, which could miss a change committed just
// before the request), so under load one read serves every request that
// arrived while the previous one was running.
type Versions struct {
	src Source

	mu      sync.Mutex
	running bool
	next    *round // the read that starts when the running one ends
	// last is the result of the latest read that succeeded (for
	// Speculate).
	last   Vector
	hasRun bool
}

// round is one shared read of the counters.
type round struct {
	done chan struct{}
	vec  Vector
	err  error
}

// readTimeout bounds one shared read (it serves several requests, so it
// does not use any one request's context).
const readTimeout = 10 * time.Second

// NewVersions returns Versions reading from src.
func NewVersions(src Source) *Versions { return &Versions{src: src} }

// memo is the per-request record of the counters read.
type memo struct {
	mu  sync.Mutex
	ok  bool
	vec Vector
	// pending is the read a speculating request confirms against.
	pending *round
}

type memoKey struct{}

// WithRequest returns a context for one request: the counters are read at
// most once in it.
func WithRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &memo{})
}

// Speculate returns a context for one request that works with the
// counters of the latest read at once, while a read that starts now runs
// alongside; Confirm then says whether the request saw the state in force
// when it arrived. It saves the wait for that read on requests whose work
// can be undone when it did not (client-credentials issuance: the tokens
// are revoked and the request runs again with WithRequest). Without any
// read yet it behaves like WithRequest.
func (v *Versions) Speculate(ctx context.Context) context.Context {
	m := &memo{}
	v.mu.Lock()
	if v.hasRun {
		m.ok, m.vec = true, v.last
	}
	v.mu.Unlock()
	if m.ok {
		m.pending = v.start(ctx)
	}
	return context.WithValue(ctx, memoKey{}, m)
}

// Confirm waits for the read a Speculate context started and reports
// whether the counters it used are the ones in force when the request
// arrived (true too for contexts that did not speculate).
func Confirm(ctx context.Context) (bool, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m == nil {
		return true, nil
	}
	m.mu.Lock()
	r, used := m.pending, m.vec
	m.mu.Unlock()
	if r == nil {
		return true, nil
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if r.err != nil {
		return false, r.err
	}
	return r.vec == used, nil
}

// Forget makes the next Current in this request read the counters again.
// Call it after changing a cached table within a request that goes on to
// read it back.
func Forget(ctx context.Context) {
	if m, ok := ctx.Value(memoKey{}).(*memo); ok {
		m.mu.Lock()
		m.ok = false
		m.mu.Unlock()
	}
}

// Current returns the counters in force: read from the database once per
// request (WithRequest), or on every call without a request memo.
func (v *Versions) Current(ctx context.Context) (Vector, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m == nil {
		return v.read(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ok {
		return m.vec, nil
	}
	vec, err := v.read(ctx)
	if err != nil {
		return Vector{}, err
	}
	m.vec, m.ok = vec, true
	return vec, nil
}

// read returns the result of a read of the counters that starts after the
// call: at once when none is running, otherwise the one that follows the
// running read, shared with every caller that arrives meanwhile.
func (v *Versions) read(ctx context.Context) (Vector, error) {
	r := v.start(ctx)
	select {
	case <-r.done:
		return r.vec, r.err
	case <-ctx.Done():
		return Vector{}, ctx.Err()
	}
}

// start joins (or starts) the read that begins after the call: at once
// in a goroutine when none is running, otherwise the one that follows the
// running read.
func (v *Versions) start(ctx context.Context) *round {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.next == nil {
		v.next = &round{done: make(chan struct{})}
	}
	r := v.next
	if !v.running {
		v.running = true
		v.next = nil
		go v.run(ctx, r)
	}
	return r
}

// run performs round r, then the round that gathered meanwhile, if any
// (in a new goroutine, so that r's caller returns at once).
func (v *Versions) run(ctx context.Context, r *round) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	r.vec, r.err = v.src.CacheVersions(rctx)
	cancel()
	if r.err == nil {
		// Before waking the waiters, so that what they do next (a
		// Speculate) starts from this read.
		v.mu.Lock()
		v.last, v.hasRun = r.vec, true
		v.mu.Unlock()
	}
	close(r.done)
	v.mu.Lock()
	next := v.next
	v.next = nil
	v.running = next != nil
	v.mu.Unlock()
	if next != nil {
		go v.run(ctx, next)
	}
}

// Map is a cache of values by key, all valid for one counter value. When
// the counter moves the whole map is dropped: the cached tables change
// rarely, and a full reload of what is used is cheap. It holds at most max
// entries (older ones are dropped all at once beyond that), so a flood of
// distinct keys cannot grow it without bound. Misses are not cached.
type Map[K comparable, V any] struct {
	mu      sync.RWMutex
	version int64
	m       map[K]V
	max     int
}

// NewMap returns an empty Map holding at most max entries.
func NewMap[K comparable, V any](max int) *Map[K, V] {
	return &Map[K, V]{m: make(map[K]V), max: max}
}

// Get returns the value of key cached under counter value version.
func (c *Map[K, V]) Get(version int64, key K) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.version != version {
		var zero V
		return zero, false
	}
	val, ok := c.m[key]
	return val, ok
}

// Put caches val for key under counter value version; a newer counter
// value drops everything cached before, and an older one (a request that
// started before a change, finishing after newer ones) is not cached, so
// that it cannot throw away what they cached. (Counters only grow; after a
// database is restored from an older backup they may go back, and until
// the instances restart, lookups under the older counters miss, which is
// slower but still right: Get serves only exact counters.)
func (c *Map[K, V]) Put(version int64, key K, val V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version < c.version {
		return
	}
	if version != c.version {
		c.m = make(map[K]V)
		c.version = version
	}
	if len(c.m) >= c.max {
		c.m = make(map[K]V)
	}
	c.m[key] = val
}

// Value is a cache of one value valid for one counter value.
type Value[V any] struct {
	mu      sync.RWMutex
	ok      bool
	version int64
	val     V
}

// Get returns the value cached under counter value version.
func (c *Value[V]) Get(version int64) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.ok || c.version != version {
		var zero V
		return zero, false
	}
	return c.val, true
}

// Put caches val under counter value version (not under one older than
// what is cached).
func (c *Value[V]) Put(version int64, val V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && version < c.version {
		return // see Map.Put
	}
	c.ok, c.version, c.val = true, version, val
}

package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type countingSource struct {
	reads atomic.Int64
	vec   Vector
	err   error
}

func (s *countingSource) CacheVersions(context.Context) (Vector, error) {
	s.reads.Add(1)
	return s.vec, s.err
}

func TestCurrentReadsOncePerRequest(t *testing.T) {
	t.Parallel()
	src := &countingSource{vec: Vector{Settings: 3}}
	v := NewVersions(src)
	ctx := WithRequest(context.Background())
	for i := 0; i < 5; i++ {
		got, err := v.Current(ctx)
		if err != nil || got.Settings != 3 {
			t.Fatalf("Current: %+v %v", got, err)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("%d reads in one request, want 1", n)
	}
	// Forget: the next Current reads again and sees the change.
	src.vec.Settings = 4
	Forget(ctx)
	if got, _ := v.Current(ctx); got.Settings != 4 || src.reads.Load() != 2 {
		t.Fatalf("after Forget: %+v, %d reads", got, src.reads.Load())
	}
	// A new request reads again.
	if _, err := v.Current(WithRequest(context.Background())); err != nil || src.reads.Load() != 3 {
		t.Fatalf("new request: %d reads", src.reads.Load())
	}
	// Without a request memo every call reads.
	v.Current(context.Background())
	v.Current(context.Background())
	if n := src.reads.Load(); n != 5 {
		t.Fatalf("without memo: %d reads, want 5", n)
	}
}

func TestCurrentErrorIsNotRemembered(t *testing.T) {
	t.Parallel()
	src := &countingSource{err: errors.New("down")}
	v := NewVersions(src)
	ctx := WithRequest(context.Background())
	if _, err := v.Current(ctx); err == nil {
		t.Fatal("no error")
	}
	src.err = nil
	src.vec = Vector{Users: 9}
	if got, err := v.Current(ctx); err != nil || got.Users != 9 {
		t.Fatalf("after recovery: %+v %v", got, err)
	}
}

func TestMapValidOnlyForItsCounter(t *testing.T) {
	t.Parallel()
	m := NewMap[string, int](3)
	m.Put(1, "a", 10)
	if v, ok := m.Get(1, "a"); !ok || v != 10 {
		t.Fatalf("Get: %v %v", v, ok)
	}
	if _, ok := m.Get(2, "a"); ok {
		t.Fatal("served under a newer counter")
	}
	if _, ok := m.Get(0, "a"); ok {
		t.Fatal("served under an older counter")
	}
	if _, ok := m.Get(1, "b"); ok {
		t.Fatal("unknown key found")
	}
	// A value under another counter drops the rest.
	m.Put(2, "b", 20)
	if _, ok := m.Get(2, "a"); ok {
		t.Fatal("entry of the old counter kept")
	}
	// A late value under an older counter neither is served nor drops
	// the newer entries.
	m.Put(1, "a", 11)
	if _, ok := m.Get(1, "a"); ok {
		t.Fatal("cached under an older counter")
	}
	if v, ok := m.Get(2, "b"); !ok || v != 20 {
		t.Fatalf("a late older value dropped the newer ones: %v %v", v, ok)
	}
	// Bounded: the map is dropped when full.
	m.Put(2, "c", 30)
	m.Put(2, "d", 40)
	m.Put(2, "e", 50)
	if _, ok := m.Get(2, "b"); ok {
		t.Fatal("map grew beyond its bound")
	}
	if v, ok := m.Get(2, "e"); !ok || v != 50 {
		t.Fatalf("newest entry lost: %v %v", v, ok)
	}
}

func TestValueValidOnlyForItsCounter(t *testing.T) {
	t.Parallel()
	var c Value[string]
	if _, ok := c.Get(0); ok {
		t.Fatal("empty value found")
	}
	c.Put(5, "x")
	if v, ok := c.Get(5); !ok || v != "x" {
		t.Fatalf("Get: %q %v", v, ok)
	}
	if _, ok := c.Get(6); ok {
		t.Fatal("served under another counter")
	}
	c.Put(4, "old")
	if v, ok := c.Get(5); !ok || v != "x" {
		t.Fatalf("a late older value replaced the newer one: %q %v", v, ok)
	}
}

// blockingSource lets a test hold a read while it commits a "change".
type blockingSource struct {
	mu      sync.Mutex
	version int64
	reads   atomic.Int64
	gate    chan struct{} // closed: reads proceed
}

func (s *blockingSource) CacheVersions(context.Context) (Vector, error) {
	s.mu.Lock()
	v := s.version // the snapshot is taken when the read starts
	s.mu.Unlock()
	s.reads.Add(1)
	<-s.gate
	return Vector{Clients: v}, nil
}

// A request that arrives while a read is running waits for the next
// read: the running one may have started before a change the request
// must see. Requests arriving together share that next read.
func TestSharedReadsNeverOlderThanTheRequest(t *testing.T) {
	t.Parallel()
	src := &blockingSource{version: 1, gate: make(chan struct{})}
	v := NewVersions(src)
	first := make(chan Vector)
	go func() { vec, _ := v.Current(context.Background()); first <- vec }()
	for src.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// A change commits while the first read is running; then requests
	// arrive.
	src.mu.Lock()
	src.version = 2
	src.mu.Unlock()
	var wg sync.WaitGroup
	got := make([]Vector, 8)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _ = v.Current(WithRequest(context.Background())) }()
	}
	time.Sleep(20 * time.Millisecond)
	close(src.gate)
	wg.Wait()
	if vec := <-first; vec.Clients != 1 {
		t.Fatalf("first read: %+v", vec)
	}
	for i, vec := range got {
		if vec.Clients != 2 {
			t.Fatalf("request %d got the counters of a read that started before it: %+v", i, vec)
		}
	}
	if n := src.reads.Load(); n != 2 {
		t.Fatalf("%d reads for 9 requests, want 2 (the running one and one shared)", n)
	}
}

type lockedSource struct {
	mu  sync.Mutex
	vec Vector
}

func (s *lockedSource) CacheVersions(context.Context) (Vector, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vec, nil
}

func (s *lockedSource) set(v Vector) {
	s.mu.Lock()
	s.vec = v
	s.mu.Unlock()
}

// A speculating request works with the counters of the latest read at
// once; Confirm tells whether they were still the ones in force when it
// arrived.
func TestSpeculateAndConfirm(t *testing.T) {
	t.Parallel()
	src := &lockedSource{vec: Vector{Clients: 1}}
	v := NewVersions(src)
	bg := context.Background()
	check := func(what string, wantClients int64, wantOK bool) {
		t.Helper()
		ctx := v.Speculate(bg)
		got, err := v.Current(ctx)
		if err != nil || got.Clients != wantClients {
			t.Fatalf("%s: Current %+v %v, want clients %d", what, got, err, wantClients)
		}
		ok, err := Confirm(ctx)
		if err != nil || ok != wantOK {
			t.Fatalf("%s: Confirm %v %v, want %v", what, ok, err, wantOK)
		}
	}
	check("no read yet: reads first", 1, true)
	check("unchanged", 1, true)
	src.set(Vector{Clients: 2})
	check("changed since the last read: stale, and said so", 1, false)
	check("the next one has the new counters", 2, true)
	// Contexts that do not speculate confirm trivially.
	if ok, err := Confirm(WithRequest(bg)); !ok || err != nil {
		t.Fatalf("Confirm without speculation: %v %v", ok, err)
	}
}

package oauthtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/store"
)

// testReplayOnce: a key is accepted once until it expires, then again.
func testReplayOnce(t *testing.T, f Fixture) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	key := oauth.ReplayKey(oauth.ReplayClientAssertion, name("client-"), "jti-1")
	other := oauth.ReplayKey(oauth.ReplayDPoP, name("client-"), "jti-1")
	if err := f.Model.UseOnce(ctx, key, now.Add(time.Minute), now); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := f.Model.UseOnce(ctx, key, now.Add(time.Minute), now.Add(30*time.Second)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second use before expiry = %v, want ErrAlreadyExists", err)
	}
	if err := f.Model.UseOnce(ctx, other, now.Add(time.Minute), now); err != nil {
		t.Fatalf("another namespace's key: %v", err)
	}
	if err := f.Model.UseOnce(ctx, key, now.Add(3*time.Minute), now.Add(2*time.Minute)); err != nil {
		t.Fatalf("use after expiry: %v", err)
	}
	if err := f.Model.UseOnce(ctx, key, now.Add(4*time.Minute), now.Add(150*time.Second)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("use within the renewed time = %v, want ErrAlreadyExists", err)
	}
}

// testReplayConcurrent: of concurrent uses of one key exactly one wins.
func testReplayConcurrent(t *testing.T, f Fixture) {
	ctx := context.Background()
	now := time.Now().UTC()
	key := oauth.ReplayKey(oauth.ReplayDPoP, name("jkt-"), "jti")
	var wins, dup atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := f.Model.UseOnce(ctx, key, now.Add(time.Minute), now); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrAlreadyExists):
				dup.Add(1)
			default:
				t.Errorf("UseOnce: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || dup.Load() != 7 {
		t.Fatalf("wins=%d duplicates=%d, want 1 and 7", wins.Load(), dup.Load())
	}
}

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

// pushedRequest is a new pushed request of clientID, created at at and
// expiring a minute later.
func pushedRequest(clientID string, at time.Time) *oauth.PushedRequest {
	return &oauth.PushedRequest{Hash: hash(), ClientID: clientID, Params: "client_id=" + clientID + "&response_type=code&state=s%26t",
		DPoPJkt: "jkt-" + clientID, ExpiresAt: at.Add(time.Minute), CreatedAt: at}
}

// testPARSaveUse: a pushed request comes back once, whole, marked used;
// not to another client (which does not use it up), not after it expired.
func testPARSaveUse(t *testing.T, f Fixture) {
	ctx := context.Background()
	at := now()
	client := name("client-")
	r := pushedRequest(client, at)
	ok(t, f.Model.SavePushedRequest(ctx, r))
	if _, err := f.Model.UsePushedRequest(ctx, r.Hash, name("other-"), at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another client's use = %v, want ErrNotFound", err)
	}
	got, err := f.Model.UsePushedRequest(ctx, r.Hash, client, at.Add(time.Second))
	ok(t, err)
	if string(got.Hash) != string(r.Hash) || got.ClientID != client || got.Params != r.Params || got.DPoPJkt != r.DPoPJkt ||
		!got.ExpiresAt.Equal(r.ExpiresAt) || !got.CreatedAt.Equal(at) || got.UsedAt == nil || !got.UsedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("used %+v, want %+v used at +1s", got, r)
	}
	if _, err := f.Model.UsePushedRequest(ctx, r.Hash, client, at.Add(2*time.Second)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second use = %v, want ErrNotFound", err)
	}
	if _, err := f.Model.UsePushedRequest(ctx, hash(), client, at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash = %v, want ErrNotFound", err)
	}

	// Expired: at ExpiresAt it is gone.
	old := pushedRequest(client, at)
	ok(t, f.Model.SavePushedRequest(ctx, old))
	if _, err := f.Model.UsePushedRequest(ctx, old.Hash, client, old.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("use at expiry = %v, want ErrNotFound", err)
	}
	if _, err := f.Model.UsePushedRequest(ctx, old.Hash, client, old.ExpiresAt.Add(-time.Microsecond)); err != nil {
		t.Fatalf("use just before expiry: %v", err)
	}
}

// testPARDuplicate: a hash is stored once.
func testPARDuplicate(t *testing.T, f Fixture) {
	ctx := context.Background()
	r := pushedRequest(name("client-"), now())
	ok(t, f.Model.SavePushedRequest(ctx, r))
	dup := pushedRequest(name("client-"), now())
	dup.Hash = r.Hash
	if err := f.Model.SavePushedRequest(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate hash = %v, want ErrAlreadyExists", err)
	}
}

// testPARConcurrent: of concurrent uses exactly one wins.
func testPARConcurrent(t *testing.T, f Fixture) {
	ctx := context.Background()
	at := now()
	client := name("client-")
	r := pushedRequest(client, at)
	ok(t, f.Model.SavePushedRequest(ctx, r))
	var wins, lost atomic.Int32
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch _, err := f.Model.UsePushedRequest(ctx, r.Hash, client, at); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrNotFound):
				lost.Add(1)
			default:
				t.Errorf("UsePushedRequest: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || lost.Load() != concurrency-1 {
		t.Fatalf("wins=%d lost=%d, want 1 and %d", wins.Load(), lost.Load(), concurrency-1)
	}
}

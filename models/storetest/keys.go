package storetest

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

func init() {
	Tests = append(Tests,
		Test{"SigningKey/DeleteExpired", testSigningKeyDeleteExpired},
		Test{"SigningKey/Lock", testSigningKeyLock},
	)
}

// testSigningKeyDeleteExpired: only retired keys whose expiry has come are
// deleted.
func testSigningKeyDeleteExpired(t *testing.T, s *models.Store) {
	ctx := t.Context()
	base := now()
	keys := []*models.SigningKey{
		{KID: "current", ExpiresAt: ptr(base.Add(-time.Hour))}, // not retired: kept
		{KID: "expired", RetiredAt: ptr(base.Add(-2 * time.Hour)), ExpiresAt: ptr(base.Add(-time.Second))},
		{KID: "expires-now", RetiredAt: ptr(base.Add(-2 * time.Hour)), ExpiresAt: ptr(base)},
		{KID: "published", RetiredAt: ptr(base.Add(-2 * time.Hour)), ExpiresAt: ptr(base.Add(time.Second))},
	}
	for _, k := range keys {
		k.Alg, k.PrivateKey, k.PublicJWK = "RS256", []byte{1}, "{}"
		ok(t, s.CreateSigningKey(ctx, k))
	}
	n, err := s.DeleteExpiredSigningKeys(ctx, base.In(zone))
	ok(t, err)
	eq(t, "deleted", n, int64(2))
	left, err := s.ListSigningKeys(ctx)
	ok(t, err)
	var kids []string
	for _, k := range left {
		kids = append(kids, k.KID)
	}
	sort.Strings(kids)
	eq(t, "left", kids, []string{"current", "published"})
}

// testSigningKeyLock: LockSigningKeys needs a transaction, and two
// transactions holding it run one after the other.
func testSigningKeyLock(t *testing.T, s *models.Store) {
	ctx := t.Context()
	if err := s.LockSigningKeys(ctx); err == nil {
		t.Fatal("LockSigningKeys outside a transaction")
	}
	var mu sync.Mutex
	inside, overlaps := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Tx(ctx, func(tx *models.Store) error {
				if err := tx.LockSigningKeys(ctx); err != nil {
					return err
				}
				mu.Lock()
				inside++
				if inside > 1 {
					overlaps++
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				// Reads inside the lock work.
				if _, err := tx.ListSigningKeys(ctx); err != nil {
					return err
				}
				mu.Lock()
				inside--
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	eq(t, "overlapping lock holders", overlaps, 0)
	// Plain reads are not blocked by a holder.
	ok(t, s.Tx(ctx, func(tx *models.Store) error {
		if err := tx.LockSigningKeys(ctx); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { _, err := s.ListSigningKeys(ctx); done <- err }()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Error("a plain read waited for the lock")
			return nil
		}
	}))
}

package storetest

import (
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testSigningKey(t *testing.T, s *models.Store) {
	ctx := t.Context()
	base := now()
	k1 := &models.SigningKey{KID: "k1", Alg: "RS256", PrivateKey: []byte{1, 2, 3}, Encrypted: true,
		PublicJWK: `{"kty":"RSA"}`, CreatedAt: base.Add(-time.Hour)}
	k2 := &models.SigningKey{KID: "k2", Alg: "ES256", PrivateKey: []byte{4, 5}, PublicJWK: `{"kty":"EC"}`,
		ExpiresAt: ptr(base.Add(time.Hour))}
	ok(t, s.CreateSigningKey(ctx, k1))
	ok(t, s.CreateSigningKey(ctx, k2))
	isErr(t, s.CreateSigningKey(ctx, &models.SigningKey{KID: "k1", Alg: "RS256", PrivateKey: []byte{1}, PublicJWK: "{}"}), store.ErrAlreadyExists)
	keys, err := s.ListSigningKeys(ctx)
	ok(t, err)
	eq(t, "keys newest first", keys, []models.SigningKey{*k2, *k1})

	retired := base.In(zone)
	ok(t, s.UpdateSigningKey(ctx, "k1", func(k *models.SigningKey) error {
		k.RetiredAt = &retired
		k.Encrypted = false
		k.PrivateKey = []byte{9}
		return nil
	}))
	ok(t, s.UpdateSigningKey(ctx, "k2", func(k *models.SigningKey) error { k.ExpiresAt = nil; return nil }))
	keys, err = s.ListSigningKeys(ctx)
	ok(t, err)
	sameTimePtr(t, "RetiredAt", keys[1].RetiredAt, &retired)
	eq(t, "Encrypted", keys[1].Encrypted, false)
	eq(t, "PrivateKey", keys[1].PrivateKey, []byte{9})
	eq(t, "ExpiresAt", keys[0].ExpiresAt, (*time.Time)(nil))
	boom := errors.New("boom")
	isErr(t, s.UpdateSigningKey(ctx, "k1", func(k *models.SigningKey) error { k.Alg = "none"; return boom }), boom)
	if err := s.UpdateSigningKey(ctx, "k1", func(k *models.SigningKey) error { k.KID = "k9"; return nil }); err == nil {
		t.Error("UpdateSigningKey changed the key ID")
	}
	isErr(t, s.UpdateSigningKey(ctx, "nope", func(*models.SigningKey) error { return nil }), store.ErrNotFound)

	ok(t, s.DeleteSigningKey(ctx, "k1"))
	isErr(t, s.DeleteSigningKey(ctx, "k1"), store.ErrNotFound)
	keys, err = s.ListSigningKeys(ctx)
	ok(t, err)
	eq(t, "keys left", len(keys), 1)
	eq(t, "Alg", keys[0].Alg, "ES256")
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
	kids := pluck(left, func(k models.SigningKey) string { return k.KID })
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

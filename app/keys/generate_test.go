package keys

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// TestTwoManagersAgree: two instances starting at once on one database
// make one set of keys, verify each other's tokens, and see each other's
// rotations (at once for unknown kids, within the TTL for signing).
func TestTwoManagersAgree(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string, st1 *models.Store) {
		ctx := context.Background()
		st2 := models.New(dbtest.Open(t, url))
		c := newClock()
		m1, m2 := newManager(st1, c, secretA), newManager(st2, c, secretA)
		// Both instances find no keys and generate before either inserts.
		var barrier sync.WaitGroup
		barrier.Add(2)
		for _, m := range []*Manager{m1, m2} {
			m.generate = func(alg string) (crypto.Signer, error) {
				if alg == RS256 {
					barrier.Done()
					barrier.Wait()
				}
				return generate(alg)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, m := range []*Manager{m1, m2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = m.Ensure(ctx)
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("concurrent Ensure: %v", errs)
		}
		m1.generate, m2.generate = generate, generate
		rows, _ := st1.ListSigningKeys(ctx)
		if len(rows) != 2 {
			t.Fatalf("two instances starting at once made %d keys, want 2", len(rows))
		}
		t1, t2 := sign(t, m1, map[string]string{}, "JWT"), sign(t, m2, map[string]string{}, "JWT")
		if header(t, t1)["kid"] != header(t, t2)["kid"] {
			t.Fatal("the instances sign with different keys")
		}
		j1, _ := m1.JWKS(ctx)
		j2, _ := m2.JWKS(ctx)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("JWKS differ:\n%s\n%s", j1, j2)
		}

		rot, err := m1.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t3 := sign(t, m1, map[string]string{}, "JWT")
		// m2 has not reloaded yet, but an unknown kid makes it look.
		if _, err := m2.Verify(ctx, t3, "JWT"); err != nil {
			t.Fatalf("other instance rejects a token of the new key: %v", err)
		}
		m2.Invalidate()
		if h := header(t, sign(t, m2, map[string]string{}, "JWT")); h["kid"] != rot.New[0].KID {
			t.Fatalf("other instance signs with %v after reload, want %s", h["kid"], rot.New[0].KID)
		}
		for _, tok := range []string{t1, t2, t3} {
			for _, m := range []*Manager{m1, m2} {
				if _, err := m.Verify(ctx, tok, "JWT"); err != nil {
					t.Fatal(err)
				}
			}
		}

		// Rotations at once on both instances leave one current key per
		// algorithm.
		for _, m := range []*Manager{m1, m2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := m.Rotate(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		list, _ := m1.List(ctx)
		current := 0
		for _, k := range list {
			if k.Status == StatusCurrent {
				current++
			}
		}
		if current != 2 || len(list) != 8 {
			t.Fatalf("after concurrent rotations: %d current of %d", current, len(list))
		}
	})
}

// TestGeneratedKIDTaken: a generated key that is already stored (only a
// test key pool can do that) is generated again.
func TestGeneratedKIDTaken(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	m := newManager(st, newClock(), "")
	first, _ := generateFresh(RS256)
	second, _ := generateFresh(RS256)
	calls := 0
	m.generate = func(alg string) (crypto.Signer, error) {
		if alg != RS256 {
			return generateFresh(alg)
		}
		calls++
		if calls <= 2 { // Ensure, then Rotate's first try: the same key
			return first, nil
		}
		return second, nil
	}
	mustEnsure(t, m)
	rot, err := m.Rotate(ctx)
	if err != nil {
		t.Fatalf("Rotate with a taken kid: %v", err)
	}
	if want, _ := thumbprint(second.Public()); rot.New[0].KID != want || calls != 3 {
		t.Fatalf("new key %s after %d generations", rot.New[0].KID, calls)
	}
	// Always the same key: Rotate gives up with an error.
	m.generate = func(alg string) (crypto.Signer, error) {
		if alg == RS256 {
			return second, nil
		}
		return generateFresh(alg)
	}
	if _, err := m.Rotate(ctx); !errors.Is(err, errKIDTaken) {
		t.Fatalf("Rotate that can only draw a stored key: %v", err)
	}
}

func TestTestKeyPool(t *testing.T) {
	defer testPool.on.Store(false)
	UseTestKeyPool()
	seen := map[string]int{}
	for i := 0; i < testPoolSize+3; i++ {
		k, err := generate(RS256)
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := thumbprint(k.Public())
		seen[kid]++
	}
	if len(seen) != testPoolSize {
		t.Fatalf("%d distinct keys from the pool, want %d", len(seen), testPoolSize)
	}
	// Rotations on one database never store a key twice.
	st := models.New(dbtest.SQLite(t))
	m := newManager(st, newClock(), "")
	mustEnsure(t, m)
	for i := 0; i < testPoolSize-2; i++ {
		if _, err := m.Rotate(context.Background()); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
}

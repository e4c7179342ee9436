package keys

import (
	"bytes"
	"context"
	"crypto"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// TestStoredKeyChecks: a row whose public key does not match its kid, or
// whose private key does not suit its algorithm, fails loading.
func TestStoredKeyChecks(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	c := newClock()
	m := newManager(st, c, "")
	mustEnsure(t, m)
	rows, _ := st.ListSigningKeys(ctx)
	rs, es := rows[0], rows[1]
	if rs.Alg != RS256 {
		rs, es = es, rs
	}
	err := st.UpdateSigningKey(ctx, rs.KID, func(k *models.SigningKey) error { k.PublicJWK = es.PublicJWK; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := newManager(st, c, "").Ensure(ctx); err == nil || !strings.Contains(err.Error(), "does not match the key ID") {
		t.Fatalf("swapped public key: %v", err)
	}
	_ = st.UpdateSigningKey(ctx, rs.KID, func(k *models.SigningKey) error {
		k.PublicJWK, k.PrivateKey = rs.PublicJWK, es.PrivateKey
		return nil
	})
	if err := newManager(st, c, "").Ensure(ctx); err == nil || !strings.Contains(err.Error(), "not a key for RS256") {
		t.Fatalf("EC private key under RS256: %v", err)
	}
}

// TestCacheTTL: another instance's rotation is seen after the TTL without
// any hint.
func TestCacheTTL(t *testing.T) {
	url := dbtest.SQLiteURL(t)
	st1, st2 := models.New(dbtest.Open(t, url)), models.New(dbtest.Open(t, url))
	c := newClock()
	m1 := newManager(st1, c, "")
	m2 := New(Options{Store: st2, Now: c.Now, CacheTTL: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	mustEnsure(t, m1)
	// Keys made beforehand, so that the rotation is quicker than the TTL.
	made := map[string]crypto.Signer{}
	for _, alg := range KeyAlgorithms {
		made[alg], _ = generate(alg)
	}
	m1.generate = func(alg string) (crypto.Signer, error) { return made[alg], nil }
	mustEnsure(t, m2)
	rot, err := m1.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, sign(t, m2, map[string]string{}, "JWT")); h["kid"] == rot.New[0].KID {
		t.Fatal("reloaded before the TTL (the test needs a cached set)")
	}
	time.Sleep(60 * time.Millisecond)
	if h := header(t, sign(t, m2, map[string]string{}, "JWT")); h["kid"] != rot.New[0].KID {
		t.Fatalf("not reloaded after the TTL: %v", h["kid"])
	}
}

// TestReloadFailureKeepsKeys: when the database cannot be read, the keys
// loaded before go on working.
func TestReloadFailureKeepsKeys(t *testing.T) {
	url := dbtest.SQLiteURL(t)
	st := models.New(dbtest.Open(t, url))
	var logs bytes.Buffer
	m := New(Options{Store: st, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	mustEnsure(t, m)
	tok := sign(t, m, map[string]string{}, "JWT")
	sqlDB, _ := st.DB().DB()
	sqlDB.Close()
	m.Invalidate()
	if _, err := m.Sign(context.Background(), map[string]string{}, "JWT"); err != nil {
		t.Fatalf("Sign with the database gone: %v", err)
	}
	if _, err := m.Verify(context.Background(), tok, "JWT"); err != nil {
		t.Fatalf("Verify with the database gone: %v", err)
	}
	if !strings.Contains(logs.String(), "reload failed") {
		t.Fatalf("failure not logged: %s", logs.String())
	}
	// A manager that never loaded reports the error.
	if _, err := New(Options{Store: st}).JWKS(context.Background()); err == nil {
		t.Fatal("JWKS without a database")
	}
	if algs := New(Options{Store: st}).Algorithms(); len(algs) != 1 || algs[0] != RS256 {
		t.Fatalf("Algorithms without a database = %v", algs)
	}
}

// TestConcurrentUse exercises the cache under -race: signing, verifying
// and publishing while keys rotate and caches are dropped.
func TestConcurrentUse(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	m := New(Options{Store: st, CacheTTL: time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	mustEnsure(t, m)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := m.Sign(ctx, map[string]int{"i": i}, "JWT")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := m.Verify(ctx, tok, "JWT"); err != nil {
					t.Error(err)
					return
				}
				if _, err := m.JWKS(ctx); err != nil {
					t.Error(err)
					return
				}
				_ = m.Algorithms()
			}
		}()
	}
	for i := 0; i < 3; i++ {
		if _, err := m.Rotate(ctx); err != nil {
			t.Error(err)
		}
		m.Invalidate()
	}
	close(stop)
	wg.Wait()
}

// TestVersionCounter: with Options.Version (the cache_state counter that
// triggers bump on every change to signing_keys), another instance's
// rotation is seen on the next use, without waiting for the TTL.
func TestVersionCounter(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string, st1 *models.Store) {
		ctx := context.Background()
		st2 := models.New(dbtest.Open(t, url))
		c := newClock()
		m1 := newManager(st1, c, "")
		version := func(ctx context.Context) (int64, error) {
			v, err := st2.CacheVersions(ctx)
			return v.Keys, err
		}
		m2 := New(Options{Store: st2, Now: c.Now, CacheTTL: time.Hour, Version: version, Log: slog.New(slog.DiscardHandler)})
		mustEnsure(t, m1)
		mustEnsure(t, m2)
		before := header(t, sign(t, m2, map[string]string{}, "JWT"))["kid"]
		// Pruning nothing writes nothing: the counter stays.
		v1, _ := version(ctx)
		if _, err := m1.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if v2, _ := version(ctx); v2 != v1 {
			t.Fatalf("an empty Prune moved the counter %d -> %d", v1, v2)
		}
		rot, err := m1.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		after := header(t, sign(t, m2, map[string]string{}, "JWT"))["kid"]
		if after == before || after != rot.New[0].KID {
			t.Fatalf("kid after another instance rotated: %v (before %v, new %s)", after, before, rot.New[0].KID)
		}
	})
}

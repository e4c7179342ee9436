package settings

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/cache"
)

type versionedStore struct {
	m       map[string]string
	reads   int
	version int64
}

func (s *versionedStore) GetSettings(context.Context) (map[string]string, error) {
	s.reads++
	out := map[string]string{}
	for k, v := range s.m {
		out[k] = v
	}
	return out, nil
}

func (s *versionedStore) SetSetting(_ context.Context, k, v string) error {
	s.m[k] = v
	s.version++ // what the database trigger does
	return nil
}

func (s *versionedStore) CacheVersions(context.Context) (cache.Vector, error) {
	return cache.Vector{Settings: s.version}, nil
}

func TestCachedServiceReloadsWhenTheCounterMoves(t *testing.T) {
	t.Parallel()
	st := &versionedStore{m: map[string]string{}, version: 1}
	svc := NewCachedService(st, cache.NewVersions(st))
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		v, err := svc.Load(ctx)
		if err != nil || v.AccessTokenLifetime != time.Hour {
			t.Fatalf("Load: %+v %v", v, err)
		}
	}
	if st.reads != 1 {
		t.Fatalf("%d reads for 3 loads with an unchanged counter", st.reads)
	}
	// A change made elsewhere (another process) moves the counter.
	st.m["access_token_lifetime"] = "5m"
	st.version++
	if v, _ := svc.Load(ctx); v.AccessTokenLifetime != 5*time.Minute {
		t.Fatalf("stale after the counter moved: %v", v.AccessTokenLifetime)
	}
	// A change through the service is seen later in the same request.
	rctx := cache.WithRequest(ctx)
	if _, err := svc.Load(rctx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Set(rctx, "access_token_lifetime", "7m"); err != nil {
		t.Fatal(err)
	}
	if v, _ := svc.Load(rctx); v.AccessTokenLifetime != 7*time.Minute {
		t.Fatalf("same request after Set: %v", v.AccessTokenLifetime)
	}
}

package keys

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/models"
)

func TestRetention(t *testing.T) {
	def, ok := settings.Lookup("access_token_lifetime")
	if !ok {
		t.Fatal("no access_token_lifetime setting")
	}
	if got, want := Retention(), def.Max+Margin; got != want || got < 24*time.Hour || MaxTokenLifetime() != def.Max {
		t.Fatalf("Retention = %v, want %v", got, want)
	}
}

// TestRotation: new keys sign at once; the old ones stay published (and
// their tokens valid) until Retention has passed, then leave the JWKS and
// are pruned.
func TestRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, st *models.Store) {
		ctx := context.Background()
		c := newClock()
		m := newManager(st, c, "")
		mustEnsure(t, m)
		old := sign(t, m, map[string]string{"sub": "1"}, "JWT")
		oldKID := header(t, old)["kid"].(string)
		oldES, err := m.SignWith(ctx, ES256, map[string]string{"sub": "1"}, "JWT")
		if err != nil {
			t.Fatal(err)
		}
		before, _ := jwks(t, m)

		rotatedAt := c.Now()
		rot, err := m.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rot.New) != 2 || rot.New[0].Alg != RS256 || rot.New[1].Alg != ES256 || rot.New[0].Status != StatusCurrent {
			t.Fatalf("new keys = %+v", rot.New)
		}
		if len(rot.Retired) != 2 {
			t.Fatalf("retired = %+v", rot.Retired)
		}
		for _, k := range rot.Retired {
			if k.Status != StatusRetired || !k.RetiredAt.Equal(rotatedAt) || !k.ExpiresAt.Equal(rotatedAt.Add(Retention())) {
				t.Errorf("retired key %+v", k)
			}
		}
		fresh := sign(t, m, map[string]string{"sub": "1"}, "JWT")
		newKID := header(t, fresh)["kid"].(string)
		if newKID == oldKID || newKID != rot.New[0].KID {
			t.Fatalf("after Rotate the token is signed by %s (old %s, new %s)", newKID, oldKID, rot.New[0].KID)
		}
		// The ES256 key rotates with the RS256 one.
		freshES, err := m.SignWith(ctx, ES256, map[string]string{"sub": "1"}, "JWT")
		if err != nil {
			t.Fatal(err)
		}
		if h := header(t, freshES); h["kid"] != rot.New[1].KID || h["alg"] != ES256 || h["kid"] == header(t, oldES)["kid"] {
			t.Fatalf("after Rotate the ES256 token header is %v (new ES256 key %s)", h, rot.New[1].KID)
		}
		set, _ := jwks(t, m)
		got := kids(set)
		want := []string{rot.New[0].KID, rot.New[1].KID, before.Keys[0].KeyID, before.Keys[1].KeyID}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("JWKS after rotation = %v, want %v", got, want)
		}
		for _, tok := range []string{old, fresh, oldES, freshES} {
			if _, err := m.Verify(ctx, tok, "JWT"); err != nil {
				t.Fatalf("Verify after rotation: %v", err)
			}
			if err := verifyWithJWKS(t, m, tok); err != nil {
				t.Fatalf("JWKS check after rotation: %v", err)
			}
		}

		// A token signed just before the rotation with the longest
		// lifetime the setting allows expires before the old key leaves.
		def, _ := settings.Lookup("access_token_lifetime")
		c.Add(def.Max)
		if _, err := m.Verify(ctx, old, "JWT"); err != nil {
			t.Fatalf("old key gone while its tokens may live: %v", err)
		}
		c.Add(Margin - time.Second)
		if set, _ := jwks(t, m); len(set.Keys) != 4 {
			t.Fatalf("old keys left the JWKS early: %v", kids(set))
		}
		c.Add(time.Second)
		set, _ = jwks(t, m)
		if strings.Join(kids(set), " ") != rot.New[0].KID+" "+rot.New[1].KID {
			t.Fatalf("JWKS after expiry = %v", kids(set))
		}
		if _, err := m.Verify(ctx, old, "JWT"); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("token of an expired key verifies: %v", err)
		}
		list, _ := m.List(ctx)
		if len(list) != 4 || list[2].Status != StatusExpired || list[2].Published() {
			t.Fatalf("List = %+v", list)
		}
		if n, err := m.Prune(ctx); err != nil || n != 2 {
			t.Fatalf("Prune = %d, %v", n, err)
		}
		if list, _ := m.List(ctx); len(list) != 2 || list[0].KID != rot.New[0].KID {
			t.Fatalf("List after Prune = %+v", list)
		}
		if _, err := m.Verify(ctx, fresh, "JWT"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRotateTwice: a second rotation retires the keys of the first; keys
// retired earlier keep their own expiry.
func TestRotateTwice(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	c := newClock()
	m := newManager(st, c, "")
	mustEnsure(t, m)
	first := c.Now()
	r1, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	r2, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Retired) != 2 || r2.Retired[0].KID != r1.New[0].KID && r2.Retired[1].KID != r1.New[0].KID {
		t.Fatalf("second rotation retired %+v", r2.Retired)
	}
	list, _ := m.List(ctx)
	if len(list) != 6 {
		t.Fatalf("%d keys", len(list))
	}
	for _, k := range list[2:] {
		if k.Status != StatusRetired {
			t.Errorf("%s is %s", k.KID, k.Status)
		}
	}
	if set, _ := jwks(t, m); len(set.Keys) != 6 {
		t.Fatalf("JWKS has %d keys", len(set.Keys))
	}
	c.Add(Retention() - time.Hour) // the first keys expire, the second set not yet
	set, _ := jwks(t, m)
	if len(set.Keys) != 4 || set.Keys[2].KeyID != r1.New[0].KID {
		t.Fatalf("JWKS = %v", kids(set))
	}
	_ = first
}

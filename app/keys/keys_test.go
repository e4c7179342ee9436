package keys

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

const secretA = "0123456789abcdef0123456789abcdef-A"
const secretB = "0123456789abcdef0123456789abcdef-B"

// clock is a settable clock shared by the managers of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// eachBackend runs fn on a fresh SQLite database and, when configured, a
// fresh PostgreSQL schema; url opens further connections to the same one.
func eachBackend(t *testing.T, fn func(t *testing.T, url string, st *models.Store)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			url := b.URL(t)
			fn(t, url, models.New(dbtest.Open(t, url)))
		})
	}
}

func newManager(st *models.Store, c *clock, secret string) *Manager {
	return New(Options{Store: st, Secret: secret, Now: c.Now, Log: slog.New(slog.DiscardHandler)})
}

func mustEnsure(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
}

func sign(t *testing.T, m *Manager, claims any, typ string) string {
	t.Helper()
	tok, err := m.Sign(context.Background(), claims, typ)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// header decodes a compact JWS's protected header.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// jwks fetches and parses the JWK Set.
func jwks(t *testing.T, m *Manager) (jose.JSONWebKeySet, []map[string]any) {
	t.Helper()
	doc, err := m.JWKS(context.Background())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, doc)
	}
	var raw struct{ Keys []map[string]any }
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	return set, raw.Keys
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// verifyWithJWKS checks tok the way a relying party does: its kid found in
// the published JWKS, its signature verified with that key.
func verifyWithJWKS(t *testing.T, m *Manager, tok string) error {
	t.Helper()
	set, _ := jwks(t, m)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return err
	}
	found := set.Key(jws.Signatures[0].Protected.KeyID)
	if len(found) != 1 {
		return errors.New("kid not in the JWKS")
	}
	_, err = jws.Verify(found[0].Key)
	return err
}

package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/keys"
)

func init() {
	// Every harness starts a server, which makes signing keys: RSA keys
	// come from a small pool instead of being generated each time (key
	// generation was three quarters of this package's test time).
	keys.UseTestKeyPool()
}

// TestJWKSEndpoint: GET {P}/jwks serves the public keys as JSON with a
// public cache that must revalidate and an ETag; every kid that signs resolves in it.
func TestJWKSEndpoint(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	r := h.get("/oauth/jwks")
	if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "application/json" ||
		r.Header.Get("Cache-Control") != "public, no-cache" {
		t.Fatalf("jwks: %d %v", r.StatusCode, r.Header)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.body), &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("jwks body: %v %s", err, r.body)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.KeyID == "" || (k.Algorithm != "RS256" && k.Algorithm != "ES256") {
			t.Errorf("key %+v", k)
		}
	}
	if strings.Contains(r.body, `"d"`) {
		t.Fatal("the JWKS holds a private key")
	}
	// A token the server signs verifies with the key its kid names.
	tok, err := h.srv.Handlers.Keys.Sign(context.Background(), map[string]string{"sub": "x"}, "JWT")
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	found := set.Key(jws.Signatures[0].Protected.KeyID)
	if len(found) != 1 {
		t.Fatalf("kid %s not in the JWKS", jws.Signatures[0].Protected.KeyID)
	}
	if _, err := jws.Verify(found[0].Key); err != nil {
		t.Fatalf("signature: %v", err)
	}

	// Revalidation.
	etag := r.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q", etag)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag} {
		r := h.do(http.MethodGet, "/oauth/jwks", nil, "If-None-Match", inm)
		if r.StatusCode != http.StatusNotModified || r.body != "" || r.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d %q", inm, r.StatusCode, r.body)
		}
	}
	if r := h.do(http.MethodGet, "/oauth/jwks", nil, "If-None-Match", `"other"`); r.StatusCode != http.StatusOK {
		t.Errorf("stale ETag: %d", r.StatusCode)
	}

	// After a rotation: four keys, new ETag, the new key first.
	rot, err := h.srv.Handlers.Keys.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r = h.do(http.MethodGet, "/oauth/jwks", nil, "If-None-Match", etag)
	if r.StatusCode != http.StatusOK || r.Header.Get("ETag") == etag {
		t.Fatalf("after rotation: %d %s", r.StatusCode, r.Header.Get("ETag"))
	}
	if kids := jwksKIDs(t, h); len(kids) != 4 || kids[0] != rot.New[0].KID || kids[2] != set.Keys[0].KeyID {
		t.Fatalf("kids after rotation: %v", kids)
	}
}

// Without a key secret the start-up log warns that the keys are stored
// in plain text; with one it does not.
func TestStartWarnsAboutUnencryptedKeys(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	if !strings.Contains(h.logs.String(), "signing keys are stored unencrypted") {
		t.Errorf("no warning in the log:\n%s", h.logs.String())
	}
	h2 := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_KEY_SECRET": strings.Repeat("k", 40)})
	if strings.Contains(h2.logs.String(), "stored unencrypted") {
		t.Error("warning although a key secret is set")
	}
}

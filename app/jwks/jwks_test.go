package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/jwks"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/outbound"
)

// Tests of the key source (jwks.go): each rule of the package comment.

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// setJSON is a JWK Set of keys (each a JSONWebKey) as JSON.
func setJSON(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clock is a test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// server serves body (changeable) with cacheControl, counting requests.
type server struct {
	*httptest.Server
	mu           sync.Mutex
	body         string
	cacheControl string
	status       int
	hits         atomic.Int64
}

func newServer(t *testing.T, body string) *server {
	s := &server{body: body, status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.cacheControl != "" {
			w.Header().Set("Cache-Control", s.cacheControl)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(body, cacheControl string, status int) {
	s.mu.Lock()
	s.body, s.cacheControl, s.status = body, cacheControl, status
	s.mu.Unlock()
}

func newSource(clk *clock) *jwks.Source {
	return jwks.New(jwks.Options{HTTP: outbound.New(outbound.Options{AllowPrivate: true}), AllowHTTP: true, Now: clk.Now})
}

func kids(set *jose.JSONWebKeySet) string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return strings.Join(out, ",")
}

// A fetched set is cached for its max-age (bounded to [5 min, 24 h]);
// then fetched again.
func TestCacheHonoursMaxAge(t *testing.T) {
	t.Parallel()
	a := jose.JSONWebKey{Key: ecKey(t).Public(), KeyID: "a"}
	srv := newServer(t, setJSON(t, a))
	cases := []struct {
		cacheControl string
		ttl          time.Duration
	}{
		{"", time.Hour},                    // default
		{"max-age=600", 10 * time.Minute},  // honoured
		{"max-age=10", 5 * time.Minute},    // raised to the minimum
		{"max-age=999999", 24 * time.Hour}, // lowered to the maximum
		{"no-store", 5 * time.Minute},
		{"public, max-age=1200", 20 * time.Minute},
	}
	for _, tc := range cases {
		srv.set(setJSON(t, a), tc.cacheControl, 200)
		clk := &clock{now: time.Now()}
		src := newSource(clk)
		before := srv.hits.Load()
		for range 3 {
			if _, err := src.PublicKeys(context.Background(), "", srv.URL, false); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(tc.ttl - time.Second)
		if _, err := src.PublicKeys(context.Background(), "", srv.URL, false); err != nil {
			t.Fatal(err)
		}
		if got := srv.hits.Load() - before; got != 1 {
			t.Fatalf("%q: %d fetches within the ttl, want 1", tc.cacheControl, got)
		}
		clk.Advance(2 * time.Second)
		if _, err := src.PublicKeys(context.Background(), "", srv.URL, false); err != nil {
			t.Fatal(err)
		}
		if got := srv.hits.Load() - before; got != 2 {
			t.Fatalf("%q: %d fetches after the ttl %s, want 2", tc.cacheControl, got, tc.ttl)
		}
	}
}

// A refresh (unknown kid) fetches again, but at most once per 10 s per
// URL; a failed fetch is not retried within 10 s either.
func TestRefreshIsRateLimited(t *testing.T) {
	t.Parallel()
	a := jose.JSONWebKey{Key: ecKey(t).Public(), KeyID: "a"}
	b := jose.JSONWebKey{Key: ecKey(t).Public(), KeyID: "b"}
	srv := newServer(t, setJSON(t, a))
	clk := &clock{now: time.Now()}
	src := newSource(clk)
	ctx := context.Background()
	if _, err := src.PublicKeys(ctx, "", srv.URL, false); err != nil {
		t.Fatal(err)
	}
	srv.set(setJSON(t, a, b), "", 200)
	// Within 10 s of the first fetch, a refresh answers from the cache.
	set, err := src.PublicKeys(ctx, "", srv.URL, true)
	if err != nil || kids(set) != "a" || srv.hits.Load() != 1 {
		t.Fatalf("refresh within 10 s: %v %q, %d fetches", err, kids(set), srv.hits.Load())
	}
	clk.Advance(11 * time.Second)
	set, err = src.PublicKeys(ctx, "", srv.URL, true)
	if err != nil || kids(set) != "a,b" || srv.hits.Load() != 2 {
		t.Fatalf("refresh after 10 s: %v %q, %d fetches", err, kids(set), srv.hits.Load())
	}
	// Many refreshes at once (an attacker sending unknown kids): one fetch.
	clk.Advance(11 * time.Second)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = src.PublicKeys(ctx, "", srv.URL, true)
		}()
	}
	wg.Wait()
	if srv.hits.Load() != 3 {
		t.Fatalf("20 concurrent refreshes: %d fetches, want 3 in all", srv.hits.Load())
	}

	// A URL that fails is not asked again within 10 s.
	bad := newServer(t, "oops")
	bad.set("oops", "", 500)
	src2 := newSource(clk)
	for range 3 {
		if _, err := src2.PublicKeys(ctx, "", bad.URL, true); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
			t.Fatalf("failing URL: %v", err)
		}
	}
	if bad.hits.Load() != 1 {
		t.Fatalf("failing URL fetched %d times within 10 s", bad.hits.Load())
	}
}

// When a fetch fails after a good one, the keys fetched before are kept.
func TestStaleKeysOnFailure(t *testing.T) {
	t.Parallel()
	a := jose.JSONWebKey{Key: ecKey(t).Public(), KeyID: "a"}
	srv := newServer(t, setJSON(t, a))
	clk := &clock{now: time.Now()}
	src := newSource(clk)
	if _, err := src.PublicKeys(context.Background(), "", srv.URL, false); err != nil {
		t.Fatal(err)
	}
	srv.set("", "", 503)
	clk.Advance(2 * time.Hour)
	set, err := src.PublicKeys(context.Background(), "", srv.URL, false)
	if err != nil || kids(set) != "a" {
		t.Fatalf("stale: %v", err)
	}
}

// The answer is capped (64 KB by default); non-200, non-JSON and http
// URLs (without AllowHTTP) are refused; so is a URL with credentials.
func TestFetchRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	big := newServer(t, `{"keys":[]`+strings.Repeat(" ", 70<<10)+`}`)
	clk := &clock{now: time.Now()}
	src := newSource(clk)
	if _, err := src.PublicKeys(ctx, "", big.URL, false); err == nil || !strings.Contains(err.Error(), "larger than 65536 bytes") {
		t.Fatalf("big: %v", err)
	}
	notFound := newServer(t, "")
	notFound.set("", "", 404)
	if _, err := src.PublicKeys(ctx, "", notFound.URL, false); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("404: %v", err)
	}
	html := newServer(t, "<html>")
	if _, err := src.PublicKeys(ctx, "", html.URL, false); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("html: %v", err)
	}
	strict := jwks.New(jwks.Options{HTTP: outbound.New(outbound.Options{AllowPrivate: true}), Now: clk.Now})
	if _, err := strict.PublicKeys(ctx, "", html.URL, false); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http without AllowHTTP: %v", err)
	}
	if _, err := src.PublicKeys(ctx, "", "https://user:pw@example.com/jwks", false); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("credentials: %v", err)
	}
	// Without AllowPrivate (production), loopback is not reached at all.
	guarded := jwks.New(jwks.Options{HTTP: outbound.New(outbound.Options{}), AllowHTTP: true, Now: clk.Now})
	if _, err := guarded.PublicKeys(ctx, "", html.URL, false); !errors.Is(err, outbound.ErrForbiddenAddress) {
		t.Fatalf("loopback: %v", err)
	}
}

// Pasted or fetched, a set holds public signing keys only.
func TestParsePublicRefusals(t *testing.T) {
	t.Parallel()
	rk := rsaKey(t, 2048)
	ek := ecKey(t)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	good := []jose.JSONWebKey{{Key: rk.Public(), KeyID: "r"}, {Key: ek.Public(), KeyID: "e", Use: "sig"}, {Key: edPriv.Public(), KeyID: "d"}}
	set, err := oauth.ParsePublicJWKS([]byte(setJSON(t, good...)))
	if err != nil || kids(set) != "r,e,d" {
		t.Fatalf("good: %v", err)
	}
	cases := map[string]struct{ body, want string }{
		"private RSA":    {setJSON(t, jose.JSONWebKey{Key: rk, KeyID: "r"}), "is a private key"},
		"private EC":     {setJSON(t, jose.JSONWebKey{Key: ek, KeyID: "e"}), "is a private key"},
		"private Ed":     {setJSON(t, jose.JSONWebKey{Key: edPriv, KeyID: "d"}), "is a private key"},
		"symmetric":      {setJSON(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "s"}), "symmetric"},
		"short RSA":      {setJSON(t, jose.JSONWebKey{Key: rsaKey(t, 1024).Public(), KeyID: "r"}), "1024 bits"},
		"enc key":        {setJSON(t, jose.JSONWebKey{Key: ek.Public(), KeyID: "e", Use: "enc"}), "use \"enc\""},
		"duplicate kid":  {setJSON(t, jose.JSONWebKey{Key: ek.Public(), KeyID: "x"}, jose.JSONWebKey{Key: rk.Public(), KeyID: "x"}), "two keys have kid"},
		"no keys":        {`{"keys":[]}`, "no keys"},
		"no array":       {`{"kty":"EC"}`, `no "keys"`},
		"not JSON":       {`nope`, "not valid JSON"},
		"bad kty":        {`{"keys":[{"kty":"XYZ"}]}`, "unsupported kty"},
		"bad EC":         {`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`, "not a valid"},
		"private part p": {`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","p":"AQAB"}]}`, `key 1 is a private key (it has "p")`},
		"no kty":         {`{"keys":[{"kid":"a","x":"AA"}]}`, `key 1 (kid "a") has no kty`},
		"kid number":     {`{"keys":[{"kty":"EC","kid":7}]}`, "key 1: kid must be a string"},
		"single JWK":     {`{"kty":"EC","crv":"P-256"}`, "this is a single JWK"},
		"keys an object": {`{"keys":{}}`, `a JSON object with a "keys" array`},
	}
	for name, tc := range cases {
		_, err := oauth.ParsePublicJWKS([]byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// The pasted set goes through the same rules.
	src := jwks.New(jwks.Options{})
	if _, err := src.PublicKeys(context.Background(), setJSON(t, jose.JSONWebKey{Key: rk, KeyID: "r"}), "", false); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("pasted private key: %v", err)
	}
	// And a fetched one too.
	srv := newServer(t, setJSON(t, jose.JSONWebKey{Key: rk, KeyID: "r"}))
	if _, err := newSource(&clock{now: time.Now()}).PublicKeys(context.Background(), "", srv.URL, false); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("fetched private key: %v", err)
	}
}

// A caller that hangs up does not make the URL fail for the others: the
// fetch runs to its end and its keys are kept.
func TestFetchOutlivesItsCaller(t *testing.T) {
	t.Parallel()
	a := jose.JSONWebKey{Key: ecKey(t).Public(), KeyID: "a"}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-release
		_, _ = w.Write([]byte(setJSON(t, a)))
	}))
	t.Cleanup(srv.Close)
	clk := &clock{now: time.Now()}
	src := newSource(clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := src.PublicKeys(ctx, "", srv.URL, false)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the fetch ended with its caller: %v", err)
	}
	set, err := src.PublicKeys(context.Background(), "", srv.URL, true)
	if err != nil || kids(set) != "a" {
		t.Fatalf("after: %v", err)
	}
}

// A published set at a jwks_uri may hold keys for other uses (encryption,
// other curves, other algorithms): they are left out, not fatal, unlike
// in a pasted set; a set with nothing usable left is refused.
func TestPublishedSetSkipsOtherKeys(t *testing.T) {
	t.Parallel()
	sig := jose.JSONWebKey{Key: ecKey(t).Public(), KeyID: "sig"}
	enc := jose.JSONWebKey{Key: rsaKey(t, 2048).Public(), KeyID: "enc", Use: "enc"}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	other := jose.JSONWebKey{Key: p384.Public(), KeyID: "p384"}
	wrongAlg := jose.JSONWebKey{Key: ecKey(t).Public(), KeyID: "rs-on-ec", Algorithm: "RS256"}
	body := setJSON(t, enc, other, sig, wrongAlg)
	srv := newServer(t, body)
	set, err := newSource(&clock{now: time.Now()}).PublicKeys(context.Background(), "", srv.URL, false)
	if err != nil || kids(set) != "sig" {
		t.Fatalf("published: %q %v", kids(set), err)
	}
	// Pasted, the same set is refused, naming the first unusable key.
	if _, err := jwks.New(jwks.Options{}).PublicKeys(context.Background(), body, "", false); err == nil || !strings.Contains(err.Error(), `key 1 (kid "enc") has use "enc"`) {
		t.Fatalf("pasted: %v", err)
	}
	for name, tc := range map[string]struct {
		key  jose.JSONWebKey
		want string
	}{
		"P-384":     {other, "P-384: ES256 keys are on P-256"},
		"wrong alg": {wrongAlg, `has alg RS256`},
	} {
		if _, err := oauth.ParsePublicJWKS([]byte(setJSON(t, tc.key))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Nothing usable: refused, saying why.
	none := newServer(t, setJSON(t, enc))
	if _, err := newSource(&clock{now: time.Now()}).PublicKeys(context.Background(), "", none.URL, false); err == nil || !strings.Contains(err.Error(), "no key can verify signatures") {
		t.Fatalf("nothing usable: %v", err)
	}
}

package cimd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/outbound"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// docServer is a TLS server on loopback serving documents: the handler
// for a path is swapped by tests; hits counts requests.
type docServer struct {
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	h    http.HandlerFunc
}

func newDocServer(t *testing.T) *docServer {
	d := &docServer{}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		d.mu.Lock()
		h := d.h
		d.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *docServer) id() string { return d.srv.URL + "/oauth/client.json" }

func (d *docServer) handle(h http.HandlerFunc) {
	d.mu.Lock()
	d.h = h
	d.mu.Unlock()
}

// serve answers with a valid document for the server's client ID, with
// optional headers and changes (nil deletes a field).
func (d *docServer) serve(header http.Header, fields map[string]any) {
	body := map[string]any{"client_id": d.id(), "client_name": "Test App", "redirect_uris": []string{"http://127.0.0.1:3000/cb"},
		"logo_uri": "https://cdn.example.com/logo.png"}
	for k, v := range fields {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	b, _ := json.Marshal(body)
	d.handle(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
}

func (d *docServer) pool() *outbound.Options {
	return &outbound.Options{AllowPrivate: true, RootCAs: d.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
}

type fixedSettings struct{ v settings.Values }

func (s fixedSettings) Load(context.Context) (settings.Values, error) { return s.v, nil }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time                                        { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration)                                   { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                                                 { return &clock{t: time.Now().UTC()} }
func quiet() *slog.Logger                                              { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func notFoundNext(_ context.Context, id string) (*oauth.Client, error) { return nil, store.ErrNotFound }

func resolver(st Store, mode string, o outbound.Options, clk *clock, hosts ...string) *Resolver {
	return NewResolver(Options{Store: st, Settings: fixedSettings{settings.Values{ClientIDMetadataDocuments: mode, ClientIDMetadataHosts: hosts}},
		HTTP: NewHTTP(o), Now: clk.Now, Log: quiet()})
}

// wantRefused checks that err is the core's invalid_client naming want.
func wantRefused(t *testing.T, err error, want string) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_client" || !strings.Contains(oe.Description, want) {
		t.Fatalf("error %v, want invalid_client mentioning %q", err, want)
	}
}

// The SSRF rules of the fetch: no private address without the flag, no
// redirect, at most 5 KB, a timeout, https only.
func TestFetchRefusals(t *testing.T) {
	t.Parallel()
	d := newDocServer(t)
	d.serve(nil, nil)
	ctx := t.Context()
	clk := newClock()
	mem := newMemStore()

	// Loopback without GATEHOUSE_ALLOW_PRIVATE_FETCH.
	o := *d.pool()
	o.AllowPrivate = false
	_, err := resolver(mem, ModeAny, o, clk).GetClient(ctx, d.id(), notFoundNext)
	wantRefused(t, err, "unknown host, or not a public address")
	if d.hits.Load() != 0 {
		t.Fatal("a loopback server was reached")
	}

	// Redirect.
	d.handle(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://127.0.0.1:1/x.json", http.StatusFound)
	})
	_, err = resolver(mem, ModeAny, *d.pool(), clk).GetClient(ctx, d.id(), notFoundNext)
	wantRefused(t, err, "redirect")

	// Oversized: 5 KB + 1 of a valid-looking document.
	d.handle(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"client_id":"`+d.id()+`","redirect_uris":["https://a.example/cb"],"pad":"`)
		_, _ = io.WriteString(w, strings.Repeat("x", MaxDocumentBytes))
		_, _ = io.WriteString(w, `"}`)
	})
	_, err = resolver(mem, ModeAny, *d.pool(), clk).GetClient(ctx, d.id(), notFoundNext)
	wantRefused(t, err, "larger than 5120 bytes")

	// Slow: headers after the timeout.
	release := make(chan struct{})
	d.handle(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(3 * time.Second):
		}
	})
	slow := *d.pool()
	slow.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = resolver(mem, ModeAny, slow, clk).GetClient(ctx, d.id(), notFoundNext)
	close(release)
	wantRefused(t, err, "timed out")
	if time.Since(start) > 2*time.Second {
		t.Fatalf("the slow fetch took %v", time.Since(start))
	}

	// Not https, a fragment: refused before any fetch.
	hits := d.hits.Load()
	r := resolver(mem, ModeAny, *d.pool(), clk)
	_, err = r.GetClient(ctx, strings.Replace(d.id(), "https://", "http://", 1), notFoundNext)
	wantRefused(t, err, "https")
	_, err = r.GetClient(ctx, d.id()+"#frag", notFoundNext)
	wantRefused(t, err, "fragment")
	if d.hits.Load() != hits {
		t.Fatal("an invalid client_id URL was fetched")
	}

	// A 404 and a non-JSON answer.
	d.handle(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	_, err = resolver(mem, ModeAny, *d.pool(), clk).GetClient(ctx, d.id(), notFoundNext)
	wantRefused(t, err, "HTTP 404")
	if len(mem.rows) != 0 {
		t.Fatalf("refused documents were stored: %v", mem.rows)
	}
}

// memStore is a Store in memory, for the tests that need no database.
type memStore struct {
	mu   sync.Mutex
	rows map[string]models.Client
}

func newMemStore() *memStore { return &memStore{rows: map[string]models.Client{}} }

func (m *memStore) GetClient(_ context.Context, id string) (*models.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.rows[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &c, nil
}

func (m *memStore) UpsertMetadataClient(_ context.Context, c *models.Client) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.rows[c.ClientID]; ok && old.Registration != models.ClientMetadataDocument {
		return false, nil
	}
	m.rows[c.ClientID] = *c
	return true, nil
}

// The stored document is used until it expires (its max-age, bounded),
// then fetched again; an expired document whose URL fails, or that answers
// wrong, is refused.
func TestCacheBehaviour(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		st := models.New(db)
		ctx := t.Context()
		d := newDocServer(t)
		d.serve(http.Header{"Cache-Control": {"max-age=1800"}}, nil)
		clk := newClock()
		r := resolver(st, ModeAny, *d.pool(), clk)

		c, err := r.GetClient(ctx, d.id(), notFoundNext)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Public || !c.Unverified || c.Name != "Test App" || c.Icon != "https://cdn.example.com/logo.png" ||
			len(c.RedirectURIs) != 1 || len(c.SecretHash) != 0 || !c.HasGrant(oauth.GrantAuthorizationCode) || !c.HasGrant(oauth.GrantRefreshToken) {
			t.Fatalf("client = %+v", c)
		}
		row, err := st.GetClient(ctx, d.id())
		if err != nil || row.Registration != models.ClientMetadataDocument || row.MetadataExpiresAt == nil ||
			row.MetadataExpiresAt.Sub(clk.Now()).Round(time.Minute) != 30*time.Minute {
			t.Fatalf("row = %+v, %v", row, err)
		}
		if d.hits.Load() != 1 {
			t.Fatalf("hits = %d", d.hits.Load())
		}

		// Fresh: no fetch, from this resolver or another instance's.
		clk.Add(29 * time.Minute)
		other := resolver(st, ModeAny, *d.pool(), clk)
		for _, x := range []*Resolver{r, other} {
			if _, err := x.GetClient(ctx, d.id(), notFoundNext); err != nil {
				t.Fatal(err)
			}
		}
		if d.hits.Load() != 1 {
			t.Fatalf("fetched again before expiry: hits = %d", d.hits.Load())
		}

		// Expired: fetched again, and the new document is used.
		clk.Add(2 * time.Minute)
		d.serve(http.Header{"Cache-Control": {"max-age=10"}}, map[string]any{"client_name": "Renamed"})
		c, err = r.GetClient(ctx, d.id(), notFoundNext)
		if err != nil || c.Name != "Renamed" || d.hits.Load() != 2 {
			t.Fatalf("after expiry: %+v, %v, hits %d", c, err, d.hits.Load())
		}
		// max-age=10 is kept 5 minutes (the lower bound).
		row, _ = st.GetClient(ctx, d.id())
		if got := row.MetadataExpiresAt.Sub(clk.Now()).Round(time.Second); got != MinCacheAge {
			t.Fatalf("max-age=10 kept %v, want %v", got, MinCacheAge)
		}

		// Unreachable after expiry: the stored document is not used (the
		// draft: abort), and the transient failure is remembered for
		// FailureMemory by the instance.
		clk.Add(MinCacheAge + time.Second)
		d.handle(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		_, err = r.GetClient(ctx, d.id(), notFoundNext)
		wantRefused(t, err, "HTTP 503")
		hits := d.hits.Load()
		_, err = r.GetClient(ctx, d.id(), notFoundNext)
		wantRefused(t, err, "HTTP 503")
		if d.hits.Load() != hits {
			t.Fatal("an unreachable URL was fetched again at once")
		}
		clk.Add(FailureMemory)
		d.serve(nil, nil)
		if _, err := r.GetClient(ctx, d.id(), notFoundNext); err != nil {
			t.Fatalf("after the failure memory: %v", err)
		}

		// A document that answers but is wrong is refused at once and not
		// remembered: once fixed, the next request takes it.
		clk.Add(DefaultCacheAge + time.Second)
		d.serve(nil, map[string]any{"client_id": "https://elsewhere.example/c.json"})
		_, err = r.GetClient(ctx, d.id(), notFoundNext)
		wantRefused(t, err, "differs")
		d.serve(nil, nil)
		if _, err := r.GetClient(ctx, d.id(), notFoundNext); err != nil {
			t.Fatalf("a fixed document was refused: %v", err)
		}
	})
}

// A document that turns to private_key_jwt makes a confidential client
// with its keys, on both databases (the refresh rewrites the method and
// key columns); back to none, a public one again.
func TestPrivateKeyJWTDocument(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		st := models.New(db)
		ctx := t.Context()
		d := newDocServer(t)
		d.serve(nil, nil)
		clk := newClock()
		r := resolver(st, ModeAny, *d.pool(), clk)
		if c, err := r.GetClient(ctx, d.id(), notFoundNext); err != nil || !c.Public || c.TokenEndpointAuthMethod != oauth.AuthNone {
			t.Fatalf("none: %+v %v", c, err)
		}
		clk.Add(DefaultCacheAge + time.Second)
		d.serve(nil, map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks.json"})
		c, err := r.GetClient(ctx, d.id(), notFoundNext)
		if err != nil || c.Public || c.TokenEndpointAuthMethod != oauth.AuthPrivateKeyJWT || c.JWKSURI != "https://app.example.com/jwks.json" ||
			len(c.SecretHash) != 0 || !c.Unverified {
			t.Fatalf("private_key_jwt: %+v %v", c, err)
		}
		clk.Add(DefaultCacheAge + time.Second)
		d.serve(nil, nil)
		if c, err := r.GetClient(ctx, d.id(), notFoundNext); err != nil || !c.Public || c.TokenEndpointAuthMethod != oauth.AuthNone || c.JWKSURI != "" {
			t.Fatalf("none again: %+v %v", c, err)
		}
	})
}

// A huge max-age is kept 24 hours at most; no header means an hour.
func TestCacheBounds(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]time.Duration{"max-age=31536000": MaxCacheAge, "": DefaultCacheAge} {
		d := newDocServer(t)
		h := http.Header{}
		if header != "" {
			h.Set("Cache-Control", header)
		}
		d.serve(h, nil)
		mem := newMemStore()
		clk := newClock()
		if _, err := resolver(mem, ModeAny, *d.pool(), clk).GetClient(t.Context(), d.id(), notFoundNext); err != nil {
			t.Fatal(err)
		}
		row := mem.rows[d.id()]
		if got := row.MetadataExpiresAt.Sub(clk.Now()); got != want {
			t.Errorf("Cache-Control %q: kept %v, want %v", header, got, want)
		}
	}
}

// Many requests for a new client at once, on two instances sharing a
// database, all get it (one fetch per instance, an upsert).
func TestConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		st := models.New(db)
		d := newDocServer(t)
		d.serve(nil, nil)
		clk := newClock()
		rs := []*Resolver{resolver(st, ModeAny, *d.pool(), clk), resolver(st, ModeAny, *d.pool(), clk)}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := rs[i%2].GetClient(context.Background(), d.id(), notFoundNext); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if h := d.hits.Load(); h > 2 {
			t.Errorf("%d fetches for 2 instances", h)
		}
	})
}

// The setting: off makes a URL an unknown client (even one stored while it
// was on); allowlist takes only the listed hosts; a client an admin named
// by a URL is never fetched; other IDs go to the wrapped model.
func TestSettings(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := newDocServer(t)
	d.serve(nil, nil)
	clk := newClock()
	mem := newMemStore()
	if _, err := resolver(mem, ModeAny, *d.pool(), clk).GetClient(ctx, d.id(), notFoundNext); err != nil {
		t.Fatal(err)
	}
	hits := d.hits.Load()
	if _, err := resolver(mem, ModeOff, *d.pool(), clk).GetClient(ctx, d.id(), notFoundNext); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("off: %v, want ErrNotFound", err)
	}
	_, err := resolver(mem, ModeAllowlist, *d.pool(), clk, "claude.ai").GetClient(ctx, d.id(), notFoundNext)
	wantRefused(t, err, "127.0.0.1 are not accepted")
	if _, err := resolver(mem, ModeAllowlist, *d.pool(), clk, "127.0.0.1").GetClient(ctx, d.id(), notFoundNext); err != nil {
		t.Fatalf("allowlisted host: %v", err)
	}
	admin := d.srv.URL + "/admin-made"
	mem.rows[admin] = models.Client{ClientID: admin, Name: "Admin's", RedirectURIs: []string{"https://x.example/cb"}}
	// The wrapped model serves it (it opens sealed secrets too).
	modelNext := func(ctx context.Context, id string) (*oauth.Client, error) {
		row, err := mem.GetClient(ctx, id)
		if err != nil {
			return nil, err
		}
		return models.OAuthClient(row), nil
	}
	for _, mode := range []string{ModeOff, ModeAny} {
		c, err := resolver(mem, mode, *d.pool(), clk).GetClient(ctx, admin, modelNext)
		if err != nil || c.Name != "Admin's" || c.Unverified {
			t.Fatalf("%s: admin-made URL client: %+v, %v", mode, c, err)
		}
	}
	if d.hits.Load() != hits {
		t.Fatal("fetched while off, refused, fresh or admin-made")
	}
	called := false
	_, _ = resolver(mem, ModeAny, *d.pool(), clk).GetClient(ctx, "plain-id", func(context.Context, string) (*oauth.Client, error) {
		called = true
		return &oauth.Client{}, nil
	})
	if !called {
		t.Fatal("a plain client_id did not go to the wrapped model")
	}
}

// An admin's client created meanwhile with the same URL ID is not
// overwritten by the upsert.
func TestUpsertKeepsAdminClients(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		st := models.New(db)
		ctx := t.Context()
		id := "https://app.example.com/c.json"
		if err := st.CreateClient(ctx, &models.Client{ClientID: id, Name: "Admin's", RedirectURIs: []string{"https://x.example/cb"}}); err != nil {
			t.Fatal(err)
		}
		exp := time.Now().Add(time.Hour)
		stored, err := st.UpsertMetadataClient(ctx, &models.Client{ClientID: id, Name: "Doc", Public: true,
			Registration: models.ClientMetadataDocument, MetadataExpiresAt: &exp})
		if err != nil || stored {
			t.Fatalf("upsert over an admin client: stored %v, %v", stored, err)
		}
		if c, _ := st.GetClient(ctx, id); c.Name != "Admin's" || c.Registration != "" {
			t.Fatalf("admin client changed: %+v", c)
		}
	})
}

// At most MaxConcurrentFetches documents are fetched at once by an
// instance: one more is refused for now, without a fetch, and goes
// through once a fetch ends.
func TestConcurrentFetchesBounded(t *testing.T) {
	t.Parallel()
	d := newDocServer(t)
	d.serve(nil, nil)
	r := resolver(newMemStore(), ModeAny, *d.pool(), newClock())
	for range MaxConcurrentFetches {
		r.fetching <- struct{}{}
	}
	_, err := r.GetClient(t.Context(), d.id(), notFoundNext)
	wantRefused(t, err, "too many")
	if d.hits.Load() != 0 {
		t.Fatalf("fetched beyond the bound: hits = %d", d.hits.Load())
	}
	<-r.fetching
	// The refusal was transient: remembered for FailureMemory only.
	r.mu.Lock()
	clear(r.failures)
	r.mu.Unlock()
	if _, err := r.GetClient(t.Context(), d.id(), notFoundNext); err != nil {
		t.Fatal(err)
	}
}

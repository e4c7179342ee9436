package backchannel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/backchannel"
	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/keys"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/outbound"
	"github.com/gatehouse/gatehouse/models"
)

const issuer = "https://id.example"

func init() { keys.UseTestKeyPool() }

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// received is one logout request as the receiver saw and checked it.
type received struct {
	token  string
	header jose.Header
	claims map[string]any
	err    error // what the checks found wrong
}

// receiver is a relying party's back-channel logout endpoint on a
// loopback port: it verifies each logout token's signature with the JWK
// Set and answers with the next status of its script (200 when it runs
// out).
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	jwks func() jose.JSONWebKeySet

	mu       sync.Mutex
	got      []received
	statuses []int
	// hold, when set, makes requests wait until it is closed (or the
	// request is abandoned); inFlight counts those waiting.
	hold     chan struct{}
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

func newReceiver(t *testing.T, km *keys.Manager) *receiver {
	r := &receiver{t: t}
	r.jwks = func() jose.JSONWebKeySet {
		raw, err := km.JWKS(context.Background())
		if err != nil {
			t.Error(err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(raw, &set); err != nil {
			t.Error(err)
		}
		return set
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for {
		m := r.maxIn.Load()
		if n <= m || r.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	rec := received{}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		rec.err = fmt.Errorf("%s with Content-Type %q, want a form POST", req.Method, req.Header.Get("Content-Type"))
	}
	_ = req.ParseForm()
	if len(req.PostForm) != 1 || len(req.PostForm["logout_token"]) != 1 {
		rec.err = errors.Join(rec.err, fmt.Errorf("form %v, want logout_token alone", req.PostForm))
	}
	rec.token = req.PostForm.Get("logout_token")
	if err := r.verify(&rec); err != nil {
		rec.err = errors.Join(rec.err, err)
	}
	r.mu.Lock()
	hold := r.hold
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	r.got = append(r.got, rec)
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return
		}
	}
	w.WriteHeader(status)
}

// verify checks the token's signature with the JWK Set (the key its kid
// names, of the algorithm it says) and decodes its header and claims.
func (r *receiver) verify(rec *received) error {
	jws, err := jose.ParseSignedCompact(rec.token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	rec.header = jws.Signatures[0].Protected
	set := r.jwks()
	keys := set.Key(rec.header.KeyID)
	if len(keys) != 1 {
		return fmt.Errorf("kid %q not in the JWKS", rec.header.KeyID)
	}
	if keys[0].Algorithm != rec.header.Algorithm {
		return fmt.Errorf("alg %s, key is %s", rec.header.Algorithm, keys[0].Algorithm)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return json.Unmarshal(payload, &rec.claims)
}

func (r *receiver) script(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, statuses...)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// fixture is a store with signing keys, a user and a relying party whose
// backchannel_logout_uri is the receiver, and a Deliverer on a fake clock.
type fixture struct {
	t     *testing.T
	st    *models.Store
	km    *keys.Manager
	rcv   *receiver
	clock *clock
	user  *models.User
	logs  *syncBuffer
	sent  *tokenLog
	n     int
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tokenLog wraps the outbound client and remembers every token sent, so
// that tests can check that none appears in logs or audit events.
type tokenLog struct {
	next backchannel.Poster
	mu   sync.Mutex
	all  []string
}

func (l *tokenLog) PostForm(ctx context.Context, u string, form url.Values) (*outbound.Response, error) {
	l.mu.Lock()
	l.all = append(l.all, form.Get("logout_token"))
	l.mu.Unlock()
	return l.next.PostForm(ctx, u, form)
}

func (l *tokenLog) tokens() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := models.New(dbtest.SQLite(t))
	km := keys.New(keys.Options{Store: st})
	if err := km.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, km: km, rcv: newReceiver(t, km),
		// A minute ahead of the real time at which the store queues rows
		// (its own clock), so that they are due on the fake one.
		clock: &clock{t: time.Now().UTC().Add(time.Minute).Truncate(time.Second)}, logs: &syncBuffer{},
		sent: &tokenLog{next: outbound.New(outbound.Options{AllowPrivate: true, Timeout: 5 * time.Second})}}
	f.user = &models.User{Username: "alice", Name: "Alice", PasswordHash: "$argon2id$x", Role: models.RoleUser}
	if err := st.CreateUser(t.Context(), f.user); err != nil {
		t.Fatal(err)
	}
	f.client("rp", f.rcv.srv.URL+"/backchannel")
	return f
}

func (f *fixture) client(id, uri string) {
	f.t.Helper()
	c := &models.Client{ClientID: id, Name: "App " + id, RedirectURIs: []string{"https://rp.example/cb"},
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, BackchannelLogoutURI: uri}
	if err := f.st.CreateClient(f.t.Context(), c); err != nil {
		f.t.Fatal(err)
	}
}

// deliverer returns a Deliverer on the fixture, without jitter unless o
// says otherwise.
func (f *fixture) deliverer(mod ...func(*backchannel.Options)) *backchannel.Deliverer {
	o := backchannel.Options{Store: f.st, Signer: f.km, Issuer: issuer, HTTP: f.sent, Now: f.clock.Now,
		Jitter: -1, Log: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mod {
		m(&o)
	}
	return backchannel.New(o)
}

// signIn starts a browser session in which each client got tokens, and
// returns the session's ID hash and sid.
func (f *fixture) signIn(clients ...string) ([]byte, string) {
	f.t.Helper()
	f.n++
	ctx := f.t.Context()
	sid := fmt.Sprintf("sid-%d", f.n)
	hash := []byte(fmt.Sprintf("session-hash-%d-%032d", f.n, 0))
	if err := f.st.SaveWebSession(ctx, &models.WebSession{IDHash: hash, SID: sid, UserID: &f.user.ID, Data: []byte{},
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	for _, c := range clients {
		// As the OAuth model saves an implicit grant's token: the
		// session records its client.
		tok := &oauth.Token{Hash: []byte(sid + "/" + c), Kind: oauth.KindAccess, ClientID: c, UserID: &f.user.ID,
			Scope: "openid", FamilyID: sid + "/" + c, SID: sid, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := (models.OAuthModel{S: f.st}).SaveTokens(ctx, tok); err != nil {
			f.t.Fatal(err)
		}
	}
	return hash, sid
}

// signOut ends the session (which queues its deliveries).
func (f *fixture) signOut(hash []byte) {
	f.t.Helper()
	if ended, err := f.st.EndWebSession(f.t.Context(), hash); err != nil || ended == nil {
		f.t.Fatalf("EndWebSession: %v %v", ended, err)
	}
}

func (f *fixture) queue() []models.LogoutDelivery {
	f.t.Helper()
	rows, err := f.st.ListLogoutDeliveries(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return rows
}

func (f *fixture) audit(action string) []models.AuditEvent {
	f.t.Helper()
	evs, _, err := f.st.ListAuditEvents(f.t.Context(), models.AuditFilter{Action: action, Limit: models.MaxPageSize})
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Reverse(evs) // oldest first
	return evs
}

// noTokenLeaked checks that no token sent appears in the logs or the
// audit log.
func (f *fixture) noTokenLeaked() {
	f.t.Helper()
	all := f.audit("")
	for _, tok := range f.sent.tokens() {
		if tok == "" {
			continue
		}
		// The signature alone is enough to spot a copy.
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(f.logs.String(), sig) {
			f.t.Error("a logout token appears in the logs")
		}
		for _, e := range all {
			for k, v := range e.Details {
				if strings.Contains(v, sig) {
					f.t.Errorf("a logout token appears in audit event %s (%s)", e.Action, k)
				}
			}
		}
	}
}

// Rule 41: the client that got tokens in the session receives, at
// sign-out, a logout token signed like an ID token (same key and
// algorithm, verified with the JWKS), typ logout+jwt, with iss, aud, iat,
// exp, jti, the back-channel logout event, sub and sid, and no nonce.
// A delivery that succeeds at once leaves no audit event and no row.
func TestDeliversVerifiableLogoutToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.client("rp-other", f.rcv.srv.URL+"/other") // got no tokens in the session
	f.client("rp-silent", "")                    // got tokens, no backchannel_logout_uri
	hash, sid := f.signIn("rp", "rp-silent")
	f.signOut(hash)
	d := f.deliverer()
	now := f.clock.Now()
	if n := d.RunOnce(t.Context()); n != 1 {
		t.Fatalf("RunOnce made %d attempts, want 1", n)
	}
	got := f.rcv.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.err != nil {
		t.Fatalf("logout request: %v", r.err)
	}
	idToken, err := f.km.Sign(t.Context(), map[string]any{"sub": "x"}, "JWT")
	if err != nil {
		t.Fatal(err)
	}
	idJWS, _ := jose.ParseSignedCompact(idToken, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if h := idJWS.Signatures[0].Protected; r.header.KeyID != h.KeyID || r.header.Algorithm != h.Algorithm {
		t.Errorf("logout token signed with %s/%s, ID tokens with %s/%s", r.header.KeyID, r.header.Algorithm, h.KeyID, h.Algorithm)
	}
	if typ, _ := r.header.ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		t.Errorf("typ %q, want logout+jwt", typ)
	}
	c := r.claims
	want := map[string]any{"iss": issuer, "aud": "rp", "sub": f.user.Subject, "sid": sid,
		"iat": float64(now.Unix()), "exp": float64(now.Add(2 * time.Minute).Unix())}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if jti, _ := c["jti"].(string); len(jti) < 16 {
		t.Errorf("jti %q, want a random one", c["jti"])
	}
	ev, _ := c["events"].(map[string]any)
	if member, ok := ev["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok || len(member) != 0 || len(ev) != 1 {
		t.Errorf("events %v, want the back-channel logout event with {}", c["events"])
	}
	if _, ok := c["nonce"]; ok {
		t.Error("logout token with a nonce")
	}
	if len(c) != 8 {
		t.Errorf("claims %v, want exactly iss, aud, sub, sid, iat, exp, jti, events", c)
	}
	if q := f.queue(); len(q) != 0 {
		t.Errorf("queue after delivery: %+v", q)
	}
	if evs := f.audit("backchannel_logout.*"); len(evs) != 0 {
		t.Errorf("audit events for a delivery that succeeded at once: %+v", evs)
	}
	// Another sign-out: a fresh jti.
	hash, _ = f.signIn("rp")
	f.signOut(hash)
	d.RunOnce(t.Context())
	if got := f.rcv.requests(); len(got) != 2 || got[1].err != nil || got[1].claims["jti"] == got[0].claims["jti"] {
		t.Fatalf("second delivery: %d requests, jti %v and %v", len(got), got[0].claims["jti"], got[len(got)-1].claims["jti"])
	}
	f.noTokenLeaked()
}

// A client whose ID tokens are ES256 (id_token_signed_response_alg) gets
// ES256 logout tokens, signed by the published ES256 key (Back-Channel
// Logout 1.0 §2.4: the ID tokens' signing rules apply).
func TestLogoutTokenFollowsTheIDTokenAlg(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.st.UpdateClient(t.Context(), "rp", func(c *models.Client) error { c.IDTokenSignedResponseAlg = "ES256"; return nil }); err != nil {
		t.Fatal(err)
	}
	hash, _ := f.signIn("rp")
	f.signOut(hash)
	if n := f.deliverer().RunOnce(t.Context()); n != 1 {
		t.Fatalf("RunOnce made %d attempts, want 1", n)
	}
	idToken, err := f.km.SignWith(t.Context(), "ES256", map[string]any{"sub": "x"}, "JWT")
	if err != nil {
		t.Fatal(err)
	}
	idJWS, _ := jose.ParseSignedCompact(idToken, []jose.SignatureAlgorithm{jose.ES256})
	got := f.rcv.requests()
	if len(got) != 1 || got[0].err != nil {
		t.Fatalf("requests %+v", got)
	}
	if h := got[0].header; h.Algorithm != "ES256" || h.KeyID != idJWS.Signatures[0].Protected.KeyID || got[0].claims["aud"] != "rp" {
		t.Fatalf("logout token alg %s kid %s, want the ES256 key %s", h.Algorithm, h.KeyID, idJWS.Signatures[0].Protected.KeyID)
	}
}

// A receiver that keeps failing gets the attempts of the backoff schedule
// (10s, 30s, 1m, ... 8h, 8h after each failure: twelve attempts over
// about a day), each failure audited with the attempt and the HTTP
// status, then the delivery is given up (audited) and removed. Each
// attempt carries a token signed afresh.
func TestRetriesWithBackoffThenGivesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hash, sid := f.signIn("rp")
	f.signOut(hash)
	f.rcv.script(slices.Repeat([]int{http.StatusServiceUnavailable}, 20)...)
	d := f.deliverer()
	start := f.clock.Now()
	schedule := backchannel.DefaultBackoff
	var total time.Duration
	for i, wait := range schedule {
		if n := d.RunOnce(t.Context()); n != 1 {
			t.Fatalf("attempt %d: RunOnce made %d attempts", i+1, n)
		}
		q := f.queue()
		if len(q) != 1 {
			t.Fatalf("after failed attempt %d: queue %+v", i+1, q)
		}
		total += wait
		if q[0].Attempts != i+1 || !q[0].NextAttemptAt.Equal(f.clock.Now().Add(wait)) || q[0].LastError != "HTTP 503" || q[0].LockedUntil != nil {
			t.Fatalf("after failed attempt %d: %+v, want attempts %d, next in %v", i+1, q[0], i+1, wait)
		}
		// Not before it is due.
		f.clock.Add(wait - time.Second)
		if n := d.RunOnce(t.Context()); n != 0 {
			t.Fatalf("attempt %d made %v early", i+2, time.Second)
		}
		f.clock.Add(time.Second)
	}
	if n := d.RunOnce(t.Context()); n != 1 {
		t.Fatalf("last attempt: %d", n)
	}
	if q := f.queue(); len(q) != 0 {
		t.Fatalf("queue after giving up: %+v", q)
	}
	if n := d.RunOnce(t.Context()); n != 0 {
		t.Fatal("attempt after giving up")
	}
	if total < 23*time.Hour || total > 25*time.Hour {
		t.Errorf("attempts span %v, want about a day", total)
	}
	if got := f.clock.Now().Sub(start); got != total {
		t.Errorf("last attempt %v after the first, want %v", got, total)
	}

	reqs := f.rcv.requests()
	if len(reqs) != len(schedule)+1 {
		t.Fatalf("receiver got %d requests, want %d", len(reqs), len(schedule)+1)
	}
	jtis := map[any]bool{}
	for i, r := range reqs {
		if r.err != nil {
			t.Fatalf("request %d: %v", i+1, r.err)
		}
		jtis[r.claims["jti"]] = true
	}
	if len(jtis) != len(reqs) {
		t.Errorf("%d distinct jti in %d attempts: each attempt must sign afresh", len(jtis), len(reqs))
	}
	if iat0, iatN := reqs[0].claims["iat"].(float64), reqs[len(reqs)-1].claims["iat"].(float64); int64(iatN-iat0) != int64(total/time.Second) {
		t.Errorf("iat of the first and last attempts %v apart, want %v", time.Duration(iatN-iat0)*time.Second, total)
	}

	failed := f.audit(backchannel.ActionFailed)
	if len(failed) != len(schedule)+1 {
		t.Fatalf("%d failure events, want %d", len(failed), len(schedule)+1)
	}
	for i, e := range failed {
		if e.Actor != "system" || e.Target != "rp" || e.Success || e.Details["attempt"] != fmt.Sprint(i+1) ||
			e.Details["status"] != "503" || e.Details["sid"] != sid {
			t.Errorf("failure event %d: %+v", i+1, e)
		}
		if (i < len(schedule)) != (e.Details["next_attempt"] != "") {
			t.Errorf("failure event %d next_attempt %q", i+1, e.Details["next_attempt"])
		}
	}
	gaveUp := f.audit(backchannel.ActionGaveUp)
	if len(gaveUp) != 1 || gaveUp[0].Target != "rp" || gaveUp[0].Details["attempts"] != "12" || gaveUp[0].Details["last_error"] != "HTTP 503" {
		t.Fatalf("give-up events %+v", gaveUp)
	}
	if len(f.audit(backchannel.ActionDelivered)) != 0 {
		t.Error("delivered event for a delivery given up")
	}
	f.noTokenLeaked()
}

// The waits are spread by ±10% by default.
func TestBackoffJitter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.rcv.script(slices.Repeat([]int{http.StatusInternalServerError}, 20)...)
	d := f.deliverer(func(o *backchannel.Options) { o.Jitter = 0 })
	seen := map[time.Duration]bool{}
	for range 8 {
		hash, _ := f.signIn("rp")
		f.signOut(hash)
	}
	d.RunOnce(t.Context())
	for _, q := range f.queue() {
		w := q.NextAttemptAt.Sub(f.clock.Now())
		if w < 9*time.Second || w > 11*time.Second {
			t.Errorf("first wait %v, want 10s ±10%%", w)
		}
		seen[w] = true
	}
	if len(seen) < 2 {
		t.Errorf("8 waits all equal (%v): no jitter", seen)
	}
}

// A delivery that succeeds after failures is removed, and audited so that
// its failures are seen to end; the error of a failed connection (here,
// nobody listening) is audited as the error, never with the token.
func TestRecoversAfterFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // connection refused from now on
	f.client("rp-down", downURL+"/bc")
	hash, sid := f.signIn("rp", "rp-down")
	f.signOut(hash)
	f.rcv.script(http.StatusBadRequest, http.StatusFound)
	d := f.deliverer()
	for _, wait := range []time.Duration{0, 10 * time.Second, 30 * time.Second} {
		f.clock.Add(wait)
		if n := d.RunOnce(t.Context()); n != 2 {
			t.Fatalf("RunOnce after %v: %d attempts, want 2", wait, n)
		}
	}
	q := f.queue()
	if len(q) != 1 || q[0].ClientID != "rp-down" || q[0].Attempts != 3 || !strings.Contains(q[0].LastError, "connection refused") {
		t.Fatalf("queue %+v, want rp-down alone after 3 attempts", q)
	}
	ok := f.audit(backchannel.ActionDelivered)
	if len(ok) != 1 || ok[0].Target != "rp" || !ok[0].Success || ok[0].Details["attempt"] != "3" || ok[0].Details["sid"] != sid {
		t.Fatalf("delivered events %+v", ok)
	}
	var statuses, errs []string
	for _, e := range f.audit(backchannel.ActionFailed) {
		switch e.Target {
		case "rp":
			statuses = append(statuses, e.Details["status"])
		case "rp-down":
			if !strings.Contains(e.Details["error"], "connection refused") || e.Details["status"] != "" {
				t.Errorf("failure event of rp-down: %v", e.Details)
			}
			errs = append(errs, e.Details["attempt"])
		}
	}
	// A redirect is a failure (not followed).
	if !slices.Equal(statuses, []string{"400", "302"}) || !slices.Equal(errs, []string{"1", "2", "3"}) {
		t.Errorf("failure events: rp statuses %v, rp-down attempts %v", statuses, errs)
	}
	f.noTokenLeaked()
}

// Delivery goes through the outbound client: without
// GATEHOUSE_ALLOW_PRIVATE_FETCH a loopback receiver is refused, and the
// refusal is audited as a failure.
func TestPrivateAddressRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hash, _ := f.signIn("rp")
	f.signOut(hash)
	d := f.deliverer(func(o *backchannel.Options) { o.HTTP = outbound.New(outbound.Options{}) })
	d.RunOnce(t.Context())
	if n := len(f.rcv.requests()); n != 0 {
		t.Fatalf("loopback receiver got %d requests without the flag", n)
	}
	evs := f.audit(backchannel.ActionFailed)
	if len(evs) != 1 || !strings.Contains(evs[0].Details["error"], "refusing to connect to 127.0.0.1") {
		t.Fatalf("failure events %+v", evs)
	}
}

// A client that lost its backchannel_logout_uri (or was deleted) by the
// time of the attempt gets nothing, and its rows leave the queue
// unaudited.
func TestDropsWhenClientStoppedListening(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.client("rp-gone", f.rcv.srv.URL+"/gone")
	hash, _ := f.signIn("rp", "rp-gone")
	f.signOut(hash)
	if err := f.st.UpdateClient(t.Context(), "rp", func(c *models.Client) error { c.BackchannelLogoutURI = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteClient(t.Context(), "rp-gone"); err != nil {
		t.Fatal(err)
	}
	f.deliverer().RunOnce(t.Context())
	if n := len(f.rcv.requests()); n != 0 {
		t.Fatalf("receiver got %d requests", n)
	}
	if q := f.queue(); len(q) != 0 {
		t.Fatalf("queue %+v", q)
	}
	if evs := f.audit("backchannel_logout.*"); len(evs) != 0 {
		t.Fatalf("audit events %+v", evs)
	}
}

// blockingPoster stands for an instance that hangs in the middle of a
// delivery: it claims the row and never answers until cut short.
type blockingPoster struct{ started chan struct{} }

func (p blockingPoster) PostForm(ctx context.Context, u string, form url.Values) (*outbound.Response, error) {
	p.started <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// While an instance holds a row (its lease), no other sends it; once the
// lease has passed (the instance died or hangs), another claims and
// delivers it, and the first can no longer touch it.
func TestLeaseExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hash, _ := f.signIn("rp")
	f.signOut(hash)
	hung := blockingPoster{started: make(chan struct{}, 1)}
	a := f.deliverer(func(o *backchannel.Options) { o.HTTP = hung; o.Poll = time.Hour; o.ShutdownGrace = time.Millisecond })
	ctxA, stopA := context.WithCancel(t.Context())
	doneA := make(chan struct{})
	go func() { a.Run(ctxA); close(doneA) }()
	select {
	case <-hung.started:
	case <-time.After(10 * time.Second):
		t.Fatal("instance A did not claim the row")
	}
	b := f.deliverer()
	f.clock.Add(backchannel.DefaultLease - time.Second)
	if n := b.RunOnce(t.Context()); n != 0 {
		t.Fatalf("instance B made %d attempts at a row A holds", n)
	}
	f.clock.Add(time.Second)
	if n := b.RunOnce(t.Context()); n != 1 {
		t.Fatalf("instance B made %d attempts once A's lease passed, want 1", n)
	}
	if got := f.rcv.requests(); len(got) != 1 || got[0].err != nil {
		t.Fatalf("receiver: %+v", got)
	}
	if q := f.queue(); len(q) != 0 {
		t.Fatalf("queue %+v", q)
	}
	// A is cut short at shutdown; it finds the row gone and does nothing.
	stopA()
	<-doneA
	if evs := f.audit("backchannel_logout.*"); len(evs) != 0 {
		t.Fatalf("audit events %+v", evs)
	}
}

// Run delivers at once when the store says it queued something (the
// hook), and picks up rows queued elsewhere (another instance, or no
// hook) by polling.
func TestRunWakesAndPolls(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.clock.Set(time.Now()) // rows queued by the store use real time
	poll := time.Hour
	d := f.deliverer(func(o *backchannel.Options) { o.Now = time.Now; o.Poll = poll })
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	waitFor := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(f.rcv.requests()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: receiver got %d requests, want %d", what, len(f.rcv.requests()), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond) // Run has set the hook
	hash, _ := f.signIn("rp")
	f.signOut(hash)
	waitFor("woken by the store", 1)
	stop()
	<-done

	// Without the hook (another instance queued it), polling finds it.
	hash, _ = f.signIn("rp")
	f.signOut(hash) // nobody listening to the hook now
	d = f.deliverer(func(o *backchannel.Options) { o.Now = time.Now; o.Poll = 100 * time.Millisecond })
	ctx, stop = context.WithCancel(t.Context())
	done = make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	waitFor("polling", 2)
	stop()
	<-done
}

// At most Concurrency attempts are in flight; the rest wait their turn.
func TestBoundedConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for range 10 {
		hash, _ := f.signIn("rp")
		f.signOut(hash)
	}
	hold := make(chan struct{})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(hold) }) }) // before the receiver closes
	f.rcv.mu.Lock()
	f.rcv.hold = hold
	f.rcv.mu.Unlock()
	d := f.deliverer(func(o *backchannel.Options) { o.Concurrency = 3 })
	done := make(chan int, 1)
	go func() { done <- d.RunOnce(t.Context()) }()
	deadline := time.Now().Add(5 * time.Second)
	for f.rcv.inFlight.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a fourth would have arrived by now
	if n := f.rcv.inFlight.Load(); n != 3 {
		t.Fatalf("%d attempts in flight, want 3", n)
	}
	release.Do(func() { close(hold) })
	if n := <-done; n != 10 {
		t.Fatalf("RunOnce made %d attempts, want 10", n)
	}
	if m := f.rcv.maxIn.Load(); m != 3 {
		t.Fatalf("at most %d in flight, want 3", m)
	}
	if q := f.queue(); len(q) != 0 {
		t.Fatalf("queue %+v", q)
	}
}

// At shutdown, an attempt still in flight after the grace is cut short
// and its row released: not counted as an attempt, claimable at once by
// the next start or another instance.
func TestShutdownReleases(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hash, _ := f.signIn("rp")
	f.signOut(hash)
	hung := blockingPoster{started: make(chan struct{}, 1)}
	d := f.deliverer(func(o *backchannel.Options) { o.HTTP = hung; o.ShutdownGrace = 50 * time.Millisecond })
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	select {
	case <-hung.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the row was not claimed")
	}
	begin := time.Now()
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("shutdown took %v with a 50ms grace", took)
	}
	q := f.queue()
	if len(q) != 1 || q[0].Attempts != 0 || q[0].LockedUntil != nil {
		t.Fatalf("queue after shutdown %+v, want the row released, no attempt counted", q)
	}
	if n := f.deliverer().RunOnce(t.Context()); n != 1 || len(f.rcv.requests()) != 1 {
		t.Fatalf("next start: %d attempts, %d requests", n, len(f.rcv.requests()))
	}
}

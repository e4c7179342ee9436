package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// Back-Channel Logout 1.0 against the real binary (rule 41, issue 16
// part 3): a relying party's back-channel endpoint on a loopback port
// verifies every logout token it gets with the JWKS, as an RP must
// (§2.6); signing out of Gatehouse sends one to each client that received
// tokens in the session and has a backchannel_logout_uri, with the sid of
// its ID token; and a notification that could not be delivered before a
// restart arrives after it, from the queue in the database.

// backchannelEvent is the logout token's event (§2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutToken is a logout token a receiver accepted: signature verified
// with the JWKS, claims checked.
type logoutToken struct {
	Path   string // the receiver path it was POSTed to
	KeyID  string
	Claims map[string]any
}

// logoutReceiver is an RP's back-channel logout endpoint on a loopback
// address: it answers 200 to a valid logout token and 400 to anything
// else (§2.8), and records both.
type logoutReceiver struct {
	addr string
	// jwksURL and issuer are what tokens are checked against.
	jwksURL, issuer string

	mu       sync.Mutex
	accepted []logoutToken
	problems []string
	arrived  chan struct{}
	srv      *http.Server
}

// newLogoutReceiver reserves a loopback address; nothing listens there
// (connections are refused) until start.
func newLogoutReceiver(t *testing.T) *logoutReceiver {
	return &logoutReceiver{addr: freePort(t), arrived: make(chan struct{}, 100)}
}

func (r *logoutReceiver) url(path string) string { return "http://" + r.addr + path }

// start listens on the receiver's address until the test ends.
func (r *logoutReceiver) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { _ = r.srv.Close() })
}

func (r *logoutReceiver) serve(w http.ResponseWriter, req *http.Request) {
	tok, err := r.check(req)
	r.mu.Lock()
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s: %v", req.URL.Path, err))
	} else {
		r.accepted = append(r.accepted, tok)
	}
	r.mu.Unlock()
	r.arrived <- struct{}{}
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// check validates a logout request as Back-Channel Logout §2.6 asks of a
// relying party, the audience aside (the caller checks it per client).
func (r *logoutReceiver) check(req *http.Request) (logoutToken, error) {
	tok := logoutToken{Path: req.URL.Path}
	if req.Method != http.MethodPost || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return tok, fmt.Errorf("%s %s, want a form POST", req.Method, req.Header.Get("Content-Type"))
	}
	if err := req.ParseForm(); err != nil {
		return tok, err
	}
	raw := req.PostForm.Get("logout_token")
	if raw == "" || len(req.PostForm) != 1 {
		return tok, fmt.Errorf("form %v, want logout_token alone", req.PostForm)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return tok, fmt.Errorf("not a JWS: %w", err)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		return tok, fmt.Errorf("typ %q, want logout+jwt", typ)
	}
	res, err := http.Get(r.jwksURL)
	if err != nil {
		return tok, fmt.Errorf("JWKS: %w", err)
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		return tok, fmt.Errorf("JWKS: %w", err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 || keys[0].Algorithm != h.Algorithm {
		return tok, fmt.Errorf("kid %q (alg %s) is not a key of the JWKS", h.KeyID, h.Algorithm)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return tok, fmt.Errorf("signature: %w", err)
	}
	tok.KeyID = h.KeyID
	if err := json.Unmarshal(payload, &tok.Claims); err != nil {
		return tok, err
	}
	c := tok.Claims
	now := float64(time.Now().Unix())
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	events, _ := c["events"].(map[string]any)
	member, isObject := events[backchannelEvent].(map[string]any)
	switch {
	case c["iss"] != r.issuer:
		return tok, fmt.Errorf("iss %v, want %s", c["iss"], r.issuer)
	case iat == 0 || iat > now+60 || iat < now-600:
		return tok, fmt.Errorf("iat %v, now %v", c["iat"], now)
	case exp <= now || exp > iat+600:
		return tok, fmt.Errorf("exp %v (iat %v, now %v)", c["exp"], c["iat"], now)
	case toString(c["jti"]) == "":
		return tok, errors.New("no jti")
	case !isObject || len(member) != 0:
		return tok, fmt.Errorf("events %v, want the back-channel logout event with {}", c["events"])
	case toString(c["sid"]) == "" && toString(c["sub"]) == "":
		return tok, errors.New("neither sid nor sub")
	case c["nonce"] != nil:
		return tok, errors.New("a nonce (forbidden in logout tokens)")
	}
	return tok, nil
}

// wait returns the tokens accepted once n requests have arrived, failing
// the test after timeout or on any refused request.
func (r *logoutReceiver) wait(t *testing.T, n int, timeout time.Duration, s *server) []logoutToken {
	t.Helper()
	deadline := time.After(timeout)
	for i := 0; i < n; i++ {
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("the back-channel receiver got %d of %d logout requests within %v\n%s", i, n, timeout, s.log)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) > 0 {
		t.Fatalf("the back-channel receiver refused logout requests: %q", r.problems)
	}
	return append([]logoutToken(nil), r.accepted...)
}

// quiet fails the test if a request arrives within d.
func (r *logoutReceiver) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-r.arrived:
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("unexpected back-channel request: accepted %+v, refused %q", r.accepted, r.problems)
	case <-time.After(d):
	}
}

// idClaimsOf decodes an ID token's payload (its signature is checked by
// TestOIDC; here only sid and sub are compared).
func idClaimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token %q is not a JWS", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// signOutBrowser posts Gatehouse's own sign-out form.
func signOutBrowser(t *testing.T, c *http.Client, base string) {
	t.Helper()
	res := submit(t, c, base+"/account", base+"/logout", url.Values{})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/logout/done" {
		t.Fatalf("sign out: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestBackchannelLogout: sign-out reaches every client of the session
// that listens (rule 41), and a notification pending at a restart is
// delivered after it. On SQLite and PostgreSQL.
func TestBackchannelLogout(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			db := b.URL(t)
			addr := freePort(t)
			// The receivers are on 127.0.0.1: allowed only with the flag.
			opts := serverOptions{addr: addr, env: []string{"GATEHOUSE_ALLOW_PRIVATE_FETCH=1"}}
			o := startOAuthWith(t, db, opts)
			rcv := newLogoutReceiver(t)
			rcv.issuer, rcv.jwksURL = o.base, o.base+"/oauth/jwks"
			rcv.start(t)

			listening := o.client(t, "Listening RP", "--backchannel-logout-uri", rcv.url("/listening"))
			deaf := o.client(t, "Deaf RP") // no backchannel_logout_uri
			absent := o.client(t, "Absent RP", "--backchannel-logout-uri", rcv.url("/absent"), "--backchannel-logout-session-required")
			_ = absent // registered, but gets no tokens in the session
			for _, cfg := range []*oauth2.Config{listening, deaf} {
				cfg.Scopes = []string{"openid"}
			}

			t.Run("sign-out notifies the clients of the session", func(t *testing.T) {
				c := browser(t)
				tok := o.codeFlow(t, c, listening)
				o.codeFlow(t, c, deaf)
				idToken, _ := tok.Extra("id_token").(string)
				id := idClaimsOf(t, idToken)
				if toString(id["sid"]) == "" {
					t.Fatalf("ID token without sid: %v", id)
				}
				signedOut := time.Now()
				signOutBrowser(t, c, o.base)
				got := rcv.wait(t, 1, 15*time.Second, o.server)
				t.Logf("logout token received %v after the sign-out request", time.Since(signedOut).Round(time.Millisecond))
				lt := got[0]
				if lt.Path != "/listening" || !audienceHas(lt.Claims["aud"], listening.ClientID) {
					t.Fatalf("logout token to %s for aud %v, want /listening for %s", lt.Path, lt.Claims["aud"], listening.ClientID)
				}
				if lt.Claims["sid"] != id["sid"] || lt.Claims["sub"] != id["sub"] {
					t.Fatalf("logout token sid %v sub %v, ID token sid %v sub %v", lt.Claims["sid"], lt.Claims["sub"], id["sid"], id["sub"])
				}
				if lt.KeyID != kidOf(t, idToken) {
					t.Errorf("logout token signed with key %s, the ID token with %s", lt.KeyID, kidOf(t, idToken))
				}
				// Nothing for the client without a URI, nor for the one
				// that got no tokens in this session.
				rcv.quiet(t, 2*time.Second)
				// The session's grant ended with it (no offline_access).
				status, body := o.postToken(t, listening, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
				if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Fatalf("refresh after sign-out: %d %v, want invalid_grant", status, body)
				}
			})

			t.Run("a notification pending at a restart arrives after it", func(t *testing.T) {
				late := newLogoutReceiver(t) // nobody listening yet: connection refused
				late.issuer, late.jwksURL = o.base, o.base+"/oauth/jwks"
				rp := o.client(t, "Late RP", "--backchannel-logout-uri", late.url("/late"))
				rp.Scopes = []string{"openid"}
				c := browser(t)
				tok := o.codeFlow(t, c, rp)
				idToken, _ := tok.Extra("id_token").(string)
				id := idClaimsOf(t, idToken)
				signOutBrowser(t, c, o.base)
				// The first attempt fails (refused) and is rescheduled.
				deadline := time.Now().Add(15 * time.Second)
				for !strings.Contains(o.log.String(), "back-channel logout failed; will retry") {
					if time.Now().After(deadline) {
						t.Fatalf("no failed attempt logged\n%s", o.log)
					}
					time.Sleep(50 * time.Millisecond)
				}
				stopped := time.Now()
				o.stop(t)
				o.server = startWith(t, db, serverOptions{addr: addr, noSetup: true, env: opts.env})
				late.start(t)
				// The retry is due 10 s (±10%) after the failed attempt.
				got := late.wait(t, 1, 30*time.Second, o.server)
				t.Logf("delivered %v after the restart began", time.Since(stopped).Round(time.Millisecond))
				lt := got[0]
				if lt.Path != "/late" || !audienceHas(lt.Claims["aud"], rp.ClientID) || lt.Claims["sid"] != id["sid"] || lt.Claims["sub"] != id["sub"] {
					t.Fatalf("logout token %s %v, want /late for %s with sid %v", lt.Path, lt.Claims, rp.ClientID, id["sid"])
				}
				late.quiet(t, 2*time.Second)
			})
		})
	}
}

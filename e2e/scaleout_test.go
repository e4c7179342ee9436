package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// Scale-out (issue 7 part 3): several instances on one database behave as
// one server. Sessions, pending authorizations, codes, tokens, settings and
// signing keys live in the database, and each instance's caches check the
// shared counters (app/cache) on every request.
//
// The instances share one issuer, the public URL a load balancer would
// serve; the test plays the balancer and sends each request to the port
// of the instance it names. The browser's cookie jar is shared: the
// session cookie is host-only for 127.0.0.1 and cookies ignore ports
// (RFC 6265 §8.5), so the cookie from signing in on A goes to B too.

const (
	scaleAdmin         = "root"
	scaleAdminPassword = "a long admin passphrase"
)

// TestScaleOut runs the whole flow with requests alternating between two
// instances on one PostgreSQL database (skipped without
// GATEHOUSE_TEST_POSTGRES_URL, failed in CI without it), and the same on
// one SQLite file shared by two processes.
//
// On PostgreSQL both instances start at the same moment on the empty
// database, as in a rolling deploy: one migrates and makes the signing
// keys while the other waits for the migration lock, and both end up with
// the same keys. On SQLite B starts once A is up: the migrations take no
// lock there, and two processes migrating one new file at once can fail
// ("table users already exists").
func TestScaleOut(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { scaleOut(t, dbtest.PostgresURL(t), true) })
	t.Run("sqlite", func(t *testing.T) { scaleOut(t, dbtest.SQLiteURL(t), false) })
}

func scaleOut(t *testing.T, db string, together bool) {
	// The load balancer's address: the issuer of both, never contacted.
	issuer := "http://" + freePort(t)
	opts := serverOptions{issuer: issuer, noSetup: true}
	var a, b *server
	if together {
		a, b = launch(t, db, opts), launch(t, db, opts)
		a.ready(t)
		b.ready(t)
	} else {
		a = startWith(t, db, opts)
		b = startWith(t, db, opts)
	}
	_, jwksA := get(t, browser(t), a.base+"/oauth/jwks")
	_, jwksB := get(t, browser(t), b.base+"/oauth/jwks")
	var set struct {
		Keys []struct {
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(jwksA), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS of A: %v %s", err, jwksA)
	}
	algs := map[string]bool{}
	for _, k := range set.Keys {
		if algs[k.Alg] {
			t.Fatalf("two %s keys after the first start of two instances (each made its own):\n%s", k.Alg, jwksA)
		}
		algs[k.Alg] = true
	}
	if jwksA != jwksB {
		t.Fatalf("A and B publish different keys:\n%s\n%s", jwksA, jwksB)
	}

	// Users and clients, made with the command line while both run.
	gatehouseCLI(t, db, scaleAdminPassword+"\n", "users", "create", "--username", scaleAdmin, "--password-stdin", "--role", "admin")
	gatehouseCLI(t, db, oauthPassword+"\n", "users", "create", "--username", oauthUser, "--name", oauthName,
		"--email", oauthEmail, "--password-stdin", "--role", "user")
	webID, webSecret := createClient(t, db, "--name", "Scale Web App", "--redirect-uri", callbackURI,
		"--grant-type", "authorization_code", "--grant-type", "refresh_token")
	legacyID, legacySecret := createClient(t, db, "--name", "Scale Legacy App", "--redirect-uri", callbackURI,
		"--grant-type", "password")

	// on gives the client configuration with its endpoints on instance s.
	on := func(s *server, id, secret string) *oauth2.Config {
		return &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: callbackURI,
			Scopes: []string{oidc.ScopeOpenID, "user.read"},
			Endpoint: oauth2.Endpoint{AuthURL: s.base + "/oauth/authorize", TokenURL: s.base + "/oauth/token",
				AuthStyle: oauth2.AuthStyleInHeader}}
	}
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	// idVerifier checks ID tokens of the shared issuer with the JWKS that
	// instance s serves (fetched afresh).
	idVerifier := func(s *server) *oidc.IDTokenVerifier {
		return oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(ctx, s.base+"/oauth/jwks"), &oidc.Config{ClientID: webID})
	}
	// path keeps the path and query of a redirect to the issuer, to
	// send it to an instance.
	path := func(location string) string {
		t.Helper()
		u := mustParseURL(t, location)
		if u.Host != "" && u.Scheme+"://"+u.Host != issuer {
			t.Fatalf("redirect to %s, want a path on the issuer %s", location, issuer)
		}
		return u.RequestURI()
	}
	apiUserOn := func(s *server, token string) (*http.Response, map[string]any) {
		return (&oauthServer{server: s}).apiUser(t, token)
	}
	web := on(a, webID, webSecret)

	// Sign in on A.
	c := browser(t)
	pkce := oauth2.GenerateVerifier()
	state := "st-" + oauth2.GenerateVerifier()[:12]
	nonce := "n-" + oauth2.GenerateVerifier()[:20]
	res, body := get(t, c, web.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce)))
	login := mustParseURL(t, path(res.Header.Get("Location")))
	if res.StatusCode != http.StatusSeeOther || login.Path != "/login" {
		t.Fatalf("authorize on A: %d to %q, want 303 to /login\n%s", res.StatusCode, res.Header.Get("Location"), snippet(body))
	}
	res = submit(t, c, a.base+login.RequestURI(), a.base+"/login",
		url.Values{"username": {oauthUser}, "password": {oauthPassword}, "next": {login.Query().Get("next")}})
	consent := path(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(consent, "/consent?id=") {
		t.Fatalf("sign-in on A: %d to %q, want 303 to /consent?id=...", res.StatusCode, res.Header.Get("Location"))
	}

	// Consent on B: the session and the pending request come from A.
	res, body = get(t, c, b.base+consent)
	csrf, id := csrfRE.FindStringSubmatch(body), consentIDRE.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || csrf == nil || id == nil {
		t.Fatalf("consent page on B: %d, want the consent form of the request started on A\n%s", res.StatusCode, snippet(body))
	}
	res, err := c.PostForm(b.base+"/consent", url.Values{"csrf_token": {csrf[1]}, "id": {id[1]}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	final := mustParseURL(t, res.Header.Get("Location"))
	q := final.Query()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(final.String(), callbackURI+"?") ||
		q.Get("code") == "" || q.Get("state") != state || q.Get("iss") != issuer {
		t.Fatalf("consent on B: %d to %s, want the callback with a code, state %q and iss %q", res.StatusCode, final, state, issuer)
	}

	// Token on A.
	t1, err := web.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatalf("code from B exchanged on A: %v", err)
	}
	id1, _ := t1.Extra("id_token").(string)
	idt, err := idVerifier(a).Verify(ctx, id1)
	if err != nil {
		t.Fatalf("ID token from A against A's JWKS: %v", err)
	}
	if idt.Nonce != nonce {
		t.Fatalf("ID token nonce %q, want %q", idt.Nonce, nonce)
	}
	kid1 := keyID(t, id1)

	// Refresh on B.
	stale := *t1
	stale.Expiry = time.Now().Add(-time.Minute)
	t2, err := on(b, webID, webSecret).TokenSource(ctx, &stale).Token()
	if err != nil {
		t.Fatalf("refresh on B of a token issued by A: %v", err)
	}
	if t2.AccessToken == "" || t2.AccessToken == t1.AccessToken || t2.RefreshToken == "" || t2.RefreshToken == t1.RefreshToken {
		t.Fatalf("refresh on B did not give a new pair: %+v", t2)
	}
	id2, _ := t2.Extra("id_token").(string)
	if _, err := idVerifier(a).Verify(ctx, id2); err != nil {
		t.Fatalf("ID token from the refresh on B against A's JWKS: %v", err)
	}
	// B has seen the token (and may keep it in its caches).
	if res, body := apiUserOn(b, t2.AccessToken); res.StatusCode != http.StatusOK || body["username"] != oauthUser {
		t.Fatalf("GET /api/user on B: %d %v", res.StatusCode, body)
	}
	bWeb := on(b, webID, webSecret)
	if got, err := introspect(http.DefaultClient, b.base, bWeb, t2.AccessToken); err != nil || got["active"] != true {
		t.Fatalf("introspect on B before revocation: %v %v", got, err)
	}

	// Revoke on A.
	req, _ := http.NewRequest(http.MethodPost, a.base+"/oauth/revoke", strings.NewReader(url.Values{"token": {t2.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(webID), url.QueryEscape(webSecret))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke on A: %d", res.StatusCode)
	}

	// Introspect on B: inactive, and exactly that.
	got, err := introspect(http.DefaultClient, b.base, bWeb, t2.AccessToken)
	if err != nil || len(got) != 1 || got["active"] != false {
		t.Fatalf("introspect on B after revocation on A: %v %v, want {\"active\":false}", got, err)
	}
	res, body2 := apiUserOn(b, t2.AccessToken)
	wantBearerError(t, "GET /api/user on B with the token revoked on A", res, body2, http.StatusUnauthorized, "invalid_token")

	// A setting changed on A's Settings page is enforced by B on its next
	// request. B refuses the password grant first (its settings cache is
	// warm).
	adm := browser(t)
	if res := submit(t, adm, a.base+"/login", a.base+"/login", url.Values{"username": {scaleAdmin}, "password": {scaleAdminPassword}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin sign-in on A: %d", res.StatusCode)
	}
	legacyB := on(b, legacyID, legacySecret)
	legacyB.Scopes = []string{"user.read"}
	_, err = legacyB.PasswordCredentialsToken(ctx, oauthUser, oauthPassword)
	wantTokenError(t, "password grant on B while allow_password_grant is off", err, "unsupported_grant_type")
	res = submit(t, adm, a.base+"/dashboard/settings", a.base+"/dashboard/settings", url.Values{"allow_password_grant": {"true"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving allow_password_grant on A's Settings page: %d", res.StatusCode)
	}
	pt, err := legacyB.PasswordCredentialsToken(ctx, oauthUser, oauthPassword)
	if err != nil {
		t.Fatalf("password grant on B right after A's Settings page turned it on: %v", err)
	}
	if res, body := apiUserOn(b, pt.AccessToken); res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/user on B with the password-grant token: %d %v", res.StatusCode, body)
	}

	// Rotate the signing keys on B's Settings page (the admin's session
	// from A works there).
	res = submit(t, adm, b.base+"/dashboard/settings", b.base+"/dashboard/settings/keys/rotate", url.Values{})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotating keys on B's Settings page: %d", res.StatusCode)
	}
	_, page := get(t, adm, b.base+"/dashboard/settings")
	m := rotatedRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no rotation notice on B's Settings page\n%s", snippet(page))
	}
	newKID := m[1]
	if newKID == kid1 {
		t.Fatalf("rotation kept key %s", kid1)
	}

	// A new ID token from A (consent is remembered: straight back with a
	// code) is signed with the new key, and verifies with the JWKS of
	// either instance; A's ID token from before the rotation still does.
	pkce = oauth2.GenerateVerifier()
	state = "st-" + oauth2.GenerateVerifier()[:12]
	res, _ = get(t, c, web.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce)))
	final = mustParseURL(t, res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || final.Query().Get("code") == "" || final.Query().Get("state") != state {
		t.Fatalf("second authorization on A: %d to %s, want the callback with a code", res.StatusCode, final)
	}
	t3, err := web.Exchange(ctx, final.Query().Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatalf("exchange on A after the rotation: %v", err)
	}
	id3, _ := t3.Extra("id_token").(string)
	if kid := keyID(t, id3); kid != newKID {
		t.Fatalf("A signed an ID token with key %s after B rotated to %s", kid, newKID)
	}
	for _, s := range []struct {
		name string
		srv  *server
	}{{"A", a}, {"B", b}} {
		if _, err := idVerifier(s.srv).Verify(ctx, id3); err != nil {
			t.Fatalf("new ID token from A (key %s) against %s's JWKS: %v", newKID, s.name, err)
		}
		if _, err := idVerifier(s.srv).Verify(ctx, id1); err != nil {
			t.Fatalf("ID token from before the rotation (key %s) against %s's JWKS: %v", kid1, s.name, err)
		}
	}
}

var rotatedRE = regexp.MustCompile(`Signing keys rotated: new tokens are signed with key ([A-Za-z0-9_-]+)\.`)

// keyID returns the kid of a JWS compact token's header.
func keyID(t *testing.T, jws string) string {
	t.Helper()
	head, _, _ := strings.Cut(jws, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		KID string `json:"kid"`
	}
	if err != nil || json.Unmarshal(raw, &h) != nil || h.KID == "" {
		t.Fatalf("token header %q has no kid", head)
	}
	return h.KID
}

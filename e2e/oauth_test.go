package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// The OAuth end-to-end tests drive the real binary with
// golang.org/x/oauth2 as the client application and a cookie-jar HTTP
// client as the user's browser, which signs in and answers the consent
// screen by filling in the forms.

const (
	oauthUser     = "alice"
	oauthPassword = "correct horse battery staple"
	oauthName     = "Alice Liddell"
	oauthEmail    = "alice@example.com"
	// The redirect URIs are never contacted: the browser does not follow
	// redirects and the tests read the Location header.
	callbackURI = "http://127.0.0.1/callback"
)

// gatehouseCLI runs a gatehouse command against the database at dbURL and
// returns its standard output; a non-zero exit fails the test.
func gatehouseCLI(tb testing.TB, dbURL, stdin string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_DATABASE_URL="+dbURL)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("gatehouse %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// createClient registers a client with `clients create --json` and
// returns its ID and secret (empty for a public client).
func createClient(tb testing.TB, dbURL string, args ...string) (id, secret string) {
	tb.Helper()
	out := gatehouseCLI(tb, dbURL, "", append([]string{"clients", "create", "--json"}, args...)...)
	var v struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ClientID == "" {
		tb.Fatalf("clients create --json printed %q (%v)", out, err)
	}
	return v.ClientID, v.ClientSecret
}

// oauthServer is a running server with a user and the client registrations
// the tests use.
type oauthServer struct {
	*server
	db string
	// ctx makes golang.org/x/oauth2 use a client with a timeout.
	ctx context.Context
}

// startOAuth starts the binary on the database at dbURL (whose settings
// the caller may have changed already) and creates the user alice, with
// a name and an email address for the OpenID Connect claims.
func startOAuth(t *testing.T, dbURL string) *oauthServer {
	t.Helper()
	return startOAuthWith(t, dbURL, serverOptions{})
}

// startOAuthWith is startOAuth with server options.
func startOAuthWith(t *testing.T, dbURL string, opts serverOptions) *oauthServer {
	t.Helper()
	o := &oauthServer{server: startWith(t, dbURL, opts), db: dbURL}
	o.ctx = context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: 10 * time.Second})
	gatehouseCLI(t, dbURL, oauthPassword+"\n", "users", "create", "--username", oauthUser, "--name", oauthName,
		"--email", oauthEmail, "--password-stdin", "--role", "user")
	return o
}

func (o *oauthServer) endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{
		AuthURL:   o.base + "/oauth/authorize",
		TokenURL:  o.base + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInHeader,
	}
}

// client registers a confidential client and returns its oauth2 config.
func (o *oauthServer) client(t *testing.T, name string, args ...string) *oauth2.Config {
	t.Helper()
	id, secret := createClient(t, o.db, append([]string{"--name", name, "--redirect-uri", callbackURI}, args...)...)
	if secret == "" {
		t.Fatalf("confidential client %q has no secret", name)
	}
	return &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: o.endpoint(), RedirectURL: callbackURI}
}

// local reports whether a redirect stays on the server.
func (o *oauthServer) local(u *url.URL) bool {
	b, _ := url.Parse(o.base)
	return u.Host == "" || u.Host == b.Host
}

var consentIDRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

// authorization is what a browser went through for one authorization
// request.
type authorization struct {
	Final   *url.URL // the redirect to the client
	Steps   []string // paths on the server, in order
	Consent bool     // the consent screen was shown
}

// authorize drives a browser through the authorization request at
// authURL: it signs in as alice when sent to /login and answers the
// consent screen with decision (allow or deny) when it is shown. It
// returns the redirect back to the client, and fails the test on
// anything else.
func (o *oauthServer) authorize(t *testing.T, c *http.Client, authURL, decision string) authorization {
	t.Helper()
	var a authorization
	next := authURL
	for range 10 {
		u, err := url.Parse(next)
		if err != nil {
			t.Fatalf("bad URL %q: %v", next, err)
		}
		u = mustParseURL(t, o.base).ResolveReference(u)
		if !o.local(u) {
			a.Final = u
			return a
		}
		a.Steps = append(a.Steps, u.Path)
		res, body := get(t, c, u.String())
		switch {
		case res.StatusCode == http.StatusSeeOther || res.StatusCode == http.StatusFound:
			next = res.Header.Get("Location")
			continue
		case res.StatusCode != http.StatusOK:
			t.Fatalf("GET %s: %d\n%s", u, res.StatusCode, snippet(body))
		}
		csrf := csrfRE.FindStringSubmatch(body)
		if csrf == nil {
			t.Fatalf("GET %s: no CSRF token in the page\n%s", u, snippet(body))
		}
		var form url.Values
		var action string
		switch u.Path {
		case "/login":
			nextParam := u.Query().Get("next")
			if !strings.HasPrefix(nextParam, "/consent?id=") {
				t.Fatalf("sign-in for an authorization request has next=%q, want /consent?id=...", nextParam)
			}
			action = "/login"
			form = url.Values{"username": {oauthUser}, "password": {oauthPassword}, "next": {nextParam}}
		case "/consent", "/oauth/authorize":
			// The consent screen: after signing in, or at once for a
			// browser signed in already.
			a.Consent = true
			id := consentIDRE.FindStringSubmatch(body)
			if id == nil {
				t.Fatalf("consent page without a request id\n%s", snippet(body))
			}
			if want := u.Query().Get("id"); u.Path == "/consent" && id[1] != want {
				t.Fatalf("consent form id %q, page URL id %q", id[1], want)
			}
			action = "/consent"
			form = url.Values{"id": {id[1]}, "decision": {decision}}
		default:
			t.Fatalf("unexpected page %s during authorization\n%s", u, snippet(body))
		}
		form.Set("csrf_token", csrf[1])
		res, err = c.PostForm(o.base+action, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d, want 303\n%s", action, res.StatusCode, snippet(string(b)))
		}
		next = res.Header.Get("Location")
		if action == "/login" && next != u.Query().Get("next") {
			t.Fatalf("sign-in sent the browser to %q, want back to %q", next, u.Query().Get("next"))
		}
		if action == "/consent" {
			loc := mustParseURL(t, next)
			if o.local(loc) {
				t.Fatalf("consent decision redirected to %s on the server, want the client", next)
			}
			a.Final = loc
			return a
		}
	}
	t.Fatalf("authorization of %s did not finish within 10 steps: %v", authURL, a.Steps)
	return a
}

// codeFlow runs an authorization code request with PKCE for cfg (consent
// allowed when asked) and exchanges the code.
func (o *oauthServer) codeFlow(t *testing.T, c *http.Client, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier()[:16]
	a := o.authorize(t, c, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), "allow")
	q := a.Final.Query()
	if q.Get("code") == "" || q.Get("state") != state {
		t.Fatalf("authorization redirect %s: want a code and state %q", a.Final, state)
	}
	tok, err := cfg.Exchange(o.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

func mustParseURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u
}

func snippet(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// apiUser calls GET /api/user with the access token (none when empty).
func (o *oauthServer) apiUser(t *testing.T, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, o.base+"/api/user", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET /api/user: %d, body is not JSON: %q", res.StatusCode, b)
	}
	return res, body
}

// wantBearerError checks a refused resource request: status, and the
// error code in WWW-Authenticate and in the body.
func wantBearerError(t *testing.T, what string, res *http.Response, body map[string]any, status int, code string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s: status %d, want %d (body %v)", what, res.StatusCode, status, body)
	}
	wa := res.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(wa, `Bearer realm=`) || !strings.Contains(wa, `error="`+code+`"`) {
		t.Fatalf("%s: WWW-Authenticate %q, want Bearer realm=... error=%q", what, wa, code)
	}
	if body["error"] != code {
		t.Fatalf("%s: body error %v, want %s", what, body["error"], code)
	}
}

// wantTokenError checks that err is the token endpoint's error code with
// status 400.
func wantTokenError(t *testing.T, what string, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("%s: got %v, want a token endpoint error %s", what, err, code)
	}
	if re.ErrorCode != code || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("%s: %d %s (%s), want 400 %s", what, re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, code)
	}
	if cc := re.Response.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("%s: error response Cache-Control %q, want no-store", what, cc)
	}
}

// postToken sends a token request by hand, authenticating cfg's client
// with HTTP Basic (a public client, without a secret, sends its client_id
// in the form instead), and returns the status and the decoded JSON body.
func (o *oauthServer) postToken(t *testing.T, cfg *oauth2.Config, form url.Values) (int, map[string]any) {
	t.Helper()
	if cfg.ClientSecret == "" {
		form.Set("client_id", cfg.ClientID)
	}
	req, _ := http.NewRequest(http.MethodPost, cfg.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("POST token: %d, body is not JSON: %q", res.StatusCode, b)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("POST token: Cache-Control %q, want no-store", cc)
	}
	return res.StatusCode, body
}

// TestOAuth runs the OAuth flows against the real binary on SQLite and
// PostgreSQL, with golang.org/x/oauth2 as the client.
func TestOAuth(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			o := startOAuth(t, b.URL(t))
			web := o.client(t, "Web App", "--grant-type", "authorization_code", "--grant-type", "refresh_token")

			t.Run("authorization code with PKCE", func(t *testing.T) {
				c := browser(t)
				verifier := oauth2.GenerateVerifier()
				state := "st-" + oauth2.GenerateVerifier()[:12]
				a := o.authorize(t, c, web.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), "allow")
				if want := []string{"/oauth/authorize", "/login", "/consent"}; strings.Join(a.Steps, " ") != strings.Join(want, " ") {
					t.Fatalf("browser went through %v, want %v", a.Steps, want)
				}
				if !a.Consent {
					t.Fatal("no consent screen on the first authorization")
				}
				if got := a.Final.Scheme + "://" + a.Final.Host + a.Final.Path; got != callbackURI {
					t.Fatalf("redirected to %s, want %s", a.Final, callbackURI)
				}
				q := a.Final.Query()
				if q.Get("state") != state {
					t.Fatalf("state %q, want %q", q.Get("state"), state)
				}
				if q.Get("iss") != o.base {
					t.Fatalf("iss %q, want the issuer %q", q.Get("iss"), o.base)
				}
				if q.Get("code") == "" || q.Has("error") {
					t.Fatalf("redirect %s: want a code and no error", a.Final)
				}
				tok, err := web.Exchange(o.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				if tok.AccessToken == "" || tok.RefreshToken == "" {
					t.Fatalf("token response: access %q, refresh %q; want both", tok.AccessToken, tok.RefreshToken)
				}
				if !strings.EqualFold(tok.TokenType, "bearer") {
					t.Fatalf("token_type %q, want Bearer", tok.TokenType)
				}
				if !tok.Expiry.After(time.Now().Add(50 * time.Minute)) {
					t.Fatalf("expiry %v, want about an hour from now", tok.Expiry)
				}
				if scope, _ := tok.Extra("scope").(string); !strings.Contains(" "+scope+" ", " user.read ") {
					t.Fatalf("granted scope %q, want the default user.read", scope)
				}
				res, body := o.apiUser(t, tok.AccessToken)
				if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
					t.Fatalf("GET /api/user: %d %s %v", res.StatusCode, res.Header.Get("Content-Type"), body)
				}
				if sub, _ := body["sub"].(string); sub == "" || body["username"] != oauthUser {
					t.Fatalf("GET /api/user: %v, want sub and username %q", body, oauthUser)
				}

				// The code is single-use, and presenting it again revokes the
				// tokens issued for it (RFC 6749 §4.1.2).
				_, err = web.Exchange(o.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
				wantTokenError(t, "second exchange of a code", err, "invalid_grant")
				res, body = o.apiUser(t, tok.AccessToken)
				wantBearerError(t, "access token after its code was replayed", res, body, http.StatusUnauthorized, "invalid_token")
				status, body := o.postToken(t, web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
				if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Fatalf("refresh token after its code was replayed: %d %v, want 400 invalid_grant", status, body)
				}

				t.Run("remembered consent skips the consent screen", func(t *testing.T) {
					state2 := "st2-" + oauth2.GenerateVerifier()[:12]
					v2 := oauth2.GenerateVerifier()
					a := o.authorize(t, c, web.AuthCodeURL(state2, oauth2.S256ChallengeOption(v2)), "allow")
					if a.Consent || len(a.Steps) != 1 {
						t.Fatalf("second authorization went through %v (consent shown: %v), want straight back to the client", a.Steps, a.Consent)
					}
					q := a.Final.Query()
					if q.Get("code") == "" || q.Get("state") != state2 || q.Get("iss") != o.base {
						t.Fatalf("redirect %s: want code, state %q and iss %q", a.Final, state2, o.base)
					}
					// PKCE binds the code to the verifier.
					_, err := web.Exchange(o.ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
					wantTokenError(t, "exchange with the wrong code_verifier", err, "invalid_grant")
				})
			})

			t.Run("client credentials", func(t *testing.T) {
				svc := o.client(t, "Batch Service", "--grant-type", "client_credentials")
				cc := clientcredentials.Config{ClientID: svc.ClientID, ClientSecret: svc.ClientSecret,
					TokenURL: o.base + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
				tok, err := cc.Token(o.ctx)
				if err != nil {
					t.Fatalf("client credentials: %v", err)
				}
				if tok.AccessToken == "" {
					t.Fatal("no access token")
				}
				if tok.RefreshToken != "" {
					t.Fatalf("client credentials issued a refresh token %q", tok.RefreshToken)
				}
				res, body := o.apiUser(t, tok.AccessToken)
				wantBearerError(t, "GET /api/user with a client-credentials token", res, body, http.StatusForbidden, "insufficient_scope")

				bad := cc
				bad.ClientSecret = "wrong"
				_, err = bad.Token(o.ctx)
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized ||
					!strings.HasPrefix(re.Response.Header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("wrong client secret: %v, want 401 invalid_client with WWW-Authenticate: Basic", err)
				}
			})

			t.Run("password grant", func(t *testing.T) {
				legacy := o.client(t, "Legacy App", "--grant-type", "password", "--grant-type", "refresh_token")
				_, err := legacy.PasswordCredentialsToken(o.ctx, oauthUser, oauthPassword)
				wantTokenError(t, "password grant while allow_password_grant is off", err, "unsupported_grant_type")

				gatehouseCLI(t, o.db, "", "settings", "set", "allow_password_grant", "true")
				tok, err := legacy.PasswordCredentialsToken(o.ctx, oauthUser, oauthPassword)
				if err != nil {
					t.Fatalf("password grant after settings set allow_password_grant true: %v", err)
				}
				if tok.AccessToken == "" || tok.RefreshToken == "" {
					t.Fatalf("password grant: access %q, refresh %q; want both", tok.AccessToken, tok.RefreshToken)
				}
				if res, body := o.apiUser(t, tok.AccessToken); res.StatusCode != http.StatusOK || body["username"] != oauthUser {
					t.Fatalf("GET /api/user with a password-grant token: %d %v", res.StatusCode, body)
				}
				_, err = legacy.PasswordCredentialsToken(o.ctx, oauthUser, "not the password")
				wantTokenError(t, "password grant with a wrong password", err, "invalid_grant")

				// A client without the grant type may not use it.
				_, err = web.PasswordCredentialsToken(o.ctx, oauthUser, oauthPassword)
				wantTokenError(t, "password grant by a client without it", err, "unauthorized_client")
			})

			t.Run("refresh rotation and reuse", func(t *testing.T) {
				t1 := o.codeFlow(t, browser(t), web)

				// Rotation through a TokenSource: an expired token is refreshed.
				stale := *t1
				stale.Expiry = time.Now().Add(-time.Minute)
				t2, err := web.TokenSource(o.ctx, &stale).Token()
				if err != nil {
					t.Fatalf("refresh through TokenSource: %v", err)
				}
				if t2.AccessToken == "" || t2.AccessToken == t1.AccessToken || t2.RefreshToken == "" || t2.RefreshToken == t1.RefreshToken {
					t.Fatalf("refresh did not give a new pair: %+v", t2)
				}
				if res, body := o.apiUser(t, t2.AccessToken); res.StatusCode != http.StatusOK {
					t.Fatalf("GET /api/user with the refreshed token: %d %v", res.StatusCode, body)
				}

				// Rotation by hand.
				status, body := o.postToken(t, web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t2.RefreshToken}})
				if status != http.StatusOK {
					t.Fatalf("refresh: %d %v", status, body)
				}
				a3, _ := body["access_token"].(string)
				r3, _ := body["refresh_token"].(string)
				if a3 == "" || r3 == "" || r3 == t2.RefreshToken || a3 == t2.AccessToken {
					t.Fatalf("refresh did not give a new pair: %v", body)
				}
				if res, body := o.apiUser(t, a3); res.StatusCode != http.StatusOK {
					t.Fatalf("GET /api/user with the second refreshed token: %d %v", res.StatusCode, body)
				}

				// Reuse of the first, rotated refresh token.
				status, body = o.postToken(t, web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t1.RefreshToken}})
				if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Fatalf("reused refresh token: %d %v, want 400 invalid_grant", status, body)
				}
				// The whole family is revoked.
				status, body = o.postToken(t, web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r3}})
				if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Fatalf("newest refresh token after reuse: %d %v, want 400 invalid_grant", status, body)
				}
				for i, at := range []string{t1.AccessToken, t2.AccessToken, a3} {
					res, body := o.apiUser(t, at)
					wantBearerError(t, fmt.Sprintf("access token %d of the family after reuse", i+1), res, body, http.StatusUnauthorized, "invalid_token")
				}
			})

			t.Run("insufficient scope and missing token", func(t *testing.T) {
				narrow := o.client(t, "OpenID Only", "--scope", "openid")
				narrow.Scopes = []string{"openid"}
				tok := o.codeFlow(t, browser(t), narrow)
				if scope, _ := tok.Extra("scope").(string); scope != "openid" {
					t.Fatalf("granted scope %q, want openid alone", scope)
				}
				res, body := o.apiUser(t, tok.AccessToken)
				wantBearerError(t, "GET /api/user without user.read", res, body, http.StatusForbidden, "insufficient_scope")

				res, body = o.apiUser(t, "")
				if res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("GET /api/user without a token: %d %v, want 401", res.StatusCode, body)
				}
				// RFC 6750 §3.1: no error code when the request had no token.
				if wa := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer realm=") || strings.Contains(wa, "error=") {
					t.Fatalf("GET /api/user without a token: WWW-Authenticate %q, want a bare Bearer realm=... challenge", wa)
				}
				res, body = o.apiUser(t, "not-a-token")
				wantBearerError(t, "GET /api/user with an unknown token", res, body, http.StatusUnauthorized, "invalid_token")
			})

			t.Run("deny on the consent screen", func(t *testing.T) {
				app := o.client(t, "Denied App")
				state := "deny-" + oauth2.GenerateVerifier()[:12]
				a := o.authorize(t, browser(t), app.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "deny")
				if !a.Consent {
					t.Fatalf("no consent screen: %v", a.Steps)
				}
				q := a.Final.Query()
				if got := a.Final.Scheme + "://" + a.Final.Host + a.Final.Path; got != callbackURI {
					t.Fatalf("redirected to %s, want %s", a.Final, callbackURI)
				}
				if q.Get("error") != "access_denied" || q.Get("state") != state || q.Has("code") {
					t.Fatalf("deny redirected to %s, want error=access_denied, state %q and no code", a.Final, state)
				}
				if q.Get("iss") != o.base {
					t.Fatalf("deny: iss %q, want %q", q.Get("iss"), o.base)
				}
			})
		})
	}
}

// startBench starts the binary on dbURL for a benchmark (start needs a
// *testing.T) and waits until it is ready.
func startBench(b *testing.B, dbURL string) string {
	b.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	dir := b.TempDir()
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(binary, "serve", "--addr", addr, "--issuer", base, "--database-url", dbURL)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GATEHOUSE_LOG_LEVEL=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logf.Name())
			b.Fatalf("gatehouse exited at start: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("not ready within 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkClientCredentials measures the token endpoint of the real
// binary on SQLite: parallel client-credentials requests through one
// keep-alive HTTP client. It reports requests per second.
func BenchmarkClientCredentials(b *testing.B) {
	db := dbtest.SQLiteURL(b)
	base := startBench(b, db)
	id, secret := createClient(b, db, "--name", "Bench Service", "--redirect-uri", callbackURI, "--grant-type", "client_credentials")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	tokenURL := base + "/oauth/token"
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			b2, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(b2), `"access_token"`) {
				b.Errorf("token: %d %s", res.StatusCode, b2)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

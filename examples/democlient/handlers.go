package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

type app struct {
	cfg      config
	log      *slog.Logger
	http     *http.Client // for every call to Gatehouse
	sessions *sessionStore
	secure   bool // this app is served over https: Secure cookies

	mu       sync.Mutex
	provider *provider // nil until discovery succeeds
}

// provider is what the app learned from Gatehouse's discovery document.
type provider struct {
	oauth2        *oauth2.Config
	verifier      *oidc.IDTokenVerifier
	revocation    string // RFC 7009 endpoint
	introspection string // RFC 7662 endpoint
	api           string // the protected resource this app calls
}

func newApp(cfg config, log *slog.Logger) *app {
	return &app{cfg: cfg, log: log, http: &http.Client{Timeout: 10 * time.Second},
		sessions: newSessionStore(), secure: strings.HasPrefix(cfg.URL, "https://")}
}

// discover reads Gatehouse's OpenID Connect discovery document once
// (go-oidc refuses one whose issuer is not the URL it was given).
func (a *app) discover() (*provider, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provider != nil {
		return a.provider, nil
	}
	// The provider fetches signing keys later with this context: not a
	// request's, which ends with the request.
	ctx := oidc.ClientContext(context.Background(), a.http)
	p, err := oidc.NewProvider(ctx, a.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		Revocation    string `json:"revocation_endpoint"`
		Introspection string `json:"introspection_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic
	a.provider = &provider{
		oauth2: &oauth2.Config{ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret, Endpoint: ep,
			RedirectURL: a.cfg.URL + "/callback", Scopes: a.cfg.Scopes},
		verifier:      p.Verifier(&oidc.Config{ClientID: a.cfg.ClientID}),
		revocation:    meta.Revocation,
		introspection: meta.Introspection,
		api:           strings.TrimSuffix(a.cfg.Issuer, "/") + "/api/user",
	}
	return a.provider, nil
}

// handler is a page handler with the request's session, which it holds
// alone until it returns.
type handler func(w http.ResponseWriter, r *http.Request, ss *session)

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.handle(a.home))
	mux.Handle("GET /login", a.handle(a.login))
	mux.Handle("GET /callback", a.handle(a.callback))
	mux.Handle("POST /refresh", a.handle(a.form(a.refresh)))
	mux.Handle("POST /revoke", a.handle(a.form(a.revoke)))
	mux.Handle("POST /logout", a.handle(a.form(a.logout)))
	return a.middleware(mux)
}

func (a *app) handle(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := a.sessions.get(w, r, a.secure)
		ss.mu.Lock()
		defer ss.mu.Unlock()
		h(w, r, ss)
	})
}

// form checks this app's CSRF token on a POST form.
func (a *app) form(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		if !ss.validCSRF(r) {
			a.fail(w, http.StatusForbidden, "This form has expired", "Go back to the start page and try again.")
			return
		}
		h(w, r, ss)
	}
}

// middleware sends every page with security headers, keeps the browser
// on the app's configured host (the session cookie is set for that host
// only), and logs each request without its query string (which carries
// authorization codes).
func (a *app) middleware(next http.Handler) http.Handler {
	base, _ := url.Parse(a.cfg.URL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != base.Host && r.Method == http.MethodGet && r.URL.Path == "/" {
			http.Redirect(w, r, a.cfg.URL+"/", http.StatusFound)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store") // pages show tokens
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		a.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "took", time.Since(start).Round(time.Millisecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// home is the start page, or the signed-in page with the tokens.
func (a *app) home(w http.ResponseWriter, r *http.Request, ss *session) {
	if ss.user != nil {
		a.render(w, http.StatusOK, "signedin.html", pageData{CSRF: ss.csrf, User: ss.user})
		return
	}
	a.render(w, http.StatusOK, "home.html", pageData{ClientID: a.cfg.ClientID,
		RedirectURI: a.cfg.URL + "/callback", Scopes: a.cfg.Scopes, SignedOut: r.URL.Query().Has("signed_out")})
}

// login starts the authorization code flow: it remembers a fresh state,
// nonce and PKCE verifier in the session and sends the browser to
// Gatehouse's authorization endpoint.
func (a *app) login(w http.ResponseWriter, r *http.Request, ss *session) {
	p, err := a.discover()
	if err != nil {
		a.log.Warn("discovery failed", "issuer", a.cfg.Issuer, "err", err)
		a.fail(w, http.StatusBadGateway, "Gatehouse is not reachable", "Discovery at "+a.cfg.Issuer+"/.well-known/openid-configuration failed. Is Gatehouse running?")
		return
	}
	pl := &pendingLogin{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier(), expires: time.Now().Add(loginTimeout)}
	ss.login = pl
	opts := []oauth2.AuthCodeOption{oidc.Nonce(pl.nonce), oauth2.S256ChallengeOption(pl.verifier)}
	if r.URL.Query().Get("prompt") == "consent" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "consent")) // ask again even if approved before
	}
	http.Redirect(w, r, p.oauth2.AuthCodeURL(pl.state, opts...), http.StatusFound)
}

// callback is the redirect URI: Gatehouse sends the browser here with a
// code (or an error), the state and its issuer (RFC 9207).
func (a *app) callback(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	pl := ss.login
	ss.login = nil // a state is good for one response
	if pl == nil || time.Now().After(pl.expires) || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(pl.state)) != 1 {
		a.fail(w, http.StatusBadRequest, "This sign-in was not started here",
			"The state in the response does not match a sign-in this browser started in the last few minutes. Start again from the home page.")
		return
	}
	p, err := a.discover()
	if err != nil {
		a.fail(w, http.StatusBadGateway, "Gatehouse is not reachable", err.Error())
		return
	}
	// RFC 9207: the response names its issuer; refuse one from another server.
	if iss := q.Get("iss"); iss != "" && iss != a.cfg.Issuer {
		a.fail(w, http.StatusBadRequest, "Response from the wrong server", "The authorization response came from "+iss+", not "+a.cfg.Issuer+".")
		return
	}
	switch e := q.Get("error"); {
	case e == "access_denied":
		a.render(w, http.StatusOK, "denied.html", pageData{})
		return
	case e != "":
		a.fail(w, http.StatusBadRequest, "Gatehouse did not sign you in", e+": "+q.Get("error_description"))
		return
	}

	ctx := oidc.ClientContext(r.Context(), a.http)
	// The code and the PKCE verifier go to the token endpoint, with the
	// client secret (HTTP Basic).
	tok, err := p.oauth2.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pl.verifier))
	if err != nil {
		a.fail(w, http.StatusBadGateway, "The code exchange failed", oauthError(err))
		return
	}
	id, err := a.verifyIDToken(ctx, p, tok, pl.nonce)
	if err != nil {
		a.fail(w, http.StatusBadGateway, "The ID token is not valid", err.Error())
		return
	}
	ss.user = &signedIn{Token: tok, IDToken: id, API: a.callAPI(ctx, p, tok.AccessToken),
		Notice: &notice{Kind: "ok", Title: "Signed in with Gatehouse", Lines: []string{
			"The authorization code was exchanged at the token endpoint, with the PKCE verifier and the client secret.",
			"The ID token's signature, issuer, audience, expiry and nonce were verified.",
			"GET /api/user was called with the access token.",
		}}}
	http.Redirect(w, r, "/", http.StatusSeeOther) // drop the code from the address bar
}

// verifyIDToken checks the ID token of a token response: signature
// against Gatehouse's JWKS, iss, aud, exp, and at_hash; with a nonce (at
// sign-in), that it is the one this browser sent.
func (a *app) verifyIDToken(ctx context.Context, p *provider, tok *oauth2.Token, nonce string) (idTokenView, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return idTokenView{}, errors.New("the token response has no id_token (was the openid scope granted?)")
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return idTokenView{}, err
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return idTokenView{}, errors.New("the nonce does not match the one sent")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return idTokenView{}, err
		}
	}
	var claims json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return idTokenView{}, err
	}
	var u struct {
		Username string `json:"preferred_username"`
	}
	_ = json.Unmarshal(claims, &u)
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	return idTokenView{Raw: raw, Header: indent(header), Claims: indent(claims), Subject: idt.Subject,
		Username: u.Username, IssuedAt: idt.IssuedAt, Expiry: idt.Expiry}, nil
}

// current is the start of the actions on a signed-in user's tokens: it
// sends anyone else home, and says so when Gatehouse is not reachable.
func (a *app) current(w http.ResponseWriter, r *http.Request, ss *session) (*signedIn, *provider, bool) {
	u := ss.user
	if u == nil || u.Revoked {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil, nil, false
	}
	p, err := a.discover()
	if err != nil {
		a.fail(w, http.StatusBadGateway, "Gatehouse is not reachable", err.Error())
		return nil, nil, false
	}
	return u, p, true
}

// refresh uses the refresh token (refresh_token grant). Gatehouse rotates
// it: the answer has a new refresh token, and the old one is spent.
func (a *app) refresh(w http.ResponseWriter, r *http.Request, ss *session) {
	u, p, ok := a.current(w, r, ss)
	if !ok {
		return
	}
	ctx := oidc.ClientContext(r.Context(), a.http)
	old := u.Token
	// A token source given only a refresh token refreshes at once.
	tok, err := p.oauth2.TokenSource(ctx, &oauth2.Token{RefreshToken: old.RefreshToken}).Token()
	if err != nil {
		u.Notice = &notice{Kind: "error", Title: "Gatehouse refused the refresh", Lines: []string{oauthError(err)}}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	lines := []string{
		fmt.Sprintf("New access token %s (was %s).", short(tok.AccessToken), short(old.AccessToken)),
		fmt.Sprintf("New refresh token %s: the old one, %s, is spent (presenting it again would revoke the whole grant).", short(tok.RefreshToken), short(old.RefreshToken)),
	}
	if _, ok := tok.Extra("id_token").(string); ok {
		id, err := a.verifyIDToken(ctx, p, tok, "")
		if err != nil {
			a.fail(w, http.StatusBadGateway, "The new ID token is not valid", err.Error())
			return
		}
		if id.Subject != u.IDToken.Subject {
			a.fail(w, http.StatusBadGateway, "The new ID token is for someone else", "sub changed on refresh")
			return
		}
		lines = append(lines, fmt.Sprintf("A new ID token was issued at %s for the same subject.", clock(id.IssuedAt)))
		u.IDToken = id
	}
	u.Token = tok
	u.API = a.callAPI(ctx, p, tok.AccessToken)
	lines = append(lines, fmt.Sprintf("GET /api/user with the new access token: %d %s.", u.API.Status, http.StatusText(u.API.Status)))
	u.Notice = &notice{Kind: "ok", Title: "Tokens refreshed", Lines: lines}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// revoke revokes the refresh token (RFC 7009), which ends the whole grant
// at Gatehouse, then shows that the access token stopped working too.
func (a *app) revoke(w http.ResponseWriter, r *http.Request, ss *session) {
	u, p, ok := a.current(w, r, ss)
	if !ok {
		return
	}
	ctx := r.Context()
	token, hint := u.Token.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = u.Token.AccessToken, "access_token"
	}
	status, _, err := a.post(ctx, p.revocation, url.Values{"token": {token}, "token_type_hint": {hint}})
	if err != nil || status != http.StatusOK {
		u.Notice = &notice{Kind: "error", Title: "Revocation failed", Lines: []string{fmt.Sprintf("POST %s answered %d %v", p.revocation, status, err)}}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	u.Revoked = true
	u.API = a.callAPI(ctx, p, u.Token.AccessToken)
	lines := []string{
		fmt.Sprintf("POST %s with the %s answered 200: Gatehouse revoked every token of this grant.", p.revocation, strings.ReplaceAll(hint, "_", " ")),
		fmt.Sprintf("GET /api/user with the access token now answers %d %s.", u.API.Status, http.StatusText(u.API.Status)),
	}
	// Introspection (RFC 7662) is for confidential clients like this one.
	if _, body, err := a.post(ctx, p.introspection, url.Values{"token": {u.Token.AccessToken}}); err == nil {
		lines = append(lines, "Introspection of the access token says "+strings.TrimSpace(string(body))+".")
	}
	u.Notice = &notice{Kind: "warn", Title: "Access revoked", Lines: lines}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout forgets the tokens here; the Gatehouse session stays, so the
// next sign-in needs no password (and no consent if remembered).
func (a *app) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	a.sessions.end(w, ss)
	http.Redirect(w, r, "/?signed_out", http.StatusSeeOther)
}

// post sends a client-authenticated form to a Gatehouse endpoint
// (client_secret_basic: id and secret form-encoded, RFC 6749 §2.3.1).
func (a *app) post(ctx context.Context, endpoint string, form url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(a.cfg.ClientID), url.QueryEscape(a.cfg.ClientSecret))
	res, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, body, err
}

// callAPI calls the protected resource with the access token.
func (a *app) callAPI(ctx context.Context, p *provider, accessToken string) apiResult {
	res := apiResult{URL: p.api}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.api, nil)
	if err != nil {
		res.Body = err.Error()
		return res
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := a.http.Do(req)
	if err != nil {
		res.Body = err.Error()
		return res
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res.Status, res.Body = resp.StatusCode, indent(body)
	res.WWWAuthenticate = resp.Header.Get("WWW-Authenticate")
	return res
}

// oauthError describes a failed token request by its OAuth error code.
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return strings.TrimSuffix(re.ErrorCode+": "+re.ErrorDescription, ": ")
	}
	return err.Error()
}

// indent pretty-prints JSON (anything else as it is).
func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// short is the start of a token, enough to tell two apart.
func short(tok string) string {
	if len(tok) <= 12 {
		return tok
	}
	return tok[:12] + "…"
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }

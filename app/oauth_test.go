package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/password"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/models"
)

// oauthFixture is a harness with a user and registered clients.
type oauthFixture struct {
	*harness
	user      *models.User
	confID    string // confidential client: code, refresh, client_credentials, password
	confSec   string
	pubID     string // public client: code + refresh, loopback redirect
	redirect  string
	pubRedir  string
	verifier  string
	challenge string
}

const alicePW = "correct horse battery"

func newOAuthFixture(t *testing.T, h *harness) *oauthFixture {
	t.Helper()
	f := &oauthFixture{harness: h, redirect: "https://client.example/cb", pubRedir: "http://127.0.0.1/native/cb"}
	f.user = h.createUser("alice", alicePW, models.RoleUser)
	ctx := context.Background()
	c, sec, errs, err := clients.Create(ctx, h.store, clients.Input{Name: "Acme <Reader>", RedirectURIs: []string{f.redirect},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials, oauth.GrantPassword, oauth.GrantTokenExchange}}, nil)
	if err != nil {
		t.Fatal(err, errs)
	}
	f.confID, f.confSec = c.ClientID, sec
	p, _, errs, err := clients.Create(ctx, h.store, clients.Input{Name: "Native", RedirectURIs: []string{f.pubRedir}, Public: true}, nil)
	if err != nil {
		t.Fatal(err, errs)
	}
	f.pubID = p.ClientID
	f.verifier = base64.RawURLEncoding.EncodeToString(secret.Random(32))
	f.challenge = oauth.S256Challenge(f.verifier)
	return f
}

func (f *oauthFixture) set(key, value string) {
	f.t.Helper()
	if _, err := f.srv.Handlers.Settings.Set(context.Background(), key, value); err != nil {
		f.t.Fatal(err)
	}
}

// authzParams is a valid code request of the confidential client.
func (f *oauthFixture) authzParams(extra ...string) url.Values {
	v := url.Values{"response_type": {"code"}, "client_id": {f.confID}, "redirect_uri": {f.redirect}, "state": {"st&=ate/1"},
		"scope": {"user.read"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
		} else {
			v.Set(extra[i], extra[i+1])
		}
	}
	return v
}

func (f *oauthFixture) authorize(v url.Values) *response {
	f.t.Helper()
	return f.get("/oauth/authorize?" + v.Encode())
}

var consentIDRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

// decide answers the consent screen shown by r.
func (f *oauthFixture) decide(r *response, decision string) *response {
	f.t.Helper()
	m := consentIDRE.FindStringSubmatch(r.body)
	c := csrfRE.FindStringSubmatch(r.body)
	if m == nil || c == nil {
		f.t.Fatalf("no consent form (status %d): %.400s", r.StatusCode, r.body)
	}
	return f.do(http.MethodPost, "/consent", url.Values{"id": {m[1]}, "csrf_token": {c[1]}, "decision": {decision}})
}

// redirectParams parses the query (or fragment) of a redirect to the client.
func redirectParams(t *testing.T, r *response, fragment bool) url.Values {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want a redirect: %.300s", r.StatusCode, r.body)
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	raw := u.RawQuery
	if fragment {
		raw = u.EscapedFragment()
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// code runs the browser flow (signed in) and returns the code.
func (f *oauthFixture) code(v url.Values) string {
	f.t.Helper()
	r := f.authorize(v)
	if r.StatusCode == http.StatusOK {
		r = f.decide(r, "allow")
	}
	q := redirectParams(f.t, r, false)
	if q.Get("code") == "" {
		f.t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

func (f *oauthFixture) signIn() {
	f.t.Helper()
	if r := f.login("alice", alicePW); r.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login: %d", r.StatusCode)
	}
}

// token posts to the token endpoint with Basic authentication of the
// confidential client unless basic is false.
func (f *oauthFixture) token(form url.Values, basic bool) (*response, map[string]any) {
	f.t.Helper()
	var hdr []string
	if basic {
		hdr = []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec)))}
	}
	r := f.do(http.MethodPost, "/oauth/token", form, hdr...)
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return r, m
}

func wantOAuthError(t *testing.T, r *response, m map[string]any, status int, code string) {
	t.Helper()
	if r.StatusCode != status || m["error"] != code {
		t.Fatalf("got %d %v, want %d %s", r.StatusCode, m, status, code)
	}
	if _, ok := m["error_description"]; !ok {
		t.Errorf("no error_description in %v", m)
	}
}

func (f *oauthFixture) exchange(code string) (*response, map[string]any) {
	return f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect}}, true)
}

// storedSettings is a settings store holding m.
type storedSettings map[string]string

func (s storedSettings) GetSettings(context.Context) (map[string]string, error) { return s, nil }
func (storedSettings) SetSetting(context.Context, string, string) error         { return nil }

// Every setting the core reads reaches its Policy: the protocol rules the
// settings relax are tested in app/oauth under the Policy they map to
// (TestDefaultSettingsMapToDefaultPolicy checks the defaults).
func TestSettingsReachThePolicy(t *testing.T) {
	t.Parallel()
	st := storedSettings{
		"allow_implicit_grant": "true", "allow_password_grant": "true", "enforce_state": "false", "require_exact_redirect_uri": "false",
		"require_pkce": "all", "remember_consent": "false", "access_token_format": "jwt", "access_token_lifetime": "7m",
		"refresh_token_lifetime": "100h", "authorization_code_lifetime": "2m", "device_code_lifetime": "3m", "device_poll_interval": "7s",
		"require_pushed_authorization_requests": "true",
		"dpop_nonce":                            "all",
	}
	got, err := settingsPolicy{settings.NewService(st)}.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := oauth.Policy{AllowImplicitGrant: true, AllowPasswordGrant: true, EnforceState: false, RequireExactRedirectURI: false,
		RequirePKCE: "all", RememberConsent: false, AccessTokenFormat: "jwt", AccessTokenLifetime: 7 * time.Minute,
		RefreshTokenLifetime: 100 * time.Hour, AuthorizationCodeLifetime: 2 * time.Minute, DeviceCodeLifetime: 3 * time.Minute,
		DevicePollInterval: 7 * time.Second, RequirePushedAuthorizationRequests: true, DPoPNonce: "all"}
	if got != want {
		t.Fatalf("settings map to %+v,\nwant %+v", got, want)
	}
}

// --- Authorization endpoint -------------------------------------------

func TestRule04_AuthorizeAcceptsGetAndPost(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	if r := f.authorize(f.authzParams()); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "wants to access your account") {
		t.Fatalf("GET: %d", r.StatusCode)
	}
	r := f.do(http.MethodPost, "/oauth/authorize", f.authzParams())
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST: %d", r.StatusCode)
	}
	loc := r.Header.Get("Location")
	if r2 := f.get(loc); r2.StatusCode != http.StatusOK || !strings.Contains(r2.body, "wants to access your account") {
		t.Fatalf("POST then GET %s: %d", loc, r2.StatusCode)
	}
}

// Rule 5 on the wire: an untrusted client or redirect URI gets an HTML
// error page, 400, no Location; repeated parameters survive the query's
// parsing. Which requests these are: oauth.TestRule05_* in app/oauth.
func TestRule05_UntrustedClientOrRedirectGetsAnErrorPage(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	for name, v := range map[string]url.Values{
		"unregistered redirect": f.authzParams("redirect_uri", "https://evil.example/cb"),
		"client_id twice":       {"response_type": {"code"}, "client_id": {f.confID, f.confID}, "state": {"x"}},
	} {
		r := f.authorize(v)
		if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d Location=%q", name, r.StatusCode, r.Header.Get("Location"))
		}
	}
}

// Rule 8 on the wire: a refused request whose redirect URI is trusted is
// a 303 to the client with error, error_description, state and iss.
// Which errors: oauth.TestRule08_ErrorsGoBackToTheClient.
func TestRule08_ErrorsGoBackToTheClient(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	r := f.authorize(f.authzParams("scope", "user.read no.such.scope"))
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), f.redirect+"?") {
		t.Fatalf("%d %s", r.StatusCode, r.Header.Get("Location"))
	}
	q := redirectParams(t, r, false)
	if q.Get("error") != "invalid_scope" || q.Get("state") != "st&=ate/1" || q.Get("iss") != f.srv.Config.Issuer || q.Get("error_description") == "" {
		t.Errorf("%v", q)
	}
}

// Rule 9 on the wire: the state survives the round trip through the
// session, the consent form and the redirect byte for byte. Required
// or not: oauth.TestRule09_State.
func TestRule09_StateEchoed(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	state := "a b+c&d=e/é~%"
	r := f.decide(f.authorize(f.authzParams("state", state)), "allow")
	if q := redirectParams(t, r, false); q.Get("state") != state {
		t.Fatalf("state %q, want %q", q.Get("state"), state)
	}
}

// Rule 12 end to end: with the implicit grant on and allowed to the
// client, the consent screen's Allow answers a 303 whose fragment (not
// query) holds an access token that works at a resource. When it is
// refused, and what the fragment holds: oauth.TestRule12_ImplicitRequest,
// oauth.TestApprove.
func TestRule12_ImplicitGrant(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	f.set("allow_implicit_grant", "true")
	if err := f.store.UpdateClient(context.Background(), f.confID, func(c *models.Client) error {
		c.GrantTypes = append(c.GrantTypes, oauth.GrantImplicit)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.decide(f.authorize(f.authzParams("response_type", "token")), "allow")
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.RawQuery != "" {
		t.Fatalf("implicit answer: %d %s", r.StatusCode, loc)
	}
	q := redirectParams(t, r, true)
	if q.Get("access_token") == "" || q.Get("state") != "st&=ate/1" || q.Get("iss") != f.srv.Config.Issuer {
		t.Fatalf("implicit fragment: %v", q)
	}
	if api := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+q.Get("access_token")); api.StatusCode != http.StatusOK {
		t.Fatalf("implicit token on /api/user: %d", api.StatusCode)
	}
}

// Rule 13 on the wire: prompt=none answers with a redirect to the
// client, never a page; a sign-in needed is a redirect to the sign-in
// form, which comes back to the request (prompt=login, max_age) with the
// new sign-in's auth_time, without a loop through the consent screen.
// What Decide decides: oauth.TestRule13_Decide.
func TestRule13_PromptAndMaxAge(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	// Not signed in.
	r := f.authorize(f.authzParams("prompt", "none"))
	if q := redirectParams(t, r, false); q.Get("error") != "login_required" || q.Get("iss") != f.srv.Config.Issuer ||
		!strings.HasPrefix(r.Header.Get("Location"), f.redirect+"?") {
		t.Fatalf("prompt=none signed out: %s", r.Header.Get("Location"))
	}
	r = f.authorize(f.authzParams())
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?") {
		t.Fatalf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	f.signIn()
	if q := redirectParams(t, f.authorize(f.authzParams("prompt", "none")), false); q.Get("error") != "consent_required" || q.Get("iss") != f.srv.Config.Issuer {
		t.Fatalf("prompt=none without consent: %v", q)
	}
	f.code(f.authzParams())
	// prompt=login: back to the sign-in form, then on with a new auth_time.
	before := time.Now()
	r = f.authorize(f.authzParams("prompt", "login"))
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/login?") || !strings.Contains(loc, "reauth=1") {
		t.Fatalf("prompt=login: %d %s", r.StatusCode, loc)
	}
	lp := f.get(loc)
	if lp.StatusCode != http.StatusOK || !strings.Contains(lp.body, `name="password"`) {
		t.Fatalf("sign-in page for reauth: %d", lp.StatusCode)
	}
	next, _ := url.Parse(loc)
	lr := f.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {alicePW}, "next": {next.Query().Get("next")},
		"csrf_token": {csrfRE.FindStringSubmatch(lp.body)[1]}})
	if lr.StatusCode != http.StatusSeeOther || !strings.HasPrefix(lr.Header.Get("Location"), "/consent?id=") {
		t.Fatalf("after reauth: %d %s", lr.StatusCode, lr.Header.Get("Location"))
	}
	q := redirectParams(t, f.get(lr.Header.Get("Location")), false)
	if q.Get("code") == "" {
		t.Fatalf("after reauth: %v", q)
	}
	rec, err := f.store.GetAuthorizationCode(context.Background(), secret.Digest(q.Get("code")))
	if err != nil || rec.AuthTime.Before(before.Add(-time.Second)) {
		t.Fatalf("auth_time not updated: %v %v", rec, err)
	}
	// max_age=0 forces a new sign-in too, after which the request goes
	// on (no loop), even through the consent screen.
	f.srv.Handlers.Now = func() time.Time { return time.Now().Add(time.Second) }
	r = f.authorize(f.authzParams("max_age", "0", "prompt", "consent"))
	if !strings.HasPrefix(r.Header.Get("Location"), "/login?") {
		t.Fatalf("max_age=0: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	next, _ = url.Parse(r.Header.Get("Location"))
	lp = f.get(r.Header.Get("Location"))
	f.srv.Handlers.Now = func() time.Time { return time.Now().Add(2 * time.Second) }
	lr = f.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {alicePW}, "next": {next.Query().Get("next")},
		"csrf_token": {csrfRE.FindStringSubmatch(lp.body)[1]}})
	f.srv.Handlers.Now = func() time.Time { return time.Now().Add(5 * time.Second) }
	cp := f.get(lr.Header.Get("Location"))
	if cp.StatusCode != http.StatusOK {
		t.Fatalf("consent after max_age sign-in: %d %s", cp.StatusCode, cp.Header.Get("Location"))
	}
	if q := redirectParams(t, f.decide(cp, "allow"), false); q.Get("code") == "" {
		t.Fatalf("max_age=0 after sign-in: %v", q)
	}
	f.srv.Handlers.Now = time.Now
}

// Rule 16 on the wire: Deny on the consent screen is a 303 to the
// client with access_denied (what the location holds:
// oauth.TestRule16_Deny), and answers the request for good.
func TestRule16_DenyAndSeeOther(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	r := f.decide(f.authorize(f.authzParams()), "deny")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), f.redirect+"?") {
		t.Fatalf("status %d, want 303 to the client: %s", r.StatusCode, r.Header.Get("Location"))
	}
	if q := redirectParams(t, r, false); q.Get("error") != "access_denied" {
		t.Fatalf("%v", q)
	}
	// The request is answered: its consent form cannot approve it now.
	page := f.authorize(f.authzParams())
	f.decide(page, "deny")
	if r := f.decide(page, "allow"); r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" {
		t.Fatalf("answered request approved: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestRule17_AuthorizationPagesHeaders(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	r := f.do(http.MethodGet, "/oauth/authorize?"+f.authzParams().Encode(), nil, "Origin", "https://evil.example")
	for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if r.Header.Get(k) != want {
			t.Errorf("%s = %q", k, r.Header.Get(k))
		}
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self' https://client.example") {
		t.Errorf("CSP %q", csp)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS header on the authorization page")
	}
}

// The consent screen fills {user} and {client_name} in, escaped.
func TestConsentScreenShowsScopesEscaped(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	ctx := context.Background()
	if err := f.store.CreateScope(ctx, &models.Scope{ScopeID: "notes.read", Name: "Notes", Icon: "fa-solid fa-note-sticky",
		Description: "Let {client_name} read <b>{user}</b>'s notes", ResourcePath: "/notes/*", Method: "GET"}); err != nil {
		t.Fatal(err)
	}
	f.signIn()
	r := f.authorize(f.authzParams("scope", "notes.read"))
	for _, want := range []string{"Let Acme &lt;Reader&gt; read &lt;b&gt;alice&lt;/b&gt;", "fa-solid fa-note-sticky", "user.read"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "<b>alice") {
		t.Error("description not escaped")
	}
}

// The in-flight request survives the sign-in round trip; only its ID
// travels through the browser.
func TestAuthorizeSurvivesSignIn(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	r := f.authorize(f.authzParams())
	loc, _ := url.Parse(r.Header.Get("Location"))
	next := loc.Query().Get("next")
	if !strings.HasPrefix(next, "/consent?id=") || strings.Contains(next, "client_id") {
		t.Fatalf("next = %q", next)
	}
	lp := f.get(r.Header.Get("Location"))
	if csp := lp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://client.example") {
		t.Errorf("sign-in page CSP does not allow the client: %q", csp)
	}
	lr := f.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {alicePW}, "next": {next},
		"csrf_token": {csrfRE.FindStringSubmatch(lp.body)[1]}})
	if lr.Header.Get("Location") != next {
		t.Fatalf("after sign-in: %s", lr.Header.Get("Location"))
	}
	cp := f.get(next)
	if q := redirectParams(t, f.decide(cp, "allow"), false); q.Get("code") == "" {
		t.Fatalf("%v", q)
	}
	if r := f.get(next); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("answered request reused: %d", r.StatusCode)
	}
	if r := f.get("/consent?id=forged"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("forged id: %d", r.StatusCode)
	}
}

// --- Token endpoint ---------------------------------------------------

func TestRule18_TokenResponseHeaders(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	for _, form := range []url.Values{{"grant_type": {"client_credentials"}}, {"grant_type": {"nope"}}} {
		r, _ := f.token(form, true)
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%v: %d headers %v", form, r.StatusCode, r.Header)
		}
	}
}

func TestRule19_TokenErrors(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	r, m := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}}, true)
	wantOAuthError(t, r, m, 400, "invalid_grant")
	// invalid_client: 401, with WWW-Authenticate when Basic was used.
	f.confSec = "wrong"
	r, m = f.token(url.Values{"grant_type": {"client_credentials"}}, true)
	wantOAuthError(t, r, m, 401, "invalid_client")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic realm=") {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}
	r, m = f.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {f.confID}, "client_secret": {"wrong"}}, false)
	wantOAuthError(t, r, m, 401, "invalid_client")
	r, m = f.token(url.Values{"grant_type": {"client_credentials"}}, false)
	wantOAuthError(t, r, m, 401, "invalid_client")
	r, m = f.token(url.Values{"grant_type": {"client_credentials", "client_credentials"}}, false)
	wantOAuthError(t, r, m, 400, "invalid_request")
	r = f.do(http.MethodPost, "/oauth/token", nil)
	if r.StatusCode != 400 || !strings.Contains(r.body, "invalid_request") {
		t.Errorf("no body: %d %s", r.StatusCode, r.body)
	}
}

// Rule 20 on the wire: the Authorization header and the form body both
// reach client authentication. Its outcomes are tested in
// app/oauth/token_test.go (TestRule20_ClientAuthenticationAtTheTokenEndpoint).
func TestRule20_ClientAuthenticationMethods(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	// Basic and post both work.
	if r, m := f.token(url.Values{"grant_type": {"client_credentials"}}, true); r.StatusCode != 200 {
		t.Fatalf("basic: %d %v", r.StatusCode, m)
	}
	if r, m := f.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {f.confID}, "client_secret": {f.confSec}}, false); r.StatusCode != 200 {
		t.Fatalf("post: %d %v", r.StatusCode, m)
	}
}

// Rule 21 with the application's throttle (SPEC.md §3: 10 failures per
// client, 30 per address) behind the core: 429 with Retry-After. That
// only failures count, and what counts as one, is tested in
// app/oauth/token_test.go (TestRule21_FailedClientAuthenticationThrottled).
func TestRule21_ClientAuthenticationThrottled(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.confSec = "wrong"
	for i := 0; i < 10; i++ {
		if r, _ := f.token(url.Values{"grant_type": {"client_credentials"}}, true); r.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i+1, r.StatusCode)
		}
	}
	r, m := f.token(url.Values{"grant_type": {"client_credentials"}}, true)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || m["error"] == nil {
		t.Fatalf("11th attempt: %d %v retry-after %q", r.StatusCode, m, r.Header.Get("Retry-After"))
	}
	// 30 failures from one address block it for every client.
	h2 := newOAuthFixture(t, sqliteHarness(t))
	for i := 0; i < 30; i++ {
		r := h2.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {fmt.Sprintf("guess-%d", i)}, "client_secret": {"x"}})
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("address attempt %d: %d", i+1, r.StatusCode)
		}
	}
	r = h2.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {h2.confID}, "client_secret": {"wrong"}})
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("31st failure from one address: %d", r.StatusCode)
	}
}

func TestRule22_TokensAreRandomAndStoredHashed(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.set("allow_password_grant", "true")
	r, m := f.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}}, true)
	if r.StatusCode != 200 {
		t.Fatalf("%d %v", r.StatusCode, m)
	}
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	if !strings.HasPrefix(at, oauth.AccessTokenPrefix) || !strings.HasPrefix(rt, oauth.RefreshTokenPrefix) || len(at) != 4+43 {
		t.Fatalf("token shapes %q %q", at, rt)
	}
	var n int64
	f.store.DB().Raw("SELECT count(*) FROM tokens WHERE token_hash = ?", []byte(at)).Scan(&n)
	if n != 0 {
		t.Fatal("plain token stored")
	}
	if _, err := f.store.GetToken(context.Background(), secret.Digest(at)); err != nil {
		t.Fatalf("digest not stored: %v", err)
	}
	c, _ := f.store.GetClient(context.Background(), f.confID)
	if string(c.SecretHash) == f.confSec || !secret.Equal(c.SecretHash, secret.Digest(f.confSec)) {
		t.Fatal("client secret not stored as its digest")
	}
}

// Rule 23: the authorization_code_lifetime setting and the binding of the
// code as stored. Redeeming an expired code is tested in
// app/oauth/grant_code_test.go.
func TestRule23_CodeLifetimeAndBinding(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	f.set("authorization_code_lifetime", "1m")
	code := f.code(f.authzParams("nonce", "n-1", "code_challenge", f.challenge, "code_challenge_method", "S256"))
	rec, err := f.store.GetAuthorizationCode(context.Background(), secret.Digest(code))
	if err != nil {
		t.Fatal(err)
	}
	if d := rec.ExpiresAt.Sub(rec.CreatedAt); d > time.Minute+time.Second || d < 59*time.Second {
		t.Fatalf("lifetime %v", d)
	}
	if rec.ClientID != f.confID || rec.RedirectURI != f.redirect || rec.CodeChallenge != f.challenge || rec.Nonce != "n-1" || rec.Scope != "user.read" {
		t.Fatalf("binding %+v", rec)
	}
}

// The authorization code grant end to end: the code exchange answers
// JSON, and a replay's revocation reaches /api/user. The grant's rules
// are tested in app/oauth/grant_code_test.go.
func TestRule24_CodeReplayRevokesTokens(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	code := f.code(f.authzParams())
	r, m := f.exchange(code)
	if r.StatusCode != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["refresh_token"] == nil || m["scope"] != "user.read" {
		t.Fatalf("%d %v", r.StatusCode, m)
	}
	at := m["access_token"].(string)
	r, m = f.exchange(code)
	wantOAuthError(t, r, m, 400, "invalid_grant")
	if api := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+at); api.StatusCode != 401 {
		t.Fatalf("token of a replayed code still works: %d", api.StatusCode)
	}
}

// A public client (client_id in the body, no secret) redeems its code
// with the PKCE verifier over HTTP, and gets a refresh token. The PKCE
// rules (rule 26) are tested in app/oauth/grant_code_test.go.
func TestPublicClientCodeExchange(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	pub := url.Values{"response_type": {"code"}, "client_id": {f.pubID}, "redirect_uri": {"http://127.0.0.1:5555/native/cb"}, "state": {"s"},
		"code_challenge": {f.challenge}, "code_challenge_method": {"S256"}}
	code := f.code(pub)
	r, m := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:5555/native/cb"},
		"client_id": {f.pubID}, "code_verifier": {f.verifier}}, false)
	if r.StatusCode != 200 || m["refresh_token"] == nil {
		t.Fatalf("public client: %d %v", r.StatusCode, m)
	}
}

// refreshPair gets an access and refresh token through the code flow.
func (f *oauthFixture) refreshPair(scope string) (string, string) {
	f.t.Helper()
	r, m := f.exchange(f.code(f.authzParams("scope", scope)))
	if r.StatusCode != 200 {
		f.t.Fatalf("%d %v", r.StatusCode, m)
	}
	return m["access_token"].(string), m["refresh_token"].(string)
}

// The refresh grant end to end: rotation answers a new pair, reuse is
// 400 invalid_grant, and the family's access tokens stop working at
// /api/user. The grant's rules are tested in
// app/oauth/grant_refresh_test.go.
func TestRule28_RefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	at1, rt1 := f.refreshPair("user.read")
	r, m := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, true)
	if r.StatusCode != 200 || m["refresh_token"] == nil || m["refresh_token"] == rt1 {
		t.Fatalf("%d %v", r.StatusCode, m)
	}
	at2 := m["access_token"].(string)
	r, m = f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, true)
	wantOAuthError(t, r, m, 400, "invalid_grant")
	for _, tok := range []string{at1, at2} {
		if api := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+tok); api.StatusCode != 401 {
			t.Errorf("family access token still works after reuse: %d", api.StatusCode)
		}
	}
}

// Rule 50 on both databases, over HTTP: two simultaneous refreshes with
// one refresh token (oauth2-proxy refreshing once per request in flight)
// both succeed while refresh_token_reuse_interval allows it, and both new
// refresh tokens work; with the default 0 one of them is refused and the
// grant is revoked. The rule's cases are in app/oauth/grant_refresh_test.go.
func TestRule50_TwoConcurrentRefreshes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		f.signIn()
		basic := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec)))}
		refreshTwice := func(rt string) []*response {
			out := make([]*response, 2)
			oauthtest.Concurrently(2, func(i int) error {
				out[i] = f.doConcurrent(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basic...)
				return nil
			})
			return out
		}
		_, rt := f.refreshPair("user.read")
		rs := refreshTwice(rt)
		if ok := (rs[0].StatusCode == 200) != (rs[1].StatusCode == 200); !ok || !strings.Contains(rs[0].body+rs[1].body, "already used") {
			t.Fatalf("interval 0: %d %s / %d %s, want one success and one reuse", rs[0].StatusCode, rs[0].body, rs[1].StatusCode, rs[1].body)
		}
		f.set("refresh_token_reuse_interval", "5s")
		_, rt = f.refreshPair("user.read")
		for i, r := range refreshTwice(rt) {
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			if r.StatusCode != 200 || m["refresh_token"] == nil {
				t.Fatalf("refresh %d within the interval: %d %s", i, r.StatusCode, r.body)
			}
			if r2, m2 := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, true); r2.StatusCode != 200 {
				t.Fatalf("new refresh token %d: %d %v", i, r2.StatusCode, m2)
			}
		}
	})
}

// The password grant end to end: off by default (the
// allow_password_grant setting), then on. The grant's rules are tested
// in app/oauth/grant_password_test.go.
func TestRule29_PasswordGrant(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}}
	r, m := f.token(form, true)
	wantOAuthError(t, r, m, 400, "unsupported_grant_type")
	f.set("allow_password_grant", "true")
	if r, m = f.token(form, true); r.StatusCode != 200 || m["refresh_token"] == nil {
		t.Fatalf("%d %v", r.StatusCode, m)
	}
}

// The client credentials grant end to end. Its rules (30, 51) are tested
// in app/oauth/grant_client_credentials_test.go.
func TestRule30_ClientCredentials(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	giveMachine(t, f.harness, f.confID, "jobs.run") // only machine scopes the client lists (rule 51)
	r, m := f.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"jobs.run"}}, true)
	if r.StatusCode != 200 || m["refresh_token"] != nil || m["token_type"] != "Bearer" || m["expires_in"] == nil || m["scope"] != "jobs.run" {
		t.Fatalf("%d %v", r.StatusCode, m)
	}
}

// The example extension grant end to end: token exchange down-scopes a
// token. Its rules are tested in app/oauth/grant_token_exchange_test.go.
func TestExtensionGrantTokenExchange(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	at, _ := f.refreshPair("openid user.read")
	form := url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {at}, "subject_token_type": {oauth.TokenTypeAccessToken}, "scope": {"openid"}}
	r, m := f.token(form, true)
	if r.StatusCode != 200 || m["scope"] != "openid" || m["issued_token_type"] != oauth.TokenTypeAccessToken || m["refresh_token"] != nil {
		t.Fatalf("%d %v", r.StatusCode, m)
	}
}

// --- Protected resources ---------------------------------------------

// Rule 38 on the wire: the WWW-Authenticate challenges (bare without a
// token or with another scheme, invalid_token, insufficient_scope with
// the scope), 401 and 403, and /api/user's answer. Which tokens are
// valid and which scopes would do: oauth.TestRule38_*.
func TestRule38_BearerChallenges(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	// Every challenge of /api names its metadata (RFC 9728 §5.1).
	bare := `Bearer realm="gatehouse", resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource/api"`
	r := f.get("/api/user")
	if r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != bare {
		t.Fatalf("no token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	r = f.do(http.MethodGet, "/api/user", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("a:b")))
	if r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != bare {
		t.Fatalf("Basic credentials: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	r = f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer gat_nope")
	if r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("bad token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	f.signIn()
	// A token without user.read (the client may only have jobs.run).
	narrow, narrowSec, _, _ := clients.Create(context.Background(), f.store, clients.Input{Name: "Narrow", RedirectURIs: []string{f.redirect},
		Scopes: []string{"openid"}, GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantClientCredentials}}, nil)
	giveMachine(t, f.harness, narrow.ClientID, "jobs.run")
	tr, m := f.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {narrow.ClientID}, "client_secret": {narrowSec}, "scope": {"jobs.run"}}, false)
	if tr.StatusCode != 200 || m["scope"] != "jobs.run" {
		t.Fatalf("%d %v", tr.StatusCode, m)
	}
	r = f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+m["access_token"].(string))
	if r.StatusCode != 403 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) || !strings.Contains(r.Header.Get("WWW-Authenticate"), `scope="user.read"`) {
		t.Fatalf("wrong scope: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	at, _ := f.refreshPair("user.read")
	if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+at); r.StatusCode != 200 || !strings.Contains(r.body, `"username":"alice"`) || strings.Contains(r.body, "email") {
		t.Fatalf("valid: %d %s", r.StatusCode, r.body)
	}
	// Client-credentials tokens have no user: 403 on /api/user, even
	// with user.read (given to the client as a machine scope).
	giveMachine(t, f.harness, f.confID, "user.read")
	_, m = f.token(url.Values{"grant_type": {"client_credentials"}}, true)
	if m["scope"] != "user.read" {
		t.Fatalf("client-credentials token without user.read: %v", m)
	}
	if r := f.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+m["access_token"].(string)); r.StatusCode != 403 {
		t.Fatalf("client-credentials token: %d %s", r.StatusCode, r.body)
	}
}

// Rule 39 on the wire: the access_token query parameter reaches the
// core, and allow_query_access_token (off by default, SPEC §4) with it.
// The rules of where tokens may be: oauth.TestRule39_ExtractBearer.
func TestRule39_QueryAccessToken(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	at, _ := f.refreshPair("user.read email")
	if r := f.get("/api/user?access_token=" + url.QueryEscape(at)); r.StatusCode != 401 {
		t.Fatalf("query token by default: %d", r.StatusCode)
	}
	f.set("allow_query_access_token", "true")
	if r := f.get("/api/user?access_token=" + url.QueryEscape(at)); r.StatusCode != 200 || !strings.Contains(r.body, "alice@example.com") {
		t.Fatalf("query token while on: %d %s", r.StatusCode, r.body)
	}
}

// The forward-auth check on the wire: X-Forwarded-Method and
// X-Forwarded-Uri in, 200 with the X-Gatehouse-* headers, 401 without a
// token, 403 when refused. Which targets a scope allows:
// oauth.TestRule38_CheckResource.
func TestVerifyEndpointForwardAuth(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	if err := f.store.CreateScope(context.Background(), &models.Scope{ScopeID: "files.write", Name: "Files", ResourcePath: "/files/*", Method: "PUT"}); err != nil {
		t.Fatal(err)
	}
	// files.write is a machine scope the client lists, for its
	// client-credentials token below (rule 51).
	giveMachine(t, f.harness, f.confID, "user.read", "files.write")
	at, _ := f.refreshPair("user.read files.write")
	verify := func(method, uri string, tok string) *response {
		h := []string{"X-Forwarded-Method", method, "X-Forwarded-Uri", uri}
		if tok != "" {
			h = append(h, "Authorization", "Bearer "+tok)
		}
		return f.do(http.MethodGet, "/oauth/verify", nil, h...)
	}
	r := verify("PUT", "/files/a/b.txt?x=1", at)
	if r.StatusCode != 200 || r.Header.Get("X-Gatehouse-User") != "alice" || r.Header.Get("X-Gatehouse-Client") != f.confID ||
		r.Header.Get("X-Gatehouse-Subject") != f.user.Subject || r.Header.Get("X-Gatehouse-Scope") != "files.write user.read" {
		t.Fatalf("allowed: %d %v", r.StatusCode, r.Header)
	}
	if r := verify("GET", "/elsewhere", at); r.StatusCode != 403 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
		r.Header.Get("X-Gatehouse-User") != "" {
		t.Fatalf("unguarded path (deny by default): %d %v", r.StatusCode, r.Header)
	}
	if r := verify("PUT", "/files/a", ""); r.StatusCode != 401 {
		t.Fatalf("no token: %d", r.StatusCode)
	}
	_, m := f.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"files.write"}}, true)
	r = verify("PUT", "/files/x", m["access_token"].(string))
	if r.StatusCode != 200 || r.Header.Get("X-Gatehouse-User") != "" || r.Header.Get("X-Gatehouse-Client") != f.confID {
		t.Fatalf("client-credentials: %d %v", r.StatusCode, r.Header)
	}
}

// The headless authorization on the wire: a POST with credentials is
// answered with JSON (the error with state and iss, and its status),
// whatever Accept says, never a redirect; the code works at the token
// endpoint; the sign-in throttle answers 429 with Retry-After. Its rules:
// oauth.TestAuthorizeHeadless.
func TestHeadlessAuthorize(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	form := f.authzParams("username", "alice", "password", alicePW, "code_challenge", f.challenge, "code_challenge_method", "S256")
	post := func(v url.Values) (*response, map[string]any) {
		r := f.do(http.MethodPost, "/oauth/authorize", v, "Accept", "application/json")
		var m map[string]any
		_ = json.Unmarshal([]byte(r.body), &m)
		return r, m
	}
	r, m := post(form)
	if r.StatusCode != http.StatusForbidden || m["error"] != "access_denied" || m["iss"] != f.srv.Config.Issuer || m["state"] != "st&=ate/1" {
		t.Fatalf("while allow_password_grant is off: %d %v", r.StatusCode, m)
	}
	f.set("allow_password_grant", "true")
	// Credentials are never bounced into a URL, whatever Accept says.
	if r := f.do(http.MethodPost, "/oauth/authorize", form); r.Header.Get("Location") != "" || r.StatusCode != 200 {
		t.Fatalf("credentials without Accept: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r, m = post(form)
	if r.StatusCode != 200 || m["code"] == nil || m["state"] != "st&=ate/1" {
		t.Fatalf("%d %v", r.StatusCode, m)
	}
	tr, tm := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {m["code"].(string)}, "redirect_uri": {f.redirect}, "code_verifier": {f.verifier}}, true)
	if tr.StatusCode != 200 {
		t.Fatalf("exchange: %d %v", tr.StatusCode, tm)
	}
	bad := f.authzParams("username", "alice", "password", "wrong password")
	if r, m := post(bad); r.StatusCode != 400 || m["error"] != "invalid_grant" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("wrong password: %d %v", r.StatusCode, m)
	}
	for i := 0; i < 10; i++ {
		post(bad)
	}
	if r, _ := post(bad); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("not throttled: %d", r.StatusCode)
	}
}

func TestClientsCreateCLI(t *testing.T) {
	t.Parallel()
	dbURL := "sqlite://" + t.TempDir() + "/g.db"
	var out, errb strings.Builder
	status := Main([]string{"clients", "create", "--database-url", dbURL, "--name", "Scripted", "--redirect-uri", "https://s.example/cb",
		"--redirect-uri", "http://127.0.0.1/cb", "--grant-type", "authorization_code", "--grant-type", "client_credentials", "--scope", "openid", "--json"},
		IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if status != 0 {
		t.Fatalf("status %d: %s", status, errb.String())
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(out.String()), &m); err != nil || m["client_id"] == "" || !strings.HasPrefix(m["client_secret"], "gcs_") {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	out.Reset()
	status = Main([]string{"clients", "create", "--database-url", dbURL, "--name", "Pub", "--public", "--redirect-uri", "http://127.0.0.1/cb", "--json"},
		IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if status != 0 || strings.Contains(out.String(), "client_secret") {
		t.Fatalf("public: %d %q", status, out.String())
	}
	errb.Reset()
	status = Main([]string{"clients", "create", "--database-url", dbURL, "--name", "Bad", "--redirect-uri", "http://evil.example/cb"},
		IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if status != 1 || !strings.HasPrefix(errb.String(), "error: ") || !strings.Contains(errb.String(), "https") {
		t.Fatalf("bad redirect: %d %q", status, errb.String())
	}
}

// Long authorization URLs are read; a request too large to keep in the
// session is refused back to the client, and the cookie stays small.
func TestAuthorizeLongRequests(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	for i := 0; i < 6; i++ {
		r := f.authorize(f.authzParams("state", strings.Repeat("s", 300), "nonce", strings.Repeat("n", 200)))
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?") {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	for _, c := range f.jar {
		if len(c.Value) > 3500 {
			t.Fatalf("cookie %s is %d bytes", c.Name, len(c.Value))
		}
	}
	q := redirectParams(t, f.authorize(f.authzParams("state", strings.Repeat("s", 1500), "nonce", strings.Repeat("n", 6000))), false)
	if q.Get("error") != "invalid_request" {
		t.Fatalf("%v", q)
	}
}

// A session ended under the user (password changed elsewhere) does not
// lose the authorization request that arrives with it.
func TestAuthorizeSurvivesDroppedSession(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	newPW := "another long passphrase"
	hash, err := password.Hash(newPW)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.UpdateUser(context.Background(), f.user.ID, func(u *models.User) error {
		u.PasswordHash = hash
		u.PasswordChangedAt = time.Now().Add(time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.authorize(f.authzParams())
	loc, _ := url.Parse(r.Header.Get("Location"))
	next := loc.Query().Get("next")
	if !strings.HasPrefix(next, "/consent?id=") {
		t.Fatalf("dropped session: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	lp := f.get(r.Header.Get("Location"))
	f.srv.Handlers.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	defer func() { f.srv.Handlers.Now = time.Now }()
	lr := f.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {newPW}, "next": {next},
		"csrf_token": {csrfRE.FindStringSubmatch(lp.body)[1]}})
	if lr.Header.Get("Location") != next {
		t.Fatalf("after sign-in: %d %s", lr.StatusCode, lr.Header.Get("Location"))
	}
	if cp := f.get(next); cp.StatusCode != http.StatusOK || !strings.Contains(cp.body, "wants to access your account") {
		t.Fatalf("consent after a dropped session: %d", cp.StatusCode)
	}
}

// "Not you?" on the consent screen signs in someone else and comes back
// to the same request.
func TestConsentSwitchAccount(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.createUser("bob", "bobs long passphrase", models.RoleUser)
	f.signIn()
	page := f.authorize(f.authzParams())
	m := regexp.MustCompile(`href="(/login\?[^"]+)"[^>]*>Not you\?`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no Not you? link on the consent screen")
	}
	switchURL := strings.ReplaceAll(m[1], "&amp;", "&")
	lp := f.get(switchURL)
	if lp.StatusCode != http.StatusOK || !strings.Contains(lp.body, "Sign in to continue to Acme &lt;Reader&gt;") {
		t.Fatalf("switch account: %d", lp.StatusCode)
	}
	u, _ := url.Parse(switchURL)
	lr := f.do(http.MethodPost, "/login", url.Values{"username": {"bob"}, "password": {"bobs long passphrase"}, "next": {u.Query().Get("next")},
		"csrf_token": {csrfRE.FindStringSubmatch(lp.body)[1]}})
	cp := f.get(lr.Header.Get("Location"))
	if cp.StatusCode != http.StatusOK || !strings.Contains(cp.body, `Signed in as <span class="font-medium text-slate-900">bob</span>`) {
		t.Fatalf("consent after switching: %d", cp.StatusCode)
	}
	code := redirectParams(t, f.decide(cp, "allow"), false).Get("code")
	rec, err := f.store.GetAuthorizationCode(context.Background(), secret.Digest(code))
	if err != nil || rec.UserID == f.user.ID {
		t.Fatalf("code issued to %v (%v)", rec, err)
	}
}

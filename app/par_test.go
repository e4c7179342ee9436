package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
)

// Rules 47 and 49 through the app: the PAR endpoint, the authorization
// request with request_uri across sign-in and consent, the setting, and
// the form_post page.

func (f *oauthFixture) basic() []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.confID)+":"+url.QueryEscape(f.confSec)))}
}

// push posts params to the PAR endpoint as the confidential client.
func (f *oauthFixture) push(params url.Values) (*response, map[string]any) {
	f.t.Helper()
	r := f.do(http.MethodPost, "/oauth/par", params, f.basic()...)
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return r, m
}

// pushed pushes params and returns the request_uri.
func (f *oauthFixture) pushed(params url.Values) string {
	f.t.Helper()
	r, m := f.push(params)
	uri, _ := m["request_uri"].(string)
	if r.StatusCode != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || m["expires_in"] != float64(60) ||
		r.Header.Get("Cache-Control") != "no-store" {
		f.t.Fatalf("push: %d %v (Cache-Control %q), want 201 with request_uri and expires_in 60, no-store", r.StatusCode, m, r.Header.Get("Cache-Control"))
	}
	return uri
}

func TestRule47_PARThroughTheApp(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	uri := f.pushed(f.authzParams("state", "pushed-state", "client_id", ""))

	// Signed out: to the sign-in page and back; the parameters sent
	// beside request_uri do not count.
	authz := "/oauth/authorize?" + url.Values{"client_id": {f.confID}, "request_uri": {uri}, "state": {"sent-state"},
		"redirect_uri": {"https://evil.example/cb"}}.Encode()
	r := f.get(authz)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.Path != "/login" {
		t.Fatalf("signed out: %d %s, want the sign-in page", r.StatusCode, loc)
	}
	next := loc.Query().Get("next")
	r = f.post("/login?"+loc.RawQuery, "/login", url.Values{"username": {"alice"}, "password": {alicePW}, "next": {next}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != next {
		t.Fatalf("login: %d %s, want back to %s", r.StatusCode, r.Header.Get("Location"), next)
	}
	consent := f.get(next)
	if consent.StatusCode != http.StatusOK || !strings.Contains(consent.body, "wants to access your account") {
		t.Fatalf("consent: %d %.300s", consent.StatusCode, consent.body)
	}
	// A reload of the authorization URL (or the back button) in this
	// browser goes on with the same request.
	if again := f.get(authz); again.StatusCode != http.StatusOK || !strings.Contains(again.body, "wants to access your account") {
		t.Fatalf("reload: %d %.300s, want the consent screen again", again.StatusCode, again.body)
	}
	q := redirectParams(t, f.decide(consent, "allow"), false)
	if q.Get("state") != "pushed-state" || q.Get("code") == "" || q.Get("iss") == "" {
		t.Fatalf("answer %v, want a code with the pushed state", q)
	}
	tr, m := f.exchange(q.Get("code"))
	if tr.StatusCode != http.StatusOK || m["access_token"] == nil {
		t.Fatalf("exchange: %d %v", tr.StatusCode, m)
	}
	// Answered: the request_uri is spent, in this browser or another.
	for _, b := range []*harness{f.harness, f.browser(t)} {
		r = b.get(authz)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "already used") || r.Header.Get("Location") != "" {
			t.Fatalf("second use: %d %q %.300s, want the error page", r.StatusCode, r.Header.Get("Location"), r.body)
		}
	}

	// Another browser cannot ride on a request in flight elsewhere.
	uri = f.pushed(f.authzParams("prompt", "consent"))
	authz = "/oauth/authorize?" + url.Values{"client_id": {f.confID}, "request_uri": {uri}}.Encode()
	if r = f.get(authz); r.StatusCode != http.StatusOK {
		t.Fatalf("first use: %d", r.StatusCode)
	}
	if r = f.browser(t).get(authz); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "invalid_request_uri") &&
		!strings.Contains(r.body, "already used") {
		t.Fatalf("another browser: %d %.300s", r.StatusCode, r.body)
	}
	// A browser POST with request_uri does not use it up on the way.
	uri = f.pushed(f.authzParams("prompt", "consent"))
	r = f.do(http.MethodPost, "/oauth/authorize", url.Values{"client_id": {f.confID}, "request_uri": {uri}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST: %d", r.StatusCode)
	}
	if r = f.get(r.Header.Get("Location")); r.StatusCode != http.StatusOK {
		t.Fatalf("after POST: %d %.300s", r.StatusCode, r.body)
	}
}

func TestRule47_PAREndpointErrors(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	r := f.do(http.MethodPost, "/oauth/par", f.authzParams(), "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.confID+":wrong")))
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	wantOAuthError(t, r, m, http.StatusUnauthorized, "invalid_client")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no WWW-Authenticate after Basic")
	}
	r, m = f.push(f.authzParams("request_uri", "urn:ietf:params:oauth:request_uri:x"))
	wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_request")
	r, m = f.push(f.authzParams("scope", "nope"))
	wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_scope")
	r, m = f.push(f.authzParams("redirect_uri", "https://evil.example/cb"))
	wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_request")
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("error Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	// A public client pushes with its client_id (and PKCE).
	r = f.do(http.MethodPost, "/oauth/par", url.Values{"client_id": {f.pubID}, "response_type": {"code"}, "redirect_uri": {f.pubRedir},
		"state": {"s"}, "code_challenge": {f.challenge}, "code_challenge_method": {"S256"}})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("public client: %d %s", r.StatusCode, r.body)
	}
	// An unknown request_uri is the error page, never a redirect.
	r = f.get("/oauth/authorize?" + url.Values{"client_id": {f.confID}, "request_uri": {"urn:ietf:params:oauth:request_uri:nope"},
		"redirect_uri": {f.redirect}}.Encode())
	if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.body, "expired") {
		t.Fatalf("unknown request_uri: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestRule47_RequirePARSetting(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	f.set("require_pushed_authorization_requests", "true")
	q := redirectParams(t, f.authorize(f.authzParams()), false)
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "pushed authorization requests") {
		t.Fatalf("not pushed: %v", q)
	}
	uri := f.pushed(f.authzParams())
	if r := f.get("/oauth/authorize?" + url.Values{"client_id": {f.confID}, "request_uri": {uri}}.Encode()); r.StatusCode != http.StatusOK {
		t.Fatalf("pushed: %d %.300s", r.StatusCode, r.body)
	}
	var doc map[string]any
	_ = json.Unmarshal([]byte(f.get("/.well-known/openid-configuration").body), &doc)
	if doc["pushed_authorization_request_endpoint"] != "http://localhost:8080/oauth/par" || doc["require_pushed_authorization_requests"] != true {
		t.Fatalf("metadata: %v %v", doc["pushed_authorization_request_endpoint"], doc["require_pushed_authorization_requests"])
	}
}

var (
	scriptNonceRE = regexp.MustCompile(`<script nonce="([^"]+)">`)
	hiddenRE      = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	formActionRE  = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

// formPost reads a form_post page: where it posts, and what.
func formPost(t *testing.T, r *response) (string, url.Values) {
	t.Helper()
	if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("form_post page: %d (Cache-Control %q) %.300s", r.StatusCode, r.Header.Get("Cache-Control"), r.body)
	}
	csp := r.Header.Get("Content-Security-Policy")
	n := scriptNonceRE.FindStringSubmatch(r.body)
	if n == nil || strings.Count(r.body, "<script") != 1 || strings.Count(r.body, "<link") != 1 || !strings.Contains(r.body, `<link rel="stylesheet" href="/static/css/app.css`) ||
		strings.Contains(r.body, "<img") || !strings.Contains(csp, "script-src 'nonce-"+n[1]+"'") || !strings.Contains(csp, "default-src 'none'; style-src 'self';") {
		t.Fatalf("want one script allowed by its nonce, the site's stylesheet and nothing else: CSP %q\n%s", csp, r.body)
	}
	a := formActionRE.FindStringSubmatch(r.body)
	if a == nil {
		t.Fatalf("no form: %s", r.body)
	}
	action := html.UnescapeString(a[1])
	// No form-action: Chrome applies it to the redirects after the post
	// too, and a redirect URI that sends the browser on would end on a
	// blank page.
	if strings.Contains(csp, "form-action") || !strings.Contains(csp, "base-uri 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q, want no form-action (and base-uri, frame-ancestors 'none')", csp)
	}
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(r.body, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return action, v
}

func TestRule49_FormPostThroughTheApp(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	consent := f.authorize(f.authzParams("response_mode", "form_post", "state", `a"<b>&c`))
	page := f.decide(consent, "allow")
	action, v := formPost(t, page)
	// Without scripts: a button that names the app and where it goes.
	if !strings.Contains(page.body, "<title>Returning to ") || !regexp.MustCompile(`<button type="submit" class="btn btn-primary w-full">Continue to [^<]+ \(https://client\.example\)</button>`).MatchString(page.body) {
		t.Errorf("form_post page without scripts: %s", page.body)
	}
	if action != f.redirect || v.Get("code") == "" || v.Get("state") != `a"<b>&c` || v.Get("iss") != "http://localhost:8080" || len(v) != 3 {
		t.Fatalf("posts %v to %s", v, action)
	}
	if tr, m := f.exchange(v.Get("code")); tr.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %v", tr.StatusCode, m)
	}
	// Remembered consent: the page comes straight from the authorization
	// endpoint; errors and denials go the same way.
	_, v = formPost(t, f.authorize(f.authzParams("response_mode", "form_post")))
	if v.Get("code") == "" {
		t.Fatalf("remembered consent: %v", v)
	}
	_, v = formPost(t, f.authorize(f.authzParams("response_mode", "form_post", "scope", "nope")))
	if v.Get("error") != "invalid_scope" || v.Get("state") != "st&=ate/1" || v.Has("code") {
		t.Fatalf("error: %v", v)
	}
	_, v = formPost(t, f.decide(f.authorize(f.authzParams("response_mode", "form_post", "prompt", "consent")), "deny"))
	if v.Get("error") != "access_denied" {
		t.Fatalf("deny: %v", v)
	}
	// Through PAR too.
	uri := f.pushed(f.authzParams("response_mode", "form_post"))
	_, v = formPost(t, f.get("/oauth/authorize?"+url.Values{"client_id": {f.confID}, "request_uri": {uri}}.Encode()))
	if v.Get("code") == "" {
		t.Fatalf("pushed form_post: %v", v)
	}
}

// Response types that use the fragment get their errors there.
func TestRule49_FragmentErrors(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	for _, rt := range []string{"code id_token", "id_token", "id_token token", "token"} {
		r := f.authorize(f.authzParams("response_type", rt))
		u, _ := url.Parse(r.Header.Get("Location"))
		frag := redirectParams(t, r, true)
		if u.RawQuery != "" || frag.Get("error") != "unsupported_response_type" || frag.Get("state") != "st&=ate/1" {
			t.Errorf("%s: %s, want the error in the fragment", rt, r.Header.Get("Location"))
		}
	}
	r := f.authorize(f.authzParams("response_mode", "web_message"))
	if q := redirectParams(t, r, false); q.Get("error") != "invalid_request" {
		t.Errorf("unknown response_mode: %v", q)
	}
}

// Pushes without client credentials (public clients) are bounded per
// address; confidential clients are not.
func TestRule47_PublicPushesAreThrottled(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	public := url.Values{"client_id": {f.pubID}, "response_type": {"code"}, "redirect_uri": {f.pubRedir},
		"state": {"s"}, "code_challenge": {f.challenge}, "code_challenge_method": {"S256"}}
	for i := range handlers.PushesPerAddress {
		if r := f.do(http.MethodPost, "/oauth/par", public); r.StatusCode != http.StatusCreated {
			t.Fatalf("push %d: %d %s", i+1, r.StatusCode, r.body)
		}
	}
	r := f.do(http.MethodPost, "/oauth/par", public)
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	wantOAuthError(t, r, m, http.StatusTooManyRequests, "too_many_requests")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After")
	}
	f.pushed(f.authzParams()) // the confidential client still pushes
}

// Whether a push counts against its address is decided by how the client
// authenticated, not by the headers it sent: a public client's HTTP Basic
// with an empty password is the method none, and is throttled too.
func TestPublicPushesWithBasicAreThrottled(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	public := url.Values{"response_type": {"code"}, "redirect_uri": {f.pubRedir},
		"state": {"s"}, "code_challenge": {f.challenge}, "code_challenge_method": {"S256"}}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.pubID)+":"))
	for i := range handlers.PushesPerAddress {
		if r := f.do(http.MethodPost, "/oauth/par", public, "Authorization", basic); r.StatusCode != http.StatusCreated {
			t.Fatalf("push %d: %d %s", i+1, r.StatusCode, r.body)
		}
	}
	r := f.do(http.MethodPost, "/oauth/par", public, "Authorization", basic)
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	wantOAuthError(t, r, m, http.StatusTooManyRequests, "too_many_requests")
	f.pushed(f.authzParams()) // the confidential client still pushes
}

// Unknown parameters of a push are not kept (a 900 KB one neither
// refuses the push nor is stored); recognised ones beyond what the
// session can carry are refused at the PAR endpoint, naming the limit.
func TestPushSizeOnTheWire(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	uri := f.pushed(f.authzParams("junk", strings.Repeat("j", 900<<10), "prompt", "consent"))
	if r := f.get("/oauth/authorize?" + url.Values{"client_id": {f.confID}, "request_uri": {uri}}.Encode()); r.StatusCode != http.StatusOK {
		t.Fatalf("use: %d %.300s", r.StatusCode, r.body)
	}
	r, m := f.push(f.authzParams("state", strings.Repeat("s", 1000)))
	wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_request")
	if d, _ := m["error_description"].(string); !strings.Contains(d, "at most 1000") {
		t.Fatalf("error_description %q, want the limit named", d)
	}
	// A push just within the limit works all the way, through sign-in
	// (the request is kept in the session meanwhile).
	g := newOAuthFixture(t, sqliteHarness(t))
	p := g.authzParams("state", "", "prompt", "consent")
	p.Set("state", strings.Repeat("s", 1000-len(p.Encode())-len("&state=")))
	uri = g.pushed(p)
	r = g.get("/oauth/authorize?" + url.Values{"client_id": {g.confID}, "request_uri": {uri}}.Encode())
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.Path != "/login" {
		t.Fatalf("signed out: %d %s %.300s, want the sign-in page", r.StatusCode, loc, r.body)
	}
	next := loc.Query().Get("next")
	g.post("/login?"+loc.RawQuery, "/login", url.Values{"username": {"alice"}, "password": {alicePW}, "next": {next}})
	consent := g.get(next)
	if q := redirectParams(t, g.decide(consent, "allow"), false); q.Get("code") == "" || q.Get("state") != p.Get("state") {
		t.Fatalf("answer %.200v", q)
	}
}

// A pushed request reloaded after its client changed shows why it no
// longer holds, not "link expired".
func TestReloadedPushShowsTheRealError(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	uri := f.pushed(f.authzParams())
	authz := "/oauth/authorize?" + url.Values{"client_id": {f.confID}, "request_uri": {uri}}.Encode()
	if r := f.get(authz); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", r.StatusCode)
	}
	if err := f.store.UpdateClient(context.Background(), f.confID, func(c *models.Client) error {
		c.RedirectURIs = []string{"https://client.example/other"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.get(authz)
	if r.StatusCode != http.StatusBadRequest || strings.Contains(r.body, "Authorization link expired") ||
		!strings.Contains(r.body, "redirect_uri is not registered") {
		t.Fatalf("reload: %d %.600s, want the redirect_uri error", r.StatusCode, r.body)
	}
}

// The client's own flag (clients.require_pushed_authorization_requests)
// holds that client to PAR, through the store and its cache.
func TestRule47_RequirePARClientFlag(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	if err := f.store.UpdateClient(context.Background(), f.confID, func(c *models.Client) error {
		c.RequirePushedAuthorizationRequests = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q := redirectParams(t, f.authorize(f.authzParams()), false)
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "pushed authorization requests") {
		t.Fatalf("not pushed: %v", q)
	}
	uri := f.pushed(f.authzParams())
	if r := f.get("/oauth/authorize?" + url.Values{"client_id": {f.confID}, "request_uri": {uri}}.Encode()); r.StatusCode != http.StatusOK {
		t.Fatalf("pushed: %d %.300s", r.StatusCode, r.body)
	}
	// Other clients are not held to it.
	r := f.authorize(url.Values{"response_type": {"code"}, "client_id": {f.pubID}, "redirect_uri": {f.pubRedir}, "state": {"s"},
		"code_challenge": {f.challenge}, "code_challenge_method": {"S256"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("another client: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

// A used, expired or made-up request_uri is shown to the person signing
// in as an error that names the app and leads back to their account, not
// to the dashboard; so is an invalid request that cannot go back.
func TestPARErrorPageNamesTheApp(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	f.signIn()
	r := f.get("/oauth/authorize?" + url.Values{"client_id": {f.confID}, "request_uri": {"urn:ietf:params:oauth:request_uri:made-up"}}.Encode())
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "Go back to Acme &lt;Reader&gt; and start again.") ||
		strings.Contains(r.body, "Back to the dashboard") || !strings.Contains(r.body, `href="/account"`) {
		t.Errorf("made-up request_uri: %d %s", r.StatusCode, r.body)
	}
	r = f.get("/oauth/authorize?" + url.Values{"client_id": {"no-such-client"}, "response_type": {"code"}}.Encode())
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "The application sent an authorization request") || strings.Contains(r.body, "Back to the dashboard") {
		t.Errorf("unknown client: %d %s", r.StatusCode, r.body)
	}
}

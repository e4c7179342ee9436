package app

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

const postLogout = "https://client.example/signed-out"

// newLogoutFixture is an oauthFixture whose confidential client registers
// postLogout and a back-channel logout address, and with front a
// front-channel one.
func newLogoutFixture(t *testing.T, h *harness, front bool) *oauthFixture {
	t.Helper()
	f := newOAuthFixture(t, h)
	if err := h.store.UpdateClient(context.Background(), f.confID, func(c *models.Client) error {
		c.PostLogoutRedirectURIs = []string{postLogout}
		if front {
			c.FrontchannelLogoutURI = "https://client.example/fc?x=1"
		}
		c.BackchannelLogoutURI = "https://client.example/bc"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// signedIn reports whether the harness's browser is signed in.
func (h *harness) signedIn() bool {
	h.t.Helper()
	return h.get("/dashboard").StatusCode == http.StatusOK
}

// Rule 40 on the wire: end_session_endpoint is advertised; a valid hint of
// the current session with a registered address ends the session at once
// and goes back there with state. Rule 41's first half: afterwards
// prompt=none answers login_required, and the grant the session started
// (without offline_access) is revoked while an offline_access grant of the
// same session lives on; a back-channel delivery is queued.
func TestRule40_EndSessionWithHint(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newLogoutFixture(t, h, false)
		m, _ := metadata(t, h, "/.well-known/openid-configuration")
		if m["end_session_endpoint"] != "http://localhost:8080/oauth/logout" {
			t.Fatalf("end_session_endpoint = %v", m["end_session_endpoint"])
		}
		for _, k := range []string{"backchannel_logout_supported", "backchannel_logout_session_supported", "frontchannel_logout_supported", "frontchannel_logout_session_supported"} {
			if m[k] != true {
				t.Errorf("%s = %v", k, m[k])
			}
		}
		if !slices.Contains(strList(m["claims_supported"]), "sid") {
			t.Error("sid not in claims_supported")
		}

		f.signIn()
		online := f.oidcTokens("openid", "n1")
		offline := f.oidcTokens("openid offline_access", "n2")
		_, claims := f.verifyJWT(online["id_token"].(string))
		sid, _ := claims["sid"].(string)
		if sid == "" {
			t.Fatalf("ID token without sid: %v", claims)
		}
		if _, c2 := f.verifyJWT(offline["id_token"].(string)); c2["sid"] != sid {
			t.Fatalf("two grants of one session, two sids: %v, %v", sid, c2["sid"])
		}

		q := url.Values{"id_token_hint": {online["id_token"].(string)}, "post_logout_redirect_uri": {postLogout}, "state": {"st&1"}}
		r := f.get("/oauth/logout?" + q.Encode())
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != postLogout+"?state=st%261" {
			t.Fatalf("logout: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if h.signedIn() {
			t.Fatal("still signed in")
		}
		p := f.authorize(f.authzParams("prompt", "none"))
		if e := redirectParams(t, p, false).Get("error"); e != "login_required" {
			t.Fatalf("prompt=none after logout: %q", e)
		}
		if tr, m := f.token(url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {online["refresh_token"].(string)}}, true); tr.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("the session's grant survived the logout: %d %v", tr.StatusCode, m)
		}
		if tr, m := f.token(url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {offline["refresh_token"].(string)}}, true); tr.StatusCode != http.StatusOK {
			t.Fatalf("the offline_access grant was revoked: %d %v", tr.StatusCode, m)
		}
		var queued []models.LogoutDelivery
		if err := h.store.DB().Find(&queued).Error; err != nil {
			t.Fatal(err)
		}
		if len(queued) != 1 || queued[0].ClientID != f.confID || queued[0].SID != sid || queued[0].Subject != f.user.Subject {
			t.Fatalf("back-channel deliveries queued: %+v", queued)
		}
	})
}

var logoutConfirmRE = regexp.MustCompile(`(?s)<form method="post" action="/logout".*?</form>`)

// Bad end-session requests: each gets a clear page, redirects nowhere and
// ends nothing; a request without a hint of this session only asks, and
// the confirmation needs the form's CSRF token.
func TestRule40_EndSessionRefusals(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	f := newLogoutFixture(t, h, true)
	f.signIn()
	tok := f.oidcTokens("openid", "n")
	hint := tok["id_token"].(string)
	bad := []struct {
		name   string
		params url.Values
		says   string
	}{
		{"unregistered address", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/"}}, "is not registered for this application"},
		{"hint for another client", url.Values{"id_token_hint": {hint}, "client_id": {f.pubID}}, "issued to another application"},
		{"malformed hint", url.Values{"id_token_hint": {"eyJhbGciOiJub25lIn0.e30."}}, "not a valid ID token"},
		{"address without a client", url.Values{"post_logout_redirect_uri": {postLogout}}, "needs client_id or id_token_hint"},
	}
	for _, tc := range bad {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var r *response
			if method == http.MethodGet {
				r = f.get("/oauth/logout?" + tc.params.Encode())
			} else {
				r = f.do(http.MethodPost, "/oauth/logout", tc.params)
			}
			if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.body, "Sign-out request not accepted") ||
				!strings.Contains(r.body, tc.says) {
				t.Errorf("%s (%s): %d %q %.300s", tc.name, method, r.StatusCode, r.Header.Get("Location"), r.body)
			}
			if !h.signedIn() {
				t.Fatalf("%s (%s) signed the user out", tc.name, method)
			}
		}
	}

	// No hint: a confirmation page, nothing ended yet.
	q := url.Values{"client_id": {f.confID}, "post_logout_redirect_uri": {postLogout}, "state": {"s1"}}
	r := f.get("/oauth/logout?" + q.Encode())
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "Sign out of Gatehouse?") || !strings.Contains(r.body, "Acme &lt;Reader&gt;") {
		t.Fatalf("confirmation: %d %.500s", r.StatusCode, r.body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://client.example") {
		t.Errorf("the confirmation's CSP does not allow the redirect after it: %s", csp)
	}
	if !h.signedIn() {
		t.Fatal("a request without a hint signed the user out")
	}
	form := logoutConfirmRE.FindString(r.body)
	for _, want := range []string{`name="client_id" value="` + f.confID + `"`, `name="post_logout_redirect_uri" value="` + postLogout + `"`, `name="state" value="s1"`} {
		if !strings.Contains(form, want) {
			t.Fatalf("confirmation form lacks %s: %s", want, form)
		}
	}
	// A cross-site POST of the RP is the same request, as a GET with the
	// session cookie.
	if r := f.do(http.MethodPost, "/oauth/logout", q); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/oauth/logout?"+q.Encode() {
		t.Fatalf("POST to the end-session endpoint: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// The confirmation without its CSRF token (a forged form) ends nothing.
	if r := f.do(http.MethodPost, "/logout", q); r.StatusCode != http.StatusForbidden {
		t.Fatalf("confirmation without CSRF: %d", r.StatusCode)
	}
	if !h.signedIn() {
		t.Fatal("a forged confirmation signed the user out")
	}
	// The form's address is checked again.
	tampered := url.Values{"client_id": {f.confID}, "post_logout_redirect_uri": {"https://evil.example/"}, "csrf_token": {h.csrf("/dashboard")}}
	if r := f.do(http.MethodPost, "/logout", tampered); r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" {
		t.Fatalf("tampered confirmation: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// A hint of an earlier session asks too, and says so.
	other := h.browser(t)
	if r := other.login("alice", alicePW); r.StatusCode != http.StatusSeeOther {
		t.Fatal("second browser could not sign in")
	}
	r = other.get("/oauth/logout?" + url.Values{"id_token_hint": {hint}}.Encode())
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "an earlier session") || !other.signedIn() {
		t.Fatalf("hint of another session: %d signed in %v", r.StatusCode, other.signedIn())
	}
	// Confirmed: signed out, then back to the app with state.
	q.Set("csrf_token", h.csrf("/dashboard"))
	r = f.do(http.MethodPost, "/logout", q)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/logout/done" {
		t.Fatalf("confirmed logout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if h.signedIn() {
		t.Fatal("still signed in after confirming")
	}
	done := f.get("/logout/done")
	if done.StatusCode != http.StatusOK || !strings.Contains(done.body, `href="`+postLogout+`?state=s1"`) || !strings.Contains(done.body, "Continue to Acme &lt;Reader&gt;") {
		t.Fatalf("signed-out page: %d %.600s", done.StatusCode, done.body)
	}
	// Signed out already: a logout request goes straight back.
	if r := f.get("/oauth/logout?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogout}}.Encode()); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != postLogout {
		t.Fatalf("logout while signed out: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

var iframeRE = regexp.MustCompile(`<iframe src="([^"]+)"`)

// Front-Channel Logout: the signed-out page loads the front-channel
// address of each app of the session, with iss and sid, under a CSP
// widened for those origins only, and only once.
func TestFrontChannelLogout(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	f := newLogoutFixture(t, h, true)
	f.signIn()
	tok := f.oidcTokens("openid", "n")
	_, claims := f.verifyJWT(tok["id_token"].(string))
	if csp := f.get("/dashboard").Header.Get("Content-Security-Policy"); strings.Contains(csp, "frame-src") {
		t.Fatalf("frames allowed on other pages: %s", csp)
	}
	r := h.post("/dashboard", "/logout", url.Values{})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/logout/done" {
		t.Fatalf("logout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	done := f.get("/logout/done")
	srcs := iframeRE.FindAllStringSubmatch(done.body, -1)
	if len(srcs) != 1 {
		t.Fatalf("iframes: %v", srcs)
	}
	u, err := url.Parse(strings.ReplaceAll(srcs[0][1], "&amp;", "&"))
	if err != nil || u.Host != "client.example" || u.Path != "/fc" || u.Query().Get("x") != "1" ||
		u.Query().Get("iss") != "http://localhost:8080" || u.Query().Get("sid") != claims["sid"] {
		t.Fatalf("front-channel address %s (sid %v)", srcs[0][1], claims["sid"])
	}
	if csp := done.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "; frame-src https://client.example") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("signed-out page CSP: %s", csp)
	}
	if again := f.get("/logout/done"); iframeRE.MatchString(again.body) || strings.Contains(again.Header.Get("Content-Security-Policy"), "frame-src") {
		t.Fatal("the front-channel iframes load again on a second visit")
	}
}

// Signing in again keeps the session's sid when it is the same user
// (prompt=login, max_age: the same browser session to the apps), and
// ends the session, with its notifications, when another user signs in
// over it.
func TestSignInOverASession(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	f := newLogoutFixture(t, h, false)
	h.createUser("bob", alicePW, models.RoleUser)
	f.signIn()
	sidOf := func() string {
		t.Helper()
		_, claims := f.verifyJWT(f.oidcTokens("openid", "n")["id_token"].(string))
		sid, _ := claims["sid"].(string)
		return sid
	}
	queued := func() int64 {
		t.Helper()
		var n int64
		if err := h.store.DB().Model(&models.LogoutDelivery{}).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := sidOf()
	const reauth = "/login?reauth=1&next=/dashboard"
	if r := h.post(reauth, "/login", url.Values{"username": {"alice"}, "password": {alicePW}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice again: %d", r.StatusCode)
	}
	if again := sidOf(); again != first || queued() != 0 {
		t.Fatalf("alice signing in again: sid %q -> %q, %d notifications", first, again, queued())
	}
	if r := h.post(reauth, "/login", url.Values{"username": {"bob"}, "password": {alicePW}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob over alice: %d", r.StatusCode)
	}
	var d models.LogoutDelivery
	if err := h.store.DB().Take(&d).Error; err != nil || d.SID != first || d.Subject != f.user.Subject || queued() != 1 {
		t.Fatalf("bob signing in over alice's session: %+v (%v), %d queued", d, err, queued())
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDemoClient is `make demo` in a test: scripts/demo.sh prepares a demo
// folder (DEMO_SETUP_ONLY), Gatehouse serves its database, and the example
// client (examples/democlient) runs against it. Headless Chromium then
// goes through the demo as a person would: the home page, Sign in with
// Gatehouse, the sign-in form, the consent screen with the demo scopes,
// and back on the client the tokens, the ID token's claims and /api/user;
// Refresh gives new tokens and a new ID token; Revoke makes /api/user
// answer 401 and introspection inactive; Deny shows the client's
// access_denied page. Neither process logs a token or a code.
// GATEHOUSE_SCREENSHOTS=docs/screenshots writes the README's demo-*.png.
func TestDemoClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bctx := startChromium(ctx, t)

	// The example client, built like any program of the module.
	dir := t.TempDir()
	clientBin := filepath.Join(dir, "democlient")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", clientBin, "../examples/democlient").CombinedOutput(); err != nil {
		t.Fatalf("build examples/democlient: %v\n%s", err, out)
	}

	// The demo setup, on a free port for the client (the redirect URI).
	// Screenshots for the README use make demo's ports when they are free.
	clientAddr, serverAddr := freePort(t), freePort(t)
	if os.Getenv("GATEHOUSE_SCREENSHOTS") != "" && !listening("127.0.0.1:8000") && !listening("127.0.0.1:8080") {
		clientAddr, serverAddr = "127.0.0.1:8000", "127.0.0.1:8080"
	}
	_, clientPort, _ := strings.Cut(clientAddr, ":")
	_, serverPort, _ := strings.Cut(serverAddr, ":")
	demoDir := filepath.Join(dir, "demo")
	setup := func() string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "bash", "../scripts/demo.sh")
		cmd.Env = append(os.Environ(), "DEMO_SETUP_ONLY=1", "DEMO_DIR="+demoDir, "DEMO_PORT="+clientPort, "DEMO_GATEHOUSE_PORT="+serverPort, "GATEHOUSE_BIN="+binary,
			"GATEHOUSE_DATABASE_URL=sqlite:///nonexistent/must-not-be-used.db")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("scripts/demo.sh setup: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := setup(); !strings.Contains(out, `created admin "demo"`) || !strings.Contains(out, `created scope "calendar.read"`) {
		t.Fatalf("first setup did not create the demo data:\n%s", out)
	}
	clientFile := filepath.Join(demoDir, "client.json")
	st, err := os.Stat(clientFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("client.json: %v, mode %v, want 0600", err, st.Mode())
	}
	b, _ := os.ReadFile(clientFile)
	var creds struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(b, &creds); err != nil || creds.ClientID == "" || !strings.HasPrefix(creds.ClientSecret, "gcs_") {
		t.Fatalf("client.json %q: %v", b, err)
	}
	// Idempotent: a second run reuses the folder (same client).
	if out := setup(); !strings.Contains(out, "Reusing") || strings.Contains(out, "created") {
		t.Fatalf("second setup did not reuse the demo data:\n%s", out)
	}
	if b2, _ := os.ReadFile(clientFile); string(b2) != string(b) {
		t.Fatal("second setup registered a new client")
	}

	// Gatehouse as make demo runs it: a localhost issuer, a loopback
	// listener.
	s := demoServe(t, "sqlite://"+filepath.Join(demoDir, "gatehouse.db"), serverAddr, "http://localhost:"+serverPort)
	base := "http://localhost:" + clientPort
	clientLog := &lockedBuffer{}
	cmd := exec.Command(clientBin)
	cmd.Env = append(os.Environ(), "DEMO_ADDR="+clientAddr, "DEMO_URL="+base, "DEMO_ISSUER="+s.base, "DEMO_CLIENT_FILE="+clientFile)
	cmd.Stdout, cmd.Stderr = clientLog, clientLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("demo client log:\n%s", clientLog.String())
		}
	})
	waitUp(t, base+"/")

	shot := func(tb *tab, name string, full bool) {
		t.Helper()
		tb.do("fonts", chromedp.Evaluate[chromedp.Void](`document.fonts.ready`, chromedp.EvalAwaitPromise))
		var png []byte
		var err error
		if full {
			png, err = chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
		} else {
			png, err = chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", name, screenshot(t, name, png))
	}
	text := func(tb *tab, sel string) string {
		t.Helper()
		v, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v\n%s", sel, err, tb.text("main"))
		}
		return v
	}

	// 1. The home page, and Sign in with Gatehouse.
	user := newTab(t, bctx)
	user.open(base+"/", `#signin`)
	shot(user, "demo-home.png", false)
	user.submit("Sign in with Gatehouse", chromedp.Click(chromedp.CSS(`#signin`)), "/login")
	if loc, _ := url.Parse(user.location()); loc.Host != strings.TrimPrefix(s.base, "http://") {
		t.Fatalf("Sign in with Gatehouse went to %s, want Gatehouse at %s", loc, s.base)
	}
	user.do("sign in as demo", typeInto("Username", "demo"), typeInto("Password", "demo-password"))
	user.submit("submit the sign-in form", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)), "/consent")

	// 2. The consent screen shows the client and the demo scopes.
	allow := chromedp.CSS(`form[action="/consent"] button[name="decision"][value="allow"]`)
	user.do("consent screen", chromedp.WaitVisible(allow), chromedp.WaitVisible(chromedp.CSS(`main li i.fa-calendar-days`)))
	consent := user.text("main")
	for _, want := range []string{"Gatehouse demo client", "Gatehouse demo client will see the events in Dana Demo's calendar", "address book", "calendar.read", "contacts.read"} {
		if !strings.Contains(consent, want) {
			t.Errorf("consent screen lacks %q:\n%s", want, consent)
		}
	}
	shot(user, "demo-consent.png", true)

	// 3. Allow: back on the client, signed in.
	user.submit("click Allow", chromedp.Click(allow), "/")
	user.do("signed-in page", chromedp.WaitVisible(chromedp.CSS(`#tokens`)))
	if loc, _ := url.Parse(user.location()); loc.Host != "localhost:"+clientPort || loc.RawQuery != "" {
		t.Fatalf("after Allow the browser is at %s, want the client's home without the code", loc)
	}
	access1, refresh1, id1 := text(user, "#access-token"), text(user, "#refresh-token"), text(user, "#id-raw")
	if !strings.HasPrefix(access1, "gat_") || !strings.HasPrefix(refresh1, "grt_") || strings.Count(id1, ".") != 2 {
		t.Fatalf("tokens shown: access %q refresh %q id %q", access1, refresh1, id1)
	}
	claims := text(user, "#id-claims")
	for _, want := range []string{`"preferred_username": "demo"`, `"iss": "` + s.base + `"`, `"aud": "` + creds.ClientID + `"`, `"nonce": "`, `"email": "demo@example.com"`} {
		if !strings.Contains(claims, want) {
			t.Errorf("ID token claims lack %s:\n%s", want, claims)
		}
	}
	if st, body := text(user, "#api-status"), text(user, "#api-body"); st != "200" || !strings.Contains(body, `"username": "demo"`) {
		t.Fatalf("/api/user shown as %s %s, want 200 with the username", st, body)
	}
	scopes := text(user, "#tokens")
	for _, sc := range []string{"openid", "profile", "email", "user.read", "calendar.read", "contacts.read"} {
		if !strings.Contains(scopes, sc) {
			t.Errorf("granted scopes lack %s:\n%s", sc, scopes)
		}
	}
	shot(user, "demo-signed-in.png", true)

	// 4. Refresh: new access and refresh tokens, a new ID token.
	user.submit("click Refresh tokens", chromedp.Click(chromedp.CSS(`#refresh`)), "/")
	if n := text(user, "#notice"); !strings.Contains(n, "Tokens refreshed") || !strings.Contains(n, "new ID token") {
		t.Fatalf("after Refresh the notice reads %q", n)
	}
	access2, refresh2, id2 := text(user, "#access-token"), text(user, "#refresh-token"), text(user, "#id-raw")
	if access2 == access1 || refresh2 == refresh1 || id2 == id1 || !strings.HasPrefix(access2, "gat_") || !strings.HasPrefix(refresh2, "grt_") {
		t.Fatalf("Refresh did not bring new tokens:\naccess %s -> %s\nrefresh %s -> %s", access1, access2, refresh1, refresh2)
	}
	if st := text(user, "#api-status"); st != "200" {
		t.Fatalf("/api/user with the refreshed token: %s", st)
	}
	shot(user, "demo-refreshed.png", true)

	// 5. Revoke: the grant ends; /api/user answers 401.
	user.submit("click Revoke", chromedp.Click(chromedp.CSS(`#revoke`)), "/")
	n := text(user, "#notice")
	if !strings.Contains(n, "Access revoked") || !strings.Contains(n, "answers 401") || !strings.Contains(n, `{"active":false}`) {
		t.Fatalf("after Revoke the notice reads %q", n)
	}
	if st := text(user, "#api-status"); st != "401" {
		t.Fatalf("/api/user after Revoke shown as %s, want 401", st)
	}
	if status, _ := uiGet(t, s.base+"/api/user", access2, nil); status != http.StatusUnauthorized {
		t.Fatalf("the revoked access token still works at /api/user: %d", status)
	}
	shot(user, "demo-revoked.png", true)

	// 6. Deny on the consent screen: the client's friendly page.
	user.open(base+"/login?prompt=consent", `form[action="/consent"]`)
	user.submit("click Deny", chromedp.Click(chromedp.CSS(`form[action="/consent"] button[name="decision"][value="deny"]`)), "/callback")
	if got := user.text("main"); !strings.Contains(got, "access_denied") || !strings.Contains(got, "Try again") {
		t.Fatalf("after Deny the client shows:\n%s", got)
	}
	shot(user, "demo-denied.png", false)

	// 7. Sign out of the client only.
	user.open(base+"/", `form[action="/logout"]`)
	user.submit("Sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), "/")
	if got := user.text("main"); !strings.Contains(got, "You signed out") {
		t.Fatalf("after Sign out the client shows:\n%s", got)
	}
	user.checkConsole()

	// The authorization request carries state, nonce and an S256 PKCE
	// challenge; the callback checks the state (once), the issuer, and
	// shows Gatehouse's errors.
	jar := browser(t) // a cookie jar that does not follow redirects
	startLogin := func() url.Values {
		t.Helper()
		res, err := jar.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), s.base+"/oauth/authorize?") {
			t.Fatalf("GET /login: %d to %q, want a redirect to the authorization endpoint", res.StatusCode, loc)
		}
		q := loc.Query()
		if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
			len(q.Get("state")) < 20 || len(q.Get("nonce")) < 20 || q.Get("client_id") != creds.ClientID || q.Get("redirect_uri") != base+"/callback" {
			t.Fatalf("authorization request %v", q)
		}
		return q
	}
	callback := func(params url.Values) (int, string) {
		t.Helper()
		res, body := get(t, jar, base+"/callback?"+params.Encode())
		return res.StatusCode, body
	}
	q := startLogin()
	if st, body := callback(url.Values{"state": {q.Get("state")}, "code": {"gac_x"}, "iss": {"http://evil.example"}}); st != http.StatusBadRequest || !strings.Contains(body, "wrong server") {
		t.Errorf("callback with another issuer: %d\n%s", st, body)
	}
	// The state was used up by that response.
	if st, _ := callback(url.Values{"state": {q.Get("state")}, "error": {"access_denied"}}); st != http.StatusBadRequest {
		t.Errorf("a state used twice: %d, want 400", st)
	}
	q = startLogin()
	if st, body := callback(url.Values{"state": {q.Get("state")}, "error": {"invalid_scope"}, "error_description": {"<b>no</b> such scope"}, "iss": {s.base}}); st != http.StatusBadRequest ||
		!strings.Contains(body, "invalid_scope: &lt;b&gt;no&lt;/b&gt; such scope") {
		t.Errorf("callback with an error: %d\n%s", st, body)
	}
	q = startLogin()
	if st, body := callback(url.Values{"state": {q.Get("state")}, "code": {"gac_forged"}, "iss": {s.base}}); st != http.StatusBadGateway || !strings.Contains(body, "invalid_grant") {
		t.Errorf("callback with a forged code: %d\n%s", st, body)
	}

	// A callback the browser did not start is refused; a POST without
	// the client's CSRF token too.
	res, err := http.Get(base + "/callback?code=gac_forged&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with a forged state: %d, want 400", res.StatusCode)
	}
	res, err = http.PostForm(base+"/revoke", url.Values{"csrf_token": {"forged"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("POST /revoke without the CSRF token: %d, want 403", res.StatusCode)
	}

	// Neither process logged a token, a code or the secret.
	logs := clientLog.String() + s.log.String()
	for _, secret := range []string{access1, refresh1, access2, refresh2, id1, id2, creds.ClientSecret, "gac_", "demo-password"} {
		if strings.Contains(logs, secret) {
			t.Errorf("a log contains %.16s…", secret)
		}
	}
	if !strings.Contains(clientLog.String(), "path=/callback") {
		t.Errorf("the demo client did not log its requests:\n%s", clientLog.String())
	}
}

// demoServe serves db on addr with issuer, and waits until it is ready.
func demoServe(t *testing.T, db, addr, issuer string) *uiServer {
	t.Helper()
	s := &uiServer{base: issuer, db: db, log: &lockedBuffer{}}
	cmd := exec.Command(binary, "serve", "--addr", addr, "--issuer", issuer, "--database-url", db)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	waitUp(t, "http://"+addr+"/readyz")
	return s
}

// listening reports whether something accepts connections on addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// waitUp waits until u answers 200.
func waitUp(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(u)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up within 20 s: %v", u, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// The browser tests drive headless Chromium through the dashboard and an
// authorization, the way an admin and a user would: they type into the
// forms, click the buttons and follow the redirects, with the server's
// real Content-Security-Policy in force (Chromium applies form-action to
// the redirects after a form post, which plain HTTP clients do not).
//
// Locally they skip when Chromium is missing; in CI (CI set) they fail.
// GATEHOUSE_SCREENSHOTS=dir keeps the screenshots they take (the consent
// screen at desktop and phone widths, the sign-in page of an
// authorization) in dir, e.g. docs/screenshots.

// chromiumPath finds Debian's Chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; the browser tests need it in CI (.ci/run installs Debian's chromium package)")
	}
	t.Skip("chromium not installed; skipping the browser tests (apt-get install chromium)")
	return ""
}

// uiServer is a gatehouse process started on a database that already has
// its accounts, so it prints no setup link.
type uiServer struct {
	base string
	db   string
	log  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// uiCLI runs a gatehouse command on the database db.
func uiCLI(t *testing.T, db, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_DATABASE_URL="+db)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// uiStart serves db on a free loopback port and waits until it is ready.
// The server's log is printed when the test fails.
func uiStart(t *testing.T, db string) *uiServer {
	t.Helper()
	addr := freePort(t)
	s := &uiServer{base: "http://" + addr, db: db, log: &lockedBuffer{}}
	cmd := exec.Command(binary, "serve", "--addr", addr, "--issuer", s.base, "--database-url", db)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("gatehouse exited at start: %v", err)
		default:
		}
		res, err := http.Get(s.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse not ready within 20 s: %v", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// callbackServer is the client application's redirect URI: it records the
// query of every request and answers with a small page.
type callbackServer struct {
	*httptest.Server
	URI  string // the registered redirect URI
	mu   sync.Mutex
	hits []url.Values
}

func newCallbackServer(t *testing.T) *callbackServer {
	cb := &callbackServer{}
	cb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		cb.mu.Lock()
		cb.hits = append(cb.hits, r.URL.Query())
		cb.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Sticky Notes</title><link rel="icon" href="data:,"><h1 id="callback">Back at the client</h1>`)
	}))
	t.Cleanup(cb.Close)
	cb.URI = cb.URL + "/callback"
	return cb
}

// last returns the query of the latest request (nil when none came).
func (cb *callbackServer) last() url.Values {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.hits) == 0 {
		return nil
	}
	return cb.hits[len(cb.hits)-1]
}

func (cb *callbackServer) count() int {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return len(cb.hits)
}

// tab is one browser tab with its own cookies (a separate browser
// context), and a record of the script errors, CSP violations and other
// console errors its pages caused.
type tab struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// newTab opens a tab in a new browser context of the browser in parent.
func newTab(t *testing.T, parent context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	entries := chromedp.Events(ctx, log.EntryAdded)
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, log.Enable, cdp.Empty{})
			return err
		}),
		chromedp.EmulateViewport(1280, 800),
	); err != nil {
		t.Fatalf("open a browser tab: %v", err)
	}
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			tb.addErr(fmt.Sprintf("uncaught exception: %s (%s:%d)", msg, d.URL, d.LineNumber+1))
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry.Level == log.EntryLevelError {
				tb.addErr(fmt.Sprintf("console %s error: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}()
	return tb
}

func (tb *tab) addErr(s string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.errs = append(tb.errs, s)
}

// checkConsole fails the test when a page of the tab logged an error.
func (tb *tab) checkConsole() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.errs) > 0 {
		tb.t.Errorf("the pages logged errors in the browser:\n  %s", strings.Join(tb.errs, "\n  "))
	}
}

// stepTimeout bounds one step, so that a missing element fails the test
// soon and says which step it was.
const stepTimeout = 15 * time.Second

// do runs actions in the tab; what says what they are for.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v (page %s)", what, err, tb.location())
	}
}

// location is the tab's current URL.
func (tb *tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// open navigates to u and waits for sel to be visible.
func (tb *tab) open(u string, sel chromedp.CSS) {
	tb.t.Helper()
	tb.do("open "+u, chromedp.Navigate(u), chromedp.WaitVisible(sel))
}

// follow runs click (on a link or a submit button) and waits for the
// page that loads after it, following redirects; it returns that page's
// response.
func (tb *tab) follow(what string, click chromedp.Action[chromedp.Void]) *network.Response {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, click)
	if err != nil {
		tb.t.Fatalf("%s: %v (page %s)\n%s", what, err, tb.location(), tb.text("body"))
	}
	return res
}

// submit is follow for a form whose answer must be 200 at a path starting
// with wantPath.
func (tb *tab) submit(what string, click chromedp.Action[chromedp.Void], wantPath string) {
	tb.t.Helper()
	res := tb.follow(what, click)
	u, _ := url.Parse(res.URL)
	if res.Status != http.StatusOK || u == nil || !strings.HasPrefix(u.Path, wantPath) {
		tb.t.Fatalf("%s: ended at %d %s, want 200 %s...\n%s", what, res.Status, res.URL, wantPath, tb.text("main"))
	}
}

// text is the visible text of the first element matching sel ("" when
// none), for messages.
func (tb *tab) text(sel string) string {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`(document.querySelector(`+strconv.Quote(sel)+`) || document.body || {innerText: ""}).innerText`))
	if err != nil {
		return ""
	}
	return s
}

// byLabel selects the form control whose <label> reads label (ignoring
// "(optional)"), as a person finds a field.
func byLabel(label string) chromedp.JSPath {
	return chromedp.JSPath(`[...document.querySelectorAll("label")].find(l =>
		l.textContent.replace(/\s+/g, " ").replace(/\(optional\)/, "").trim() === ` + strconv.Quote(label) + `)?.control ?? null`)
}

// typeInto fills the control labelled label with value (firing its input
// and change events, as typing does).
func typeInto(label, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(byLabel(label)),
		chromedp.SetValue(byLabel(label), value),
	)
}

// screenshot writes png as name in $GATEHOUSE_SCREENSHOTS (or a temporary
// folder) and returns its path.
func screenshot(t *testing.T, name string, png []byte) string {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if len(png) < 1000 {
		t.Fatalf("screenshot %s: only %d bytes", name, len(png))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBrowserAuthorization is issue 4's browser test. An admin signs in,
// creates a scope with an icon and a client in the dashboard, reads the
// client's secret from the page and turns remember_consent off; then a
// user goes through an authorization request (sign-in, consent screen
// with the scope's icon and filled-in description, Allow), the browser
// lands on the client's redirect URI with code, state and iss, the code
// is exchanged with the secret and the token works; a second request
// shows the consent screen again (remember_consent is off) and Deny
// sends access_denied; finally the user revokes the app under
// Authorized apps and the token stops working.
func TestBrowserAuthorization(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bctx := startChromium(ctx, t)
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			start := time.Now()
			browserFlow(bctx, t, b.URL(t))
			t.Logf("browser flow on %s took %v", b.Dialect, time.Since(start).Round(time.Millisecond))
		})
	}
}

const (
	uiAdmin, uiAdminPassword = "root", "an admin passphrase"
	uiUser, uiUserPassword   = "alice", "alice's long passphrase"
	uiScope                  = "notes.read"
	uiScopeIcon              = "fa-solid fa-note-sticky"
	uiScopeText              = "{client_name} can read the sticky notes of {user}."
	// The client's name has an ampersand, which must reach the consent
	// screen escaped once (not as "&amp;").
	uiClientName = "Sticky Notes & Co"
)

// startChromium starts headless Chromium for the test; its tabs are made
// with newTab.
func startChromium(ctx context.Context, t *testing.T) context.Context {
	t.Helper()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 800),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

func browserFlow(bctx context.Context, t *testing.T, db string) {
	uiCLI(t, db, uiAdminPassword+"\n", "users", "create", "--username", uiAdmin, "--password-stdin", "--role", "admin")
	uiCLI(t, db, uiUserPassword+"\n", "users", "create", "--username", uiUser, "--password-stdin")
	s := uiStart(t, db)
	cb := newCallbackServer(t)

	// 1. The admin's part, in the dashboard.
	admin := newTab(t, bctx)
	admin.open(s.base+"/login", `form[action="/login"]`)
	admin.do("fill in the sign-in form",
		typeInto("Username", uiAdmin),
		typeInto("Password", uiAdminPassword))
	admin.submit("admin signs in", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)), "/dashboard")

	admin.open(s.base+"/dashboard/scopes/new", `form[action="/dashboard/scopes"]`)
	admin.do("fill in the new scope",
		typeInto("Scope ID", uiScope),
		typeInto("Display name", "Read sticky notes"),
		typeInto("Consent text", uiScopeText),
		typeInto("Icon", uiScopeIcon),
		chromedp.SetValue(byLabel("Method"), "GET"),
		typeInto("Path", "/notes/*"),
		chromedp.Click(byLabel("Grant by default")),
	)
	// The preview beside the form follows the icon field (js/scopes.js).
	admin.do("scope form preview shows the icon", chromedp.WaitVisible(chromedp.CSS(`#scope-preview-icon i.fa-note-sticky`)))
	admin.submit("create the scope", chromedp.Click(chromedp.CSS(`form[action="/dashboard/scopes"] button[type=submit]`)), "/dashboard/scopes/"+uiScope)
	if got := admin.text("main"); !strings.Contains(got, "Scope "+uiScope+" created") {
		t.Fatalf("no confirmation after creating the scope:\n%s", got)
	}
	if def, err := chromedp.Run(admin.ctx, chromedp.Evaluate[bool](`document.getElementById("is_default").checked`)); err != nil || !def {
		t.Fatalf("the new scope's page shows default=%v (%v), want it ticked", def, err)
	}

	admin.open(s.base+"/dashboard/clients/new", `form[action="/dashboard/clients"]`)
	admin.do("fill in the new client",
		typeInto("Name", uiClientName),
		typeInto("Description", "Notes on a wall, by the browser test."),
		typeInto("Redirect URIs", cb.URI),
		chromedp.Click(byLabel("Confidential")),
	)
	// Grant types: authorization code and refresh token, nothing else.
	for _, g := range []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange", "password", "implicit"} {
		want := g == "authorization_code" || g == "refresh_token"
		sel := chromedp.CSS(`input[name="grant_types"][value="` + g + `"]`)
		checked, err := chromedp.Run(admin.ctx, chromedp.Evaluate[bool](`!!document.querySelector(`+strconv.Quote(string(sel))+`)?.checked`))
		if err != nil {
			t.Fatal(err)
		}
		if checked != want {
			admin.do("tick grant type "+g, chromedp.Click(sel))
		}
	}
	// Allowed scopes: ours, and user.read for /api/user.
	for _, sc := range []string{uiScope, "user.read"} {
		admin.do("allow scope "+sc, chromedp.Click(chromedp.CSS(`input[name="scopes"][value="`+sc+`"]`)))
	}
	admin.submit("register the client", chromedp.Click(chromedp.CSS(`form[action="/dashboard/clients"] button[type=submit]`)), "/dashboard/clients/")
	clientID, err := chromedp.Run(admin.ctx, chromedp.Value(chromedp.ID("client-id")))
	if err != nil {
		t.Fatalf("client ID on the client's page: %v", err)
	}
	secret, err := chromedp.Run(admin.ctx, chromedp.Value(chromedp.ID("new-secret")))
	if err != nil || secret == "" {
		t.Fatalf("one-time client secret on the client's page: %q %v\n%s", secret, err, admin.text("main"))
	}
	if !strings.HasSuffix(admin.location(), "/dashboard/clients/"+clientID) {
		t.Fatalf("after registering, the browser is at %s, want the page of %s", admin.location(), clientID)
	}
	// The secret is shown once: reloading the page does not show it again.
	admin.open(s.base+"/dashboard/clients/"+clientID, `#client-id`)
	admin.do("secret gone after a reload", chromedp.WaitNotPresent(chromedp.ID("new-secret")))

	admin.open(s.base+"/dashboard/settings", `form[action="/dashboard/settings"]`)
	on, err := chromedp.Run(admin.ctx, chromedp.Evaluate[bool](`document.getElementById("remember_consent").checked`))
	if err != nil || !on {
		t.Fatalf("remember_consent switch: on=%v %v, want on (the default)", on, err)
	}
	// The checkbox is visually hidden behind the switch: click the switch.
	admin.do("turn remember_consent off", chromedp.Click(chromedp.CSS(`#remember_consent + span`)))
	admin.submit("save the settings", chromedp.Click(chromedp.CSS(`form[action="/dashboard/settings"] button[type=submit]`)), "/dashboard/settings")
	if v := strings.TrimSpace(uiCLI(t, db, "", "settings", "get", "remember_consent")); v != "false" {
		t.Fatalf("after saving the settings page, remember_consent is %q, want false\n%s", v, admin.text("main"))
	}
	admin.checkConsole()

	// 2. The user's part: an authorization request from the client.
	user := newTab(t, bctx)
	verifier := "browser-test-verifier-" + strings.Repeat("x", 30)
	sum := sha256.Sum256([]byte(verifier))
	state := "state-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	authURL := s.base + "/oauth/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {cb.URI},
		"state": {state}, "scope": {uiScope},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()
	user.open(authURL, `form[action="/login"]`)
	if loc, _ := url.Parse(user.location()); loc.Path != "/login" || !strings.HasPrefix(loc.Query().Get("next"), "/consent?id=") {
		t.Fatalf("authorization request sent the browser to %s, want /login?next=/consent?id=...", loc)
	}
	png, err := chromedp.Run(user.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sign-in page of the authorization: %s", screenshot(t, "login-authorize.png", png))
	user.do("fill in the sign-in form", typeInto("Username", uiUser), typeInto("Password", uiUserPassword))
	user.submit("user signs in", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)), "/consent")

	// The consent screen: the scope's icon, and its text with {user} and
	// {client_name} filled in.
	allow := chromedp.CSS(`form[action="/consent"] button[name="decision"][value="allow"]`)
	user.do("consent screen", chromedp.WaitVisible(allow), chromedp.WaitVisible(chromedp.CSS(`main li i.fa-note-sticky`)),
		chromedp.Evaluate[chromedp.Void](`document.fonts.ready`, chromedp.EvalAwaitPromise))
	icon, err := chromedp.Run(user.ctx, chromedp.Evaluate[map[string]any](`(() => {
		const i = document.querySelector("main li i.fa-note-sticky"), r = i.getBoundingClientRect();
		return {w: r.width, h: r.height, glyph: getComputedStyle(i, "::before").content,
			font: getComputedStyle(i).fontFamily, loaded: document.fonts.check("900 16px 'Font Awesome 6 Free'"),
			text: i.closest("li").innerText};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := icon["w"].(float64); w < 8 {
		t.Errorf("scope icon is %vx%v px, want a visible glyph (%v)", icon["w"], icon["h"], icon)
	}
	if g, _ := icon["glyph"].(string); g == "" || g == "none" || g == "normal" {
		t.Errorf("scope icon has no glyph: ::before content %q (%v)", g, icon)
	}
	wantText := uiClientName + " can read the sticky notes of " + uiUser + "."
	if text, _ := icon["text"].(string); !strings.Contains(text, wantText) || !strings.Contains(text, uiScope) {
		t.Errorf("consent screen shows the scope as %q, want %q and %s", text, wantText, uiScope)
	}
	if page := user.text("main"); strings.Contains(page, "{user}") || strings.Contains(page, "{client_name}") || strings.Contains(page, "&amp;") {
		t.Errorf("consent screen shows placeholders or escaped HTML:\n%s", page)
	}
	png, err = chromedp.Run(user.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("consent screen: %s", screenshot(t, "consent.png", png))
	user.do("phone width", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile), chromedp.WaitVisible(allow))
	png, err = chromedp.Run(user.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("consent screen on a phone: %s", screenshot(t, "consent-mobile.png", png))
	user.do("desktop width", chromedp.EmulateViewport(1280, 800), chromedp.WaitVisible(allow))

	// Allow: the form's redirect chain must reach the client (CSP
	// form-action lets it).
	// (A redirect that form-action blocks fails here with
	// net::ERR_ABORTED, the browser staying on /consent.)
	before := cb.count()
	res := user.follow("click Allow", chromedp.Click(allow))
	if !strings.HasPrefix(res.URL, cb.URI+"?") || res.Status != http.StatusOK || cb.count() != before+1 {
		t.Fatalf("after Allow the browser is at %d %s (client saw %d requests), want the redirect URI %s", res.Status, res.URL, cb.count()-before, cb.URI)
	}
	q := cb.last()
	if q.Get("code") == "" || q.Get("state") != state || q.Get("iss") != s.base {
		t.Fatalf("client got %v, want code, state=%s and iss=%s", q, state, s.base)
	}
	user.do("client's page", chromedp.WaitVisible(chromedp.ID("callback")))

	// The client exchanges the code with the secret from the dashboard.
	tok := uiTokenRequest(t, s.base, clientID, secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {cb.URI}, "code_verifier": {verifier},
	})
	access, _ := tok["access_token"].(string)
	if typ, _ := tok["token_type"].(string); access == "" || !strings.EqualFold(typ, "Bearer") {
		t.Fatalf("token response %v: want a Bearer access token", tok)
	}
	if got := strings.Fields(fmt.Sprint(tok["scope"])); !containsAll(got, uiScope) {
		t.Errorf("token scope %q, want %s in it", tok["scope"], uiScope)
	}
	if status, body := uiGet(t, s.base+"/api/user", access, nil); status != http.StatusOK || !strings.Contains(body, `"username":"`+uiUser+`"`) {
		t.Fatalf("GET /api/user with the token: %d %s", status, body)
	}
	// The scope guards GET /notes/* for a reverse proxy.
	if status, _ := uiGet(t, s.base+"/oauth/verify", access, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/notes/42"}); status != http.StatusOK {
		t.Errorf("forward-auth check of GET /notes/42 with a %s token: %d, want 200", uiScope, status)
	}

	// remember_consent is off: the next request asks again; Deny.
	user.open(authURL, `form[action="/consent"]`)
	res = user.follow("click Deny", chromedp.Click(chromedp.CSS(`form[action="/consent"] button[name="decision"][value="deny"]`)))
	if q := cb.last(); !strings.HasPrefix(res.URL, cb.URI+"?") || q.Get("error") != "access_denied" || q.Get("state") != state {
		t.Fatalf("after Deny the browser is at %s and the client got %v, want error=access_denied", res.URL, q)
	}

	// 3. The user revokes the app under Authorized apps.
	card := chromedp.CSS(`form[action="/account/apps/` + clientID + `/revoke"] button[type=submit]`)
	user.open(s.base+"/account/apps", `main h1`)
	if page := user.text("main"); !strings.Contains(page, uiClientName) || !strings.Contains(page, "Read sticky notes") {
		t.Fatalf("Authorized apps does not list %q with its scope:\n%s", uiClientName, page)
	}
	user.do("open the revoke confirmation", chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll("summary")].find(s => s.innerText.includes("Revoke access"))`)),
		chromedp.WaitVisible(card))
	user.submit("revoke the app", chromedp.Click(card), "/account/apps")
	user.do("app no longer listed", chromedp.WaitNotPresent(card))
	if status, body := uiGet(t, s.base+"/api/user", access, nil); status != http.StatusUnauthorized {
		t.Fatalf("GET /api/user with the token of a revoked app: %d %s, want 401", status, body)
	}
	if r, _ := tok["refresh_token"].(string); r != "" {
		if status, body := uiTokenStatus(t, s.base, clientID, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r}}); status != http.StatusBadRequest {
			t.Errorf("refresh token of a revoked app: %d %s, want 400 invalid_grant", status, body)
		}
	}
	user.checkConsole()
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// uiTokenStatus posts form to the token endpoint with HTTP Basic client
// authentication and returns the status and body.
func uiTokenStatus(t *testing.T, base, id, secret string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// uiTokenRequest is a token request that must succeed; it returns the
// JSON response.
func uiTokenRequest(t *testing.T, base, id, secret string, form url.Values) map[string]any {
	t.Helper()
	status, body := uiTokenStatus(t, base, id, secret, form)
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); status != http.StatusOK || err != nil {
		t.Fatalf("token request (%s): %d %s", form.Get("grant_type"), status, body)
	}
	return v
}

// uiGet sends GET u with the bearer token and headers.
func uiGet(t *testing.T, u, token string, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

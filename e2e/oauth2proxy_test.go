package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// The oauth2-proxy test runs the real oauth2-proxy in front of a small app,
// with Gatehouse as its OpenID Connect provider, configured as
// docs/reverse-proxy.md shows ("Authenticating proxies that refresh per
// request"). oauth2-proxy keeps the session, refresh token included, in its
// cookie, and refreshes it on every request in flight once it is older
// than --cookie-refresh: each of them presents the same refresh token.
// refresh_token_reuse_interval (RFC-CHECKLIST rule 50) lets that through;
// with it at 0 the second use revokes the grant and the user is signed out.
// After the refreshes (with the reuse interval) the user signs out through
// the app's sign-out link, which the doc gives too: oauth2-proxy's
// sign_out, sending the browser on to Gatehouse's end_session_endpoint
// (RP-Initiated Logout); the next visit to the app asks for the password.
//
// oauth2-proxy is built from its Go module by scripts/build-oauth2-proxy.sh
// (which .ci/run calls) into a cache folder; it is not in go.mod. The test
// finds it through GATEHOUSE_OAUTH2_PROXY or in that folder. Locally it
// skips when the binary (or Chromium) is missing; in CI (CI set) it fails.

const (
	// oauth2ProxyVersion is the one scripts/build-oauth2-proxy.sh builds.
	oauth2ProxyVersion = "v7.15.6"
	// o2pAccessTokenLifetime is Gatehouse's access_token_lifetime (and so
	// the ID tokens' lifetime) in this test; o2pCookieRefresh is
	// oauth2-proxy's --cookie-refresh, shorter.
	o2pAccessTokenLifetime = 4 * time.Second
	o2pCookieRefresh       = time.Second
	// o2pRefreshDue is how long after oauth2-proxy last wrote the session
	// every request is sure to refresh it: it compares the session's age,
	// counted in whole seconds, with --cookie-refresh.
	o2pRefreshDue = o2pCookieRefresh + 1200*time.Millisecond
	// o2pParallel is how many requests the page sends at once.
	o2pParallel = 5
)

// oauth2ProxyPath finds the oauth2-proxy binary, or skips the test (fails
// it in CI) when there is none.
func oauth2ProxyPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GATEHOUSE_OAUTH2_PROXY"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("GATEHOUSE_OAUTH2_PROXY=%s: %v", p, err)
		}
		return p
	}
	cache := os.Getenv("GATEHOUSE_E2E_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "gatehouse-e2e")
	}
	p := filepath.Join(cache, "oauth2-proxy-"+oauth2ProxyVersion, "oauth2-proxy")
	if _, err := exec.LookPath(p); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("oauth2-proxy %s is not built (no %s); the oauth2-proxy test needs it in CI (.ci/run builds it with scripts/build-oauth2-proxy.sh)", oauth2ProxyVersion, p)
	}
	t.Skipf("oauth2-proxy not built; skipping (scripts/build-oauth2-proxy.sh builds it into %s)", filepath.Dir(p))
	return ""
}

// o2pDocSection is the part of docs/reverse-proxy.md whose configuration
// the test runs.
func o2pDocSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/reverse-proxy.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "### Authenticating proxies that refresh per request (oauth2-proxy)")
	if i < 0 {
		t.Fatal("docs/reverse-proxy.md has no section on oauth2-proxy")
	}
	s = s[i:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

var (
	docReuseRE = regexp.MustCompile(`gatehouse settings set refresh_token_reuse_interval (\S+)`)
	docFlagRE  = regexp.MustCompile(`--([a-z0-9-]+)(?:=("[^"]*"|'[^']*'|\S+))?`)
)

// o2pDocReuseInterval is the refresh_token_reuse_interval the doc gives.
func o2pDocReuseInterval(t *testing.T, doc string) time.Duration {
	t.Helper()
	m := docReuseRE.FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/reverse-proxy.md's oauth2-proxy section does not set refresh_token_reuse_interval")
	}
	d, err := time.ParseDuration(m[1])
	if err != nil || d < 2*time.Second || d > time.Minute {
		t.Fatalf("docs/reverse-proxy.md sets refresh_token_reuse_interval %s; the test wants 2s to 60s (%v)", m[1], err)
	}
	return d
}

// o2pDocCommand returns the words of the doc's command line that starts
// with prefix (continued over lines ending in a backslash).
func o2pDocCommand(t *testing.T, doc, prefix string) string {
	t.Helper()
	var cmd []string
	for line := range strings.SplitSeq(doc, "\n") {
		line = strings.TrimSpace(line)
		if len(cmd) == 0 && !strings.HasPrefix(line, prefix+" ") {
			continue
		}
		cmd = append(cmd, strings.TrimSuffix(line, `\`))
		if !strings.HasSuffix(line, `\`) {
			break
		}
	}
	if len(cmd) == 0 {
		t.Fatalf("docs/reverse-proxy.md's oauth2-proxy section has no %s command line", prefix)
	}
	return strings.Join(cmd, " ")
}

// o2pDocFlags returns the flags of the doc's oauth2-proxy command line,
// with their values as written (quotes removed).
func o2pDocFlags(t *testing.T, doc string) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, m := range docFlagRE.FindAllStringSubmatch(o2pDocCommand(t, doc, "oauth2-proxy"), -1) {
		flags[m[1]] = strings.Trim(m[2], `"'`)
	}
	return flags
}

// o2pClientURIFlags are the flags of the doc's `gatehouse clients create`
// line that give addresses of the app, which the test replaces with its
// own; the line must have each.
var o2pClientURIFlags = []string{"redirect-uri", "post-logout-redirect-uri"}

// o2pDocClientArgs returns the arguments of the doc's `gatehouse clients
// create` line without --json, with the app's addresses on oauth2-proxy
// at appBase (the doc's --redirect-url's scheme and host replaced by
// appBase in each of o2pClientURIFlags; appBase "" leaves them as they
// are).
func o2pDocClientArgs(t *testing.T, doc, docApp, appBase string) []string {
	t.Helper()
	words := strings.Fields(o2pDocCommand(t, doc, "gatehouse clients create"))[3:]
	var args []string
	seen := map[string]bool{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--json":
		case slices.Contains(o2pClientURIFlags, strings.TrimPrefix(w, "--")):
			if i+1 >= len(words) || !strings.HasPrefix(words[i+1], docApp+"/") {
				t.Fatalf("docs/reverse-proxy.md: gatehouse clients create %s wants an address of the app (%s/...)", w, docApp)
			}
			v := words[i+1]
			if appBase != "" {
				v = appBase + strings.TrimPrefix(v, docApp)
			}
			args = append(args, w, v)
			seen[strings.TrimPrefix(w, "--")] = true
			i++
		default:
			if strings.ContainsAny(w, `"'$`) {
				t.Fatalf("docs/reverse-proxy.md: the test cannot pass %s to gatehouse clients create as it is", w)
			}
			args = append(args, w)
		}
	}
	for _, name := range o2pClientURIFlags {
		if !seen[name] {
			t.Fatalf("docs/reverse-proxy.md's gatehouse clients create line has no --%s", name)
		}
	}
	return args
}

// o2pArg is the value of flag name in args ("" when absent).
func o2pArg(args []string, name string) string {
	if i := slices.Index(args, "--"+name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// docSignOutRE finds the app's sign-out link in the doc.
var docSignOutRE = regexp.MustCompile(`href="(/oauth2/sign_out\?rd=[^"]*)"`)

// o2pSignOutHref is the app's sign-out link as the doc writes it:
// oauth2-proxy's sign_out with rd the end-session URL (issuer +
// endSession) for clientID, back to postLogout.
func o2pSignOutHref(issuer, endSession, clientID, postLogout string) string {
	q := url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {postLogout}}
	return "/oauth2/sign_out?rd=" + url.QueryEscape(issuer+endSession+"?"+q.Encode())
}

// o2pDocSignOut checks the doc's sign-out link: its rd is the issuer's
// end-session URL for the doc's client (CLIENT_ID) and the doc's
// post-logout redirect URI, encoded as o2pSignOutHref does, on a host
// --whitelist-domain lets oauth2-proxy redirect to. It returns the
// end-session endpoint's path.
func o2pDocSignOut(t *testing.T, c *o2pConfig) string {
	t.Helper()
	m := docSignOutRE.FindStringSubmatch(c.doc)
	if m == nil {
		t.Fatal(`docs/reverse-proxy.md's oauth2-proxy section has no sign-out link (href="/oauth2/sign_out?rd=...")`)
	}
	href := html.UnescapeString(m[1])
	rd, err := url.Parse(href)
	if err != nil {
		t.Fatalf("docs/reverse-proxy.md's sign-out link %s: %v", href, err)
	}
	end, err := url.Parse(rd.Query().Get("rd"))
	if err != nil || end.Host == "" {
		t.Fatalf("docs/reverse-proxy.md's sign-out link %s: rd is not an absolute URL (%v)", href, err)
	}
	issuer := c.flags["oidc-issuer-url"]
	if end.Scheme+"://"+end.Host != issuer {
		t.Errorf("docs/reverse-proxy.md's sign-out link goes to %s, not to the issuer %s", end, issuer)
	}
	if w := c.flags["whitelist-domain"]; w != end.Host {
		t.Errorf("docs/reverse-proxy.md: --whitelist-domain=%q, want %s (the host of the sign-out link's rd), or oauth2-proxy does not redirect there", w, end.Host)
	}
	postLogout := o2pArg(o2pDocClientArgs(t, c.doc, c.docApp, ""), "post-logout-redirect-uri")
	if want := o2pSignOutHref(issuer, end.Path, "CLIENT_ID", postLogout); href != want {
		t.Errorf("docs/reverse-proxy.md's sign-out link is\n  %s\nwant (rd: %s?client_id=CLIENT_ID&post_logout_redirect_uri=%s, URL-encoded)\n  %s",
			href, issuer+end.Path, url.QueryEscape(postLogout), want)
	}
	return end.Path
}

// o2pConfig is the configuration docs/reverse-proxy.md gives.
type o2pConfig struct {
	bin string // the oauth2-proxy binary
	// flags of oauth2-proxy's command line, name → value as written.
	flags map[string]string
	// doc is the section, with the `gatehouse clients create` line
	// startO2PStack runs.
	doc string
	// reuseInterval is its refresh_token_reuse_interval.
	reuseInterval time.Duration
	// docApp is the app's scheme and host in the doc (of --redirect-url).
	docApp string
	// endSession is the path of the end-session endpoint in the doc's
	// sign-out link.
	endSession string
}

// o2pDocConfig finds oauth2-proxy and Chromium (or skips, see
// oauth2ProxyPath and chromiumPath) and reads the doc's configuration,
// checking every flag against oauth2-proxy's --help.
func o2pDocConfig(t *testing.T) *o2pConfig {
	t.Helper()
	c := &o2pConfig{bin: oauth2ProxyPath(t)}
	chromiumPath(t)
	c.doc = o2pDocSection(t)
	c.reuseInterval = o2pDocReuseInterval(t, c.doc)
	c.flags = o2pDocFlags(t, c.doc)
	if u, err := url.Parse(c.flags["redirect-url"]); err != nil || u.Host == "" {
		t.Fatalf("docs/reverse-proxy.md: --redirect-url=%q is not an absolute URL (%v)", c.flags["redirect-url"], err)
	} else {
		c.docApp = u.Scheme + "://" + u.Host
	}
	o2pDocClientArgs(t, c.doc, c.docApp, "") // fails now if the line is not usable
	c.endSession = o2pDocSignOut(t, c)

	// Every flag of the doc is oauth2-proxy's, and so is every flag the
	// test adds.
	out, err := exec.Command(c.bin, "--help").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "--provider") {
		t.Fatalf("%s --help: %v\n%s", c.bin, err, out)
	}
	for _, name := range slices.Concat(slices.Collect(maps.Keys(c.flags)), slices.Collect(maps.Keys(o2pTestOnlyFlags))) {
		if !regexp.MustCompile(`(?m)^\s+--` + regexp.QuoteMeta(name) + `\b`).Match(out) {
			t.Errorf("oauth2-proxy %s has no flag --%s (docs/reverse-proxy.md or o2pTestOnlyFlags)", oauth2ProxyVersion, name)
		}
	}
	for name, want := range o2pDocValues {
		if v, ok := c.flags[name]; !ok {
			t.Errorf("docs/reverse-proxy.md's oauth2-proxy command line has no --%s, want --%s=%s", name, name, want)
		} else if v != want {
			t.Errorf("docs/reverse-proxy.md: --%s=%s, want %s", name, v, want)
		}
	}
	for name := range o2pTestOnlyFlags {
		if _, ok := c.flags[name]; ok {
			t.Errorf("docs/reverse-proxy.md gives --%s, which the test sets for itself only", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return c
}

// o2pTestOnlyFlags are the flags the test adds to the doc's, and why.
var o2pTestOnlyFlags = map[string]string{
	"http-address":         "oauth2-proxy listens on a free loopback port",
	"cookie-secure":        "plain HTTP on loopback",
	"skip-provider-button": "straight to Gatehouse's sign-in page, without oauth2-proxy's own",
	"pass-access-token":    "the app sees which access token each request was passed with",
}

// o2pDocValues are flags whose value the test takes as the doc gives it.
var o2pDocValues = map[string]string{"provider": "oidc", "scope": "openid email profile offline_access",
	"code-challenge-method": "S256", "email-domain": "*"}

// o2pStack is Gatehouse as the OpenID Connect provider of oauth2-proxy,
// which guards a small app, and headless Chromium. A logout test can start
// one too and sign in with signIn.
type o2pStack struct {
	gatehouse *uiServer
	proxy     *oauth2Proxy
	app       *o2pApp
	// endSession is the end-session URL of the doc's sign-out link (on
	// this Gatehouse), signOut that link (on this oauth2-proxy).
	endSession, signOut string
	// browser is Chromium; each newTab(t, browser) has its own cookies.
	browser context.Context
	// user and password sign in; email is the user's (verified) address.
	user, password, email string
}

// oauth2Proxy is a running oauth2-proxy.
type oauth2Proxy struct {
	base string // http://127.0.0.1:port
	args []string
	log  *lockedBuffer
}

// startO2PStack starts Gatehouse (access_token_lifetime
// o2pAccessTokenLifetime, a user, the doc's client for oauth2-proxy), the
// app, oauth2-proxy with the doc's flags in front of it, and Chromium. ctx
// bounds the browser.
func startO2PStack(ctx context.Context, t *testing.T, c *o2pConfig) *o2pStack {
	t.Helper()
	bctx := startChromium(ctx, t)
	db := dbtest.SQLiteURL(t)
	st := &o2pStack{browser: bctx, user: "ada", password: "the analytical engine", email: "ada@example.com"}
	uiCLI(t, db, "", "settings", "set", "access_token_lifetime", o2pAccessTokenLifetime.String())
	uiCLI(t, db, st.password+"\n", "users", "create", "--username", st.user, "--password-stdin",
		"--name", "Ada Lovelace", "--email", st.email, "--email-verified")
	addr := freePort(t)
	proxyBase := "http://" + addr
	clientArgs := o2pDocClientArgs(t, c.doc, c.docApp, proxyBase)
	id, secret := createClient(t, db, clientArgs...)
	st.gatehouse = uiStart(t, db)
	st.app = newO2PApp(t)
	st.endSession = st.gatehouse.base + c.endSession
	st.signOut = proxyBase + o2pSignOutHref(st.gatehouse.base, c.endSession, id, o2pArg(clientArgs, "post-logout-redirect-uri"))

	key := make([]byte, 32)
	rand.Read(key)
	values := map[string]string{
		"oidc-issuer-url":  st.gatehouse.base,
		"client-id":        id,
		"client-secret":    secret,
		"redirect-url":     proxyBase + "/oauth2/callback",
		"cookie-secret":    base64.URLEncoding.EncodeToString(key),
		"cookie-refresh":   o2pCookieRefresh.String(),
		"upstream":         st.app.URL + "/",
		"whitelist-domain": strings.TrimPrefix(st.gatehouse.base, "http://"),
		"http-address":     addr,
		"cookie-secure":    "false",
		// The doc's value for the rest.
	}
	var args []string
	for name, v := range c.flags {
		if own, ok := values[name]; ok {
			v = own
		} else if strings.ContainsAny(v, "$`") {
			t.Fatalf("docs/reverse-proxy.md: --%s=%s is for the shell; the test has no value of its own for it", name, v)
		}
		args = append(args, "--"+name+"="+v)
	}
	for name := range o2pTestOnlyFlags {
		if _, ok := c.flags[name]; !ok {
			v, ok := values[name]
			if !ok {
				v = "true"
			}
			args = append(args, "--"+name+"="+v)
		}
	}
	slices.Sort(args)
	st.proxy = startOAuth2Proxy(t, c.bin, proxyBase, args)
	return st
}

// startOAuth2Proxy runs oauth2-proxy until the test ends and waits until
// it answers its /ping. Its output is logged when the test fails.
func startOAuth2Proxy(t *testing.T, bin, base string, args []string) *oauth2Proxy {
	t.Helper()
	p := &oauth2Proxy{base: base, args: args, log: &lockedBuffer{}}
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("oauth2-proxy %s\noutput:\n%s", strings.Join(args, " "), p.log.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("oauth2-proxy exited at start: %v\n%s", err, p.log.String())
		default:
		}
		res, err := http.Get(base + "/ping")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy does not answer %s/ping after 15 s: %v\n%s", base, err, p.log.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// refreshes counts the session refreshes oauth2-proxy began so far.
func (p *oauth2Proxy) refreshes() int {
	return strings.Count(p.log.String(), "Refreshing session")
}

// signIns counts the sign-ins oauth2-proxy completed so far (its
// callback, after the authorization code flow).
func (p *oauth2Proxy) signIns() int {
	return strings.Count(p.log.String(), "Authenticated via OAuth2")
}

// o2pHit is a request the app got from oauth2-proxy.
type o2pHit struct {
	Path, User, Email, AccessToken string
}

// o2pApp is the app behind oauth2-proxy: a page at / and JSON elsewhere;
// it records who each request came from.
type o2pApp struct {
	*httptest.Server
	mu   sync.Mutex
	hits []o2pHit
}

func newO2PApp(t *testing.T) *o2pApp {
	a := &o2pApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := o2pHit{Path: r.URL.Path, User: r.Header.Get("X-Forwarded-User"), Email: r.Header.Get("X-Forwarded-Email"),
			AccessToken: r.Header.Get("X-Forwarded-Access-Token")}
		a.mu.Lock()
		a.hits = append(a.hits, h)
		a.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			// No favicon request: it would refresh the session too.
			fmt.Fprintf(w, `<!doctype html><title>Wiki</title><link rel="icon" href="data:,"><h1 id="app">Wiki</h1><p id="who">%s</p>`,
				html.EscapeString(h.Email))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"path": h.Path, "email": h.Email})
	}))
	t.Cleanup(a.Close)
	return a
}

// take returns and forgets the requests the app got.
func (a *o2pApp) take() []o2pHit {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.hits
	a.hits = nil
	return h
}

// signIn opens the app through oauth2-proxy in a new tab (new cookies),
// signs in on Gatehouse's page and allows the consent screen when it is
// shown (Gatehouse remembers consent). It returns the tab, on the app's
// page.
func (st *o2pStack) signIn(t *testing.T) *tab {
	t.Helper()
	tb := newTab(t, st.browser)
	tb.open(st.proxy.base+"/", `form[action="/login"]`)
	st.enterPassword(t, tb)
	return tb
}

// enterPassword signs in on Gatehouse's sign-in page, where the app sent
// the tab, allows the consent screen when it is shown, and checks that
// the tab is back on the app's page.
func (st *o2pStack) enterPassword(t *testing.T, tb *tab) {
	t.Helper()
	if loc, _ := url.Parse(tb.location()); !strings.HasPrefix(loc.String(), st.gatehouse.base+"/login?") ||
		!strings.HasPrefix(loc.Query().Get("next"), "/consent?id=") {
		t.Fatalf("the app sent the browser to %s, want Gatehouse's /login?next=/consent?id=...", loc)
	}
	tb.do("fill in the sign-in form", typeInto("Username", st.user), typeInto("Password", st.password))
	res := tb.follow("sign in", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	if strings.HasPrefix(res.URL, st.gatehouse.base+"/consent?") {
		allow := chromedp.CSS(`form[action="/consent"] button[name="decision"][value="allow"]`)
		tb.do("consent screen", chromedp.WaitVisible(allow))
		if page := tb.text("main"); !strings.Contains(page, "offline_access") {
			t.Errorf("the consent screen does not list offline_access:\n%s", page)
		}
		res = tb.follow("click Allow", chromedp.Click(allow))
	}
	if res.Status != http.StatusOK || res.URL != st.proxy.base+"/" {
		t.Fatalf("after signing in the browser is at %d %s, want the app at %s/\n%s", res.Status, res.URL, st.proxy.base, tb.text("body"))
	}
	tb.do("the app's page", chromedp.WaitVisible(chromedp.ID("app")))
	if who := tb.text("#who"); who != st.email {
		t.Fatalf("the app's page says the user is %q, want %q", who, st.email)
	}
}

// cookies returns the tab's oauth2-proxy session cookies.
func (st *o2pStack) cookies(t *testing.T, tb *tab) []*http.Cookie {
	t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{st.proxy.base + "/"}})
	if err != nil {
		t.Fatalf("the browser's cookies: %v", err)
	}
	var cs []*http.Cookie
	for _, c := range res.Cookies {
		if strings.HasPrefix(c.Name, "_oauth2_proxy") && !strings.HasSuffix(c.Name, "_csrf") {
			cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return cs
}

// fetchAll has the tab's page fetch paths at once, as a page loading its
// resources does, and returns their statuses in order. Accept:
// application/json makes oauth2-proxy answer 401 rather than redirect to
// sign-in.
func fetchAll(t *testing.T, tb *tab, paths ...string) []int {
	t.Helper()
	js, _ := json.Marshal(paths)
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	statuses, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`Promise.all(`+string(js)+`.map(p =>
		fetch(p, {headers: {Accept: "application/json"}, cache: "no-store", redirect: "manual"}).then(r => r.status)))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch %v from the page: %v", paths, err)
	}
	return statuses
}

// proxyGet sends GET path to oauth2-proxy with exactly these cookies and
// Accept header, without following redirects.
func (st *o2pStack) proxyGet(t *testing.T, path string, cookies []*http.Cookie, accept string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, st.proxy.base+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	req.Header.Set("Accept", accept)
	c := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// tokenLive reports whether Gatehouse still accepts an access token (at
// its UserInfo endpoint).
func (st *o2pStack) tokenLive(t *testing.T, token string) bool {
	t.Helper()
	status, body := uiGet(t, st.gatehouse.base+"/oauth/userinfo", token, nil)
	switch status {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("UserInfo: %d %s", status, body)
	return false
}

// countStatus is how many of statuses are status.
func countStatus(statuses []int, status int) int {
	n := 0
	for _, s := range statuses {
		if s == status {
			n++
		}
	}
	return n
}

// TestOAuth2ProxyRefreshReuse runs oauth2-proxy with docs/reverse-proxy.md's
// flags against Gatehouse. A user signs in through Gatehouse's pages in
// Chromium. When the session is due for a refresh, the page fetches
// several URLs at once and oauth2-proxy refreshes once per request, each
// time with the same refresh token; then the session cookie from before
// those requests is sent once more (a refresh token presented again after
// its rotation, deterministically); then, once the access tokens of those
// refreshes have expired, the page fetches again.
//
// With the doc's refresh_token_reuse_interval every request succeeds and
// the session lives on; then the user signs out (o2pSignOutRun). With 0
// the second use of the refresh token revokes the grant: requests fail
// with 401, the tokens oauth2-proxy got stop working at Gatehouse, and the
// user is sent to sign in again.
func TestOAuth2ProxyRefreshReuse(t *testing.T) {
	c := o2pDocConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	st := startO2PStack(ctx, t, c)
	t.Logf("Gatehouse, oauth2-proxy and Chromium started in %v", time.Since(begin).Round(time.Millisecond))

	t.Run("reuse interval "+c.reuseInterval.String()+" then sign-out", func(t *testing.T) {
		tb := o2pRefreshRun(t, st, c.reuseInterval)
		o2pSignOutRun(t, st, tb)
	})
	t.Run("reuse interval 0s", func(t *testing.T) {
		o2pRefreshRun(t, st, 0)
	})
}

// o2pRefreshRun is one sign-in and its refreshes with
// refresh_token_reuse_interval set to interval. It returns the tab, on the
// app's page (signed in, with interval > 0).
func o2pRefreshRun(t *testing.T, st *o2pStack, interval time.Duration) *tab {
	begin := time.Now()
	uiCLI(t, st.gatehouse.db, "", "settings", "set", "refresh_token_reuse_interval", interval.String())
	st.app.take()
	tb := st.signIn(t)
	signedIn := time.Now()
	before := st.cookies(t, tb)
	if len(before) == 0 {
		t.Fatal("no oauth2-proxy session cookie in the browser after signing in")
	}
	if hits := st.app.take(); len(hits) != 1 || hits[0].Email != st.email {
		t.Fatalf("the app got %+v while signing in, want one request from %s", hits, st.email)
	}

	// 1. Several requests at once when the session is due for a refresh:
	// each refreshes it with the same refresh token.
	time.Sleep(time.Until(signedIn.Add(o2pRefreshDue)))
	refreshes := st.proxy.refreshes()
	var paths []string
	for i := range o2pParallel {
		paths = append(paths, fmt.Sprintf("/api/item/%d", i))
	}
	statuses := fetchAll(t, tb, paths...)
	burst := time.Now()
	time.Sleep(200 * time.Millisecond) // oauth2-proxy's log lines
	refreshes = st.proxy.refreshes() - refreshes
	hits := st.app.take()
	tokens := map[string]bool{}
	for _, h := range hits {
		tokens[h.AccessToken] = true
	}
	t.Logf("%d requests at once: statuses %v; oauth2-proxy began %d refreshes; the app got %d requests with %d distinct access tokens",
		len(paths), statuses, refreshes, len(hits), len(tokens))
	if refreshes < 2 {
		t.Fatalf("oauth2-proxy refreshed the session %d times for %d requests sent at once; the test needs it to refresh once per request in flight", refreshes, len(paths))
	}
	if interval > 0 {
		if countStatus(statuses, http.StatusOK) != len(paths) || len(hits) != len(paths) {
			t.Fatalf("with refresh_token_reuse_interval %v: statuses %v, want every request to reach the app", interval, statuses)
		}
		if len(tokens) != refreshes {
			t.Errorf("the app got %d distinct access tokens, want one per refresh (%d)", len(tokens), refreshes)
		}
		for tok := range tokens {
			if !st.tokenLive(t, tok) {
				t.Errorf("an access token of the refreshes does not work at Gatehouse")
			}
		}
	} else {
		// The first refresh rotates the token; each later one reuses it.
		if n := countStatus(statuses, http.StatusUnauthorized); n < refreshes-1 {
			t.Fatalf("with refresh_token_reuse_interval 0: statuses %v, want at least %d of 401 (the refreshes that reused the token)", statuses, refreshes-1)
		}
		for tok := range tokens {
			if st.tokenLive(t, tok) {
				t.Errorf("an access token of the refreshes still works at Gatehouse after the grant was revoked")
			}
		}
	}

	// 2. The session cookie from before those requests again, from Go:
	// its refresh token was rotated a moment ago, so this presents it
	// once more, whatever the timing of the requests above was.
	res := st.proxyGet(t, "/api/replay", before, "application/json")
	if interval > 0 && res.StatusCode != http.StatusOK {
		t.Fatalf("the session cookie from before the refreshes, sent again %v after them: %d, want 200 (within refresh_token_reuse_interval %v)",
			time.Since(burst).Round(time.Millisecond), res.StatusCode, interval)
	}
	if interval == 0 && res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the session cookie from before the refreshes, sent again: %d, want 401 (the grant is revoked)", res.StatusCode)
	}
	st.app.take()

	// 3. Once the access tokens of those refreshes have expired: does the
	// browser's session still work?
	time.Sleep(time.Until(burst.Add(max(o2pAccessTokenLifetime, o2pRefreshDue) + 300*time.Millisecond)))
	from := st.proxy.refreshes()
	statuses = fetchAll(t, tb, "/api/later")
	time.Sleep(200 * time.Millisecond)
	later := st.proxy.refreshes() - from
	if interval > 0 {
		hits := st.app.take()
		if statuses[0] != http.StatusOK || len(hits) != 1 || hits[0].Email != st.email {
			t.Fatalf("a request %v after the refreshes: %d (the app got %+v), want 200 from the app", time.Since(burst).Round(time.Millisecond), statuses[0], hits)
		}
		if later != 1 {
			t.Errorf("oauth2-proxy began %d refreshes for the request after the refreshes, want 1", later)
		}
		if tokens[hits[0].AccessToken] || !st.tokenLive(t, hits[0].AccessToken) {
			t.Errorf("the request after the refreshes was passed an old or dead access token, want a fresh one")
		}
		res := tb.follow("reload the app", chromedp.Navigate(st.proxy.base+"/"))
		if res.Status != http.StatusOK || res.URL != st.proxy.base+"/" {
			t.Fatalf("reloading the app: %d %s, want the app's page without signing in again", res.Status, res.URL)
		}
		tb.do("the app's page", chromedp.WaitVisible(chromedp.ID("app")))
		// (With the interval at 0 the 401s above are console errors.)
		tb.checkConsole()
	} else {
		if statuses[0] != http.StatusUnauthorized {
			t.Fatalf("a request after the grant was revoked: %d, want 401", statuses[0])
		}
		if hits := st.app.take(); len(hits) != 0 {
			t.Fatalf("the app got %+v after the grant was revoked", hits)
		}
		// A page load is sent to sign in again.
		res := st.proxyGet(t, "/", st.cookies(t, tb), "text/html")
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, st.gatehouse.base+"/oauth/authorize?") {
			t.Fatalf("loading the app's page after the grant was revoked: %d to %q, want 302 to Gatehouse's authorization endpoint", res.StatusCode, loc)
		}
	}
	t.Logf("refresh_token_reuse_interval %v: sign-in and checks took %v", interval, time.Since(begin).Round(time.Millisecond))
	return tb
}

// o2pSignOutRun signs the user of tb, on the app's page, out of the app
// and of Gatehouse with the doc's sign-out link, and checks that the next
// visit to the app asks for the password. First, as the control,
// oauth2-proxy's sign_out alone: it drops oauth2-proxy's cookie only, and
// the next visit goes through Gatehouse and comes straight back signed
// in. So a password prompt after the real sign-out is the end-session
// endpoint's doing.
func o2pSignOutRun(t *testing.T, st *o2pStack, tb *tab) {
	begin := time.Now()
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	res, err := http.Get(st.gatehouse.base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&meta)
	res.Body.Close()
	if err != nil || meta.EndSession != st.endSession {
		t.Fatalf("Gatehouse's end_session_endpoint is %q (%v), want the doc's sign-out link's %s", meta.EndSession, err, st.endSession)
	}

	// 1. oauth2-proxy's sign-out alone (to /, its default rd).
	st.app.take()
	signIns := st.proxy.signIns()
	page := tb.follow("oauth2-proxy's sign_out alone", chromedp.Navigate(st.proxy.base+"/oauth2/sign_out"))
	if page.Status != http.StatusOK || page.URL != st.proxy.base+"/" {
		t.Fatalf("after oauth2-proxy's sign_out alone the browser is at %d %s, want the app's page: through Gatehouse, still signed in there, and back without a password\n%s",
			page.Status, page.URL, tb.text("body"))
	}
	tb.do("the app's page", chromedp.WaitVisible(chromedp.ID("app")))
	if who := tb.text("#who"); who != st.email {
		t.Fatalf("after oauth2-proxy's sign_out alone the app's page says the user is %q, want %q", who, st.email)
	}
	// oauth2-proxy dropped its session and signed in again through
	// Gatehouse (the log line comes through a pipe: a moment).
	for deadline := time.Now().Add(2 * time.Second); st.proxy.signIns() == signIns && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := st.proxy.signIns() - signIns; n != 1 {
		t.Fatalf("oauth2-proxy's sign_out alone: oauth2-proxy completed %d sign-ins on the way back to the app, want 1 (through Gatehouse, without a password)", n)
	}
	if hits := st.app.take(); len(hits) != 1 || hits[0].Email != st.email {
		t.Fatalf("the app got %+v after oauth2-proxy's sign_out alone, want one request from %s", hits, st.email)
	}

	// 2. The doc's sign-out link: oauth2-proxy drops its cookie and
	// redirects to Gatehouse's end-session endpoint, which asks.
	page = tb.follow("the app's sign-out link", chromedp.Navigate(st.signOut))
	if page.Status != http.StatusOK || !strings.HasPrefix(page.URL, st.endSession+"?") {
		t.Fatalf("the sign-out link %s led to %d %s, want Gatehouse's end-session endpoint %s (oauth2-proxy redirects only to --whitelist-domain)\n%s",
			st.signOut, page.Status, page.URL, st.endSession, tb.text("body"))
	}
	if h := tb.text("h1"); h != "Sign out of Gatehouse?" {
		t.Fatalf("the end-session endpoint shows %q, want the confirmation \"Sign out of Gatehouse?\"\n%s", h, tb.text("main"))
	}
	if cs := st.cookies(t, tb); len(cs) != 0 {
		t.Errorf("oauth2-proxy's session cookie is still in the browser after its sign_out")
	}
	signOut := chromedp.JSPath(`[...document.querySelectorAll('main form[action="/logout"] button[type=submit]')].find(b => b.textContent.trim() === "Sign out") ?? null`)
	tb.do("the Sign out button", chromedp.WaitVisible(signOut))
	// Signed out, Gatehouse redirects to the post_logout_redirect_uri: the
	// app, whose oauth2-proxy sends the browser to Gatehouse to sign in.
	page = tb.follow("click Sign out", chromedp.Click(signOut))
	loc, _ := url.Parse(page.URL)
	if page.Status != http.StatusOK || !strings.HasPrefix(page.URL, st.gatehouse.base+"/login?") ||
		!strings.HasPrefix(loc.Query().Get("next"), "/consent?id=") {
		t.Fatalf("after signing out through Gatehouse the browser is at %d %s, want Gatehouse's sign-in page (/login?next=/consent?id=...), where the app sent it\n%s",
			page.Status, page.URL, tb.text("main"))
	}
	tb.do("the password field", chromedp.WaitVisible(`form[action="/login"] input[type=password]`))
	if hits := st.app.take(); len(hits) != 0 {
		t.Fatalf("the app got %+v after the user signed out", hits)
	}
	if cs := st.cookies(t, tb); len(cs) != 0 {
		t.Errorf("an oauth2-proxy session cookie is in the browser after the sign-out")
	}
	t.Logf("signed out through Gatehouse's end_session_endpoint; the app asks for the password (%v for the control and the sign-out)",
		time.Since(begin).Round(time.Millisecond))

	// 3. The password signs in again.
	st.enterPassword(t, tb)
	tb.checkConsole()
}

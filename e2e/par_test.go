package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// TestPARNode runs panva's openid-client (oidcclient/par.mjs) against the
// real binary: a pushed authorization request (RFC 9126) built with
// buildAuthorizationUrlWithPAR, signed in and approved by the form-filling
// browser, the code exchanged, and the request_uri refused the second
// time (rule 47); a client created with --require-par gets its unpushed
// request refused; then response_mode=form_post through headless
// Chromium (rule 49): the page's script, allowed by its CSP nonce, posts
// the answer to the client's loopback redirect URI, which sends the
// browser on to a page of another origin, and openid-client completes the
// exchange from the posted body.
func TestPARNode(t *testing.T) {
	node, script := nodeScript(t, "par.mjs", "openid-client")
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			o := startOAuth(t, b.URL(t))
			id, secret := createClient(t, o.db, "--name", "PAR RP", "--redirect-uri", callbackURI)
			run := func(t *testing.T, mode, redirectURI string) *parRP {
				return startParRP(t, node, script, "OIDC_ISSUER="+o.base, "OIDC_CLIENT_ID="+id, "OIDC_CLIENT_SECRET="+secret,
					"OIDC_REDIRECT_URI="+redirectURI, "OIDC_MODE="+mode)
			}

			t.Run("par", func(t *testing.T) {
				rp := run(t, "par", callbackURI)
				u := mustParseURL(t, rp.authorizationURL)
				if q := u.Query(); len(q) != 2 || q.Get("client_id") != id || !strings.HasPrefix(q.Get("request_uri"), "urn:ietf:params:oauth:request_uri:") {
					rp.fail("the authorization URL is %s, want client_id and a request_uri only", u)
				}
				a := o.authorize(t, browser(t), rp.authorizationURL, "allow")
				r := rp.finish(a.Final.String())
				if r.ParEndpoint != o.base+"/oauth/par" || r.IDTokenClaims["sub"] == nil || r.UserInfo["email"] != oauthEmail {
					t.Fatalf("openid-client saw %+v", r)
				}
				// Used once: the same link in another browser is refused on
				// the error page.
				res, body := get(t, browser(t), rp.authorizationURL)
				if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" || !strings.Contains(body, "already used") {
					t.Fatalf("second use of the request_uri: %d %q\n%s", res.StatusCode, res.Header.Get("Location"), snippet(body))
				}
			})

			t.Run("client held to PAR", func(t *testing.T) {
				strict, _ := createClient(t, o.db, "--name", "Strict PAR RP", "--redirect-uri", callbackURI, "--require-par")
				res, _ := get(t, browser(t), o.base+"/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {strict},
					"redirect_uri": {callbackURI}, "state": {"s"}, "scope": {"openid"}}.Encode())
				loc := mustParseURL(t, res.Header.Get("Location"))
				if res.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" ||
					!strings.Contains(loc.Query().Get("error_description"), "pushed authorization requests") {
					t.Fatalf("a request that was not pushed: %d %s, want invalid_request back at the client", res.StatusCode, loc)
				}
			})

			t.Run("form_post", func(t *testing.T) {
				bctx := startChromium(context.Background(), t)
				cb := newPostCallback(t)
				rp := run(t, "form_post", cb.URI)
				user := newTab(t, bctx)
				user.open(rp.authorizationURL, `form[action="/login"]`)
				user.do("fill in the sign-in form", typeInto("Username", oauthUser), typeInto("Password", oauthPassword))
				user.submit("sign in", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)), "/consent")
				// Allow: POST /consent answers the form_post page, whose
				// script posts the answer to the client. (par.mjs asks for
				// prompt=consent: the par run above approved the client.)
				user.do("allow", chromedp.Click(chromedp.CSS(`form[action="/consent"] button[name="decision"][value="allow"]`)))
				post := cb.wait(t)
				// The callback redirects to the application's page on
				// another origin: no form-action on the form_post page
				// may stop that redirect (Chrome applies form-action to
				// the redirects after a form's POST).
				user.do("back at the client", chromedp.WaitVisible(`#callback`))
				if loc := user.location(); loc != cb.Home {
					t.Errorf("the browser is at %s, want the client's %s (after its callback)", loc, cb.Home)
				}
				user.checkConsole() // a CSP violation would be logged here
				if post.Method != http.MethodPost || post.ContentType != "application/x-www-form-urlencoded" {
					t.Fatalf("the client received %s %s, want a form POST", post.Method, post.ContentType)
				}
				form, _ := url.ParseQuery(post.Body)
				if form.Get("code") == "" || form.Get("state") == "" || form.Get("iss") != o.base || len(form) != 3 {
					t.Fatalf("posted %v, want code, state and iss", form)
				}
				line, _ := json.Marshal(map[string]string{"url": cb.URI, "body": post.Body})
				r := rp.finish(string(line))
				if r.IDTokenClaims["sub"] == nil || !strings.Contains(strings.Join(r.ResponseModes, " "), "form_post") {
					t.Fatalf("openid-client saw %+v", r)
				}
			})
		})
	}
}

// parResult is what par.mjs prints at the end.
type parResult struct {
	Mode          string         `json:"mode"`
	ParEndpoint   string         `json:"par_endpoint"`
	ResponseModes []string       `json:"response_modes_supported"`
	TokenType     string         `json:"token_type"`
	IDTokenClaims map[string]any `json:"id_token_claims"`
	UserInfo      map[string]any `json:"userinfo"`
}

// parRP is a running par.mjs that printed its authorization URL.
type parRP struct {
	t                *testing.T
	cmd              *exec.Cmd
	stdin            io.WriteCloser
	stdout           *bufio.Reader
	stderr           *strings.Builder
	authorizationURL string
}

func startParRP(t *testing.T, node, script string, env ...string) *parRP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	rp := &parRP{t: t, cmd: exec.CommandContext(ctx, node, script), stderr: &strings.Builder{}}
	rp.cmd.Env = append(os.Environ(), env...)
	rp.cmd.Stderr = rp.stderr
	var err error
	if rp.stdin, err = rp.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := rp.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rp.stdout = bufio.NewReader(out)
	line, err := rp.stdout.ReadString('\n')
	var first struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if err != nil || json.Unmarshal([]byte(line), &first) != nil || first.AuthorizationURL == "" {
		rp.fail("par.mjs printed %q, want {\"authorization_url\": ...}", line)
	}
	rp.authorizationURL = first.AuthorizationURL
	return rp
}

// fail stops the script and fails the test with its output.
func (rp *parRP) fail(format string, args ...any) {
	rp.t.Helper()
	rp.stdin.Close()
	rest, _ := io.ReadAll(rp.stdout)
	err := rp.cmd.Wait()
	rp.t.Fatalf(format+"\nnode: %v\nstdout: %s\nstderr: %s", append(args, err, rest, rp.stderr.String())...)
}

// finish hands the script the callback and returns what it printed.
func (rp *parRP) finish(callback string) parResult {
	rp.t.Helper()
	if _, err := io.WriteString(rp.stdin, callback+"\n"); err != nil {
		rp.fail("writing the callback: %v", err)
	}
	rp.stdin.Close()
	out, _ := io.ReadAll(rp.stdout)
	if err := rp.cmd.Wait(); err != nil {
		rp.t.Fatalf("par.mjs failed: %v\nstdout: %s\nstderr: %s", err, out, rp.stderr.String())
	}
	var r parResult
	if err := json.Unmarshal(out, &r); err != nil {
		rp.t.Fatalf("par.mjs printed %q: %v", out, err)
	}
	rp.t.Logf("openid-client (%s): %s", r.Mode, out)
	return r
}

// postCallback is a client's loopback redirect URI that records the first
// request it gets (method, content type, body) and answers with a page.
type postCallback struct {
	URI string
	// Home is where the callback sends the browser on after the POST
	// (303), on another origin, as an application that finishes sign-in
	// and shows its own page does.
	Home string
	once sync.Once
	got  chan postedCallback
}

type postedCallback struct {
	Method, ContentType, Body string
}

func newPostCallback(t *testing.T) *postCallback {
	cb := &postCallback{got: make(chan postedCallback, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		cb.once.Do(func() { cb.got <- postedCallback{r.Method, r.Header.Get("Content-Type"), string(b)} })
		http.Redirect(w, r, cb.Home, http.StatusSeeOther)
	}))
	t.Cleanup(srv.Close)
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/home" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>RP</title><link rel="icon" href="data:,"><h1 id="callback">Back at the client</h1>`)
	}))
	t.Cleanup(home.Close)
	cb.URI, cb.Home = srv.URL+"/callback", home.URL+"/home"
	return cb
}

func (cb *postCallback) wait(t *testing.T) postedCallback {
	t.Helper()
	select {
	case p := <-cb.got:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("the client's redirect URI received nothing")
		return postedCallback{}
	}
}

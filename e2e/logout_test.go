package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

const postLogoutURI = "http://127.0.0.1/signed-out"

// TestOpenIDClientLogout: panva's openid-client 6 (e2e/oidcclient/
// logout.mjs) signs in, builds the end-session URL from the discovery
// document with id_token_hint, post_logout_redirect_uri and state, and the
// browser following it is signed out and sent back with that state; a
// prompt=none request afterwards answers login_required (rules 40, 41).
func TestOpenIDClientLogout(t *testing.T) {
	node, script := nodeScript(t, "logout.mjs", "openid-client")
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			o := startOAuth(t, b.URL(t))
			id, secret := createClient(t, o.db, "--name", "Logout RP", "--redirect-uri", callbackURI,
				"--post-logout-redirect-uri", postLogoutURI)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script)
			cmd.Env = append(os.Environ(), "OIDC_ISSUER="+o.base, "OIDC_CLIENT_ID="+id, "OIDC_CLIENT_SECRET="+secret,
				"OIDC_REDIRECT_URI="+callbackURI, "OIDC_POST_LOGOUT_REDIRECT_URI="+postLogoutURI)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdoutPipe, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stdout := bufio.NewReader(stdoutPipe)
			fail := func(format string, args ...any) {
				t.Helper()
				stdin.Close()
				rest, _ := io.ReadAll(stdout)
				err := cmd.Wait()
				t.Fatalf(format+"\nnode: %v\nstdout: %s\nstderr: %s", append(args, err, rest, stderr.String())...)
			}
			var step struct {
				AuthorizationURL string `json:"authorization_url"`
				EndSessionURL    string `json:"end_session_url"`
			}
			read := func(what string) {
				t.Helper()
				step.AuthorizationURL, step.EndSessionURL = "", ""
				line, err := stdout.ReadString('\n')
				if err != nil || json.Unmarshal([]byte(line), &step) != nil {
					fail("logout.mjs printed %q, want %s", line, what)
				}
			}
			answer := func(u string) {
				t.Helper()
				if _, err := io.WriteString(stdin, u+"\n"); err != nil {
					fail("writing to logout.mjs: %v", err)
				}
			}
			c := browser(t)

			read("the authorization URL")
			answer(o.authorize(t, c, step.AuthorizationURL, "allow").Final.String())

			read("the end-session URL")
			if !strings.HasPrefix(step.EndSessionURL, o.base+"/oauth/logout?") {
				fail("end-session URL %q is not at the advertised end_session_endpoint", step.EndSessionURL)
			}
			res, body := get(t, c, step.EndSessionURL)
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), postLogoutURI+"?state=") {
				fail("the end-session endpoint answered %d %q\n%s", res.StatusCode, res.Header.Get("Location"), snippet(body))
			}
			answer(res.Header.Get("Location"))
			if res, _ := get(t, c, o.base+"/dashboard"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				fail("still signed in after logout: /dashboard answered %d %q", res.StatusCode, res.Header.Get("Location"))
			}

			read("the prompt=none authorization URL")
			answer(o.authorize(t, c, step.AuthorizationURL, "").Final.String())

			stdin.Close()
			out, _ := io.ReadAll(stdout)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("logout.mjs failed: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
			}
			var r struct {
				SID             string `json:"sid"`
				PromptNoneError string `json:"prompt_none_error"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("logout.mjs printed %q: %v", out, err)
			}
			t.Logf("openid-client: %s", out)
			if r.SID == "" || r.PromptNoneError != "login_required" {
				t.Fatalf("sid %q, prompt=none after logout %q; want a sid and login_required", r.SID, r.PromptNoneError)
			}
		})
	}
}

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

// dpopResult is what e2e/oidcclient/dpop.mjs prints at the end.
type dpopResult struct {
	TokenType            string         `json:"token_type"`
	RefreshedTokenType   string         `json:"refreshed_token_type"`
	CCTokenType          string         `json:"cc_token_type"`
	PARTokenType         string         `json:"par_token_type"`
	Sub                  string         `json:"sub"`
	UserInfo             map[string]any `json:"userinfo"`
	APIUser              map[string]any `json:"api_user"`
	APIAfterRefresh      int            `json:"api_after_refresh_status"`
	BearerStatus         int            `json:"bearer_status"`
	BearerAuthentication string         `json:"bearer_www_authenticate"`
	Requests             []struct {
		Method    string `json:"method"`
		Path      string `json:"path"`
		Status    int    `json:"status"`
		SentDPoP  bool   `json:"sent_dpop"`
		DPoPNonce bool   `json:"dpop_nonce"`
		Error     string `json:"error"`
	} `json:"requests"`
}

// TestOpenIDClientDPoP: panva's openid-client 6 (e2e/oidcclient/dpop.mjs)
// with a DPoP handle against the real binary, dpop_nonce set to all (rule
// 48): the code flow, UserInfo, /api/user, a refresh and client
// credentials all get DPoP-bound tokens and use them with proofs; the
// first proof at the token endpoint and at a resource is answered
// use_dpop_nonce with a DPoP-Nonce, and openid-client's retry with that
// nonce succeeds; the bound token sent as a Bearer token is refused with
// a DPoP challenge. Then a pushed authorization request with a DPoP proof
// (buildAuthorizationUrlWithPAR with a DPoP handle, RFC 9449 §10.1), its
// own nonce round at the PAR endpoint, gives a code redeemed for a DPoP
// token.
func TestOpenIDClientDPoP(t *testing.T) {
	node, script := nodeScript(t, "dpop.mjs", "openid-client")
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			db := b.URL(t)
			gatehouseCLI(t, db, "", "settings", "set", "dpop_nonce", "all")
			o := startOAuth(t, db)
			id, secret := createClient(t, o.db, "--name", "DPoP RP", "--redirect-uri", callbackURI)
			ccID, ccSecret := createClient(t, o.db, "--name", "DPoP machine", "--grant-type", "client_credentials")

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script)
			cmd.Env = append(os.Environ(), "OIDC_ISSUER="+o.base, "OIDC_CLIENT_ID="+id, "OIDC_CLIENT_SECRET="+secret,
				"OIDC_REDIRECT_URI="+callbackURI, "OIDC_CC_CLIENT_ID="+ccID, "OIDC_CC_CLIENT_SECRET="+ccSecret)
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
			line, err := stdout.ReadString('\n')
			var first struct {
				AuthorizationURL string `json:"authorization_url"`
			}
			if err != nil || json.Unmarshal([]byte(line), &first) != nil || first.AuthorizationURL == "" {
				fail("dpop.mjs printed %q, want {\"authorization_url\": ...}", line)
			}
			b := browser(t)
			a := o.authorize(t, b, first.AuthorizationURL, "allow")
			if _, err := io.WriteString(stdin, a.Final.String()+"\n"); err != nil {
				fail("writing the callback URL: %v", err)
			}
			// The second authorization: pushed with a DPoP proof.
			line, err = stdout.ReadString('\n')
			first.AuthorizationURL = ""
			if err != nil || json.Unmarshal([]byte(line), &first) != nil || !strings.Contains(first.AuthorizationURL, "request_uri=") {
				fail("dpop.mjs printed %q, want {\"authorization_url\": ...} with a request_uri", line)
			}
			a = o.authorize(t, b, first.AuthorizationURL, "allow")
			if _, err := io.WriteString(stdin, a.Final.String()+"\n"); err != nil {
				fail("writing the second callback URL: %v", err)
			}
			stdin.Close()
			out, _ := io.ReadAll(stdout)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("dpop.mjs failed: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
			}
			var r dpopResult
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("dpop.mjs printed %q: %v", out, err)
			}
			t.Logf("openid-client with DPoP: %s", out)

			for what, tt := range map[string]string{"code": r.TokenType, "refresh": r.RefreshedTokenType, "client_credentials": r.CCTokenType,
				"code of a DPoP-bound pushed request": r.PARTokenType} {
				if !strings.EqualFold(tt, "dpop") {
					t.Errorf("%s grant: token_type %q, want DPoP", what, tt)
				}
			}
			if r.Sub == "" || r.UserInfo["sub"] != r.Sub || r.UserInfo["email"] != oauthEmail {
				t.Errorf("userinfo with DPoP: %v (sub %q)", r.UserInfo, r.Sub)
			}
			if r.APIUser["username"] != oauthUser || r.APIAfterRefresh != http.StatusOK {
				t.Errorf("/api/user with DPoP: %v, after the refresh %d", r.APIUser, r.APIAfterRefresh)
			}
			if r.BearerStatus != http.StatusUnauthorized || !strings.HasPrefix(r.BearerAuthentication, `DPoP `) ||
				!strings.Contains(r.BearerAuthentication, `error="invalid_token"`) {
				t.Errorf("the bound token as Bearer: %d %q, want 401 with a DPoP challenge", r.BearerStatus, r.BearerAuthentication)
			}
			// The nonce rounds: a use_dpop_nonce with DPoP-Nonce, then
			// the retry succeeding, at the token endpoint and at a
			// resource (UserInfo; /api/user then uses the nonce the
			// client has), and at the PAR endpoint.
			for _, path := range []string{"/oauth/token", "/oauth/userinfo", "/oauth/par"} {
				asked, retried := false, false
				for _, q := range r.Requests {
					if q.Path != path || !q.SentDPoP {
						continue
					}
					if q.Error == "use_dpop_nonce" && q.DPoPNonce {
						asked = true
					} else if asked && (q.Status == http.StatusOK || q.Status == http.StatusCreated) {
						retried = true
					}
				}
				if !asked || !retried {
					t.Errorf("%s: no use_dpop_nonce round followed by a success (asked %v, retried %v)", path, asked, retried)
				}
			}
		})
	}
}

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The reverse-proxy tests put real nginx (auth_request) and Caddy
// (forward_auth) in front of an upstream app, with Gatehouse's {P}/verify
// as the forward-auth check, using the configuration docs/reverse-proxy.md
// shows. Each proxy is skipped when its binary is missing, except in CI
// (CI set), where .ci/run installs Debian's nginx-light and caddy.

// nginxConf is docs/reverse-proxy.md's nginx example, with the listen
// address, Gatehouse's address and the upstream filled in, plus what
// running unprivileged from a temporary folder needs (pid, temp paths,
// logs to stderr).
const nginxConf = `
pid %[1]s/nginx.pid;
error_log stderr warn;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;

    upstream gatehouse { server %[3]s; }
    upstream app       { server %[4]s; }

    server {
        listen %[2]s;

        location /app/ {
            auth_request /_gatehouse_verify;

            auth_request_set $gatehouse_user    $upstream_http_x_gatehouse_user;
            auth_request_set $gatehouse_subject $upstream_http_x_gatehouse_subject;
            auth_request_set $gatehouse_client  $upstream_http_x_gatehouse_client;
            auth_request_set $gatehouse_scope   $upstream_http_x_gatehouse_scope;

            proxy_set_header Host                $host;
            proxy_set_header X-Forwarded-For     $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto   $scheme;
            proxy_set_header X-Gatehouse-User    $gatehouse_user;
            proxy_set_header X-Gatehouse-Subject $gatehouse_subject;
            proxy_set_header X-Gatehouse-Client  $gatehouse_client;
            proxy_set_header X-Gatehouse-Scope   $gatehouse_scope;
            proxy_pass http://app;
        }

        location = /_gatehouse_verify {
            internal;
            proxy_pass http://gatehouse/oauth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length     "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri    $request_uri;
            proxy_set_header X-Forwarded-Proto  $scheme;
            proxy_set_header X-Forwarded-Host   $http_host;
            proxy_set_header X-Forwarded-For    $proxy_add_x_forwarded_for;
        }
    }
}
`

// caddyfile is docs/reverse-proxy.md's Caddy example, on plain HTTP
// without the admin endpoint.
const caddyfile = `{
	admin off
	auto_https off
}

http://%[1]s {
	route /app/* {
		request_header -X-Gatehouse-User
		request_header -X-Gatehouse-Subject
		request_header -X-Gatehouse-Client
		request_header -X-Gatehouse-Scope
		forward_auth %[2]s {
			uri /oauth/verify
			copy_headers X-Gatehouse-User X-Gatehouse-Subject X-Gatehouse-Client X-Gatehouse-Scope
		}
		@no_user header_regexp X-Gatehouse-User ^.http\.reverse_proxy\.header\.
		request_header @no_user -X-Gatehouse-User
		reverse_proxy %[3]s
	}
}
`

// findProxy returns the path of a proxy's binary, or "" when it is not
// installed.
func findProxy(name string) string {
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// needProxy skips the test when a proxy's binary is missing, or fails it
// in CI.
func needProxy(t *testing.T, path, name, pkg string) {
	t.Helper()
	if path != "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; the reverse-proxy tests need it in CI (.ci/run installs Debian's %s package)", name, pkg)
	}
	t.Skipf("%s not installed; skipping (apt-get install %s)", name, pkg)
}

// upstreamRequest is what the app behind the proxy received.
type upstreamRequest struct {
	Method, URI string
	Header      http.Header
}

// upstream is the app behind the proxy: it records every request.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []upstreamRequest
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, upstreamRequest{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone()})
		u.mu.Unlock()
		io.WriteString(w, "hello from the app")
	}))
	t.Cleanup(u.Close)
	return u
}

// take returns and forgets what the upstream received.
func (u *upstream) take() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.seen
	u.seen = nil
	return s
}

// startProxy runs a proxy command until the test ends and waits until it
// accepts connections on addr.
func startProxy(t *testing.T, addr string, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so that nginx's workers go with it.
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
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited at start: %v\n%s", filepath.Base(cmd.Path), err, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after 10 s\n%s", filepath.Base(cmd.Path), addr, out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// proxyFixture is a Gatehouse with a scope guarding GET /app/* and the
// tokens the checks use.
type proxyFixture struct {
	gatehouse string // host:port
	scoped    string // alice's token with app.read
	unscoped  string // alice's token without app.read
	machine   string // client-credentials token with app.read (no user)
	clientID  string // the client of alice's tokens
	machineID string
}

func newProxyFixture(t *testing.T) *proxyFixture {
	t.Helper()
	db := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	o := startOAuth(t, db)

	// An admin defines the scope app.read guarding GET /app/* on the
	// dashboard.
	gatehouseCLI(t, db, "an admin passphrase\n", "users", "create", "--username", "root", "--password-stdin", "--role", "admin")
	admin := browser(t)
	if res := submit(t, admin, o.base+"/login", o.base+"/login", url.Values{"username": {"root"}, "password": {"an admin passphrase"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", res.StatusCode)
	}
	res := submit(t, admin, o.base+"/dashboard/scopes/new", o.base+"/dashboard/scopes", url.Values{
		"scope_id": {"app.read"}, "name": {"Read the app"}, "description": {"Read {user}'s app data"},
		"method": {"GET"}, "resource_path": {"/app/*"}, "machine": {"on"}}) // machine: the batch job below gets it by client credentials
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("creating the scope app.read: %d", res.StatusCode)
	}

	f := &proxyFixture{gatehouse: strings.TrimPrefix(o.base, "http://")}
	cfg := o.client(t, "Proxied app")
	f.clientID = cfg.ClientID
	cfg.Scopes = []string{"app.read"}
	f.scoped = o.codeFlow(t, browser(t), cfg).AccessToken
	cfg.Scopes = []string{"openid"}
	f.unscoped = o.codeFlow(t, browser(t), cfg).AccessToken

	id, secret := createClient(t, db, "--name", "Batch job", "--grant-type", "client_credentials", "--scope", "app.read")
	f.machineID = id
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: o.base + "/oauth/token", Scopes: []string{"app.read"}}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	f.machine = tok.AccessToken
	return f
}

// proxyDo sends a request through the proxy with a bearer token (none when
// empty) and extra headers, and returns the status, WWW-Authenticate and
// body.
func proxyDo(t *testing.T, method, u, token string, extra map[string]string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("WWW-Authenticate"), string(b)
}

// checkForwardAuth runs the forward-auth checks through the proxy at
// base, in front of up.
func checkForwardAuth(t *testing.T, f *proxyFixture, up *upstream, base string) {
	spoof := map[string]string{"X-Gatehouse-User": "admin", "X-Gatehouse-Subject": "admin",
		"X-Gatehouse-Client": "spoofed", "X-Gatehouse-Scope": "everything"}

	// No token: 401 with Gatehouse's challenge; the app never sees it.
	status, challenge, _ := proxyDo(t, "GET", base+"/app/hello", "", spoof)
	if status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") {
		t.Errorf("no token: %d (WWW-Authenticate %q), want 401 with a Bearer challenge", status, challenge)
	}
	// A token that is not Gatehouse's: 401 invalid_token.
	status, challenge, _ = proxyDo(t, "GET", base+"/app/hello", "gat_not-a-real-token", nil)
	if status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("unknown token: %d (WWW-Authenticate %q), want 401 invalid_token", status, challenge)
	}
	// A valid token without a scope guarding GET /app/*: 403, even when
	// the client names another path in X-Forwarded-Uri itself.
	status, challenge, _ = proxyDo(t, "GET", base+"/app/hello", f.unscoped,
		map[string]string{"X-Forwarded-Uri": "/api/user", "X-Forwarded-Method": "GET"})
	// (nginx passes Gatehouse's challenge on with a 401 only.)
	if status != http.StatusForbidden || (challenge != "" && !strings.Contains(challenge, `error="insufficient_scope"`)) {
		t.Errorf("token without app.read: %d (WWW-Authenticate %q), want 403 insufficient_scope", status, challenge)
	}
	// app.read guards GET only: POST is refused.
	if status, _, _ := proxyDo(t, "POST", base+"/app/hello", f.scoped, nil); status != http.StatusForbidden {
		t.Errorf("POST with a GET-only scope: %d, want 403", status)
	}
	if got := up.take(); len(got) != 0 {
		t.Fatalf("the app received refused requests: %+v", got)
	}

	// The right token: 200 from the app, which sees who is calling, and
	// only what Gatehouse said, whatever the client sent.
	status, _, body := proxyDo(t, "GET", base+"/app/hello?x=1", f.scoped, spoof)
	if status != http.StatusOK || body != "hello from the app" {
		t.Fatalf("token with app.read: %d %q, want 200 from the app", status, body)
	}
	got := up.take()
	if len(got) != 1 || got[0].Method != "GET" || got[0].URI != "/app/hello?x=1" {
		t.Fatalf("the app received %+v, want one GET /app/hello?x=1", got)
	}
	h := got[0].Header
	for name, want := range map[string]string{"X-Gatehouse-User": oauthUser, "X-Gatehouse-Client": f.clientID} {
		if v := h.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("the app saw %s %q, want %q", name, v, want)
		}
	}
	if v := h.Values("X-Gatehouse-Subject"); len(v) != 1 || v[0] == "" || v[0] == "admin" {
		t.Errorf("the app saw X-Gatehouse-Subject %q, want alice's subject", v)
	}
	if v := h.Values("X-Gatehouse-Scope"); len(v) != 1 || !containsAll(strings.Fields(v[0]), "app.read") || strings.Contains(v[0], "everything") {
		t.Errorf("the app saw X-Gatehouse-Scope %q, want the granted scopes with app.read", v)
	}

	// A client-credentials token has no user: the app sees no
	// X-Gatehouse-User at all, not the one the client sent.
	status, _, _ = proxyDo(t, "GET", base+"/app/report", f.machine, spoof)
	if status != http.StatusOK {
		t.Fatalf("client-credentials token with app.read: %d, want 200", status)
	}
	got = up.take()
	if len(got) != 1 {
		t.Fatalf("the app received %d requests, want 1", len(got))
	}
	h = got[0].Header
	if v := h.Values("X-Gatehouse-User"); len(v) != 0 {
		t.Errorf("client-credentials request: the app saw X-Gatehouse-User %q, want none", v)
	}
	for _, name := range []string{"X-Gatehouse-Client", "X-Gatehouse-Subject"} {
		if v := h.Values(name); len(v) != 1 || v[0] != f.machineID {
			t.Errorf("client-credentials request: the app saw %s %q, want %q", name, v, f.machineID)
		}
	}
	if v := h.Values("X-Gatehouse-Scope"); len(v) != 1 || v[0] != "app.read" {
		t.Errorf("client-credentials request: the app saw X-Gatehouse-Scope %q, want app.read", v)
	}
}

// TestReverseProxyForwardAuth checks docs/reverse-proxy.md's nginx and
// Caddy configurations against the real proxies: no token 401, a token
// without the guarding scope 403, the right token 200 with the
// X-Gatehouse-* headers at the app, and headers a client sends in their
// name never reach it.
func TestReverseProxyForwardAuth(t *testing.T) {
	nginx, caddy := findProxy("nginx"), findProxy("caddy")
	if nginx == "" && caddy == "" {
		needProxy(t, "", "nginx or caddy", "nginx-light caddy")
	}
	f := newProxyFixture(t)
	up := newUpstream(t)
	upAddr := strings.TrimPrefix(up.URL, "http://")

	t.Run("nginx", func(t *testing.T) {
		needProxy(t, nginx, "nginx", "nginx-light")
		dir, err := os.MkdirTemp("", "gatehouse-nginx")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		// Run as root, nginx's workers run as nobody: let them in.
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		addr := freePort(t)
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, addr, f.gatehouse, upAddr), 0o644); err != nil {
			t.Fatal(err)
		}
		startProxy(t, addr, exec.Command(nginx, "-p", dir, "-c", conf, "-e", "stderr", "-g", "daemon off;"))
		up.take()
		checkForwardAuth(t, f, up, "http://"+addr)
	})

	t.Run("caddy", func(t *testing.T) {
		needProxy(t, caddy, "caddy", "caddy")
		dir := t.TempDir()
		addr := freePort(t)
		conf := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(conf, fmt.Appendf(nil, caddyfile, addr, f.gatehouse, upAddr), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(caddy, "run", "--config", conf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
		startProxy(t, addr, cmd)
		up.take()
		checkForwardAuth(t, f, up, "http://"+addr)
	})
}

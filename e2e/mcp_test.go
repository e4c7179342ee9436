package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// TestMCP is issue 17's end-to-end test with the official MCP TypeScript
// SDK (npm @modelcontextprotocol/sdk): two small MCP servers built from
// the SDK's server pieces (e2e/mcp/server.mjs: streamable HTTP, RFC 9728
// metadata naming Gatehouse, requireBearerAuth with a verifier that
// introspects the token at Gatehouse and requires its own resource URI in
// aud) sit behind Gatehouse as two registered resources, A and B, each
// with a scope. The SDK's own client (e2e/mcp/client.mjs) then connects
// and does the whole OAuth dance itself: the 401's resource_metadata, the
// protected resource metadata, Gatehouse's metadata, registration, PKCE
// and the resource parameter; headless Chromium signs in as alice and
// approves on the consent screen, the browser lands on the client's
// loopback callback, and the tool call succeeds with the token. The SDK
// then refreshes the token (resource again) and calls the tool once more.
// The same token is refused by the other MCP server (its audience is not
// that server), and its refresh token cannot be turned into a token for
// the other resource (invalid_target).
//
// Three runs, each with a fresh client: a pre-registered public client
// (`clients create --public`); registration by a Client ID Metadata
// Document (client_id_metadata_documents=any; the https document is
// served here with a certificate of a test CA, which Gatehouse trusts
// through SSL_CERT_FILE, and fetched from loopback thanks to
// GATEHOUSE_ALLOW_PRIVATE_FETCH=1); and RFC 7591 dynamic registration
// (dynamic_registration=open, CIMD off, so that the same SDK client falls
// back to registering itself), with JWT access tokens (RFC 9068) whose aud
// must be the resource. A first subtest points the SDK's discovery at
// Gatehouse's own API (/api/user's 401, the RFC 9728 metadata of
// {issuer}/api). On SQLite and PostgreSQL; the discovery and the
// pre-registered run, which add nothing on a second database, on the
// first only. SPEC.md §7.3, RFC-CHECKLIST rules 42–45.
//
// Locally the test skips without node, the SDK in node_modules or
// Chromium; in CI (CI set) it fails instead.
func TestMCP(t *testing.T) {
	// The scripts live in e2e/mcp/ (nodeScript names them from e2e/oidcclient/).
	node, clientScript := nodeScript(t, "../mcp/client.mjs", "@modelcontextprotocol/sdk")
	serverScript := filepath.Join(filepath.Dir(clientScript), "server.mjs")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bctx := startChromium(ctx, t)
	for i, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			start := time.Now()
			mcpFlows(bctx, t, node, clientScript, serverScript, b.URL(t), i == 0)
			t.Logf("MCP flows on %s took %v", b.Dialect, time.Since(start).Round(time.Millisecond))
		})
	}
}

// The scopes of the two MCP servers' resources.
const (
	mcpScopeA = "mcp.tools"
	mcpScopeB = "mcp.other.tools"
)

// mcpFlows runs the flows on the database db; everything says to run the
// subtests that add nothing on a second database too.
func mcpFlows(bctx context.Context, t *testing.T, node, clientScript, serverScript, db string, everything bool) {
	// A test CA, trusted by the Gatehouse process, for the https server
	// of the client's metadata document.
	ca := newTestCA(t)
	o := startOAuthWith(t, db, serverOptions{env: []string{"SSL_CERT_FILE=" + ca.file, "GATEHOUSE_ALLOW_PRIVATE_FETCH=1"}})

	// The MCP servers introspect tokens as a confidential client. They
	// start while the SDK's discovery of Gatehouse's API runs.
	rsID, rsSecret := createClient(t, o.db, "--name", "MCP resource servers", "--redirect-uri", callbackURI)
	a := launchMCPServer(t, node, serverScript, o.base, rsID, rsSecret, mcpScopeA, "MCP server A")
	b := launchMCPServer(t, node, serverScript, o.base, rsID, rsSecret, mcpScopeB, "MCP server B")

	// Gatehouse's own API seen by the SDK's discovery: the 401 of
	// /api/user names its RFC 9728 metadata, which names the resource
	// {issuer}/api and Gatehouse as its authorization server.
	t.Run("Gatehouse's API discovered by the SDK", func(t *testing.T) {
		if !everything {
			t.Skip("the same on every database: checked on the first one only, to keep the test short")
		}
		var d struct {
			Status              int    `json:"status"`
			WWWAuthenticate     string `json:"www_authenticate"`
			ResourceMetadataURL string `json:"resource_metadata_url"`
			ResourceMetadata    *struct {
				Resource             string   `json:"resource"`
				AuthorizationServers []string `json:"authorization_servers"`
			} `json:"resource_metadata"`
			AuthorizationServerURL    string `json:"authorization_server_url"`
			AuthorizationServerIssuer string `json:"authorization_server_issuer"`
			Resource                  string `json:"resource"`
		}
		out := runNode(t, node, filepath.Join(filepath.Dir(clientScript), "discover.mjs"), "MCP_SERVER_URL="+o.base+"/api/user")
		if err := json.Unmarshal(out, &d); err != nil {
			t.Fatalf("discover.mjs printed %q: %v", out, err)
		}
		t.Logf("discovery of %s/api/user: %s", o.base, out)
		if d.Status != http.StatusUnauthorized || !strings.HasPrefix(d.ResourceMetadataURL, o.base+"/.well-known/oauth-protected-resource") {
			t.Fatalf("GET /api/user without a token: %d, WWW-Authenticate %q; want 401 with resource_metadata at %s/.well-known/oauth-protected-resource...",
				d.Status, d.WWWAuthenticate, o.base)
		}
		if m := d.ResourceMetadata; m == nil || m.Resource != o.base+"/api" || !slices.Contains(m.AuthorizationServers, o.base) {
			t.Fatalf("protected resource metadata at %s: %+v, want resource %s/api and authorization_servers with %s", d.ResourceMetadataURL, m, o.base, o.base)
		}
		if d.AuthorizationServerURL != o.base || d.AuthorizationServerIssuer != o.base || d.Resource != o.base+"/api" {
			t.Fatalf("the SDK found authorization server %q (issuer %q) and resource %q; want %s, %s and %s/api",
				d.AuthorizationServerURL, d.AuthorizationServerIssuer, d.Resource, o.base, o.base, o.base)
		}
	})

	a.ready(t)
	b.ready(t)

	// Each MCP server is a registered resource (RFC 8707) with its scope.
	gatehouseCLI(t, o.db, "", "resources", "create", "--uri", a.url, "--name", "MCP server A")
	gatehouseCLI(t, o.db, "", "resources", "create", "--uri", b.url, "--name", "MCP server B")
	gatehouseCLI(t, o.db, "", "scopes", "create", "--id", mcpScopeA, "--name", "Use the tools of MCP server A",
		"--description", "{client_name} can call the tools of MCP server A as {user}.", "--resource", a.url)
	gatehouseCLI(t, o.db, "", "scopes", "create", "--id", mcpScopeB, "--name", "Use the tools of MCP server B",
		"--description", "{client_name} can call the tools of MCP server B as {user}.", "--resource", b.url)

	// The protected resource metadata the SDK's server router serves.
	for _, s := range []*mcpServer{a, b} {
		var prm struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			ScopesSupported      []string `json:"scopes_supported"`
		}
		getJSON(t, s.resourceMetadata, &prm)
		if prm.Resource != s.url || !slices.Equal(prm.AuthorizationServers, []string{o.base}) || !slices.Equal(prm.ScopesSupported, []string{s.scope}) {
			t.Fatalf("%s: protected resource metadata %+v, want resource %s, authorization_servers [%s], scopes [%s]", s.name, prm, s.url, o.base, s.scope)
		}
	}

	doc := startMetadataDocument(t, ca)

	t.Run("pre-registered client", func(t *testing.T) {
		if !everything {
			t.Skip("the same as the other runs on this database but for registration: run on the first database only, to keep the test short")
		}
		id, _ := createClient(t, o.db, "--name", "MCP desktop app", "--public", "--redirect-uri", "http://127.0.0.1/callback")
		r := runMCPClient(bctx, t, o, node, clientScript, mcpRun{label: "preregistered", server: a, other: b, clientID: id, clientName: "MCP desktop app"})
		if r.ClientID != id {
			t.Errorf("the SDK used client_id %q, want the pre-registered %s", r.ClientID, id)
		}
	})

	t.Run("client ID metadata document", func(t *testing.T) {
		gatehouseCLI(t, o.db, "", "settings", "set", "client_id_metadata_documents", "any")
		meta := asMetadata(t, o)
		if meta["client_id_metadata_document_supported"] != true {
			t.Fatalf("with client_id_metadata_documents=any the metadata says client_id_metadata_document_supported=%v, want true", meta["client_id_metadata_document_supported"])
		}
		if meta["registration_endpoint"] != nil {
			t.Errorf("with dynamic_registration=off the metadata has registration_endpoint %v", meta["registration_endpoint"])
		}
		before := doc.fetches()
		r := runMCPClient(bctx, t, o, node, clientScript, mcpRun{label: "cimd", server: a, other: b, metadataURL: doc.url, doc: doc,
			clientName: mcpDocClientName, unverified: true})
		if r.ClientID != doc.url {
			t.Errorf("the SDK used client_id %q, want its metadata document's URL %s", r.ClientID, doc.url)
		}
		if doc.fetches() == before {
			t.Errorf("Gatehouse never fetched the client's metadata document at %s", doc.url)
		}
		if slices.ContainsFunc(r.Requests, func(q mcpRequest) bool { return strings.HasSuffix(q.URL, "/register") }) {
			t.Errorf("the SDK registered dynamically although the server supports metadata documents: %v", r.Requests)
		}
	})

	t.Run("dynamic client registration", func(t *testing.T) {
		gatehouseCLI(t, o.db, "", "settings", "set", "client_id_metadata_documents", "off")
		gatehouseCLI(t, o.db, "", "settings", "set", "dynamic_registration", "open")
		// And JWT access tokens (RFC 9068), whose aud is the resource.
		gatehouseCLI(t, o.db, "", "settings", "set", "access_token_format", "jwt")
		meta := asMetadata(t, o)
		if meta["registration_endpoint"] != o.base+"/oauth/register" {
			t.Fatalf("with dynamic_registration=open the metadata has registration_endpoint %v, want %s/oauth/register", meta["registration_endpoint"], o.base)
		}
		if meta["client_id_metadata_document_supported"] == true {
			t.Fatalf("with client_id_metadata_documents=off the metadata still says client_id_metadata_document_supported")
		}
		// The client still knows its metadata document URL; the SDK must
		// fall back to registering since the server does not take it.
		r := runMCPClient(bctx, t, o, node, clientScript, mcpRun{label: "dcr", server: b, other: a, metadataURL: doc.url, doc: doc,
			clientName: mcpDocClientName, unverified: true, jwt: true})
		if r.ClientID == "" || r.ClientID == doc.url {
			t.Errorf("the SDK used client_id %q, want one issued by dynamic registration", r.ClientID)
		}
		i := slices.IndexFunc(r.Requests, func(q mcpRequest) bool { return q.Method == "POST" && q.URL == o.base+"/oauth/register" })
		if i < 0 || r.Requests[i].Status != http.StatusCreated {
			t.Fatalf("no successful POST %s/oauth/register among the SDK's requests: %v", o.base, r.Requests)
		}
		reg := r.Requests[i].JSON
		if reg["token_endpoint_auth_method"] != "none" || !slices.Equal(toStrings(reg["redirect_uris"]), []string{r.callback}) {
			t.Errorf("registration request %v: want token_endpoint_auth_method none and redirect_uris [%s]", reg, r.callback)
		}
		if _, ok := r.Registered["client_secret"]; ok {
			t.Errorf("a client registered with token_endpoint_auth_method none got a secret")
		}
		if r.Registered["client_id_issued_at"] == nil {
			t.Errorf("registration response %v has no client_id_issued_at (RFC 7591 §3.2.1)", r.Registered)
		}
	})
}

// runNode runs a node script that prints its result on stdout and exits
// 0; anything else fails the test.
func runNode(t *testing.T, node, script string, env ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", filepath.Base(script), err, out, stderr.String())
	}
	return out
}

// mcpDocClientName is the client_name of the client's metadata document,
// which the SDK client also sends when it registers dynamically.
const mcpDocClientName = "Gatehouse MCP e2e client"

// mcpServer is a running e2e/mcp/server.mjs.
type mcpServer struct {
	name, url, resourceMetadata, scope string
	log                                *lockedBuffer
	// firstLine receives what it printed first; exited is closed when it
	// has exited.
	firstLine chan string
	exited    chan struct{}
}

// launchMCPServer starts an MCP server that introspects tokens at issuer
// with the client id and secret and requires scope, without waiting for
// it (see ready), so that both servers start at once; it is stopped when
// the test ends (its log is shown when the test failed).
func launchMCPServer(t *testing.T, node, script, issuer, id, secret, scope, name string) *mcpServer {
	t.Helper()
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "MCP_ISSUER="+issuer, "MCP_CLIENT_ID="+id, "MCP_CLIENT_SECRET="+secret,
		"MCP_SCOPE="+scope, "MCP_NAME="+name)
	s := &mcpServer{name: name, scope: scope, log: &lockedBuffer{}, firstLine: make(chan string, 1), exited: make(chan struct{})}
	cmd.Stderr = s.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		s.firstLine <- l
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.exited
		if l := s.log.String(); t.Failed() && l != "" {
			t.Logf("%s log:\n%s", name, l)
		}
	})
	return s
}

// ready waits until the server prints its URL.
func (s *mcpServer) ready(t *testing.T) {
	t.Helper()
	var first struct {
		URL              string `json:"url"`
		ResourceMetadata string `json:"resource_metadata"`
	}
	select {
	case l := <-s.firstLine:
		if err := json.Unmarshal([]byte(l), &first); err != nil || first.URL == "" {
			<-s.exited
			t.Fatalf("%s printed %q, want {\"url\": ...}\n%s", s.name, l, s.log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start within 20 s\n%s", s.name, s.log.String())
	}
	s.url, s.resourceMetadata = first.URL, first.ResourceMetadata
}

// mcpRun is one run of e2e/mcp/client.mjs.
type mcpRun struct {
	// label names the run in screenshots (consent-mcp-LABEL.png).
	label string
	// server is where the client connects; other is the second MCP server
	// (another resource), where its token must be refused.
	server, other *mcpServer
	// clientID, when set, is a pre-registered client; metadataURL, when
	// set, is the URL of the client's metadata document (doc serves it).
	clientID, metadataURL string
	doc                   *metadataDocument
	// clientName is the application's name the consent screen shows;
	// unverified says whether it must carry the "unverified app" mark.
	clientName string
	unverified bool
	// jwt: access_token_format is jwt, so the access tokens are RFC 9068
	// JWTs whose aud the test reads too.
	jwt bool
}

// mcpRequest is an HTTP request the SDK made, as client.mjs records it.
type mcpRequest struct {
	Method string            `json:"method"`
	URL    string            `json:"url"`
	Status int               `json:"status"`
	Params map[string]string `json:"params,omitempty"`
	JSON   map[string]any    `json:"json,omitempty"`
}

func (q mcpRequest) String() string {
	s := fmt.Sprintf("%s %s → %d", q.Method, q.URL, q.Status)
	if len(q.Params) > 0 {
		s += fmt.Sprintf(" %v", q.Params)
	}
	return s
}

// mcpWhoami is the answer of the MCP servers' whoami tool.
type mcpWhoami struct {
	Server   string   `json:"server"`
	Resource string   `json:"resource"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
	Sub      string   `json:"sub"`
	Username string   `json:"username"`
	Aud      []string `json:"aud"`
}

// mcpResult is what client.mjs prints at the end.
type mcpResult struct {
	AuthorizationRequest  map[string]string `json:"authorization_request"`
	AuthorizationEndpoint string            `json:"authorization_endpoint"`
	CallbackIss           string            `json:"callback_iss"`
	ClientID              string            `json:"client_id"`
	Registered            map[string]any    `json:"registered"`
	TokenType             string            `json:"token_type"`
	Scope                 *string           `json:"scope"`
	HasRefreshToken       bool              `json:"has_refresh_token"`
	AccessTokenClaims     map[string]any    `json:"access_token_claims"`
	Tools                 []string          `json:"tools"`
	Whoami                mcpWhoami         `json:"whoami"`
	Refreshed             *struct {
		NewAccessToken    bool           `json:"new_access_token"`
		AccessTokenClaims map[string]any `json:"access_token_claims"`
		Whoami            mcpWhoami      `json:"whoami"`
	} `json:"refreshed"`
	Other *struct {
		Refused      bool       `json:"refused"`
		Status       *int       `json:"status"`
		Error        string     `json:"error"`
		RefreshError *string    `json:"refresh_error"`
		Whoami       *mcpWhoami `json:"whoami"`
	} `json:"other"`
	Requests []mcpRequest `json:"requests"`
	// callback is the client's redirect URI (its first line).
	callback string
}

// runMCPClient runs client.mjs for run, plays the user in Chromium when
// the SDK sends them to Gatehouse, checks what the SDK did and returns
// the script's result.
func runMCPClient(bctx context.Context, t *testing.T, o *oauthServer, node, script string, run mcpRun) *mcpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "MCP_SERVER_URL="+run.server.url, "MCP_OTHER_SERVER_URL="+run.other.url,
		"MCP_CLIENT_NAME="+mcpDocClientName)
	if run.clientID != "" {
		cmd.Env = append(cmd.Env, "MCP_CLIENT_ID="+run.clientID)
	}
	if run.metadataURL != "" {
		cmd.Env = append(cmd.Env, "MCP_CLIENT_METADATA_URL="+run.metadataURL)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	stdout := bufio.NewReader(stdoutPipe)
	fail := func(format string, args ...any) {
		t.Helper()
		_ = cmd.Process.Kill()
		rest, _ := io.ReadAll(stdout)
		_ = cmd.Wait()
		waited = true
		t.Fatalf(format+"\nclient.mjs stdout: %s\nstderr: %s", append(args, rest, stderr.String())...)
	}
	var step struct {
		Callback         string `json:"callback"`
		AuthorizationURL string `json:"authorization_url"`
	}
	read := func(what string) {
		t.Helper()
		line, err := stdout.ReadString('\n')
		if err != nil || json.Unmarshal([]byte(line), &step) != nil {
			fail("client.mjs printed %q (%v), want %s", line, err, what)
		}
	}

	began := time.Now()
	read(`{"callback": ...}`)
	callback := step.Callback
	if run.doc != nil {
		run.doc.setRedirectURI(callback)
	}
	read(`{"authorization_url": ...} (the SDK's authorization request, after discovery and registration)`)
	authURL := mustParseURL(t, step.AuthorizationURL)
	if authURL.Scheme+"://"+authURL.Host+authURL.Path != o.base+"/oauth/authorize" {
		fail("the SDK sends the user to %s, want Gatehouse's authorization endpoint %s/oauth/authorize", authURL, o.base)
	}
	toAuthorize := time.Since(began)
	mcpConsent(bctx, t, o, step.AuthorizationURL, callback, run)
	inBrowser := time.Since(began) - toAuthorize

	out, _ := io.ReadAll(stdout)
	err = cmd.Wait()
	waited = true
	if err != nil {
		t.Fatalf("client.mjs failed after the browser came back: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var r mcpResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("client.mjs printed %q: %v", out, err)
	}
	r.callback = callback
	t.Logf("client.mjs took %v: %v to the authorization request, %v in the browser, %v for the tokens, tool calls and refresh",
		time.Since(began).Round(time.Millisecond), toAuthorize.Round(time.Millisecond), inBrowser.Round(time.Millisecond),
		(time.Since(began) - toAuthorize - inBrowser).Round(time.Millisecond))
	t.Logf("MCP SDK requests:\n  %s", strings.Join(stringsOf(r.Requests), "\n  "))
	checkMCPResult(t, o, run, &r)
	return &r
}

// mcpConsent opens the authorization URL in a fresh browser context,
// signs in as alice, checks the consent screen and approves; the browser
// must land on the client's loopback callback.
func mcpConsent(bctx context.Context, t *testing.T, o *oauthServer, authURL, callback string, run mcpRun) {
	t.Helper()
	tb := newTab(t, bctx)
	tb.do("open the SDK's authorization URL", chromedp.Navigate(authURL), chromedp.WaitReady(chromedp.CSS("body")))
	if loc := mustParseURL(t, tb.location()); loc.Path != "/login" {
		t.Fatalf("the authorization request ended at %s, want the sign-in page\n%s", loc, tb.text("body"))
	}
	tb.do("fill in the sign-in form", typeInto("Username", oauthUser), typeInto("Password", oauthPassword))
	tb.submit("sign in", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)), "/consent")
	allow := chromedp.CSS(`form[action="/consent"] button[name="decision"][value="allow"]`)
	tb.do("consent screen", chromedp.WaitVisible(allow))
	page := tb.text("main")
	if !strings.Contains(page, run.clientName) {
		t.Errorf("the consent screen does not name the application %q:\n%s", run.clientName, page)
	}
	if got := strings.Contains(strings.ToLower(page), "unverified"); got != run.unverified {
		t.Errorf("the consent screen shows an unverified-app mark: %v, want %v:\n%s", got, run.unverified, page)
	}
	if !strings.Contains(page, run.server.scope) {
		t.Errorf("the consent screen does not list the scope %s:\n%s", run.server.scope, page)
	}
	if png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot()); err == nil {
		t.Logf("consent screen: %s", screenshot(t, "consent-mcp-"+run.label+".png", png))
	}
	res := tb.follow("click Allow", chromedp.Click(allow))
	if !strings.HasPrefix(res.URL, callback+"?") || res.Status != http.StatusOK {
		t.Fatalf("after Allow the browser is at %d %s, want the client's callback %s", res.Status, res.URL, callback)
	}
	tb.do("the client's callback page", chromedp.WaitVisible(chromedp.ID("callback")))
	tb.checkConsole()
}

// checkMCPResult checks what the SDK sent and got in one run.
func checkMCPResult(t *testing.T, o *oauthServer, run mcpRun, r *mcpResult) {
	t.Helper()
	resource, other := run.server.url, run.other.url

	// The authorization request the SDK built: PKCE S256, state, the
	// scope from the 401's WWW-Authenticate, the resource from the
	// protected resource metadata.
	q := r.AuthorizationRequest
	if q["response_type"] != "code" || q["client_id"] != r.ClientID || q["redirect_uri"] != r.callback || q["state"] == "" ||
		q["code_challenge_method"] != "S256" || len(q["code_challenge"]) != 43 {
		t.Errorf("authorization request %v: want response_type code, client_id %s, redirect_uri %s, state, an S256 code_challenge", q, r.ClientID, r.callback)
	}
	if q["resource"] != resource {
		t.Errorf("authorization request resource %q, want %s", q["resource"], resource)
	}
	if q["scope"] != run.server.scope {
		t.Errorf("authorization request scope %q, want %s (from the 401's WWW-Authenticate)", q["scope"], run.server.scope)
	}
	if r.CallbackIss != o.base {
		t.Errorf("iss in the authorization response %q, want %s (RFC 9207)", r.CallbackIss, o.base)
	}

	// Discovery and token requests, in order: the 401, the protected
	// resource metadata it named, Gatehouse's metadata, (registration,)
	// the code exchange and the refresh, both with resource.
	order := []struct {
		what   string
		status int
		match  func(mcpRequest) bool
	}{
		{"the MCP request answered 401", http.StatusUnauthorized, func(q mcpRequest) bool { return q.Method == "POST" && q.URL == resource }},
		{"the protected resource metadata", http.StatusOK, func(q mcpRequest) bool { return q.Method == "GET" && q.URL == run.server.resourceMetadata }},
		{"Gatehouse's authorization server metadata", http.StatusOK, func(q mcpRequest) bool {
			return q.Method == "GET" && q.URL == o.base+"/.well-known/oauth-authorization-server"
		}},
		{"the code exchange with resource and code_verifier", http.StatusOK, func(q mcpRequest) bool {
			return q.URL == o.base+"/oauth/token" && q.Params["grant_type"] == "authorization_code"
		}},
		{"the MCP request with the token", http.StatusOK, func(q mcpRequest) bool {
			return q.Method == "POST" && q.URL == resource && q.Status == http.StatusOK
		}},
		{"the refresh with resource", http.StatusOK, func(q mcpRequest) bool {
			return q.URL == o.base+"/oauth/token" && q.Params["grant_type"] == "refresh_token" && q.Params["resource"] == resource
		}},
	}
	at := 0
	for _, step := range order {
		i := slices.IndexFunc(r.Requests[at:], step.match)
		if i < 0 {
			t.Errorf("the SDK's requests lack %s after request %d:\n  %s", step.what, at, strings.Join(stringsOf(r.Requests), "\n  "))
			break
		}
		q := r.Requests[at+i]
		if q.Status != step.status {
			t.Errorf("%s: %s, want status %d", step.what, q, step.status)
		}
		if q.URL == o.base+"/oauth/token" {
			if q.Params["resource"] != resource || q.Params["client_id"] != r.ClientID {
				t.Errorf("%s: %s, want resource %s and client_id %s", step.what, q, resource, r.ClientID)
			}
			if q.Params["grant_type"] == "authorization_code" && (q.Params["code_verifier"] == "" || q.Params["redirect_uri"] != r.callback) {
				t.Errorf("%s: %s, want a code_verifier and redirect_uri %s", step.what, q, r.callback)
			}
		}
		at += i + 1
	}

	// The token response and the tool's view of the token.
	if !strings.EqualFold(r.TokenType, "bearer") || !r.HasRefreshToken {
		t.Errorf("token_type %q, refresh token %v; want Bearer and a refresh token", r.TokenType, r.HasRefreshToken)
	}
	if r.Scope != nil && !slices.Contains(strings.Fields(*r.Scope), run.server.scope) {
		t.Errorf("token response scope %q, want %s in it", *r.Scope, run.server.scope)
	}
	if !slices.Equal(r.Tools, []string{"whoami"}) {
		t.Errorf("tools/list %v, want [whoami]", r.Tools)
	}
	checkWhoami(t, "the tool call", r.Whoami, run, r.ClientID)
	checkJWTAudience(t, o, "the access token", r.AccessTokenClaims, run, r.ClientID)
	if r.Refreshed == nil {
		t.Errorf("no refresh: the token response had no refresh token")
	} else {
		if !r.Refreshed.NewAccessToken {
			t.Errorf("the refresh gave the same access token")
		}
		checkWhoami(t, "the tool call after the refresh", r.Refreshed.Whoami, run, r.ClientID)
		checkJWTAudience(t, o, "the refreshed access token", r.Refreshed.AccessTokenClaims, run, r.ClientID)
	}

	// Another resource: the token is refused there (401 from its
	// audience check), and a refresh for it is invalid_target.
	switch {
	case r.Other == nil:
		t.Errorf("no check against the other MCP server %s", other)
	case !r.Other.Refused:
		t.Errorf("MCP server %s accepted a token issued for %s: whoami %+v", other, resource, r.Other.Whoami)
	case r.Other.Status == nil || *r.Other.Status != http.StatusUnauthorized:
		t.Errorf("MCP server %s refused the token for %s with %q, want 401 (audience)", other, resource, r.Other.Error)
	}
	if r.Other != nil && (r.Other.RefreshError == nil || *r.Other.RefreshError != "invalid_target") {
		got := "success"
		if r.Other.RefreshError != nil {
			got = *r.Other.RefreshError
		}
		t.Errorf("refreshing the token of %s for the other resource %s: %s, want invalid_target", resource, other, got)
	}
}

func checkWhoami(t *testing.T, what string, w mcpWhoami, run mcpRun, clientID string) {
	t.Helper()
	if w.Server != run.server.name || w.Username != oauthUser || w.Sub == "" || w.ClientID != clientID {
		t.Errorf("%s: whoami %+v, want server %q, username %s, a sub, client_id %s", what, w, run.server.name, oauthUser, clientID)
	}
	if !slices.Contains(w.Aud, run.server.url) || slices.Contains(w.Aud, run.other.url) {
		t.Errorf("%s: introspection aud %v, want %s and not %s", what, w.Aud, run.server.url, run.other.url)
	}
	if !slices.Contains(w.Scopes, run.server.scope) || slices.Contains(w.Scopes, run.other.scope) || slices.Contains(w.Scopes, "user.read") {
		t.Errorf("%s: token scopes %v, want %s and no scope of another resource (%s, user.read)", what, w.Scopes, run.server.scope, run.other.scope)
	}
}

// checkJWTAudience checks the claims of a JWT access token (RFC 9068) when
// the run has JWT access tokens, and that the token is opaque otherwise.
func checkJWTAudience(t *testing.T, o *oauthServer, what string, claims map[string]any, run mcpRun, clientID string) {
	t.Helper()
	switch {
	case !run.jwt && claims != nil:
		t.Errorf("%s is a JWT %v, want an opaque token (access_token_format opaque)", what, claims)
	case !run.jwt:
	case claims == nil:
		t.Errorf("%s is not a JWT although access_token_format is jwt", what)
	case !audienceHas(claims["aud"], run.server.url) || audienceHas(claims["aud"], run.other.url) || claims["iss"] != o.base || claims["client_id"] != clientID:
		t.Errorf("%s: JWT claims %v, want aud %s (and not %s), iss %s, client_id %s", what, claims, run.server.url, run.other.url, o.base, clientID)
	}
}

func stringsOf[T fmt.Stringer](v []T) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = x.String()
	}
	return out
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// getJSON fetches u and decodes its JSON body into v; anything but 200 and
// JSON fails the test.
func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, snippet(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", u, err, snippet(string(body)))
	}
}

// asMetadata is Gatehouse's RFC 8414 metadata.
func asMetadata(t *testing.T, o *oauthServer) map[string]any {
	t.Helper()
	var m map[string]any
	getJSON(t, o.base+"/.well-known/oauth-authorization-server", &m)
	if !slices.Contains(toStrings(m["token_endpoint_auth_methods_supported"]), "none") {
		t.Errorf("token_endpoint_auth_methods_supported %v lacks none", m["token_endpoint_auth_methods_supported"])
	}
	return m
}

// testCA is a certificate authority made for one test, with a server
// certificate for 127.0.0.1 and localhost; file is its certificate in PEM,
// for SSL_CERT_FILE.
type testCA struct {
	file   string
	server tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Gatehouse e2e test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{file: file, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// metadataDocument serves the MCP client's Client ID Metadata Document
// over https on loopback; url is its client_id.
type metadataDocument struct {
	url string
	mu  sync.Mutex
	// redirectURI is the client's loopback callback, known once the
	// client runs.
	redirectURI string
	hits        int
}

func startMetadataDocument(t *testing.T, ca *testCA) *metadataDocument {
	t.Helper()
	d := &metadataDocument{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/clients/mcp-e2e.json" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		d.mu.Lock()
		d.hits++
		redirect := d.redirectURI
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id":                  d.url,
			"client_name":                mcpDocClientName,
			"redirect_uris":              []string{redirect},
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"response_types":             []string{"code"},
			"token_endpoint_auth_method": "none",
		})
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	d.url = srv.URL + "/clients/mcp-e2e.json"
	return d
}

func (d *metadataDocument) setRedirectURI(u string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.redirectURI = u
}

func (d *metadataDocument) fetches() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hits
}

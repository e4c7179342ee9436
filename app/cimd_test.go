package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// Every httptest TLS server presents the same test certificate: trusting
// it once lets the wire tests serve Client ID Metadata Documents from
// loopback (with GATEHOUSE_ALLOW_PRIVATE_FETCH=1).
func init() {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	outboundRootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	srv.Close()
}

// cimdServer serves documents at /good.json, /mismatch.json, /big.json.
func cimdServer(t *testing.T) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := srv.URL + r.URL.Path
		d := map[string]any{"client_id": id, "client_name": "Agent <Smith>", "redirect_uris": []string{"http://127.0.0.1:7777/cb"},
			"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}, "unknown": true}
		switch r.URL.Path {
		case "/good.json":
		case "/mismatch.json":
			d["client_id"] = srv.URL + "/other.json"
		case "/big.json":
			d["padding"] = strings.Repeat("x", 6000)
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func cimdFixture(t *testing.T, mode string) (*oauthFixture, *httptest.Server) {
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_ALLOW_PRIVATE_FETCH": "1"})
	f := newOAuthFixture(t, h)
	f.set("client_id_metadata_documents", mode)
	f.signIn()
	return f, cimdServer(t)
}

func (f *oauthFixture) cimdParams(clientID, redirect string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"s1"},
		"scope": {"openid"}, "code_challenge": {f.challenge}, "code_challenge_method": {"S256"}}
}

// wantErrorPage checks that r is the authorization error page (no
// redirect to the client) saying want.
func wantErrorPage(t *testing.T, r *response, want string) {
	t.Helper()
	if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.body, want) {
		t.Fatalf("got %d (Location %q), want the error page with %q: %.600s", r.StatusCode, r.Header.Get("Location"), want, r.body)
	}
}

// Rule 45: with the setting on, an https client_id whose document names
// the same client_id and the redirect URI completes the code flow (public
// client, PKCE); a document whose client_id differs, that is too large, or
// whose redirect URI does not match is refused without a redirect.
func TestRule45_ClientIDMetadataDocuments(t *testing.T) {
	t.Parallel()
	f, srv := cimdFixture(t, "any")
	good := srv.URL + "/good.json"
	redirect := "http://127.0.0.1:7777/cb"

	r := f.authorize(f.cimdParams(good, redirect))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d %.500s", r.StatusCode, r.body)
	}
	for _, want := range []string{"Agent &lt;Smith&gt;", "Unverified app", "127.0.0.1:7777"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	q := redirectParams(t, f.decide(r, "allow"), false)
	if q.Get("code") == "" || q.Get("state") != "s1" {
		t.Fatalf("no code: %v", q)
	}
	tr, m := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect},
		"client_id": {good}, "code_verifier": {f.verifier}}, false)
	if tr.StatusCode != 200 || m["access_token"] == nil || m["refresh_token"] == nil {
		t.Fatalf("token: %d %v", tr.StatusCode, m)
	}
	// Without the verifier: PKCE as for any public client.
	code := f.code(f.cimdParams(good, redirect))
	tr, m = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {good}}, false)
	wantOAuthError(t, tr, m, 400, "invalid_grant")
	// A secret is refused: the client is public.
	tr, m = f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {good}, "client_secret": {"s"}}, false)
	wantOAuthError(t, tr, m, 401, "invalid_client")

	row, err := f.store.GetClient(t.Context(), good)
	if err != nil || row.Registration != models.ClientMetadataDocument || !row.Public || row.MetadataExpiresAt == nil {
		t.Fatalf("stored client: %+v %v", row, err)
	}

	wantErrorPage(t, f.authorize(f.cimdParams(srv.URL+"/mismatch.json", redirect)), "differs from the URL")
	wantErrorPage(t, f.authorize(f.cimdParams(srv.URL+"/big.json", redirect)), "larger than 5120 bytes")
	// At the token endpoint a refused document is invalid_client, saying why.
	tr, m = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {redirect},
		"client_id": {srv.URL + "/mismatch.json"}, "code_verifier": {f.verifier}}, false)
	wantOAuthError(t, tr, m, 401, "invalid_client")
	if d, _ := m["error_description"].(string); !strings.Contains(d, "differs from the URL") {
		t.Errorf("token endpoint refusal: %q", d)
	}
	wantErrorPage(t, f.authorize(f.cimdParams(good, "http://127.0.0.1:7777/other")), "redirect_uri is not registered")
	wantErrorPage(t, f.authorize(f.cimdParams(srv.URL+"/missing.json", redirect)), "HTTP 404")
	wantErrorPage(t, f.authorize(f.cimdParams(strings.Replace(good, "https:", "http:", 1), redirect)), "must use https")
	for _, id := range []string{srv.URL + "/mismatch.json", srv.URL + "/big.json"} {
		if _, err := f.store.GetClient(t.Context(), id); err == nil {
			t.Errorf("refused document %s was stored", id)
		}
	}

	// The allowlist: the test server's host is not on it.
	f.set("client_id_metadata_documents", "allowlist")
	f.set("client_id_metadata_hosts", "claude.ai, *.example.com")
	wantErrorPage(t, f.authorize(f.cimdParams(good, redirect)), "not in client_id_metadata_hosts")

	// Off: an unknown client, even the one stored before.
	f.set("client_id_metadata_documents", "off")
	wantErrorPage(t, f.authorize(f.cimdParams(good, redirect)), "no application is registered")
}

// Metadata advertises client_id_metadata_document_supported while the
// setting is any, or allowlist without dynamic registration.
func TestClientIDMetadataDocumentSupportedMetadata(t *testing.T) {
	t.Parallel()
	f, _ := cimdFixture(t, "off")
	supported := func() (bool, bool) {
		r := f.get("/.well-known/oauth-authorization-server")
		b, _ := io.ReadAll(strings.NewReader(r.body))
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		v, ok := m["client_id_metadata_document_supported"]
		return v == true, ok
	}
	if _, ok := supported(); ok {
		t.Error("advertised while off")
	}
	for _, mode := range []string{"allowlist", "any"} {
		f.set("client_id_metadata_documents", mode)
		if v, _ := supported(); !v {
			t.Errorf("%s: not advertised", mode)
		}
	}
	// With an allowlist and dynamic registration on, clients off the list
	// are sent to registration instead of a dead end; any stays advertised.
	f.set("dynamic_registration", "open")
	f.set("client_id_metadata_documents", "allowlist")
	if v, _ := supported(); v {
		t.Error("allowlist with dynamic registration: advertised")
	}
	f.set("client_id_metadata_documents", "any")
	if v, _ := supported(); !v {
		t.Error("any with dynamic registration: not advertised")
	}
}

// Metadata document clients are listed in the dashboard with their URL and
// a "Metadata document" badge; an admin can open and delete one (its
// client ID is a URL, escaped into one path segment), and its next
// request fetches the document again.
func TestClientsListMetadataDocument(t *testing.T) {
	t.Parallel()
	f, srv := cimdFixture(t, "any")
	good := srv.URL + "/good.json"
	redirect := "http://127.0.0.1:7777/cb"
	if r := f.authorize(f.cimdParams(good, redirect)); r.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d", r.StatusCode)
	}
	adm := f.browser(t)
	admSignIn(t, adm, "root", models.RoleAdmin)
	list := adm.get("/dashboard/clients")
	path := "/dashboard/clients/" + url.PathEscape(good)
	admContains(t, "list", list.body, "Agent <Smith>", good, "Metadata document", `href="`+path+`"`)
	admContains(t, "detail", adm.get(path).body, "Metadata document", "metadata document at its client ID URL")
	admContains(t, "delete page", adm.get(path+"/delete").body, "fetches it again")
	if r := adm.post(path+"/delete", path+"/delete", url.Values{}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d %.300s", r.StatusCode, r.body)
	}
	if _, err := f.store.GetClient(t.Context(), good); err == nil {
		t.Fatal("not deleted")
	}
	if r := f.authorize(f.cimdParams(good, redirect)); r.StatusCode != http.StatusOK {
		t.Fatalf("after deletion: %d", r.StatusCode)
	}
	if _, err := f.store.GetClient(t.Context(), good); err != nil {
		t.Fatalf("not fetched again: %v", err)
	}
}

package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// testKeySecret is a GATEHOUSE_KEY_SECRET for the client authentication
// tests.
const testKeySecret = "a key secret of at least thirty-two bytes, for tests"

// keySecretHarness is a SQLite harness with a key secret configured.
func keySecretHarness(t *testing.T) *harness {
	return newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_KEY_SECRET": testKeySecret})
}

// publicJWKS is a JWK Set with one new EC P-256 public key.
func publicJWKS(t *testing.T, kid string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// radioChecked is how a checked radio or checkbox of the client form
// renders.
func radioChecked(value string) string { return `value="` + value + `" checked` }

// openSecret opens c's sealed client_secret_jwt secret as the model does.
func openSecret(c *models.Client) (string, error) {
	plain, err := secret.NewClientSecretSealer(testKeySecret).Open(c.ClientID, c.SecretSealed)
	return string(plain), err
}

func (h *harness) client(id string) *models.Client {
	h.t.Helper()
	c, err := h.store.GetClient(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// The form offers the methods, the security fields and the delegation
// field; new clients default to client_secret_basic and RS256; without a
// key secret client_secret_jwt is offered disabled, saying why.
func TestClientFormAuthFieldsShown(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	page := h.get("/dashboard/clients/new")
	for _, want := range []string{
		`<h3 class="text-sm font-semibold text-slate-900">Authentication</h3>`,
		radioChecked("client_secret_basic"), `value="client_secret_post"`, `value="private_key_jwt"`,
		`id="auth-client_secret_jwt" name="token_endpoint_auth_method" type="radio" value="client_secret_jwt" disabled`,
		"Not available: the server has no key secret (GATEHOUSE_KEY_SECRET)",
		"The trade-off: to check these signatures Gatehouse must keep the secret itself",
		`name="jwks"`, `name="jwks_uri"`, "data-auth-keys", "data-auth-methods",
		radioChecked("RS256"), `value="ES256"`, `name="dpop_bound_access_tokens"`, `name="require_pushed_authorization_requests"`,
		`name="may_act"`,
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("new client form lacks %q", want)
		}
	}
	if strings.Contains(page.body, "registered before the method could be chosen") {
		t.Error("a new client is called legacy")
	}

	h2 := keySecretHarness(t)
	signInAs(t, h2, "dev", models.RoleDeveloper)
	if page := h2.get("/dashboard/clients/new"); strings.Contains(page.body, `value="client_secret_jwt" disabled`) || strings.Contains(page.body, "Not available") {
		t.Error("client_secret_jwt is disabled although a key secret is set")
	}
}

// Creating a client with each method: the secret is shown once (and for
// client_secret_jwt kept sealed), private_key_jwt has none; the page
// shows the method.
func TestCreateClientAuthMethods(t *testing.T) {
	t.Parallel()
	h := keySecretHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	set := func(k string, vs ...string) func(url.Values) { return func(v url.Values) { v[k] = vs } }

	// client_secret_post, with the security fields.
	cc := set("grant_types", "authorization_code", "client_credentials")
	id, plain := h.createClient(clientForm(cc, set("token_endpoint_auth_method", "client_secret_post"), set("id_token_signed_response_alg", "ES256"),
		set("dpop_bound_access_tokens", "on"), set("require_pushed_authorization_requests", "on")))
	c := h.client(id)
	if c.TokenEndpointAuthMethod != "client_secret_post" || plain == "" || c.SecretSealed != nil || c.IDTokenSignedResponseAlg != "ES256" ||
		!c.DPoPBoundAccessTokens || !c.RequirePushedAuthorizationRequests {
		t.Fatalf("client_secret_post: %+v", c)
	}
	page := h.get("/dashboard/clients/" + id)
	for _, want := range []string{radioChecked("client_secret_post"), radioChecked("ES256"), "Client secret in the request body",
		checkboxHTML("dpop_bound_access_tokens", true), checkboxHTML("require_pushed_authorization_requests", true),
		"-d client_id=" + id + " -d client_secret=YOUR_SECRET"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("client page lacks %q", want)
		}
	}

	// client_secret_jwt: the secret shown is the one sealed.
	id, plain = h.createClient(clientForm(set("token_endpoint_auth_method", "client_secret_jwt"), set("may_act", id)))
	c = h.client(id)
	if c.TokenEndpointAuthMethod != "client_secret_jwt" || plain == "" || !slices.Equal(c.MayAct, []string{h.firstClientID(t)}) {
		t.Fatalf("client_secret_jwt: %+v", c)
	}
	if got, err := openSecret(c); err != nil || got != plain {
		t.Fatalf("sealed secret %q (%v), shown %q", got, err, plain)
	}
	if !bytes.Equal(c.SecretHash, secret.Digest(plain)) {
		t.Error("the secret's digest is not stored")
	}

	// private_key_jwt: no secret, the keys stored and summed up.
	keys := publicJWKS(t, "k-2026")
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(cc, set("token_endpoint_auth_method", "private_key_jwt"), set("jwks", keys)))
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("private_key_jwt: %d %s", r.StatusCode, errorsIn(r.body))
	}
	id = clientPathRE.FindStringSubmatch(r.Header.Get("Location"))[1]
	page = h.get(r.Header.Get("Location"))
	c = h.client(id)
	if c.TokenEndpointAuthMethod != "private_key_jwt" || c.SecretHash != nil || c.JWKS != keys || secretRE.MatchString(page.body) {
		t.Fatalf("private_key_jwt: %+v", c)
	}
	for _, want := range []string{"It authenticates with private_key_jwt: it has no secret", "JWT signed with a private key",
		"1 key (kid k-2026)", "signs JWT assertions with its private key", "client_assertion=SIGNED_JWT"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("private_key_jwt client page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "Rotate secret") {
		t.Error("a private_key_jwt client is offered secret rotation")
	}
	if r := h.post("/dashboard/clients/"+id, "/dashboard/clients/"+id+"/rotate-secret", url.Values{}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotate: %d", r.StatusCode)
	} else if page := h.get("/dashboard/clients/" + id); !strings.Contains(page.body, "uses private_key_jwt: it has no secret to rotate") {
		t.Error("rotating a private_key_jwt client is not refused with a message")
	}
	if h.client(id).SecretHash != nil {
		t.Error("rotation gave a private_key_jwt client a secret")
	}

	// A public client: none, whatever method radio came along; keys are
	// not saved.
	id, plain = h.createClient(clientForm(set("client_type", "public"), set("token_endpoint_auth_method", "private_key_jwt"), set("jwks", keys)))
	if c := h.client(id); !c.Public || c.TokenEndpointAuthMethod != "none" || c.JWKS != "" || plain != "" {
		t.Fatalf("public: %+v", c)
	}
	// Its page pre-selects client_secret_basic for if it is made
	// confidential, and promises no secret replacement (it has none).
	if page := h.get("/dashboard/clients/" + id); !strings.Contains(page.body, radioChecked("client_secret_basic")) ||
		strings.Contains(page.body, "Choosing it gives the client a new secret") || !strings.Contains(page.body, "None (public client)") {
		t.Error("a public client's page does not pre-select client_secret_basic, or shows the wrong notes")
	}
	// Keys typed for another method are not saved.
	id, _ = h.createClient(clientForm(set("token_endpoint_auth_method", "client_secret_basic"), set("jwks", keys), set("jwks_uri", "https://x.example/jwks")))
	if c := h.client(id); c.JWKS != "" || c.JWKSURI != "" {
		t.Fatalf("keys saved with client_secret_basic: %+v", c)
	}
}

// firstClientID is the client ID of the oldest client.
func (h *harness) firstClientID(t *testing.T) string {
	t.Helper()
	var c models.Client
	if err := h.store.DB().Order("id").First(&c).Error; err != nil {
		t.Fatal(err)
	}
	return c.ClientID
}

// Every bad authentication or security input is refused with an error on
// its field, and the form keeps what was typed.
func TestClientFormAuthErrorsKeepInput(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	set := func(k string, vs ...string) func(url.Values) { return func(v url.Values) { v[k] = vs } }
	privateJWK := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "oops"}}})
		return string(b)
	}()
	pk := set("token_endpoint_auth_method", "private_key_jwt")
	cases := []struct {
		name    string
		form    url.Values
		field   string
		message string
		kept    []string
	}{
		{"client_secret_jwt without a key secret", clientForm(set("token_endpoint_auth_method", "client_secret_jwt")),
			"token_endpoint_auth_method", "needs the server&#39;s key secret (GATEHOUSE_KEY_SECRET)", nil},
		{"unknown method", clientForm(set("token_endpoint_auth_method", "tls_client_auth")),
			"token_endpoint_auth_method", "&#34;tls_client_auth&#34; is not a client authentication method", nil},
		{"none for a confidential client", clientForm(set("token_endpoint_auth_method", "none")),
			"token_endpoint_auth_method", "none is the method of public clients", nil},
		{"private_key_jwt without keys", clientForm(pk), "jwks", "needs the client&#39;s public keys", []string{radioChecked("private_key_jwt")}},
		{"broken JWK Set", clientForm(pk, set("jwks", `{"keys": [`)), "jwks", "not valid JSON", []string{`{&#34;keys&#34;: [</textarea>`, radioChecked("private_key_jwt")}},
		{"private key pasted", clientForm(pk, set("jwks", privateJWK)), "jwks", "is a private key", []string{radioChecked("private_key_jwt")}},
		{"keys and URL", clientForm(pk, set("jwks", publicJWKS(t, "a")), set("jwks_uri", "https://app.example/jwks")), "jwks", "not both",
			[]string{`value="https://app.example/jwks"`}},
		{"http JWKS URL", clientForm(pk, set("jwks_uri", "http://app.example/jwks")), "jwks_uri", "must use https", []string{`value="http://app.example/jwks"`}},
		{"HS256 ID tokens", clientForm(set("id_token_signed_response_alg", "HS256")), "id_token_signed_response_alg", "choose RS256 or ES256", nil},
		{"unknown actor", clientForm(set("may_act", "ghost-client\nother")), "may_act", "&#34;ghost-client&#34; and &#34;other&#34; are not clients on this server",
			[]string{"ghost-client\nother</textarea>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.countClients()
			tc.form.Set("name", "Kept "+tc.name)
			tc.form.Set("dpop_bound_access_tokens", "on")
			r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", tc.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", r.StatusCode)
			}
			if !strings.Contains(r.body, `id="`+tc.field+`-error"`) || !strings.Contains(r.body, tc.message) {
				t.Errorf("no error %q next to %s; errors on: %s", tc.message, tc.field, errorsIn(r.body))
			}
			for _, want := range append(tc.kept, `value="Kept `+html.EscapeString(tc.name)+`"`, checkboxHTML("dpop_bound_access_tokens", true)) {
				if !strings.Contains(r.body, want) {
					t.Errorf("the form does not keep %q", want)
				}
			}
			if h.countClients() != before {
				t.Error("a client was created")
			}
		})
	}
}

// Editing: a client saved before the method existed shows
// client_secret_basic with a note; switching to client_secret_jwt gives
// it a new, sealed secret shown once; to private_key_jwt deletes it; back
// to a secret method issues one. Each change is in the audit log.
func TestUpdateClientAuthMethod(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			testUpdateClientAuthMethod(t, newHarness(t, b.URL(t), map[string]string{"GATEHOUSE_KEY_SECRET": testKeySecret}))
		})
	}
}

func testUpdateClientAuthMethod(t *testing.T, h *harness) {
	signInAs(t, h, "admin", models.RoleAdmin)
	ctx := context.Background()
	id, old := h.createClient(clientForm())
	// As a client saved before migration 11.
	if err := h.store.UpdateClient(ctx, id, func(c *models.Client) error {
		c.TokenEndpointAuthMethod, c.IDTokenSignedResponseAlg = "", ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	path := "/dashboard/clients/" + id
	page := h.get(path)
	for _, want := range []string{radioChecked("client_secret_basic"), "registered before the method could be chosen", radioChecked("RS256"),
		"client_secret_basic or client_secret_post", "Choosing it gives the client a new secret, shown once"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("legacy client page lacks %q", want)
		}
	}
	set := func(k string, vs ...string) func(url.Values) { return func(v url.Values) { v[k] = vs } }
	save := func(form url.Values) {
		t.Helper()
		if r := h.postMultipart(path, path, form); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("save: %d %s", r.StatusCode, errorsIn(r.body))
		}
	}
	lastAudit := func() map[string]string {
		t.Helper()
		var ev models.AuditEvent
		h.store.DB().Where("action = ? AND target = ?", "client.updated", id).Order("id DESC").Take(&ev)
		return ev.Details
	}

	save(clientForm(set("token_endpoint_auth_method", "client_secret_jwt")))
	page = h.get(path)
	m := secretRE.FindStringSubmatch(page.body)
	if m == nil || m[1] == old || !strings.Contains(page.body, "now uses client_secret_jwt, so it has a new secret") ||
		!strings.Contains(page.body, "Gatehouse keeps it encrypted") {
		t.Fatal("no new secret shown after switching to client_secret_jwt")
	}
	if got, err := openSecret(h.client(id)); err != nil || got != m[1] {
		t.Fatalf("sealed %q (%v), shown %q", got, err, m[1])
	}
	if d := lastAudit(); d["secret"] != "rotated" || d["token_endpoint_auth_method"] != "client_secret_basic or client_secret_post -> client_secret_jwt" {
		t.Errorf("audit %v", d)
	}
	if strings.Contains(h.get(path).body, m[1]) {
		t.Error("the secret is shown twice")
	}
	// Rotation keeps it sealed.
	h.post(path, path+"/rotate-secret", url.Values{})
	m = secretRE.FindStringSubmatch(h.get(path).body)
	if got, err := openSecret(h.client(id)); m == nil || err != nil || got != m[1] {
		t.Fatalf("after rotation: sealed %q (%v)", got, err)
	}

	keys := publicJWKS(t, "k1")
	// The edit form says beforehand that private_key_jwt deletes the secret.
	if page := h.get(path); !strings.Contains(page.body, `id="auth-private_key_jwt-secret"`) || !strings.Contains(page.body, "deletes this client's secret when you save") {
		t.Error("no note on the private_key_jwt card that switching deletes the secret")
	}
	// An unknown actor is refused, and nothing is saved.
	if r := h.postMultipart(path, path, clientForm(set("token_endpoint_auth_method", "private_key_jwt"), set("jwks", keys), set("may_act", "ghost"))); r.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, `id="may_act-error"`) || !strings.Contains(r.body, html.EscapeString(keys)) || !strings.Contains(r.body, radioChecked("private_key_jwt")) {
		t.Fatalf("unknown actor: %d %s", r.StatusCode, errorsIn(r.body))
	}
	if c := h.client(id); c.TokenEndpointAuthMethod != "client_secret_jwt" {
		t.Fatalf("a refused form was saved: %+v", c)
	}
	other, _ := h.createClient(clientForm(set("name", "Agent")))
	save(clientForm(set("token_endpoint_auth_method", "private_key_jwt"), set("jwks", keys), set("may_act", other),
		set("id_token_signed_response_alg", "ES256"), set("dpop_bound_access_tokens", "on")))
	c := h.client(id)
	if c.SecretHash != nil || c.SecretSealed != nil || c.JWKS != keys || !slices.Equal(c.MayAct, []string{other}) || c.IDTokenSignedResponseAlg != "ES256" || !c.DPoPBoundAccessTokens {
		t.Fatalf("to private_key_jwt: %+v", c)
	}
	if page := h.get(path); !strings.Contains(page.body, "now uses private_key_jwt: its secret was deleted") || !strings.Contains(page.body, other+"</textarea>") ||
		strings.Contains(page.body, `id="auth-private_key_jwt-secret"`) {
		t.Error("no flash saying the secret was deleted, or may_act not shown, or the note still there")
	}
	d := lastAudit()
	for k, v := range map[string]string{"secret": "deleted", "token_endpoint_auth_method": "client_secret_jwt -> private_key_jwt",
		"jwks": " -> 1 key (kid k1)", "may_act": " -> " + other, "id_token_signed_response_alg": "RS256 -> ES256", "dpop_bound_access_tokens": "false -> true"} {
		if d[k] != v {
			t.Errorf("audit[%s] = %q, want %q", k, d[k], v)
		}
	}

	// Back to a secret: one is issued, shown once; the keys go.
	save(clientForm(set("token_endpoint_auth_method", "client_secret_basic"), set("jwks", keys)))
	page = h.get(path)
	m = secretRE.FindStringSubmatch(page.body)
	c = h.client(id)
	if m == nil || !bytes.Equal(c.SecretHash, secret.Digest(m[1])) || c.JWKS != "" || c.SecretSealed != nil || c.TokenEndpointAuthMethod != "client_secret_basic" ||
		!strings.Contains(page.body, "now authenticates with a client secret") {
		t.Fatalf("back to client_secret_basic: %+v", c)
	}
	if d := lastAudit(); d["secret"] != "issued" {
		t.Errorf("audit %v", d)
	}
}

// A pasted private key is refused and not shown back, in the client form
// and the trusted issuer form (the rest of the input is kept), also when
// a JWKS URL is given too (the private key is the error, not "not both").
func TestPastedPrivateKeyNotShownBack(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("deploy", pw, models.RoleUser)
	admSignIn(t, h, "root", models.RoleAdmin)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "oops"}}})
	single, _ := json.Marshal(jose.JSONWebKey{Key: k, KeyID: "oops"})
	var priv struct{ Keys []struct{ D string } }
	if json.Unmarshal(set, &priv) != nil || len(priv.Keys) != 1 || priv.Keys[0].D == "" {
		t.Fatal("no private member in the test key")
	}
	d := priv.Keys[0].D
	for _, jwks := range []string{string(set), string(single)} {
		for _, uri := range []string{"", "https://keys.example.com/jwks"} {
			r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(func(v url.Values) {
				v.Set("name", "Kept app")
				v.Set("token_endpoint_auth_method", "private_key_jwt")
				v.Set("jwks", jwks)
				v.Set("jwks_uri", uri)
			}))
			if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="jwks-error"`) || !strings.Contains(r.body, "private key") {
				t.Errorf("client form (uri %q): %d, errors on %s", uri, r.StatusCode, errorsIn(r.body))
			}
			if strings.Contains(r.body, d) || !strings.Contains(r.body, `value="Kept app"`) || !strings.Contains(r.body, "not kept in the form") {
				t.Errorf("client form (uri %q): the private key is shown back, or the rest not kept", uri)
			}
			r = h.post("/dashboard/trust/new", "/dashboard/trust", trustForm(jwks, "jwks_uri", uri))
			if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="jwks-error"`) || !strings.Contains(r.body, "private key") ||
				strings.Contains(r.body, `id="jwks_uri-error"`) {
				t.Errorf("trust form (uri %q): %d, want the private key error on jwks only", uri, r.StatusCode)
			}
			if strings.Contains(r.body, d) || !strings.Contains(r.body, `value="https://ci.example.com"`) {
				t.Errorf("trust form (uri %q): the private key is shown back, or the rest not kept", uri)
			}
		}
	}
}

// A single public JWK pasted without {"keys": [...]} is registered as a
// set of one; may_act is split on lines and commas, and an entry with a
// space is named in its error.
func TestClientFormSingleJWKAndMayAct(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	single, _ := json.Marshal(jose.JSONWebKey{Key: k.Public(), KeyID: "solo"})
	id, _ := h.createClient(clientForm(func(v url.Values) {
		v.Set("token_endpoint_auth_method", "private_key_jwt")
		v.Set("jwks", string(single))
	}))
	if c := h.client(id); !strings.HasPrefix(c.JWKS, `{"keys": [`) || !strings.Contains(c.JWKS, `"solo"`) {
		t.Errorf("stored JWKS %s, want a set of one", c.JWKS)
	}
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(func(v url.Values) {
		v.Set("may_act", id+", agent one")
	}))
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="may_act-error"`) || !strings.Contains(r.body, "&#34;agent one&#34; is not a client ID") {
		t.Errorf("may_act with a space: %d, errors on %s", r.StatusCode, errorsIn(r.body))
	}
}

// A client that must push its requests gets the PAR endpoint, a push
// example and the authorize URL that uses it, not a sign-in link that
// would be refused; a DPoP-bound client's token example carries a proof.
func TestClientDetailPARAndDPoPExamples(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	id, _ := h.createClient(clientForm(func(v url.Values) {
		v.Set("require_pushed_authorization_requests", "on")
		v.Set("dpop_bound_access_tokens", "on")
		v["grant_types"] = []string{"authorization_code", "client_credentials"}
	}))
	page := h.get("/dashboard/clients/" + id)
	for _, want := range []string{`id="endpoint-par"`, "/oauth/par</pre>", `id="example-par"`, "-u &#39;" + id + ":YOUR_SECRET&#39; -d response_type=code",
		"/oauth/authorize?client_id=" + id + "&amp;request_uri=REQUEST_URI", "curl -H &#39;DPoP: &lt;proof&gt;&#39; -u", "RFC 9449"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("PAR client page lacks %q", want)
		}
	}
	if strings.Contains(page.body, `id="example-url"`) {
		t.Error("PAR client page shows a plain sign-in link")
	}
	plain, _ := h.createClient(clientForm())
	page = h.get("/dashboard/clients/" + plain)
	if !strings.Contains(page.body, `id="example-url"`) || strings.Contains(page.body, `id="example-par"`) || !strings.Contains(page.body, `id="endpoint-par"`) {
		t.Error("plain client page: want the sign-in link, no push example, the PAR endpoint")
	}
}

// The Delegation section (may_act) shows with the token exchange grant,
// or when it holds something; otherwise it is hidden (the script follows
// the grant's checkbox).
func TestClientFormDelegationSection(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "dev", models.RoleDeveloper)
	hiddenRE := regexp.MustCompile(`<div class="[^"]*" data-delegation="" hidden>`)
	shownRE := regexp.MustCompile(`<div class="[^"]*" data-delegation="">`)
	if page := h.get("/dashboard/clients/new"); !hiddenRE.MatchString(page.body) || !strings.Contains(page.body, "exchanges a user&#39;s token (RFC 8693 delegation)") {
		t.Error("new client form: the Delegation section is not hidden")
	}
	id, _ := h.createClient(clientForm(func(v url.Values) {
		v["grant_types"] = []string{"authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"}
	}))
	if page := h.get("/dashboard/clients/" + id); !shownRE.MatchString(page.body) {
		t.Error("client with token exchange: the Delegation section is hidden")
	}
}

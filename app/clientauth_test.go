package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// Wire tests of client authentication by JWT assertions (rule 46):
// private_key_jwt (pasted JWKS and a jwks_uri on a loopback server) and
// client_secret_jwt (the secret sealed as the clients service seals it)
// at the token, introspection, revocation and device authorization
// endpoints.

// assertionClients are clients of each assertion method in h's database.
type assertionClients struct {
	pkj, uri, csj string
	pkjKey        *rsa.PrivateKey
	uriKey        *ecdsa.PrivateKey
	csjSecret     string
	jwksHits      *atomic.Int64
}

func newAssertionClients(t *testing.T, h *harness) *assertionClients {
	t.Helper()
	ctx := context.Background()
	a := &assertionClients{jwksHits: &atomic.Int64{}}
	var err error
	if a.pkjKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if a.uriKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	pasted, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: a.pkjKey.Public(), KeyID: "rsa-1", Use: "sig"}}})
	served, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: a.uriKey.Public(), KeyID: "ec-1"}}})
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a.jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write(served)
	}))
	t.Cleanup(jwksSrv.Close)
	grants := []string{oauth.GrantClientCredentials, oauth.GrantDeviceCode}
	cred := oauth.NewCredentials(false)
	a.csj, a.csjSecret = cred.ClientID, cred.Secret
	sealer := secret.NewClientSecretSealer(h.srv.Config.KeySecret.Reveal())
	a.pkj, a.uri = "pkj-"+oauth.NewCredentials(true).ClientID, "uri-"+oauth.NewCredentials(true).ClientID
	for _, c := range []*models.Client{
		{ClientID: a.pkj, Name: "Pasted keys", GrantTypes: grants, TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKS: string(pasted), Registration: models.ClientRegisteredByAdmin},
		{ClientID: a.uri, Name: "Keys at a URL", GrantTypes: grants, TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKSURI: jwksSrv.URL + "/jwks.json", Registration: models.ClientRegisteredByAdmin},
		{ClientID: a.csj, Name: "Shared secret JWT", GrantTypes: grants, TokenEndpointAuthMethod: oauth.AuthSecretJWT, SecretHash: cred.SecretHash,
			SecretSealed: sealer.Seal(cred.ClientID, cred.Secret), Registration: models.ClientRegisteredByAdmin},
	} {
		if err := h.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// assertionHarness is a SQLite harness that may fetch from loopback.
func assertionHarness(t *testing.T) *harness {
	return newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_ALLOW_PRIVATE_FETCH": "1"})
}

// signAssertion signs a client assertion for id (claims changed by kv,
// nil deleting).
func signAssertion(t *testing.T, alg jose.SignatureAlgorithm, key any, kid, id, aud string, kv ...any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": id, "sub": id, "aud": aud, "jti": base64.RawURLEncoding.EncodeToString(secret.Random(12)),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(claims, kv[i].(string))
		} else {
			claims[kv[i].(string)] = kv[i+1]
		}
	}
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (a *assertionClients) sign(t *testing.T, id, aud string, kv ...any) string {
	switch id {
	case a.pkj:
		return signAssertion(t, jose.RS256, a.pkjKey, "rsa-1", id, aud, kv...)
	case a.uri:
		return signAssertion(t, jose.ES256, a.uriKey, "ec-1", id, aud, kv...)
	}
	return signAssertion(t, jose.HS256, []byte(a.csjSecret), "", id, aud, kv...)
}

// withAssertion adds a client assertion to form.
func withAssertion(form url.Values, raw string) url.Values {
	form.Set("client_assertion_type", oauth.ClientAssertionTypeJWT)
	form.Set("client_assertion", raw)
	return form
}

// wantAssertionError checks a JSON OAuth error answer.
func wantAssertionError(t *testing.T, r *response, status int, code, fragment string) {
	t.Helper()
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	if r.StatusCode != status || m["error"] != code || !strings.Contains(m["error_description"].(string), fragment) {
		t.Fatalf("got %d %s, want %d %s mentioning %q", r.StatusCode, r.body, status, code, fragment)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
}

// Rule 46 on the wire: each method issues tokens at the token endpoint
// (aud the issuer or the token endpoint), and authenticates at
// introspection, revocation and device authorization (aud the issuer or
// the endpoint itself); a replayed, expired, wrongly addressed or wrongly
// signed assertion is 401 invalid_client saying why.
func TestRule46_ClientAssertionsOnTheWire(t *testing.T) {
	t.Parallel()
	h := assertionHarness(t)
	a := newAssertionClients(t, h)
	cfg := h.srv.Config
	iss := cfg.Issuer
	for _, id := range []string{a.pkj, a.uri, a.csj} {
		// Token endpoint.
		var access string
		for _, aud := range []string{iss, cfg.EndpointURL("token")} {
			raw := a.sign(t, id, aud)
			r := h.do(http.MethodPost, cfg.Endpoint("token"), withAssertion(url.Values{"grant_type": {"client_credentials"}}, raw))
			if r.StatusCode != http.StatusOK {
				t.Fatalf("%s token (aud %s): %d %s", id, aud, r.StatusCode, r.body)
			}
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			access, _ = m["access_token"].(string)
			// The same assertion again: replayed.
			r = h.do(http.MethodPost, cfg.Endpoint("token"), withAssertion(url.Values{"grant_type": {"client_credentials"}}, raw))
			wantAssertionError(t, r, 401, "invalid_client", "was used before")
		}
		// Introspection, revocation, device authorization.
		for _, ep := range []struct {
			name string
			form url.Values
		}{
			{"introspect", url.Values{"token": {access}}},
			{"revoke", url.Values{"token": {"gat_unknown"}}},
			{"device_code", url.Values{}},
		} {
			for _, aud := range []string{iss, cfg.EndpointURL(ep.name)} {
				f := url.Values{}
				for k, v := range ep.form {
					f[k] = v
				}
				r := h.do(http.MethodPost, cfg.Endpoint(ep.name), withAssertion(f, a.sign(t, id, aud)))
				if r.StatusCode != http.StatusOK {
					t.Fatalf("%s %s (aud %s): %d %s", id, ep.name, aud, r.StatusCode, r.body)
				}
				if ep.name == "introspect" && !strings.Contains(r.body, `"active":true`) {
					t.Fatalf("introspection: %s", r.body)
				}
			}
			// An aud naming another endpoint is refused.
			f := url.Values{}
			for k, v := range ep.form {
				f[k] = v
			}
			r := h.do(http.MethodPost, cfg.Endpoint(ep.name), withAssertion(f, a.sign(t, id, cfg.EndpointURL("userinfo"))))
			wantAssertionError(t, r, 401, "invalid_client", "names neither")
		}
	}
	// The jwks_uri was fetched once: its answer is cached (max-age=600).
	if n := a.jwksHits.Load(); n != 1 {
		t.Errorf("jwks_uri fetched %d times, want 1", n)
	}

	tokenURL := cfg.Endpoint("token")
	cc := func() url.Values { return url.Values{"grant_type": {"client_credentials"}} }
	refusals := []struct {
		name, raw, want string
	}{
		{"expired", a.sign(t, a.pkj, iss, "exp", time.Now().Add(-5*time.Minute).Unix(), "iat", time.Now().Add(-6*time.Minute).Unix()), "expired"},
		{"exp too far", a.sign(t, a.pkj, iss, "exp", time.Now().Add(time.Hour).Unix()), "more than 5m0s ahead"},
		{"wrong aud", a.sign(t, a.pkj, "https://elsewhere.example"), "aud"},
		{"another client's key", signAssertion(t, jose.ES256, a.uriKey, "ec-1", a.pkj, iss), "unknown kid"},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + strings.Split(a.sign(t, a.pkj, iss), ".")[1] + ".", "alg none"},
		{"HS256 with the public key", signAssertion(t, jose.HS256, a.pkjKey.PublicKey.N.Bytes(), "rsa-1", a.pkj, iss), "HS256 is not allowed"},
		{"wrong secret", signAssertion(t, jose.HS256, []byte(strings.Repeat("x", 43)), "", a.csj, iss), "does not verify with the client secret"},
	}
	for _, tc := range refusals {
		r := h.do(http.MethodPost, tokenURL, withAssertion(cc(), tc.raw))
		wantAssertionError(t, r, 401, "invalid_client", tc.want)
		if r.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: WWW-Authenticate without Basic", tc.name)
		}
	}
	// A client_secret_jwt client sending its secret in Basic: refused,
	// naming the method, with WWW-Authenticate (it used Basic).
	r := h.do(http.MethodPost, tokenURL, cc(), "Authorization",
		"Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(a.csj)+":"+url.QueryEscape(a.csjSecret))))
	wantAssertionError(t, r, 401, "invalid_client", "authenticates with client_secret_jwt")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("no WWW-Authenticate after Basic")
	}
	// Two methods at once.
	r = h.do(http.MethodPost, tokenURL, withAssertion(url.Values{"grant_type": {"client_credentials"}, "client_secret": {"x"}}, a.sign(t, a.pkj, iss)))
	wantAssertionError(t, r, 400, "invalid_request", "one client authentication method")

	// Discovery lists the methods and algorithms.
	r = h.get("/.well-known/openid-configuration")
	for _, want := range []string{`"private_key_jwt"`, `"client_secret_jwt"`, `"token_endpoint_auth_signing_alg_values_supported":["RS256","PS256","ES256","EdDSA","HS256"]`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("discovery lacks %s", want)
		}
	}
}

// A client registers itself with private_key_jwt and a jwks (RFC 7591):
// no secret is issued, the answer and the read-back return its keys, and
// it authenticates with assertions at the device authorization and
// revocation endpoints (never with a secret); an update to a jwks_uri
// keeps it secret-less.
func TestDynamicRegistrationPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	h := assertionHarness(t)
	h.setRegistration("open")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "dev-1"}}})
	m := h.register(`{"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "client_name": "CLI",
		"token_endpoint_auth_method": "private_key_jwt", "jwks": ` + string(set) + `}`)
	id, _ := m["client_id"].(string)
	if _, ok := m["client_secret"]; ok || m["token_endpoint_auth_method"] != "private_key_jwt" || m["jwks"] == nil {
		t.Fatalf("registration answer: %v", m)
	}
	row, err := h.store.GetClient(context.Background(), id)
	if err != nil || row.Public || len(row.SecretHash) != 0 || row.TokenEndpointAuthMethod != oauth.AuthPrivateKeyJWT || !strings.Contains(row.JWKS, `"dev-1"`) {
		t.Fatalf("stored: %+v %v", row, err)
	}
	token, _ := m["registration_access_token"].(string)
	_, read := h.sendJSON(http.MethodGet, registerPath+"/"+url.PathEscape(id), "", bearer(token)...)
	if read["token_endpoint_auth_method"] != "private_key_jwt" || read["jwks"] == nil {
		t.Fatalf("read back: %v", read)
	}
	cfg := h.srv.Config
	for _, ep := range []string{"device_code", "revoke"} {
		f := url.Values{}
		if ep == "revoke" {
			f.Set("token", "gat_unknown")
		}
		r := h.do(http.MethodPost, cfg.Endpoint(ep), withAssertion(f, signAssertion(t, jose.ES256, key, "dev-1", id, cfg.Issuer)))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", ep, r.StatusCode, r.body)
		}
	}
	r := h.do(http.MethodPost, cfg.Endpoint("device_code"), url.Values{"client_id": {id}})
	wantAssertionError(t, r, 401, "invalid_client", "authenticates with private_key_jwt")

	// Update (RFC 7592) to a jwks_uri: still no secret.
	r, upd := h.sendJSON(http.MethodPut, registerPath+"/"+url.PathEscape(id), `{"client_id": "`+id+`", "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
		"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks.json"}`, bearer(token)...)
	if r.StatusCode != http.StatusOK || upd["jwks_uri"] != "https://app.example/jwks.json" || upd["jwks"] != nil {
		t.Fatalf("update: %d %s", r.StatusCode, r.body)
	}
	if _, ok := upd["client_secret"]; ok {
		t.Fatal("a secret was issued to a private_key_jwt client")
	}
	row, _ = h.store.GetClient(context.Background(), id)
	if len(row.SecretHash) != 0 || row.JWKS != "" || row.JWKSURI != "https://app.example/jwks.json" {
		t.Fatalf("after update: %+v", row)
	}
}

// A Client ID Metadata Document with private_key_jwt and its jwks: the
// client runs the code flow and redeems the code with an assertion
// (iss = sub = its URL); the code without an assertion, or with client_id
// alone, is refused naming the method.
func TestMetadataDocumentPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	h := assertionHarness(t)
	f := newOAuthFixture(t, h)
	f.set("client_id_metadata_documents", "any")
	f.signIn()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var set any
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "doc-1"}}})
	_ = json.Unmarshal(b, &set)
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": srv.URL + r.URL.Path, "client_name": "Keyed agent",
			"redirect_uris": []string{"http://127.0.0.1:7777/cb"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": set})
	}))
	t.Cleanup(srv.Close)
	id := srv.URL + "/agent.json"
	redirect := "http://127.0.0.1:7777/cb"
	code := func() string {
		return f.code(url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirect}, "state": {"s1"},
			"scope": {"openid"}, "code_challenge": {f.challenge}, "code_challenge_method": {"S256"}})
	}
	redeem := func(c string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redirect}, "code_verifier": {f.verifier}}
	}
	// client_id alone (as a public client would): refused, naming the method.
	v := redeem(code())
	v.Set("client_id", id)
	r, _ := f.token(v, false)
	wantAssertionError(t, r, 401, "invalid_client", "authenticates with private_key_jwt")
	// With an assertion signed by the document's key.
	r, m := f.token(withAssertion(redeem(code()), signAssertion(t, jose.ES256, key, "doc-1", id, h.srv.Config.Issuer)), false)
	if r.StatusCode != http.StatusOK || m["access_token"] == nil {
		t.Fatalf("token: %d %s", r.StatusCode, r.body)
	}
	row, err := h.store.GetClient(context.Background(), id)
	if err != nil || row.Public || row.TokenEndpointAuthMethod != oauth.AuthPrivateKeyJWT || row.Registration != models.ClientMetadataDocument {
		t.Fatalf("row: %+v %v", row, err)
	}
}

// Client-credentials requests with an assertion are not served
// speculatively: a speculation found stale runs the request again, and
// the assertion's jti, spent by the first run, would make it a replay.
// Instance B holds a stale client when A changes it; B's next request
// must still succeed, once.
func TestAssertionRequestsAreNotSpeculated(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.SQLiteURL(t)
	a := newHarness(t, dbURL, nil)
	b := newHarness(t, dbURL, nil)
	c := newAssertionClients(t, a)
	token := func(h *harness) *response {
		return h.do(http.MethodPost, "/oauth/token", withAssertion(url.Values{"grant_type": {"client_credentials"}}, c.sign(t, c.pkj, a.srv.Config.Issuer)))
	}
	if r := token(b); r.StatusCode != http.StatusOK { // B caches the client
		t.Fatalf("first: %d %s", r.StatusCode, r.body)
	}
	if err := a.store.UpdateClient(context.Background(), c.pkj, func(x *models.Client) error { x.Name = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if r := token(b); r.StatusCode != http.StatusOK {
		t.Fatalf("after a change elsewhere: %d %s", r.StatusCode, r.body)
	}
	var live, revoked int64
	_ = a.store.DB().Model(&models.Token{}).Where("client_id = ? AND revoked_at IS NULL", c.pkj).Count(&live).Error
	_ = a.store.DB().Model(&models.Token{}).Where("client_id = ? AND revoked_at IS NOT NULL", c.pkj).Count(&revoked).Error
	if live != 2 || revoked != 0 {
		t.Fatalf("tokens: %d live, %d revoked; want 2 and none (no speculation)", live, revoked)
	}
}

// PAR (RFC 9126) authenticates clients the same way: a private_key_jwt
// client pushes its request with an assertion whose aud is the issuer or
// the PAR endpoint itself; the assertion is not kept with the request.
func TestPARWithClientAssertion(t *testing.T) {
	t.Parallel()
	h := assertionHarness(t)
	a := newAssertionClients(t, h)
	ctx := context.Background()
	if err := h.store.UpdateClient(ctx, a.pkj, func(x *models.Client) error {
		x.GrantTypes = []string{oauth.GrantAuthorizationCode}
		x.RedirectURIs = []string{"https://client.example/cb"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cfg := h.srv.Config
	for _, aud := range []string{cfg.Issuer, cfg.EndpointURL("par")} {
		f := url.Values{"response_type": {"code"}, "redirect_uri": {"https://client.example/cb"}, "scope": {"openid"}, "state": {"s"}}
		r := h.do(http.MethodPost, cfg.Endpoint("par"), withAssertion(f, a.sign(t, a.pkj, aud)))
		if r.StatusCode != http.StatusCreated || !strings.Contains(r.body, "request_uri") {
			t.Fatalf("PAR (aud %s): %d %s", aud, r.StatusCode, r.body)
		}
	}
	f := url.Values{"response_type": {"code"}, "redirect_uri": {"https://client.example/cb"}, "client_id": {a.pkj}}
	r := h.do(http.MethodPost, cfg.Endpoint("par"), f)
	wantAssertionError(t, r, 401, "invalid_client", "authenticates with private_key_jwt")
}

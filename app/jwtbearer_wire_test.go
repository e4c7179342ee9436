package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

// TestJWTBearerWire: the JWT bearer grant through the route table on
// both databases: the token endpoint answers with an access token for
// the mapped user (no refresh token), which /api/user accepts; a refused
// assertion of a trusted issuer is a 400 invalid_grant naming the cause;
// both land in the audit log (the user as actor, the issuer as target).
func TestJWTBearerWire(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		deploy := h.createUser("deploy", pw, models.RoleUser)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "ci-1", Use: "sig"}}})
		const iss = "https://ci.example.com"
		if err := h.store.CreateTrustedIssuer(ctx, &models.TrustedIssuer{Issuer: iss, JWKS: string(set),
			Subjects: map[string]string{"repo:acme/app": "deploy"}, Scopes: []string{"user.read"}, MaxLifetimeSeconds: 600}); err != nil {
			t.Fatal(err)
		}
		cred := oauth.NewCredentials(false)
		if err := h.store.CreateClient(ctx, &models.Client{ClientID: cred.ClientID, SecretHash: cred.SecretHash, Name: "Deployer",
			GrantTypes: []string{oauth.GrantJWTBearer, oauth.GrantRefreshToken}}); err != nil {
			t.Fatal(err)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "ci-1"))
		if err != nil {
			t.Fatal(err)
		}
		assertion := func(sub string) string {
			now := time.Now()
			raw, err := jwt.Signed(signer).Claims(map[string]any{"iss": iss, "sub": sub, "aud": "http://localhost:8080/oauth/token",
				"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": base64.RawURLEncoding.EncodeToString([]byte(sub + now.String()))}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		post := func(a string) (*response, map[string]any) {
			r := h.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {oauth.GrantJWTBearer}, "assertion": {a}},
				"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred.ClientID+":"+cred.Secret)))
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			return r, m
		}
		r, m := post(assertion("repo:acme/app"))
		if r.StatusCode != http.StatusOK || m["access_token"] == nil || m["refresh_token"] != nil || m["scope"] != "user.read" {
			t.Fatalf("token: %d %v", r.StatusCode, m)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		api := h.do(http.MethodGet, "/api/user", nil, "Authorization", "Bearer "+m["access_token"].(string))
		if api.StatusCode != http.StatusOK || !strings.Contains(api.body, `"username":"deploy"`) {
			t.Fatalf("/api/user: %d %s", api.StatusCode, api.body)
		}
		r, m = post(assertion("repo:acme/other"))
		if r.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" || !strings.Contains(m["error_description"].(string), "is not mapped to a user") {
			t.Fatalf("unmapped sub: %d %v", r.StatusCode, m)
		}
		evs := admAudit(t, h, oauth.SecurityAssertionAccepted)
		if len(evs) != 1 || evs[0].Target != iss || evs[0].Actor != "deploy" || evs[0].ActorID == nil || *evs[0].ActorID != deploy.ID ||
			!evs[0].Success || evs[0].Details["sub"] != "repo:acme/app" || evs[0].Details["client_id"] != cred.ClientID {
			t.Errorf("accepted audit: %+v", evs)
		}
		evs = admAudit(t, h, oauth.SecurityAssertionRefused)
		if len(evs) != 1 || evs[0].Target != iss || evs[0].Success || evs[0].Details["sub"] != "repo:acme/other" ||
			!strings.Contains(evs[0].Details["reason"], `"repo:acme/other" is not mapped`) {
			t.Errorf("refused audit: %+v", evs)
		}
	})
}

// Only an admin gives a client the JWT bearer grant (tokens for users
// who never consented): the box is disabled for developers, a forged
// form is refused with a field error and nothing saved; what an admin
// gave, the developer keeps when editing.
func TestJWTBearerGrantNeedsAdmin(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	const box = `value="` + oauth.GrantJWTBearer + `" class="checkbox"`
	signInAs(t, h, "dev", models.RoleDeveloper)
	if page := h.get("/dashboard/clients/new"); !strings.Contains(page.body, box+" disabled") {
		t.Error("the JWT bearer grant is not disabled for a developer")
	}
	withBearer := func(v url.Values) { v["grant_types"] = []string{"authorization_code", oauth.GrantJWTBearer} }
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(withBearer))
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "grant_types"), "Only an admin can give a client the JWT bearer grant") {
		t.Fatalf("forged create: %d %q", r.StatusCode, fieldError(r.body, "grant_types"))
	}
	if h.countClients() != 0 {
		t.Fatal("the client was created")
	}
	id, _ := h.createClient(clientForm())
	path := "/dashboard/clients/" + id
	if r := h.postMultipart(path, path, clientForm(withBearer)); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("forged update: %d", r.StatusCode)
	}
	if cl, _ := h.store.GetClient(ctx, id); slices.Contains(cl.GrantTypes, oauth.GrantJWTBearer) {
		t.Fatalf("saved: %+v", cl.GrantTypes)
	}
	signInAs(t, h, "root", models.RoleAdmin)
	if r := h.postMultipart(path, path, clientForm(withBearer)); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin: %d %s", r.StatusCode, errorsIn(r.body))
	}
	signInAs(t, h, "dev", models.RoleDeveloper)
	page := h.get(path)
	if !strings.Contains(page.body, box+" checked") || !strings.Contains(page.body, "An admin gave this client this grant") {
		t.Error("the grant an admin gave is not shown as given to the developer")
	}
	if r := h.postMultipart(path, path, clientForm(withBearer, func(v url.Values) { v.Set("name", "Renamed") })); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("developer renaming: %d %q", r.StatusCode, fieldError(r.body, "grant_types"))
	}
	if cl, _ := h.store.GetClient(ctx, id); cl.Name != "Renamed" || !slices.Contains(cl.GrantTypes, oauth.GrantJWTBearer) {
		t.Fatalf("after renaming: %+v", cl)
	}
}

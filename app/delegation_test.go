package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

// Wire tests of issue 18 parts 6 and 7 (SPEC.md §7.4): delegation in
// token exchange, and ES256 ID tokens. The rules are tested in
// app/oauth/grant_token_exchange_delegation_test.go and
// app/oauth/idtoken_alg_test.go.

// updateClient changes a stored client (the form and CLI fields are
// another change's).
func updateClient(t *testing.T, h *harness, id string, fn func(*models.Client)) {
	t.Helper()
	if err := h.store.UpdateClient(context.Background(), id, func(c *models.Client) error { fn(c); return nil }); err != nil {
		t.Fatal(err)
	}
}

// Through the token endpoint: the confidential client presents its own
// client-credentials token as actor_token and gets a token whose act
// names it, in introspection and in JWT access tokens; a stranger's token
// is refused with invalid_request until the client's may_act lists it;
// parameters go wrong as the RFC says; resource narrowing still applies.
func TestTokenExchangeDelegationOnTheWire(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		f := newOAuthFixture(t, h)
		svc, svcSec := machineClient(t, f.harness) // makes the machine scope jobs.run
		updateClient(t, h, f.confID, func(c *models.Client) { c.Scopes = []string{"openid", "user.read", "jobs.run", "offline_access"} })
		f.signIn()
		subject, _ := f.refreshPair("openid user.read")
		cc := func(id, sec string) string {
			t.Helper()
			r, m := tokenAs(h, id, sec, url.Values{"grant_type": {"client_credentials"}, "scope": {"jobs.run"}})
			if r.StatusCode != http.StatusOK {
				t.Fatalf("client credentials: %d %s", r.StatusCode, r.body)
			}
			return m["access_token"].(string)
		}
		exchange := func(actor string, pairs ...string) (*response, map[string]any) {
			t.Helper()
			form := url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {oauth.TokenTypeAccessToken},
				"actor_token": {actor}, "actor_token_type": {oauth.TokenTypeAccessToken}}
			for i := 0; i+1 < len(pairs); i += 2 {
				if pairs[i+1] == "" {
					form.Del(pairs[i])
				} else {
					form.Set(pairs[i], pairs[i+1])
				}
			}
			return f.token(form, true)
		}
		own := cc(f.confID, f.confSec)
		r, m := exchange(own)
		if r.StatusCode != http.StatusOK || m["issued_token_type"] != oauth.TokenTypeAccessToken || m["scope"] != "openid user.read" || m["refresh_token"] != nil {
			t.Fatalf("own actor: %d %s", r.StatusCode, r.body)
		}
		in := f.introspect(m["access_token"].(string))
		wantAct := map[string]any{"sub": f.confID, "client_id": f.confID}
		if in["sub"] != f.user.Subject || !sameJSON(in["act"], wantAct) {
			t.Fatalf("introspection of the delegated token: %v", in)
		}
		if in := f.introspect(subject); in["act"] != nil {
			t.Fatalf("the subject token grew an act: %v", in)
		}

		// Another client's token: refused until may_act lists it.
		stranger := cc(svc, svcSec)
		r, m = exchange(stranger)
		wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_request")
		if !strings.Contains(m["error_description"].(string), "may_act") {
			t.Fatalf("description %v", m["error_description"])
		}
		updateClient(t, h, f.confID, func(c *models.Client) { c.MayAct = []string{svc} })
		r, m = exchange(stranger)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("actor listed in may_act: %d %s", r.StatusCode, r.body)
		}
		if in := f.introspect(m["access_token"].(string)); !sameJSON(in["act"], map[string]any{"sub": svc, "client_id": svc}) {
			t.Fatalf("act of the may_act actor: %v", in["act"])
		}

		// Parameters.
		for _, tc := range []struct {
			pairs []string
			desc  string
		}{
			{[]string{"actor_token_type", ""}, "no actor_token_type"},
			{[]string{"actor_token_type", "urn:ietf:params:oauth:token-type:id_token"}, "actor_token_type must be"},
			{[]string{"actor_token", ""}, "actor_token_type was sent without an actor_token"},
			{[]string{"actor_token", "gat_unknown"}, "the actor_token is invalid"},
		} {
			r, m := exchange(own, tc.pairs...)
			wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_request")
			if !strings.Contains(m["error_description"].(string), tc.desc) {
				t.Errorf("%v: description %v, want %q", tc.pairs, m["error_description"], tc.desc)
			}
		}
		// A revoked actor token.
		revoked := cc(f.confID, f.confSec)
		if r := f.clientPost("/oauth/revoke", url.Values{"token": {revoked}}); r.StatusCode != http.StatusOK {
			t.Fatal(r.StatusCode)
		}
		r, m = exchange(revoked)
		wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_request")

		// Resource indicators narrow the delegated token as any other.
		api := f.srv.Config.Issuer + "/api"
		r, m = exchange(own, "resource", api, "scope", "user.read")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("resource: %d %s", r.StatusCode, r.body)
		}
		if in := f.introspect(m["access_token"].(string)); in["aud"] != api || in["scope"] != "user.read" || !sameJSON(in["act"], wantAct) {
			t.Fatalf("narrowed delegated token: %v", in)
		}
		r, m = exchange(own, "resource", "https://elsewhere.example")
		wantOAuthError(t, r, m, http.StatusBadRequest, "invalid_target")

		// JWT access tokens carry act.
		f.set("access_token_format", "jwt")
		r, m = exchange(own)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("jwt: %d %s", r.StatusCode, r.body)
		}
		if _, c := f.verifyJWT(m["access_token"].(string)); c["sub"] != f.user.Subject || !sameJSON(c["act"], wantAct) {
			t.Fatalf("JWT claims %v", c)
		}
	})
}

// sameJSON compares two values by their JSON.
func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// appTransport sends a relying party's HTTP requests to the app in
// memory: coreos/go-oidc discovers the issuer and fetches the JWKS
// through it.
type appTransport struct{ h *harness }

func (tr appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return tr.h.srv.App.Test(req, -1)
}

// An ES256 client's ID tokens are signed with the published ES256 key,
// other clients' with RS256; a relying party using coreos/go-oidc with
// discovery and the JWKS (and only the algorithm it expects) verifies
// both, also after a key rotation, when the new ES256 key signs.
func TestIDTokenES256OnTheWire(t *testing.T) {
	t.Parallel()
	f := newOAuthFixture(t, sqliteHarness(t))
	updateClient(t, f.harness, f.confID, func(c *models.Client) { c.IDTokenSignedResponseAlg = oauth.AlgES256 })
	f.signIn()
	ctx := oidc.ClientContext(context.Background(), &http.Client{Transport: appTransport{f.harness}})
	provider, err := oidc.NewProvider(ctx, f.srv.Config.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := provider.Claims(&meta); err != nil || strings.Join(meta.Algs, " ") != "RS256 ES256" {
		t.Fatalf("id_token_signing_alg_values_supported %v %v", meta.Algs, err)
	}
	verify := func(clientID, alg, idToken, accessToken string) string {
		t.Helper()
		tok, err := provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{alg}}).Verify(ctx, idToken)
		if err != nil {
			t.Fatalf("go-oidc (%s) refuses the ID token: %v", alg, err)
		}
		if err := tok.VerifyAccessToken(accessToken); err != nil || tok.Subject != f.user.Subject {
			t.Fatalf("at_hash %v sub %s", err, tok.Subject)
		}
		hdr, _ := f.verifyJWT(idToken)
		return hdr.KeyID
	}
	m := f.oidcTokens("openid", "n")
	esKID := verify(f.confID, oauth.AlgES256, m["id_token"].(string), m["access_token"].(string))
	if hdr, _ := f.verifyJWT(m["id_token"].(string)); hdr.Algorithm != oauth.AlgES256 {
		t.Fatalf("alg %s", hdr.Algorithm)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: f.confID, SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, m["id_token"].(string)); err == nil {
		t.Fatal("an ES256 ID token verified as RS256")
	}
	// The refreshed ID token too.
	r, rm := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, true)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.StatusCode, r.body)
	}
	verify(f.confID, oauth.AlgES256, rm["id_token"].(string), rm["access_token"].(string))

	// Another client gets RS256.
	updateClient(t, f.harness, f.confID, func(c *models.Client) { c.IDTokenSignedResponseAlg = "" })
	m2 := f.oidcTokens("openid", "n")
	verify(f.confID, oauth.AlgRS256, m2["id_token"].(string), m2["access_token"].(string))
	updateClient(t, f.harness, f.confID, func(c *models.Client) { c.IDTokenSignedResponseAlg = oauth.AlgES256 })

	// After a rotation the new ES256 key signs; the old token still
	// verifies while its key stays published.
	rot, err := f.srv.Handlers.Keys.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m3 := f.oidcTokens("openid", "n")
	if kid := verify(f.confID, oauth.AlgES256, m3["id_token"].(string), m3["access_token"].(string)); kid == esKID || kid != rot.New[1].KID {
		t.Fatalf("after rotation the ES256 ID token is signed by %s (before %s, new ES256 key %s)", kid, esKID, rot.New[1].KID)
	}
	verify(f.confID, oauth.AlgES256, m["id_token"].(string), m["access_token"].(string))
}

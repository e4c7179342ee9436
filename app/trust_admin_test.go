package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// trustJWKS is a JWK Set with one EC P-256 public key (kid ci-1).
func trustJWKS(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "ci-1", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// trustForm is a valid new trusted issuer form (the user deploy must
// exist), with kv overriding fields.
func trustForm(jwks string, kv ...string) url.Values {
	v := url.Values{"issuer": {"https://ci.example.com"}, "name": {"CI"}, "jwks": {jwks}, "jwks_uri": {""},
		"subjects": {"repo:acme/app=deploy\r\nsvc-2=deploy"}, "scopes": {"openid", "user.read"}, "max_lifetime": {"10m"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func trustCreate(t *testing.T, h *harness, issuer string) *models.TrustedIssuer {
	t.Helper()
	ti := &models.TrustedIssuer{Issuer: issuer, JWKSURI: "https://ci.example.com/jwks", Subjects: map[string]string{"s": "deploy"},
		Scopes: []string{"openid"}, MaxLifetimeSeconds: 3600}
	if err := h.store.CreateTrustedIssuer(context.Background(), ti); err != nil {
		t.Fatal(err)
	}
	return ti
}

// trustCard is the Trusted issuers card's description on the dashboard.
const trustCard = "Systems whose signed assertions apps exchange for tokens"

// TestTrustPermissions: only admins see, register or delete trusted
// issuers; developers and users get 403 and no link; signed-out
// visitors are sent to sign in.
func TestTrustPermissions(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	h.createUser("deploy", pw, models.RoleUser)
	ti := trustCreate(t, h, "https://ci.example.com")
	jwks := trustJWKS(t)
	for _, role := range []string{models.RoleUser, models.RoleDeveloper} {
		admSignIn(t, h, "x-"+role, role)
		for _, p := range []string{"/dashboard/trust", "/dashboard/trust/new", pages.TrustURL(ti.ID)} {
			if r := h.get(p); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s GET %s: %d, want 403", role, p, r.StatusCode)
			}
		}
		dash := h.get("/dashboard").body
		if strings.Contains(dash, `href="/dashboard/trust"`) || strings.Contains(dash, trustCard) {
			t.Errorf("a %s's dashboard links to the trusted issuers", role)
		}
		for _, w := range []struct {
			path string
			form url.Values
		}{
			{"/dashboard/trust", trustForm(jwks, "issuer", "https://evil.example.com")},
			{pages.TrustURL(ti.ID) + "/delete", url.Values{"confirm": {"yes"}}},
		} {
			if r := h.post("/dashboard", w.path, w.form); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", role, w.path, r.StatusCode)
			}
		}
	}
	if list, _ := h.store.ListTrustedIssuers(ctx); len(list) != 1 {
		t.Errorf("changed by non-admins: %+v", list)
	}
	admSignIn(t, h, "root", models.RoleAdmin)
	dash := h.get("/dashboard").body
	admContains(t, "admin dashboard", dash, trustCard, `href="/dashboard/trust"`)
	h.clearCookies()
	if r := h.get("/dashboard/trust"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestTrustCSRF: the forms need the session's CSRF token.
func TestTrustCSRF(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("deploy", pw, models.RoleUser)
	ti := trustCreate(t, h, "https://ci.example.com")
	admSignIn(t, h, "root", models.RoleAdmin)
	for _, p := range []string{"/dashboard/trust", pages.TrustURL(ti.ID) + "/delete"} {
		form := trustForm(trustJWKS(t), "issuer", "https://csrf.example.com", "confirm", "yes")
		form.Set("csrf_token", "forged")
		if r := h.do(http.MethodPost, p, form); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: %d, want 403", p, r.StatusCode)
		}
		form.Del("csrf_token")
		if r := h.do(http.MethodPost, p, form); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d, want 403", p, r.StatusCode)
		}
	}
	if list, _ := h.store.ListTrustedIssuers(context.Background()); len(list) != 1 || list[0].Issuer != ti.Issuer {
		t.Errorf("trusted issuers after forged posts: %+v", list)
	}
}

// TestTrustFormValidation: a refused form answers 422 with the message
// next to the field and in the summary, keeps everything typed, and
// stores nothing.
func TestTrustFormValidation(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	h.createUser("deploy", pw, models.RoleUser)
	trustCreate(t, h, "https://taken.example.com")
	admSignIn(t, h, "root", models.RoleAdmin)
	jwks := trustJWKS(t)
	cases := []struct {
		name  string
		form  url.Values
		field string // the field's control id, the summary's anchor
		errID string
		msg   string
		kept  string
	}{
		{"no issuer", trustForm(jwks, "issuer", " "), "issuer", "issuer-error", "Enter the issuer", ""},
		{"taken issuer", trustForm(jwks, "issuer", "https://taken.example.com"), "issuer", "issuer-error", "registered already", `value="https://taken.example.com"`},
		{"no keys", trustForm(jwks, "jwks", ""), "jwks", "jwks-error", "Give the issuer's public keys", ""},
		{"both keys", trustForm(jwks, "jwks_uri", "https://ci.example.com/jwks"), "jwks", "jwks-error", "not both", `value="https://ci.example.com/jwks"`},
		{"bad JWKS", trustForm(jwks, "jwks", `{"keys": [nope]}`), "jwks", "jwks-error", "not valid JSON", `{"keys": [nope]}</textarea>`},
		{"http JWKS URL", trustForm(jwks, "jwks", "", "jwks_uri", "http://ci.example.com/jwks"), "jwks_uri", "jwks_uri-error", "must use https", `value="http://ci.example.com/jwks"`},
		{"unknown user", trustForm(jwks, "subjects", "s1=deploy\r\ns2=nobody"), "subjects", "subjects-error", `No user "nobody"`, "s1=deploy\ns2=nobody</textarea>"},
		{"wildcard", trustForm(jwks, "subjects", "*=deploy"), "subjects", "subjects-error", "no wildcard", ""},
		{"no scopes", trustForm(jwks, "scopes", ""), "scope-email", "scopes-error", "at least one scope", ""},
		{"offline_access", trustForm(jwks, "scopes", "offline_access"), "scope-email", "scopes-error", "Leave out offline_access", ""},
		{"lifetime", trustForm(jwks, "max_lifetime", "2d"), "max_lifetime", "max_lifetime-error", "not a duration", `value="2d"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post("/dashboard/trust/new", "/dashboard/trust", tc.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", r.StatusCode)
			}
			admContains(t, tc.name, r.body, tc.msg, `id="`+tc.errID+`"`)
			admErrorSummary(t, tc.name, r.body, tc.field)
			if tc.field != "issuer" {
				admContains(t, tc.name, r.body, `value="https://ci.example.com"`)
			}
			if tc.field != "subjects" {
				admContains(t, tc.name, r.body, "repo:acme/app=deploy\nsvc-2=deploy</textarea>")
			}
			if tc.field != "max_lifetime" {
				admContains(t, tc.name, r.body, `value="10m"`)
			}
			if !strings.HasPrefix(tc.field, "scope-") {
				admContains(t, tc.name, r.body, `value="user.read" class="checkbox" checked`)
			}
			if strings.Contains(r.body, `value="offline_access"`) {
				t.Error("the form offers offline_access")
			}
		})
	}
	if list, _ := h.store.ListTrustedIssuers(context.Background()); len(list) != 1 {
		t.Errorf("trusted issuers after refused forms: %+v", list)
	}
}

// TestTrustCreateDelete: the life of a trusted issuer, on both
// databases, with the audit log.
func TestTrustCreateDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.createUser("deploy", pw, models.RoleUser)
		admSignIn(t, h, "root", models.RoleAdmin)
		r := h.get("/dashboard/trust")
		admContains(t, "empty list", r.body, "No trusted issuer yet", `href="/dashboard/trust/new"`, "urn:ietf:params:oauth:grant-type:jwt-bearer",
			"http://localhost:8080/oauth/token")
		if r := h.get("/dashboard/trust/new"); r.StatusCode != http.StatusOK || admFirstAutofocus(r.body) != "issuer" {
			t.Fatalf("new page: %d, autofocus %q", r.StatusCode, admFirstAutofocus(r.body))
		}
		jwks := trustJWKS(t)
		r = h.post("/dashboard/trust/new", "/dashboard/trust", trustForm(jwks, "issuer", " https://ci.example.com "))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("create: %d\n%s", r.StatusCode, r.body)
		}
		ti, err := h.store.GetTrustedIssuer(ctx, "https://ci.example.com")
		if err != nil || ti.Name != "CI" || ti.MaxLifetimeSeconds != 600 || len(ti.Subjects) != 2 || ti.Subjects["svc-2"] != "deploy" ||
			strings.Join(ti.Scopes, " ") != "openid user.read" || !strings.Contains(ti.JWKS, `"kid":"ci-1"`) {
			t.Fatalf("stored %+v %v", ti, err)
		}
		page := pages.TrustURL(ti.ID)
		if loc := r.Header.Get("Location"); loc != page {
			t.Errorf("created: Location %q", loc)
		}
		if evs := admAudit(t, h, "trust.created"); len(evs) != 1 || evs[0].Target != "https://ci.example.com" || evs[0].Actor != "root" ||
			evs[0].Details["subjects"] != "repo:acme/app=deploy svc-2=deploy" || evs[0].Details["scopes"] != "openid user.read" {
			t.Errorf("audit trust.created: %+v", evs)
		}
		r = h.get(page)
		admContains(t, "issuer page", r.body, "Trusted issuer https://ci.example.com registered", "repo:acme/app=deploy", "svc-2=deploy",
			`href="/dashboard/scopes/user.read"`, "10m", `"kid": "ci-1"`, "Yes, delete")
		admContains(t, "list", h.get("/dashboard/trust").body, "CI", "https://ci.example.com", "JWK Set, 1 key", "assertions live at most 10m",
			"1 trusted issuer")

		// Deleting needs the box ticked.
		r = h.post(page, page+"/delete", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != page {
			t.Fatalf("delete unconfirmed: %d %s, want back to the issuer's page", r.StatusCode, r.Header.Get("Location"))
		}
		r = h.get(page)
		if admFirstAutofocus(r.body) != "confirm" {
			t.Fatalf("delete unconfirmed: autofocus %q", admFirstAutofocus(r.body))
		}
		admContains(t, "delete unconfirmed", r.body, "Tick this box to confirm the deletion.")
		if _, err := h.store.GetTrustedIssuer(ctx, ti.Issuer); err != nil {
			t.Fatalf("deleted without confirmation: %v", err)
		}
		r = h.post(page, page+"/delete", url.Values{"confirm": {"yes"}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/trust" {
			t.Fatalf("delete: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if list, _ := h.store.ListTrustedIssuers(ctx); len(list) != 0 {
			t.Errorf("after delete: %+v", list)
		}
		if evs := admAudit(t, h, "trust.deleted"); len(evs) != 1 || evs[0].Target != "https://ci.example.com" || evs[0].Actor != "root" {
			t.Errorf("audit trust.deleted: %+v", evs)
		}
		admContains(t, "list after delete", h.get("/dashboard/trust").body, "Trusted issuer https://ci.example.com deleted")
		if r := h.get(page); r.StatusCode != http.StatusNotFound {
			t.Errorf("deleted issuer's page: %d", r.StatusCode)
		}
		if r := h.get("/dashboard/trust/abc"); r.StatusCode != http.StatusNotFound {
			t.Errorf("bad id: %d", r.StatusCode)
		}
	})
}

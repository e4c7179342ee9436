package app

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// The harness's issuer is the default, http://localhost:8080: its
// built-in resource is http://localhost:8080/api.
const resBuiltin = "http://localhost:8080/api"

func resourceForm(kv ...string) url.Values {
	v := url.Values{"uri": {"https://files.example.com"}, "name": {"Files API"}, "description": {"Our users' files."}, "icon": {"fa-folder"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func resCreate(t *testing.T, h *harness, uri, name string) *models.Resource {
	t.Helper()
	r := &models.Resource{URI: uri, Name: name}
	if err := h.store.CreateResource(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResourcePermissions: developers read the resources, users get 403,
// signed-out visitors are sent to sign in; only admins write.
// resCard is the Resources card's description on the dashboard.
const resCard = "APIs apps can ask tokens for, and their scopes."

func TestResourcePermissions(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	files := resCreate(t, h, "https://files.example.com", "Files API")
	admSignIn(t, h, "carol", models.RoleUser)
	for _, p := range []string{"/dashboard/resources", "/dashboard/resources/new", pages.ResourceURL(files.ID)} {
		if r := h.get(p); r.StatusCode != http.StatusForbidden {
			t.Errorf("user GET %s: %d, want 403", p, r.StatusCode)
		}
	}
	if strings.Contains(h.get("/dashboard").body, `href="/dashboard/resources"`) {
		t.Error("a user's navigation links to the resources")
	}

	admSignIn(t, h, "dev", models.RoleDeveloper)
	if !strings.Contains(h.get("/dashboard").body, resCard) {
		t.Error("a developer's dashboard has no Resources card")
	}
	r := h.get("/dashboard/resources")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("developer list: %d", r.StatusCode)
	}
	admContains(t, "developer list", r.body, resBuiltin, "Built in", "user.read", "https://files.example.com", "Files API",
		"Only administrators can register or change resources", `href="/dashboard/resources"`)
	if strings.Contains(r.body, `href="/dashboard/resources/new"`) || strings.Contains(r.body, "Edit Files API") {
		t.Error("developer sees the New resource or Edit links")
	}
	r = h.get(pages.ResourceURL(files.ID))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("developer view: %d", r.StatusCode)
	}
	admContains(t, "developer view", r.body, "Only administrators can change resources", "resource=https://files.example.com")
	if strings.Contains(r.body, "<form method=\"post\" action=\"/dashboard/resources") {
		t.Error("developer view has edit or delete forms")
	}
	if r := h.get("/dashboard/resources/new"); r.StatusCode != http.StatusForbidden {
		t.Errorf("developer GET new: %d", r.StatusCode)
	}
	for _, w := range []struct {
		path string
		form url.Values
	}{
		{"/dashboard/resources", resourceForm("uri", "https://dev.example.com")},
		{pages.ResourceURL(files.ID), resourceForm("name", "Hijacked")},
		{pages.ResourceURL(files.ID) + "/delete", url.Values{"confirm": {"yes"}}},
	} {
		if r := h.post("/dashboard/resources", w.path, w.form); r.StatusCode != http.StatusForbidden {
			t.Errorf("developer POST %s: %d, want 403", w.path, r.StatusCode)
		}
	}
	if got, err := h.store.GetResource(ctx, files.URI); err != nil || got.Name != "Files API" {
		t.Errorf("changed by a developer: %+v %v", got, err)
	}
	if _, err := h.store.GetResource(ctx, "https://dev.example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("developer registered a resource: %v", err)
	}

	admSignIn(t, h, "root", models.RoleAdmin)
	if !strings.Contains(h.get("/dashboard").body, resCard) {
		t.Error("an admin's dashboard has no Resources card")
	}
	h.clearCookies()
	if r := h.get("/dashboard/resources"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestResourceCSRF: the forms need the session's CSRF token.
func TestResourceCSRF(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	files := resCreate(t, h, "https://files.example.com", "Files API")
	admSignIn(t, h, "root", models.RoleAdmin)
	for _, p := range []string{"/dashboard/resources", pages.ResourceURL(files.ID), pages.ResourceURL(files.ID) + "/delete"} {
		form := resourceForm("uri", "https://csrf.example.com", "name", "Forged", "confirm", "yes")
		form.Set("csrf_token", "forged")
		if r := h.do(http.MethodPost, p, form); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: %d, want 403", p, r.StatusCode)
		}
		form.Del("csrf_token")
		if r := h.do(http.MethodPost, p, form); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d, want 403", p, r.StatusCode)
		}
	}
	ctx := context.Background()
	if got, _ := h.store.GetResource(ctx, files.URI); got == nil || got.Name != "Files API" {
		t.Errorf("changed without a token: %+v", got)
	}
	if list, _ := h.store.ListResources(ctx); len(list) != 1 {
		t.Errorf("resources after forged posts: %+v", list)
	}
}

// TestResourceFormValidation: refused forms answer 422 with the message
// next to the field, keep what was typed, and store nothing.
func TestResourceFormValidation(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	resCreate(t, h, "https://taken.example.com", "Taken")
	admSignIn(t, h, "root", models.RoleAdmin)
	cases := []struct {
		name  string
		form  url.Values
		field string
		msg   string
		kept  string
	}{
		{"empty URI", resourceForm("uri", ""), "uri", "Enter the resource's URI", ""},
		{"relative", resourceForm("uri", "/files"), "uri", "absolute URI", `value="/files"`},
		{"fragment", resourceForm("uri", "https://files.example.com/#top"), "uri", "must not contain a fragment", `value="https://files.example.com/#top"`},
		{"plain http", resourceForm("uri", "http://files.example.com"), "uri", "Use https", `value="http://files.example.com"`},
		{"duplicate, other spelling", resourceForm("uri", "HTTPS://Taken.example.com:443/"), "uri", "already registered", `value="HTTPS://Taken.example.com:443/"`},
		{"built in", resourceForm("uri", "http://LOCALHOST:8080/api/"), "uri", "built in", `value="http://LOCALHOST:8080/api/"`},
		{"no name", resourceForm("name", " "), "name", "Give the resource a name.", ""},
		{"long name", resourceForm("name", strings.Repeat("x", 101)), "name", "at most 100", ""},
		{"long description", resourceForm("description", strings.Repeat("x", 501)), "description", "at most 500", ""},
		{"unknown icon", resourceForm("icon", "fa-not-an-icon"), "icon", "no icon called fa-not-an-icon", `value="fa-not-an-icon"`},
		{"svg icon", resourceForm("icon", "https://example.com/i.svg"), "icon", "SVG images are not accepted", ""},
		{"icon injection", resourceForm("icon", `fa-solid" onmouseover="x`), "icon", "Font Awesome class", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post("/dashboard/resources/new", "/dashboard/resources", tc.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", r.StatusCode)
			}
			admContains(t, tc.name, r.body, tc.msg, `id="`+tc.field+`-error"`)
			admErrorSummary(t, tc.name, r.body, tc.field)
			if tc.field != "name" {
				admContains(t, tc.name, r.body, `value="Files API"`)
			}
			if tc.field != "description" {
				admContains(t, tc.name, r.body, `Our users' files.</textarea>`)
			}
			if tc.kept != "" {
				admContains(t, tc.name, r.body, tc.kept)
			}
			if strings.Contains(r.body, `onmouseover="x"`) {
				t.Error("the icon was rendered unescaped")
			}
		})
	}
	if list, _ := h.store.ListResources(context.Background()); len(list) != 1 {
		t.Errorf("resources after refused forms: %+v", list)
	}
}

// TestResourceCreateEditDelete: the whole life of a resource, on both
// databases, with the scopes that belong to it and the audit log.
func TestResourceCreateEditDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		admSignIn(t, h, "root", models.RoleAdmin)
		r := h.get("/dashboard/resources")
		admContains(t, "empty list", r.body, resBuiltin, "Built in", "user.read", "No other resource is registered yet", `href="/dashboard/resources/new"`)
		if r := h.get("/dashboard/resources/new"); r.StatusCode != http.StatusOK || admFirstAutofocus(r.body) != "uri" {
			t.Fatalf("new page: %d, autofocus %q", r.StatusCode, admFirstAutofocus(r.body))
		}

		r = h.post("/dashboard/resources/new", "/dashboard/resources", resourceForm("uri", " HTTPS://Files.Example.com:443/ "))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("create: %d\n%s", r.StatusCode, r.body)
		}
		res, err := h.store.GetResource(ctx, "https://files.example.com")
		if err != nil || res.Name != "Files API" || res.Icon != "fa-solid fa-folder" || res.Description != "Our users' files." {
			t.Fatalf("stored %+v %v", res, err)
		}
		if loc := r.Header.Get("Location"); loc != pages.ResourceURL(res.ID) {
			t.Errorf("created: Location %q", loc)
		}
		if evs := admAudit(t, h, "resource.created"); len(evs) != 1 || evs[0].Target != "https://files.example.com" || evs[0].Actor != "root" || evs[0].Details["name"] != "Files API" {
			t.Errorf("audit resource.created: %+v", evs)
		}
		page := pages.ResourceURL(res.ID)
		admContains(t, "edit page", h.get(page).body, "Resource https://files.example.com registered", "https://files.example.com", `value="Files API"`, "No scope belongs to it yet")

		// The scope form offers it, the built-in one and none.
		r = h.get("/dashboard/scopes/new")
		admContains(t, "scope form", r.body, `<select id="resource" name="resource"`, `<option value="" selected>`,
			`<option value="`+resBuiltin+`">Gatehouse API (built in)`, `<option value="https://files.example.com">Files API · https://files.example.com</option>`)
		r = h.post("/dashboard/scopes/new", "/dashboard/scopes", scopeForm("scope_id", "files.read", "resource", "https://files.example.com"))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("scope in the resource: %d", r.StatusCode)
		}
		if sc, _ := h.store.GetScope(ctx, "files.read"); sc == nil || sc.Resource != "https://files.example.com" {
			t.Fatalf("scope's resource: %+v", sc)
		}
		if evs := admAudit(t, h, "scope.created"); len(evs) != 1 || evs[0].Details["resource"] != "https://files.example.com" {
			t.Errorf("audit scope.created: %+v", evs)
		}
		r = h.get("/dashboard/scopes/files.read")
		admContains(t, "scope page", r.body, `<option value="https://files.example.com" selected>`)
		admContains(t, "scopes list", h.get("/dashboard/scopes").body, "https://files.example.com", resBuiltin, "Any resource",
			`<a href="`+page+`" class="relative font-medium text-primary-700 hover:underline">Files API</a>`, "Gatehouse API")
		admContains(t, "resources list", h.get("/dashboard/resources").body, `href="/dashboard/scopes/files.read"`)

		// Edit: the URI is not taken from the form.
		r = h.post(page, page, resourceForm("uri", "https://evil.example.com", "name", "Files", "icon", ""))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("update: %d", r.StatusCode)
		}
		res, _ = h.store.GetResource(ctx, "https://files.example.com")
		if res == nil || res.Name != "Files" || res.Icon != "" {
			t.Errorf("updated %+v", res)
		}
		if _, err := h.store.GetResource(ctx, "https://evil.example.com"); err == nil {
			t.Error("the URI changed")
		}
		if evs := admAudit(t, h, "resource.updated"); len(evs) != 1 || evs[0].Details["name"] != "Files API → Files" || evs[0].Details["icon"] != "fa-solid fa-folder → " {
			t.Errorf("audit resource.updated: %+v", evs)
		}
		// A refused edit keeps the input and changes nothing.
		r = h.post(page, page, resourceForm("name", "Renamed", "icon", "fa-nope-nope"))
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("bad update: %d", r.StatusCode)
		}
		admContains(t, "bad update", r.body, `value="Renamed"`, `value="fa-nope-nope"`, "no icon called fa-nope-nope")
		admErrorSummary(t, "bad update", r.body, "icon")
		if res, _ := h.store.GetResource(ctx, "https://files.example.com"); res.Name != "Files" {
			t.Errorf("refused edit saved: %+v", res)
		}

		// Delete: refused while files.read belongs to it.
		r = h.get(page)
		admContains(t, "danger zone in use", r.body, "1 scope belongs to this resource", "Move it to another resource", `href="/dashboard/scopes/files.read"`)
		if strings.Contains(r.body, `class="btn btn-danger"`) {
			t.Error("delete offered while a scope belongs to the resource")
		}
		r = h.post(page, page+"/delete", url.Values{"confirm": {"yes"}})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("delete in use: %d", r.StatusCode)
		}
		admContains(t, "refused delete", r.body, "1 scope belongs to this resource", "files.read")
		if _, err := h.store.GetResource(ctx, "https://files.example.com"); err != nil {
			t.Fatalf("deleted although in use: %v", err)
		}

		// The scope moves to the built-in resource; the box must be ticked.
		r = h.post("/dashboard/scopes/files.read", "/dashboard/scopes/files.read", scopeForm("scope_id", "files.read", "resource", resBuiltin))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("move the scope: %d", r.StatusCode)
		}
		if sc, _ := h.store.GetScope(ctx, "files.read"); sc.Resource != "/api" {
			t.Errorf("built-in resource stored as %q, want /api", sc.Resource)
		}
		r = h.post(page, page+"/delete", url.Values{})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("unconfirmed delete: %d", r.StatusCode)
		}
		admContains(t, "unconfirmed delete", r.body, "Tick this box to confirm", `id="confirm-error"`, `class="btn btn-danger"`,
			`/delete" novalidate>`, `<textarea id="description" name="description" rows="3" class="input font-sans"`)
		if got := admFirstAutofocus(r.body); got != "confirm" {
			t.Errorf("unconfirmed delete: autofocus on %q", got)
		}
		r = h.post(page, page+"/delete", url.Values{"confirm": {"yes"}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/resources" {
			t.Fatalf("delete: %d", r.StatusCode)
		}
		if _, err := h.store.GetResource(ctx, "https://files.example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("still there: %v", err)
		}
		if evs := admAudit(t, h, "resource.deleted"); len(evs) != 1 || evs[0].Target != "https://files.example.com" {
			t.Errorf("audit resource.deleted: %+v", evs)
		}
		admContains(t, "flash", h.get("/dashboard/resources").body, "Resource https://files.example.com deleted.")
		if r := h.get(page); r.StatusCode != http.StatusNotFound {
			t.Errorf("deleted resource's page: %d", r.StatusCode)
		}
		for _, p := range []string{"/dashboard/resources/0", "/dashboard/resources/x", "/dashboard/resources/99999"} {
			if r := h.get(p); r.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
			}
		}
	})
}

// TestScopeFormResource: a scope's resource must be registered (or the
// built-in one, or none); a refused form keeps the choice.
func TestScopeFormResource(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	r := h.post("/dashboard/scopes/new", "/dashboard/scopes", scopeForm("resource", "https://gone.example.com"))
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("unregistered resource: %d", r.StatusCode)
	}
	admContains(t, "unregistered", r.body, "No resource with this URI is registered", `id="resource-error"`,
		`<option value="https://gone.example.com" selected>`, `value="Read your orders"`)
	admErrorSummary(t, "unregistered", r.body, "resource")
	r = h.post("/dashboard/scopes/new", "/dashboard/scopes", scopeForm("resource", "nonsense"))
	admContains(t, "malformed", r.body, `id="resource-error"`, "absolute URI")
	if _, err := h.store.GetScope(context.Background(), "orders.read"); err == nil {
		t.Error("a scope with a bad resource was stored")
	}
	// user.read belongs to the built-in resource out of the box.
	admContains(t, "user.read", h.get("/dashboard/scopes/user.read").body, `<option value="`+resBuiltin+`" selected>`)
}

// TestResourceRegistryToToken: a resource registered in the dashboard,
// with a scope put in it there, binds tokens: the code flow with its URI
// (in another spelling) as resource gives a token whose audience is the
// canonical URI; the resource cannot be deleted while the scope belongs
// to it.
func TestResourceRegistryToToken(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	f := newOAuthFixture(t, h)
	admin := h.browser(t)
	admSignIn(t, admin, "root", models.RoleAdmin)
	if r := admin.post("/dashboard/resources/new", "/dashboard/resources", resourceForm("uri", "HTTPS://Files.Example.com:443/")); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d", r.StatusCode)
	}
	if r := admin.post("/dashboard/scopes/new", "/dashboard/scopes",
		scopeForm("scope_id", "files.read", "resource_path", "/files/*", "resource", "https://files.example.com")); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("scope: %d", r.StatusCode)
	}
	f.signIn()
	m := f.resourceTokens("files.read", []string{"https://FILES.example.com/"}, nil)
	at, _ := m["access_token"].(string)
	if in := f.introspect(at); in["active"] != true || in["aud"] != "https://files.example.com" || !strings.Contains(in["scope"].(string), "files.read") {
		t.Errorf("introspection %v, want aud https://files.example.com", in)
	}
	res, err := h.store.GetResource(context.Background(), "https://files.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if r := admin.post(pages.ResourceURL(res.ID), pages.ResourceURL(res.ID)+"/delete", url.Values{"confirm": {"yes"}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("delete while files.read belongs to it: %d", r.StatusCode)
	}
}

package app

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views/pages"
)

// ---- helpers shared by the admin page tests (scopes, settings, users,
// apps); prefixed so that they do not collide with other test files.

// admAudit returns the audit events with that action, newest first.
func admAudit(t *testing.T, h *harness, action string) []models.AuditEvent {
	t.Helper()
	evs, _, err := h.store.ListAuditEvents(context.Background(), models.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// admSignIn creates a user with role and signs the harness in as them.
func admSignIn(t *testing.T, h *harness, username, role string) *models.User {
	t.Helper()
	u := h.createUser(username, pw, role)
	h.clearCookies()
	if r := h.login(username, pw); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d", username, r.StatusCode)
	}
	return u
}

// admContains fails unless body contains every want (HTML-unescaped
// comparison, so messages can be written as the user reads them).
func admContains(t *testing.T, what, body string, want ...string) {
	t.Helper()
	plain := html.UnescapeString(body)
	for _, w := range want {
		if !strings.Contains(plain, w) && !strings.Contains(body, w) {
			t.Errorf("%s: body lacks %q", what, w)
		}
	}
}

var (
	admControlRE   = regexp.MustCompile(`<(?:input|select|textarea)\b[^>]*>`)
	admAutofocusRE = regexp.MustCompile(`\sautofocus(?:[\s/>=])`)
	admIDRE        = regexp.MustCompile(`\sid="([^"]*)"`)
)

// admFirstAutofocus is the id of the first control with the autofocus
// attribute (the one browsers focus), or "".
func admFirstAutofocus(body string) string {
	for _, tag := range admControlRE.FindAllString(body, -1) {
		if admAutofocusRE.MatchString(tag) {
			if m := admIDRE.FindStringSubmatch(tag); m != nil {
				return m[1]
			}
			return "(no id)"
		}
	}
	return ""
}

// admErrorSummary checks that a refused form opens with an error summary
// announced at once (role="alert") that links to each field (by control
// id), and that the first of them has the focus.
func admErrorSummary(t *testing.T, what, body string, anchors ...string) {
	t.Helper()
	i := strings.Index(body, `<div class="alert alert-error" role="alert">`)
	if i < 0 {
		t.Errorf("%s: no error summary with role=alert", what)
		return
	}
	summary := body[i:]
	if end := strings.Index(summary, "</ul>"); end >= 0 {
		summary = summary[:end]
	}
	for _, a := range anchors {
		if !strings.Contains(summary, `href="#`+a+`"`) {
			t.Errorf("%s: the error summary does not link to #%s", what, a)
		}
		if !strings.Contains(body, `id="`+a+`"`) {
			t.Errorf("%s: the summary's link #%s leads nowhere", what, a)
		}
	}
	if len(anchors) > 0 {
		if got := admFirstAutofocus(body); got != anchors[0] {
			t.Errorf("%s: autofocus on %q, want the first invalid field %q", what, got, anchors[0])
		}
	}
}

func scopeForm(kv ...string) url.Values {
	v := url.Values{"scope_id": {"orders.read"}, "name": {"Read your orders"}, "description": {"{client_name} will see the orders of {user}."},
		"icon": {"fa-solid fa-box"}, "resource_path": {"/api/orders/*"}, "method": {"GET"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestScopePermissions(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "carol", models.RoleUser)
	for _, p := range []string{"/dashboard/scopes", "/dashboard/scopes/new", "/dashboard/scopes/user.read"} {
		if r := h.get(p); r.StatusCode != http.StatusForbidden {
			t.Errorf("user GET %s: %d, want 403", p, r.StatusCode)
		}
	}

	admSignIn(t, h, "dev", models.RoleDeveloper)
	r := h.get("/dashboard/scopes")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("developer list: %d", r.StatusCode)
	}
	admContains(t, "developer list", r.body, "user.read", "GET /api/user", "Only administrators can add or change them")
	if strings.Contains(r.body, `href="/dashboard/scopes/new"`) {
		t.Error("developer sees the New scope link")
	}
	r = h.get("/dashboard/scopes/user.read")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("developer view: %d", r.StatusCode)
	}
	if strings.Contains(r.body, `action="/dashboard/scopes/user.read"`) || strings.Contains(r.body, "/delete") {
		t.Error("developer view has edit or delete forms")
	}
	admContains(t, "developer view", r.body, "scope=openid user.read", "Acme Notes will see the profile of dev")
	if r := h.get("/dashboard/scopes/new"); r.StatusCode != http.StatusForbidden {
		t.Errorf("developer GET new: %d", r.StatusCode)
	}
	writes := []struct {
		path string
		form url.Values
	}{
		{"/dashboard/scopes", scopeForm()},
		{"/dashboard/scopes/user.read", scopeForm("name", "Hijacked")},
		{"/dashboard/scopes/user.read/delete", url.Values{"confirm": {"yes"}}},
	}
	for _, w := range writes {
		if r := h.post("/dashboard/scopes", w.path, w.form); r.StatusCode != http.StatusForbidden {
			t.Errorf("developer POST %s: %d, want 403", w.path, r.StatusCode)
		}
	}
	sc, err := h.store.GetScope(context.Background(), "user.read")
	if err != nil || sc.Name != "Read your profile" {
		t.Errorf("user.read changed by a developer: %+v %v", sc, err)
	}
	if _, err := h.store.GetScope(context.Background(), "orders.read"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("developer created a scope: %v", err)
	}

	h.clearCookies()
	if r := h.get("/dashboard/scopes"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestScopeFormValidation(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	cases := []struct {
		name  string
		form  url.Values
		field string // the field whose error shows
		msg   string
		kept  string // the input shown again
	}{
		{"space in ID", scopeForm("scope_id", "orders read"), "scope_id", "may only contain letters", `value="orders read"`},
		{"quote in ID", scopeForm("scope_id", `a"b`), "scope_id", "may only contain", ""},
		{"empty ID", scopeForm("scope_id", ""), "scope_id", "The scope ID is empty.", ""},
		{"long ID", scopeForm("scope_id", strings.Repeat("x", 65)), "scope_id", "longer than 64", ""},
		{"reserved ID", scopeForm("scope_id", "new"), "scope_id", "reserved", ""},
		{"taken ID", scopeForm("scope_id", "openid"), "scope_id", "exists already", `value="openid"`},
		{"no name", scopeForm("name", " "), "name", "Give the scope a display name.", ""},
		{"relative path", scopeForm("resource_path", "api/orders"), "resource_path", "Start the path with /", `value="api/orders"`},
		{"star inside", scopeForm("resource_path", "/api/*/orders"), "resource_path", "may only end the path", ""},
		{"dot segments", scopeForm("resource_path", "/api/../admin"), "resource_path", `".."`, ""},
		{"double slash", scopeForm("resource_path", "/api//x"), "resource_path", `"//"`, ""},
		{"query", scopeForm("resource_path", "/api/orders?id=1"), "resource_path", "query string", ""},
		{"encoded", scopeForm("resource_path", "/api/%2e%2e/x"), "resource_path", "percent-encoding", ""},
		{"path without method", scopeForm("method", ""), "method", "Choose the method", ""},
		{"method without path", scopeForm("resource_path", "", "method", "POST"), "resource_path", "or set the method to None", ""},
		{"unknown method", scopeForm("method", "TRACE"), "method", "Choose GET, POST", ""},
		{"icon with extra class", scopeForm("icon", "fa-solid fa-user fa-spin"), "icon", "one style and one icon", ""},
		{"icon injection", scopeForm("icon", `fa-solid" onmouseover="x`), "icon", "Font Awesome class", ""},
		{"javascript icon", scopeForm("icon", "javascript:alert(1)"), "icon", "https://", ""},
		{"http icon", scopeForm("icon", "http://example.com/a.png"), "icon", "https://", ""},
		{"unknown icon", scopeForm("icon", "fa-solid fa-not-an-icon"), "icon", "no icon called fa-not-an-icon", `value="fa-solid fa-not-an-icon"`},
		{"style only", scopeForm("icon", "fa-regular"), "icon", "Add the icon's name", ""},
		{"svg icon", scopeForm("icon", "https://example.com/logo.svg"), "icon", "SVG images are not accepted", `value="https://example.com/logo.svg"`},
		{"SVG icon with query", scopeForm("icon", "https://cdn.example.com/a/LOGO.SVG?v=2"), "icon", "SVG images are not accepted", ""},
		{"svgz icon", scopeForm("icon", "https://example.com/logo.svgz"), "icon", "SVG images are not accepted", ""},
		{"long consent text", scopeForm("description", strings.Repeat("x", 501)), "description", "at most 500", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post("/dashboard/scopes/new", "/dashboard/scopes", tc.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", r.StatusCode)
			}
			if tc.field != "description" {
				admContains(t, tc.name, r.body, `orders of {user}.</textarea>`)
			}
			admContains(t, tc.name, r.body, tc.msg, `id="`+tc.field+`-error"`)
			admErrorSummary(t, tc.name, r.body, tc.field)
			if tc.kept != "" {
				admContains(t, tc.name, r.body, tc.kept)
			}
		})
	}
	n, err := h.store.CountScopes(context.Background())
	if err != nil || n != 5 {
		t.Errorf("scopes after refused forms: %d %v, want the 5 seeded", n, err)
	}
}

func TestScopeCreateEditDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		admSignIn(t, h, "root", models.RoleAdmin)
		r := h.get("/dashboard/scopes/new")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("new page: %d", r.StatusCode)
		}
		admContains(t, "new page", r.body, "/static/js/scopes.js?v=", "Consent screen preview", `data-user="root"`)

		r = h.post("/dashboard/scopes/new", "/dashboard/scopes", scopeForm("icon", "fa-box", "is_default", "on"))
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/scopes/orders.read" {
			t.Fatalf("create: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		sc, err := h.store.GetScope(ctx, "orders.read")
		if err != nil {
			t.Fatal(err)
		}
		if sc.Icon != "fa-solid fa-box" || sc.Method != "GET" || sc.ResourcePath != "/api/orders/*" || !sc.IsDefault {
			t.Errorf("stored scope: %+v", sc)
		}
		if evs := admAudit(t, h, "scope.created"); len(evs) != 1 || evs[0].Target != "orders.read" || evs[0].Actor != "root" {
			t.Errorf("audit scope.created: %+v", evs)
		}
		r = h.get("/dashboard/scopes/orders.read")
		admContains(t, "edit page", r.body, "Scope orders.read created", "Acme Notes will see the orders of root.", `name="resource_path"`, `value="/api/orders/*"`)
		r = h.get("/dashboard/scopes")
		admContains(t, "list", r.body, "GET /api/orders/*", "Read your orders", "Default", `href="/dashboard/scopes/new"`)

		// Edit: the scope ID is not taken from the form.
		r = h.post("/dashboard/scopes/orders.read", "/dashboard/scopes/orders.read",
			scopeForm("scope_id", "evil", "name", "Orders", "method", "*", "resource_path", "/api/orders"))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("update: %d", r.StatusCode)
		}
		sc, _ = h.store.GetScope(ctx, "orders.read")
		if sc.Name != "Orders" || sc.Method != "*" || sc.ResourcePath != "/api/orders" || sc.IsDefault {
			t.Errorf("updated scope: %+v", sc)
		}
		if _, err := h.store.GetScope(ctx, "evil"); err == nil {
			t.Error("the scope ID changed")
		}
		evs := admAudit(t, h, "scope.updated")
		if len(evs) != 1 || evs[0].Details["name"] != "Read your orders → Orders" || evs[0].Details["default"] != "true → false" {
			t.Errorf("audit scope.updated: %+v", evs)
		}
		// A refused edit keeps the input and changes nothing.
		r = h.post("/dashboard/scopes/orders.read", "/dashboard/scopes/orders.read", scopeForm("name", "Renamed", "resource_path", "nope"))
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("bad update: %d", r.StatusCode)
		}
		admContains(t, "bad update", r.body, `value="Renamed"`, `value="nope"`, "Start the path with /")
		admErrorSummary(t, "bad update", r.body, "resource_path")
		r = h.post("/dashboard/scopes/orders.read", "/dashboard/scopes/orders.read", scopeForm("name", "", "icon", "https://example.com/i.svg", "method", "TRACE"))
		admErrorSummary(t, "update with three errors", r.body, "name", "icon", "method")
		if sc, _ := h.store.GetScope(ctx, "orders.read"); sc.Name != "Orders" {
			t.Errorf("refused edit saved: %+v", sc)
		}

		// Unused: deleted without confirmation.
		r = h.post("/dashboard/scopes/orders.read", "/dashboard/scopes/orders.read/delete", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/scopes" {
			t.Fatalf("delete: %d", r.StatusCode)
		}
		if _, err := h.store.GetScope(ctx, "orders.read"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("scope still there: %v", err)
		}
		if evs := admAudit(t, h, "scope.deleted"); len(evs) != 1 || evs[0].Target != "orders.read" {
			t.Errorf("audit scope.deleted: %+v", evs)
		}
		if r := h.get("/dashboard/scopes/orders.read"); r.StatusCode != http.StatusNotFound {
			t.Errorf("deleted scope page: %d", r.StatusCode)
		}
	})
}

func TestScopeDeleteInUse(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	u := admSignIn(t, h, "root", models.RoleAdmin)
	if err := h.store.CreateScope(ctx, &models.Scope{ScopeID: "docs.read", Name: "Read docs"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*models.Client{
		{ClientID: "wiki", Name: "Wiki", Scopes: []string{"openid", "docs.read"}},
		{ClientID: "reader", Name: "Doc Reader", Scopes: []string{"docs.read"}},
	} {
		if err := h.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.store.CreateTokens(ctx, &models.Token{TokenHash: []byte("h1"), Kind: models.TokenAccess, ClientID: "wiki",
		UserID: &u.ID, Scope: "openid docs.read", FamilyID: "f", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r := h.get("/dashboard/scopes/docs.read")
	admContains(t, "danger zone", r.body, "2 clients", "1 active token", "grants it", "only scope of 1 client", "Doc Reader",
		// Deleting leaves tokens alone (DeleteScopeDetached): say so.
		"That token will not be revoked: it stays valid until it expires",
		"The scope will be dropped from it when it is refreshed.")
	if strings.Contains(r.body, "are revoked") || strings.Contains(r.body, "grant it.") {
		t.Error("danger zone: wrong wording about the tokens")
	}
	if strings.Contains(r.body, `class="btn btn-danger"`) || strings.Contains(r.body, `name="confirm"`) {
		t.Error("delete offered although a client is limited to the scope")
	}
	// Refused while "reader" has only this scope, even when confirmed.
	r = h.post("/dashboard/scopes/docs.read", "/dashboard/scopes/docs.read/delete", url.Values{"confirm": {"yes"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("delete sole scope: %d", r.StatusCode)
	}
	admContains(t, "refused delete", r.body, "The scope was not deleted", "Doc Reader")
	if _, err := h.store.GetScope(ctx, "docs.read"); err != nil {
		t.Fatalf("scope deleted: %v", err)
	}

	if err := h.store.UpdateClient(ctx, "reader", func(c *models.Client) error { c.Scopes = []string{"docs.read", "profile"}; return nil }); err != nil {
		t.Fatal(err)
	}
	// In use: the box must be ticked.
	r = h.post("/dashboard/scopes/docs.read", "/dashboard/scopes/docs.read/delete", url.Values{})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("unconfirmed delete: %d", r.StatusCode)
	}
	admContains(t, "unconfirmed delete", r.body, "Tick this box to confirm", `id="confirm-error"`, "2 clients", `class="btn btn-danger"`)
	if got := admFirstAutofocus(r.body); got != "confirm" {
		t.Errorf("unconfirmed delete: autofocus on %q, want the confirm box", got)
	}
	if _, err := h.store.GetScope(ctx, "docs.read"); err != nil {
		t.Fatalf("deleted without confirmation: %v", err)
	}
	r = h.post("/dashboard/scopes/docs.read", "/dashboard/scopes/docs.read/delete", url.Values{"confirm": {"yes"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirmed delete: %d", r.StatusCode)
	}
	admContains(t, "flash", h.get("/dashboard/scopes").body, "Scope docs.read deleted. It was removed from 2 clients.")
	for id, want := range map[string]string{"wiki": "openid", "reader": "profile"} {
		c, _ := h.store.GetClient(ctx, id)
		if strings.Join(c.Scopes, " ") != want {
			t.Errorf("%s scopes = %v, want %s", id, c.Scopes, want)
		}
	}
	if evs := admAudit(t, h, "scope.deleted"); len(evs) != 1 || evs[0].Details["clients_changed"] != "2" || evs[0].Details["active_tokens"] != "1" {
		t.Errorf("audit: %+v", evs)
	}
}

// TestScopeDeleteCountsAnyScopeClients: a client with an empty scope list
// may ask for any scope, so it uses every scope: the danger zone counts
// it, and deleting needs the confirmation.
func TestScopeDeleteCountsAnyScopeClients(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		admSignIn(t, h, "root", models.RoleAdmin)
		for _, id := range []string{"docs.read", "docs.write"} {
			if err := h.store.CreateScope(ctx, &models.Scope{ScopeID: id, Name: id}); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.store.CreateClient(ctx, &models.Client{ClientID: "anything", Name: "Anything", Scopes: []string{}}); err != nil {
			t.Fatal(err)
		}
		page := "/dashboard/scopes/docs.read"
		r := h.get(page)
		admContains(t, "danger zone", r.body, "In use:", "1 client", "may ask for it", "(none lists it, 1 may ask for any scope)", `name="confirm"`)
		r = h.post(page, page+"/delete", url.Values{})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("unconfirmed delete of a scope any-scope clients may ask for: %d, want 422", r.StatusCode)
		}
		admContains(t, "unconfirmed delete", r.body, "Tick this box to confirm")
		if _, err := h.store.GetScope(ctx, "docs.read"); err != nil {
			t.Fatalf("deleted without confirmation: %v", err)
		}

		for _, c := range []*models.Client{
			{ClientID: "wiki", Name: "Wiki", Scopes: []string{"openid", "docs.write"}},
			{ClientID: "editor", Name: "Editor", Scopes: []string{"docs.write", "docs.read"}},
		} {
			if err := h.store.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		admContains(t, "danger zone, mixed", h.get("/dashboard/scopes/docs.write").body,
			"3 clients", "(2 list it, 1 may ask for any scope)")
		r = h.post(page, page+"/delete", url.Values{"confirm": {"yes"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("confirmed delete: %d", r.StatusCode)
		}
		if _, err := h.store.GetScope(ctx, "docs.read"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("scope still there: %v", err)
		}
	})
}

// TestScopeFormPreviewBeforeButton: on narrow screens the grid is one
// column, so the consent preview must come before the submit button in
// the page; wide screens put it in the third column.
func TestScopeFormPreviewBeforeButton(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	for _, p := range []string{"/dashboard/scopes/new", "/dashboard/scopes/user.read"} {
		body := h.get(p).body
		preview, submit := strings.Index(body, `id="scope-preview"`), strings.Index(body, `<button type="submit" class="btn btn-primary">`)
		if preview < 0 || submit < 0 || preview > submit {
			t.Errorf("%s: preview at %d, submit button at %d: the preview must come first", p, preview, submit)
		}
		form := body[strings.Index(body, `<form method="post" action="/dashboard/scopes`):]
		form = form[:strings.Index(form, "</form>")]
		if !strings.Contains(form, `id="scope-preview"`) || !strings.Contains(body, `<aside class="lg:col-start-3`) {
			t.Errorf("%s: the preview is not in the form's grid, beside the fields on wide screens", p)
		}
	}
}

// TestScopeIDWithSlash: scope IDs may hold "/" (URL-style scopes); their
// pages still work.
func TestScopeIDWithSlash(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	id := "https://api.example.com/orders.read"
	r := h.post("/dashboard/scopes/new", "/dashboard/scopes", scopeForm("scope_id", id))
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	loc := r.Header.Get("Location")
	if loc != pages.ScopeURL(id) || !strings.Contains(loc, "%2F") {
		t.Fatalf("Location %q", loc)
	}
	r = h.get(loc)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("page: %d", r.StatusCode)
	}
	admContains(t, "page", r.body, id)
	r = h.post(loc, loc+"/delete", url.Values{})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if _, err := h.store.GetScope(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("not deleted: %v", err)
	}
}

// TestScopePreviewEscapes: the description is text, on the edit page's
// preview as on the consent screen.
func TestScopePreviewEscapes(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	r := h.post("/dashboard/scopes/new", "/dashboard/scopes", scopeForm("description", `<img src=x onerror=alert(1)> for {user}`))
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", r.StatusCode)
	}
	r = h.get("/dashboard/scopes/orders.read")
	if strings.Contains(r.body, "<img src=x") {
		t.Fatal("description rendered as HTML")
	}
	admContains(t, "preview", r.body, "&lt;img src=x onerror=alert(1)&gt; for root")
}

func TestScopeScriptServed(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	r := h.get("/static/js/scopes.js")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "scope-preview") {
		t.Fatalf("scopes.js: %d", r.StatusCode)
	}
	if strings.Contains(r.body, "innerHTML") {
		t.Error("scopes.js writes HTML")
	}
}

package app

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/models"
)

// Only an admin gives a client trust (SPEC.md §7.1): the password grant,
// and client credentials together with machine scopes. These tests make
// the attacks of issue 14 item 2 through the dashboard.

// fieldError returns the text of a form field's error message ("" when
// none).
func fieldError(body, field string) string {
	m := regexp.MustCompile(`(?s)<p id="` + field + `-error" class="field-error">(.*?)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], ""))
}

// Attack (b): with allow_password_grant on, a developer gave a public
// client the password grant (a forged form: the box is disabled for
// them) and could read users' passwords. Now the form is refused with a
// field error, keeping what was typed, and nothing is saved; an admin can.
func TestMachineAttack_DeveloperCannotGivePasswordGrant(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		if _, err := h.srv.Handlers.Settings.Set(context.Background(), "allow_password_grant", "true"); err != nil {
			t.Fatal(err)
		}
		h.createUser("alice", alicePW, models.RoleUser)
		signInAs(t, h, "dev", models.RoleDeveloper)
		page := h.get("/dashboard/clients/new")
		if !strings.Contains(page.body, `value="password" class="checkbox" disabled`) || !strings.Contains(page.body, "Needs an admin") {
			t.Error("the password grant is not shown as needing an admin")
		}
		withPassword := func(v url.Values) {
			v.Set("name", "Sneaky App")
			v.Set("client_type", "public")
			v["grant_types"] = []string{"authorization_code", "password"}
		}
		r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(withPassword))
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "grant_types"), "Only an admin can give a client the resource owner password grant") {
			t.Fatalf("forged create: %d %q", r.StatusCode, fieldError(r.body, "grant_types"))
		}
		if !strings.Contains(r.body, `value="Sneaky App"`) || !strings.Contains(r.body, "https://notes.example.com/cb\r\nhttp://127.0.0.1:8400/cb") {
			t.Error("the refused form lost what was typed")
		}
		if h.countClients() != 0 {
			t.Fatal("the client was created")
		}

		// Editing: the same refusal, and the grant is not saved.
		id, _ := h.createClient(clientForm(func(v url.Values) { v.Set("client_type", "public") }))
		path := "/dashboard/clients/" + id
		r = h.postMultipart(path, path, clientForm(withPassword))
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "grant_types"), "Only an admin") ||
			!strings.Contains(r.body, `value="Sneaky App"`) {
			t.Fatalf("forged update: %d %q", r.StatusCode, fieldError(r.body, "grant_types"))
		}
		cl, _ := h.store.GetClient(context.Background(), id)
		if slices.Contains(cl.GrantTypes, "password") || cl.Name == "Sneaky App" {
			t.Fatalf("saved: %+v", cl)
		}
		form := url.Values{"grant_type": {"password"}, "client_id": {id}, "username": {"alice"}, "password": {alicePW}}
		if r := h.do(http.MethodPost, "/oauth/token", form); r.StatusCode != http.StatusBadRequest || !jsonHas(r.body, "error", "unauthorized_client") {
			t.Fatalf("password grant of the developer's client: %d %s", r.StatusCode, r.body)
		}

		// An admin gives it; the developer's edits keep it, and may drop it.
		signInAs(t, h, "root", models.RoleAdmin)
		if r := h.postMultipart(path, path, clientForm(withPassword)); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("admin: %d %s", r.StatusCode, errorsIn(r.body))
		}
		if r := h.do(http.MethodPost, "/oauth/token", form); r.StatusCode != http.StatusOK {
			t.Fatalf("password grant an admin gave: %d %s", r.StatusCode, r.body)
		}
		signInAs(t, h, "dev", models.RoleDeveloper)
		page = h.get(path)
		if !strings.Contains(page.body, `value="password" class="checkbox" checked`) || !strings.Contains(page.body, "An admin gave this client this grant") {
			t.Error("the grant an admin gave is not shown, or not editable, for the developer")
		}
		if r := h.postMultipart(path, path, clientForm(withPassword, func(v url.Values) { v.Set("name", "Renamed") })); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("developer renaming a trusted client: %d %s", r.StatusCode, fieldError(r.body, "grant_types"))
		}
		if cl, _ := h.store.GetClient(context.Background(), id); cl.Name != "Renamed" || !slices.Contains(cl.GrantTypes, "password") {
			t.Fatalf("after renaming: %+v", cl)
		}
		if r := h.postMultipart(path, path, clientForm(func(v url.Values) { v.Set("client_type", "public") })); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("developer dropping the grant: %d", r.StatusCode)
		}
		if r := h.postMultipart(path, path, clientForm(withPassword)); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("developer giving it back: %d", r.StatusCode)
		}
	})
}

// Attack (c): a developer adds a machine scope to a client with client
// credentials (or client credentials to a client listing one): refused
// with a field error, nothing saved. An admin can; the developer's later
// edits keep what the admin gave.
func TestMachineAttack_DeveloperCannotAddMachineScopes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		machineScopes(t, h)
		signInAs(t, h, "dev", models.RoleDeveloper)
		cc := func(scopes ...string) func(url.Values) {
			return func(v url.Values) {
				v["grant_types"] = []string{"authorization_code", "client_credentials"}
				v["scopes"] = scopes
			}
		}
		r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(cc("openid", "files.write")))
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "grant_types"), `lists machine scopes ("files.write")`) {
			t.Fatalf("create with client credentials and a machine scope: %d %q", r.StatusCode, fieldError(r.body, "grant_types"))
		}
		if h.countClients() != 0 {
			t.Fatal("created")
		}
		id, sec := h.createClient(clientForm(cc("openid")))
		path := "/dashboard/clients/" + id
		page := h.get(path)
		if !strings.Contains(page.body, `value="files.write" class="checkbox" disabled`) || !strings.Contains(page.body, `value="admin.panel" class="checkbox" aria-describedby`) {
			t.Error("machine scopes are not shown as needing an admin on a client with client credentials")
		}
		r = h.postMultipart(path, path, clientForm(cc("openid", "files.write"), func(v url.Values) { v.Set("name", "Typed") }))
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "scopes"), `untick "files.write"`) || !strings.Contains(r.body, `value="Typed"`) {
			t.Fatalf("adding a machine scope: %d %q", r.StatusCode, fieldError(r.body, "scopes"))
		}
		if cl, _ := h.store.GetClient(ctx, id); !slices.Equal(cl.Scopes, []string{"openid"}) {
			t.Fatalf("saved: %+v", cl)
		}
		// Without client credentials the scope may be listed (users grant
		// it), but client credentials cannot be added back then.
		if r := h.postMultipart(path, path, clientForm(func(v url.Values) { v["scopes"] = []string{"openid", "files.write"} })); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("listing a machine scope without client credentials: %d %s", r.StatusCode, errorsIn(r.body))
		}
		if page := h.get(path); !strings.Contains(page.body, "Needs an admin while this client lists machine scopes (files.write)") {
			t.Error("no note that client credentials need an admin now")
		}
		r = h.postMultipart(path, path, clientForm(cc("openid", "files.write")))
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "grant_types"), "Only an admin can give client credentials") {
			t.Fatalf("adding client credentials: %d %q", r.StatusCode, fieldError(r.body, "grant_types"))
		}
		if r, m := tokenAs(h, id, sec, url.Values{"grant_type": {"client_credentials"}, "scope": {"files.write"}}); r.StatusCode != http.StatusBadRequest || m["error"] != "unauthorized_client" {
			t.Fatalf("token: %d %v", r.StatusCode, m)
		}

		// An admin gives it.
		signInAs(t, h, "root", models.RoleAdmin)
		if page := h.get(path); strings.Contains(page.body, "Needs an admin") || strings.Contains(page.body, `class="checkbox" disabled`) {
			t.Error("an admin sees choices as needing an admin")
		}
		if r := h.postMultipart(path, path, clientForm(cc("openid", "files.write"))); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("admin: %d %s", r.StatusCode, errorsIn(r.body))
		}
		_, m := tokenAs(h, id, sec, url.Values{"grant_type": {"client_credentials"}})
		if m["scope"] != "files.write" {
			t.Fatalf("token of the client the admin trusted: %v", m)
		}
		if r := forwardAuth(h, m2s(t, m, "access_token"), "PUT", "/files/report.pdf"); r.StatusCode != http.StatusOK || r.Header.Get("X-Gatehouse-User") != "" {
			t.Fatalf("verify: %d %v", r.StatusCode, r.Header)
		}

		// The developer keeps it while editing, sees it as given, and
		// cannot add another machine scope.
		signInAs(t, h, "dev", models.RoleDeveloper)
		page = h.get(path)
		if !strings.Contains(page.body, `value="files.write" class="checkbox" checked`) || !strings.Contains(page.body, `value="billing.write" class="checkbox" disabled`) {
			t.Error("the developer's form does not show the given scope and the locked one")
		}
		if r := h.postMultipart(path, path, clientForm(cc("openid", "files.write"), func(v url.Values) { v.Set("name", "Renamed") })); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("developer renaming: %d %s", r.StatusCode, errorsIn(r.body))
		}
		if r := h.postMultipart(path, path, clientForm(cc("openid", "files.write", "billing.write"))); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("developer adding billing.write: %d", r.StatusCode)
		}
		if cl, _ := h.store.GetClient(ctx, id); cl.Name != "Renamed" || !slices.Equal(cl.Scopes, []string{"openid", "files.write"}) {
			t.Fatalf("after the developer's edits: %+v", cl)
		}
	})
}

// Issue 18 review: a developer (Mallory) listed an admin's first-party
// client (payroll) in her client's may_act; a payroll token for a user
// that reached her app (sent to her API) then got tokens whose act named
// payroll. Listing a client one does not own is now trust only an admin
// gives: refused on the form with a field error and nothing saved; her
// own clients she lists freely; what an admin listed she keeps when
// editing, and may remove, but not put back.
func TestMayActAttack_DeveloperCannotListAnothersClient(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	set := func(k string, vs ...string) func(url.Values) { return func(v url.Values) { v[k] = vs } }
	signInAs(t, h, "root", models.RoleAdmin)
	payroll, _ := h.createClient(clientForm(set("name", "Payroll")))
	signInAs(t, h, "mallory", models.RoleDeveloper)
	if page := h.get("/dashboard/clients/new"); !strings.Contains(page.body, "List your own apps") {
		t.Error("the form does not tell a developer that another owner's client needs an admin")
	}
	const refused = "Only an admin can let a client act with the tokens of a client you do not own"
	r := h.postMultipart("/dashboard/clients/new", "/dashboard/clients", clientForm(set("name", "Mallory's App"), set("may_act", payroll)))
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "may_act"), refused+` ("`+payroll+`")`) {
		t.Fatalf("forged create: %d %q", r.StatusCode, fieldError(r.body, "may_act"))
	}
	if h.countClients() != 1 {
		t.Fatal("the client was created")
	}

	// Her own clients: allowed.
	own, _ := h.createClient(clientForm(set("name", "Mallory's Worker")))
	id, _ := h.createClient(clientForm(set("may_act", own)))
	path := "/dashboard/clients/" + id
	r = h.postMultipart(path, path, clientForm(set("may_act", own+"\n"+payroll)))
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fieldError(r.body, "may_act"), refused) {
		t.Fatalf("forged update: %d %q", r.StatusCode, fieldError(r.body, "may_act"))
	}
	if cl := h.client(id); !slices.Equal(cl.MayAct, []string{own}) {
		t.Fatalf("saved: %v", cl.MayAct)
	}

	audit := func(action string) map[string]string {
		t.Helper()
		var ev models.AuditEvent
		h.store.DB().Where("action = ? AND target = ?", action, id).Order("id DESC").Take(&ev)
		return ev.Details
	}
	if d := audit("client.created"); d["may_act"] != own {
		t.Errorf("client.created audit %v, want may_act %s", d, own)
	}

	// An admin lists payroll (in the audit log); her edits keep it, and
	// she may remove it.
	signInAs(t, h, "root", models.RoleAdmin)
	if r := h.postMultipart(path, path, clientForm(set("may_act", own+"\n"+payroll))); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin: %d %s", r.StatusCode, errorsIn(r.body))
	}
	if d := audit("client.updated"); d["may_act"] != own+" -> "+own+" "+payroll {
		t.Errorf("client.updated audit %v, want may_act %s -> %s %s", d, own, own, payroll)
	}
	signInAs(t, h, "mallory", models.RoleDeveloper)
	if r := h.postMultipart(path, path, clientForm(set("name", "Renamed"), set("may_act", own+"\n"+payroll))); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("developer renaming: %d %q", r.StatusCode, fieldError(r.body, "may_act"))
	}
	if cl, _ := h.store.GetClient(ctx, id); cl.Name != "Renamed" || !slices.Equal(cl.MayAct, []string{own, payroll}) {
		t.Fatalf("after renaming: %+v", cl)
	}
	if r := h.postMultipart(path, path, clientForm(set("may_act", own))); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("developer removing payroll: %d", r.StatusCode)
	}
	if r := h.postMultipart(path, path, clientForm(set("may_act", own+"\n"+payroll))); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("developer putting payroll back: %d", r.StatusCode)
	}
}

package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/models"
)

// The machine flag in the dashboard: the checkbox saves it, the list and
// the scope's page show it; the built-in scopes are not machine scopes.
func TestScopeMachineFlagDashboard(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	signInAs(t, h, "root", models.RoleAdmin)
	r := h.post("/dashboard/scopes/new", "/dashboard/scopes", url.Values{"scope_id": {"jobs.run"}, "name": {"Run jobs"}, "machine": {"on"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.StatusCode, errorsIn(r.body))
	}
	sc, err := h.store.GetScope(context.Background(), "jobs.run")
	if err != nil || !sc.Machine {
		t.Fatalf("stored %+v %v", sc, err)
	}
	var ev models.AuditEvent
	h.store.DB().Where("action = ?", "scope.created").Take(&ev)
	if ev.Details["machine"] != "true" {
		t.Errorf("audit details %v", ev.Details)
	}
	if page := h.get("/dashboard/scopes/jobs.run"); !strings.Contains(page.body, `name="machine" type="checkbox" value="on" class="checkbox" checked`) {
		t.Error("the edit form does not show the flag")
	}
	r = h.post("/dashboard/scopes/jobs.run", "/dashboard/scopes/jobs.run", url.Values{"name": {"Run jobs"}})
	if sc, _ := h.store.GetScope(context.Background(), "jobs.run"); r.StatusCode != http.StatusSeeOther || sc.Machine {
		t.Fatalf("unticking: %d %+v", r.StatusCode, sc)
	}
	// Making it a machine scope again names the clients with client
	// credentials that list it: they get it without a user from now on.
	c, _, errs, err := clients.Create(context.Background(), h.store, clients.Input{Name: "Batch", GrantTypes: []string{"client_credentials"}, Scopes: []string{"jobs.run"}}, nil)
	if err != nil {
		t.Fatal(err, errs)
	}
	r = h.post("/dashboard/scopes/jobs.run", "/dashboard/scopes/jobs.run", url.Values{"name": {"Run jobs"}, "machine": {"on"}})
	if page := h.get(r.Header.Get("Location")); !strings.Contains(page.body, "jobs.run is now a machine scope: 1 client (“Batch”) can get it without any user") {
		t.Errorf("no warning naming the client %s", c.ClientID)
	}
	list := h.get("/dashboard/scopes")
	if n := strings.Count(list.body, "fa-robot"); n != 1 {
		t.Errorf("the list shows %d machine badges, want 1 (jobs.run; no built-in scope)", n)
	}
	signInAs(t, h, "dev", models.RoleDeveloper)
	if page := h.get("/dashboard/scopes/jobs.run"); !strings.Contains(page.body, "Yes: can be granted without a user") {
		t.Error("the read-only page does not say it is a machine scope")
	}
	if page := h.get("/dashboard/scopes/user.read"); !strings.Contains(page.body, "No: granted only with a user") {
		t.Error("user.read is shown as a machine scope")
	}
}

package app

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// TestCLIResources: `resources create|list|delete` and `scopes create
// --resource`, with the rules of the dashboard; bad input exits 1 with a
// message and stores nothing.
func TestCLIResources(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.SQLiteURL(t)
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_ISSUER": "https://id.example.com"}
	ctx := context.Background()

	r := runCLI(env, "", "resources", "create", "--uri", "HTTPS://Files.Example.com:443/", "--name", "Files API",
		"--description", "Our files.", "--icon", "fa-folder")
	if r.code != 0 || r.stdout != "registered resource https://files.example.com (Files API)\n" {
		t.Fatalf("create: %+v", r)
	}
	r = runCLI(env, "", "resources", "create", "--uri", "http://localhost:3000/mcp", "--name", "Local MCP", "--json")
	var created map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &created) != nil || created["uri"] != "http://localhost:3000/mcp" || created["builtin"] != false {
		t.Fatalf("create --json: %+v", r)
	}
	st := models.New(dbtest.Open(t, dbURL))
	res, err := st.GetResource(ctx, "https://files.example.com")
	if err != nil || res.Name != "Files API" || res.Icon != "fa-solid fa-folder" || res.Description != "Our files." {
		t.Fatalf("stored %+v %v", res, err)
	}
	evs, _, err := st.ListAuditEvents(ctx, models.AuditFilter{Action: "resource.created"})
	if err != nil || len(evs) != 2 || evs[1].Actor != "cli" || evs[1].Target != "https://files.example.com" || evs[1].Details["name"] != "Files API" {
		t.Fatalf("audit %+v %v", evs, err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--uri", "https://files.example.com/", "--name", "Again"}, "error: --uri: A resource with this URI is already registered."},
		{[]string{"--uri", "https://ID.example.com/api", "--name", "Mine"}, "error: --uri: This is Gatehouse's own API, built in"},
		{[]string{"--uri", "http://api.example.com", "--name", "Plain"}, "error: --uri: Use https"},
		{[]string{"--uri", "https://api.example.com#frag", "--name", "Frag"}, "error: --uri: A resource must not contain a fragment"},
		{[]string{"--uri", "api.example.com", "--name", "Relative"}, "error: --uri: A resource must be an absolute URI"},
		{[]string{"--name", "No URI"}, "error: --uri: Enter the resource's URI"},
		{[]string{"--uri", "https://x.example.com"}, "error: --name: Give the resource a name."},
		{[]string{"--uri", "https://x.example.com", "--name", "X", "--icon", "fa-nope-nope"}, "error: --icon: Font Awesome has no icon called fa-nope-nope."},
		{[]string{"--uri", "https://x.example.com", "--name", "X", "extra"}, `error: resources create takes no arguments (got "extra")`},
	} {
		r := runCLI(env, "", append([]string{"resources", "create"}, c.args...)...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, c.want) {
			t.Errorf("resources create %q: %+v, want exit 1 with %q", c.args, r, c.want)
		}
	}
	if list, _ := st.ListResources(ctx); len(list) != 2 {
		t.Errorf("refused resources stored: %+v", list)
	}

	// Scopes join a resource by any spelling of its URI, or the built-in
	// one; an unregistered one is refused.
	if r := runCLI(env, "", "scopes", "create", "--id", "files.read", "--name", "Read files", "--resource", "https://FILES.example.com/"); r.code != 0 {
		t.Fatalf("scope in a resource: %+v", r)
	}
	if r := runCLI(env, "", "scopes", "create", "--id", "me.read", "--name", "Me", "--resource", "https://id.example.com/api"); r.code != 0 {
		t.Fatalf("scope in the built-in resource: %+v", r)
	}
	r = runCLI(env, "", "scopes", "create", "--id", "mail.read", "--name", "Mail", "--resource", "https://mail.example.com")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: --resource: No resource with this URI is registered.") {
		t.Errorf("unregistered resource: %+v", r)
	}
	r = runCLI(env, "", "scopes", "create", "--id", "bad.read", "--name", "Bad", "--resource", "not a uri")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: --resource: ") {
		t.Errorf("malformed resource: %+v", r)
	}
	for id, want := range map[string]string{"files.read": "https://files.example.com", "me.read": "/api", "user.read": "/api"} {
		if sc, err := st.GetScope(ctx, id); err != nil || sc.Resource != want {
			t.Errorf("scope %s: %+v %v, want resource %q", id, sc, err, want)
		}
	}
	if _, err := st.GetScope(ctx, "mail.read"); err == nil {
		t.Error("a scope of an unregistered resource was stored")
	}
	r = runCLI(env, "", "scopes", "list")
	if !regexp.MustCompile(`(?m)^files\.read +- +https://files\.example\.com +Read files$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^me\.read +- +https://id\.example\.com/api +Me$`).MatchString(r.stdout) {
		t.Errorf("scopes list:\n%s", r.stdout)
	}

	// List: the built-in one first, marked, with its scopes.
	r = runCLI(env, "", "resources", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 ||
		!regexp.MustCompile(`^https://id\.example\.com/api +built in +me\.read,user\.read +Gatehouse API$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^http://localhost:3000/mcp +- +Local MCP$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^https://files\.example\.com +files\.read +Files API$`).MatchString(lines[2]) {
		t.Fatalf("list:\n%s", r.stdout)
	}
	r = runCLI(env, "", "resources", "list", "--json")
	var list []struct {
		URI     string   `json:"uri"`
		Builtin bool     `json:"builtin"`
		Scopes  []string `json:"scopes"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 3 || !list[0].Builtin ||
		list[0].URI != "https://id.example.com/api" || list[2].URI != "https://files.example.com" || len(list[2].Scopes) != 1 || list[1].Scopes == nil {
		t.Fatalf("list --json: %+v\n%s", list, r.stdout)
	}

	// Delete: refused while scopes belong to it, and for the built-in one.
	r = runCLI(env, "", "resources", "delete", "https://files.example.com")
	// (A loaded machine may log a slow query first: the error is the last line.)
	if r.code != 1 || !strings.HasSuffix(r.stderr, "\nerror: resource https://files.example.com was not deleted: 1 scope still belongs to it: files.read. Move it to another resource (or none), or delete it, first.\n") &&
		r.stderr != "error: resource https://files.example.com was not deleted: 1 scope still belongs to it: files.read. Move it to another resource (or none), or delete it, first.\n" {
		t.Errorf("delete in use: %+v", r)
	}
	if _, err := st.GetResource(ctx, "https://files.example.com"); err != nil {
		t.Errorf("refused deletion deleted: %v", err)
	}
	if r := runCLI(env, "", "resources", "delete", "https://id.example.com/api/"); r.code != 1 || !strings.Contains(r.stderr, "built in: it cannot be deleted") {
		t.Errorf("delete built in: %+v", r)
	}
	if r := runCLI(env, "", "resources", "delete", "https://nope.example.com"); r.code != 1 || !strings.Contains(r.stderr, `no resource "https://nope.example.com" is registered`) {
		t.Errorf("delete unknown: %+v", r)
	}
	if r := runCLI(env, "", "resources", "delete"); r.code != 1 || !strings.Contains(r.stderr, "usage: gatehouse resources delete URI") {
		t.Errorf("delete without URI: %+v", r)
	}
	r = runCLI(env, "", "resources", "delete", "HTTP://LOCALHOST:3000/mcp")
	if r.code != 0 || r.stdout != "deleted resource http://localhost:3000/mcp\n" {
		t.Fatalf("delete: %+v", r)
	}
	if evs, _, _ := st.ListAuditEvents(ctx, models.AuditFilter{Action: "resource.deleted"}); len(evs) != 1 || evs[0].Target != "http://localhost:3000/mcp" {
		t.Errorf("audit resource.deleted: %+v", evs)
	}
	if r := runCLI(env, "", "resources", "frob"); r.code != 1 || !strings.HasPrefix(r.stderr, "error: usage: gatehouse resources create") {
		t.Errorf("unknown action: %+v", r)
	}
}

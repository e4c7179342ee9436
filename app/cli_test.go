package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/keys"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/migrations"
	"github.com/gatehouse/gatehouse/models"
)

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(env map[string]string, stdin string, args ...string) cliResult {
	var out, errb bytes.Buffer
	code := Main(args, IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return cliResult{code, out.String(), errb.String()}
}

func TestCLIVersionAndUsage(t *testing.T) {
	t.Parallel()
	r := runCLI(nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "gatehouse ") {
		t.Fatalf("version: %+v", r)
	}
	for _, args := range [][]string{{"--version"}, {"-version"}} {
		if r := runCLI(nil, "", args...); r.code != 0 || !strings.HasPrefix(r.stdout, "gatehouse ") {
			t.Errorf("%v: %+v", args, r)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if r := runCLI(nil, "", args...); r.code != 0 || !strings.Contains(r.stdout, "users create") {
			t.Errorf("%v: %+v", args, r)
		}
	}
	r = runCLI(nil, "", "frobnicate")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") || strings.Contains(r.stderr, "goroutine") {
		t.Fatalf("unknown command: %+v", r)
	}
}

func TestCLIBadConfigOneLinePerProblem(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GATEHOUSE_ISSUER": "not a url", "GATEHOUSE_DATABASE_URL": "mysql://x"}
	r := runCLI(env, "", "settings", "get")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 1 || len(lines) != 2 {
		t.Fatalf("bad config: code %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "error: GATEHOUSE_") {
			t.Errorf("line %q", l)
		}
	}
}

func TestCLIUsersCreate(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			env := map[string]string{"GATEHOUSE_DATABASE_URL": b.URL(t)}
			r := runCLI(env, "s3cret password\n", "users", "create", "--username", "Root", "--password-stdin", "--role", "admin", "--email", "root@example.com")
			if r.code != 0 || !strings.Contains(r.stdout, `created admin "root"`) {
				t.Fatalf("create: %+v", r)
			}
			// The password is the line read from stdin, without its newline.
			h := newHarness(t, env["GATEHOUSE_DATABASE_URL"], nil)
			if res := h.login("root", "s3cret password"); res.StatusCode != 303 {
				t.Fatalf("created user cannot sign in: %d", res.StatusCode)
			}
			r = runCLI(env, "another password\n", "users", "create", "--username", "root", "--password-stdin")
			if r.code != 1 || !strings.Contains(r.stderr, "error: username: This username is taken.") {
				t.Fatalf("duplicate: %+v", r)
			}
			r = runCLI(env, "short\n", "users", "create", "--username", "bob", "--password-stdin", "--role", "king")
			if r.code != 1 || !strings.Contains(r.stderr, "password:") || !strings.Contains(r.stderr, "role:") {
				t.Fatalf("invalid input: %+v", r)
			}
			r = runCLI(env, "", "users", "create", "--username", "bob")
			if r.code != 1 || !strings.Contains(r.stderr, "--password-stdin is required") {
				t.Fatalf("no --password-stdin: %+v", r)
			}
			r = runCLI(env, "long enough pw\n", "users", "create", "--username", "carol", "--password-stdin")
			if r.code != 0 || !strings.Contains(r.stdout, `created user "carol"`) {
				t.Fatalf("default role: %+v", r)
			}
		})
	}
}

func TestCLISettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbtest.SQLiteURL(t)}
	r := runCLI(env, "", "settings", "get", "access_token_lifetime")
	if r.code != 0 || r.stdout != "1h\n" {
		t.Fatalf("get default: %+v", r)
	}
	r = runCLI(env, "", "settings", "get")
	if r.code != 0 || !strings.Contains(r.stdout, "enforce_state=true\n") || strings.Count(r.stdout, "\n") != len(settings.Definitions) {
		t.Fatalf("get all: %+v", r)
	}
	r = runCLI(env, "", "settings", "set", "enforce_state", "false")
	if r.code != 0 {
		t.Fatalf("set: %+v", r)
	}
	if r := runCLI(env, "", "settings", "get", "enforce_state"); r.stdout != "false\n" {
		t.Fatalf("value not stored: %+v", r)
	}
	for _, bad := range [][]string{
		{"settings", "set", "authorization_code_lifetime", "11m"},
		{"settings", "set", "access_token_lifetime", "0s"},
		{"settings", "set", "refresh_token_lifetime", "-5m"},
		{"settings", "set", "no_such_key", "1"},
		{"settings", "get", "no_such_key"},
		{"settings", "set", "enforce_state"},
		{"settings", "set", "audit_retention", "-1h"},
		{"settings", "set", "audit_retention", "90 days"},
		{"settings", "set", "audit_retention", "30m"},
	} {
		r := runCLI(env, "", bad...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
			t.Errorf("%v: %+v", bad, r)
		}
	}
	if r := runCLI(env, "", "settings", "get", "authorization_code_lifetime"); r.stdout != "5m\n" {
		t.Fatalf("refused value changed the setting: %+v", r)
	}
	if r := runCLI(env, "", "settings", "get", "audit_retention"); r.stdout != "2160h\n" {
		t.Fatalf("refused audit_retention changed the setting: %+v", r)
	}
	// audit_retention 0 keeps everything.
	if r := runCLI(env, "", "settings", "set", "audit_retention", "0s"); r.code != 0 {
		t.Fatalf("set audit_retention 0: %+v", r)
	}
	if r := runCLI(env, "", "settings", "get", "audit_retention"); r.stdout != "0\n" {
		t.Fatalf("audit_retention 0: %+v", r)
	}
	// flags after the positional arguments work too
	r = runCLI(map[string]string{}, "", "settings", "get", "enforce_state", "--database-url", env["GATEHOUSE_DATABASE_URL"])
	if r.code != 0 || r.stdout != "false\n" {
		t.Fatalf("flag after args: %+v", r)
	}
}

func TestCLIMigrate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbtest.SQLiteURL(t)}
	r := runCLI(env, "", "migrate", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "00001") || !strings.Contains(r.stdout, "pending") {
		t.Fatalf("status on empty db: %+v", r)
	}
	files, err := fs.Glob(migrations.FS, "sqlite/*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("embedded SQLite migrations: %v %v", files, err)
	}
	// Versions are the files' numbers (which may skip some while
	// parallel work is merged); the last two are the newest and the one
	// down goes back to.
	versions := make([]int, len(files))
	for i, f := range files {
		v, err := strconv.Atoi(strings.SplitN(path.Base(f), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		versions[i] = v
	}
	n := len(files)
	if r := runCLI(env, "", "migrate"); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("applied %d migration(s); database at version %d", n, versions[n-1])) {
		t.Fatalf("up: %+v", r)
	}
	if r := runCLI(env, "", "migrate", "status"); !strings.Contains(r.stdout, "applied 20") {
		t.Fatalf("status after up: %+v", r)
	}
	if r := runCLI(env, "", "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("version %d", versions[n-2])) {
		t.Fatalf("down: %+v", r)
	}
	if r := runCLI(env, "", "migrate", "sideways"); r.code != 1 {
		t.Fatalf("bad action: %+v", r)
	}
}

// TestCLIKeys: `keys rotate` makes new keys that the running server signs
// with at once, keeps the old ones published and says until when; `keys
// list` shows them; mistakes exit 1 with "error: ".
func TestCLIKeys(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			dbURL := b.URL(t)
			env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL}
			r := runCLI(env, "", "keys", "list")
			if r.code != 0 || !strings.Contains(r.stdout, "no signing keys yet") {
				t.Fatalf("list on a fresh database: %+v", r)
			}
			h := newHarness(t, dbURL, nil) // the first start makes the keys
			before := jwksKIDs(t, h)
			if len(before) != 2 {
				t.Fatalf("JWKS after the first start: %v", before)
			}

			r = runCLI(env, "", "keys", "rotate")
			if r.code != 0 {
				t.Fatalf("rotate: %+v", r)
			}
			if !strings.Contains(r.stderr, "warning: no key secret is configured") {
				t.Errorf("no warning about unencrypted keys: %q", r.stderr)
			}
			newPart, oldPart, ok := strings.Cut(r.stdout, "retired keys, still published")
			if !ok || !strings.HasPrefix(r.stdout, "new signing keys, used from now on:\n") {
				t.Fatalf("rotate output:\n%s", r.stdout)
			}
			for _, kid := range before {
				if !strings.Contains(oldPart, kid) || strings.Contains(newPart, kid) {
					t.Errorf("old key %s not listed as retired:\n%s", kid, r.stdout)
				}
			}
			until := time.Now().Add(keys.Retention()).UTC().Format("2006-01-02T15")
			if strings.Count(oldPart, "published until "+until) != 2 {
				t.Errorf("retired keys should be published until about %s:\n%s", until, oldPart)
			}
			if !strings.Contains(newPart, "RS256") || !strings.Contains(newPart, "ES256") || strings.Count(newPart, "current") != 2 {
				t.Errorf("new keys:\n%s", newPart)
			}

			// The running server signs with the new key at once and
			// publishes all four.
			after := jwksKIDs(t, h)
			if len(after) != 4 || after[2] != before[0] || after[3] != before[1] || !strings.Contains(newPart, after[0]) {
				t.Fatalf("JWKS after rotate: %v (before %v)", after, before)
			}
			tok, err := h.srv.Handlers.Keys.Sign(context.Background(), map[string]string{"sub": "x"}, "JWT")
			if err != nil || !strings.Contains(tok, ".") {
				t.Fatal(err)
			}
			if kid := jwtKID(t, tok); kid != after[0] {
				t.Fatalf("server signs with %s, want the new %s", kid, after[0])
			}
			evs := admAudit(t, h, "keys.rotate")
			if len(evs) != 1 || evs[0].Actor != "cli" || evs[0].Target != after[0] || !strings.Contains(evs[0].Details["retired"], before[0]) {
				t.Fatalf("audit: %+v", evs)
			}

			r = runCLI(env, "", "keys", "list")
			if r.code != 0 || strings.Count(r.stdout, "current") != 2 || strings.Count(r.stdout, "published until") != 2 {
				t.Fatalf("list:\n%+v", r)
			}

			// --withdraw-old: a leaked key is unpublished at once; only the
			// newest keys remain.
			r = runCLI(env, "", "keys", "rotate", "--withdraw-old")
			if r.code != 0 || !strings.Contains(r.stdout, "old keys withdrawn") || strings.Contains(r.stdout, "still published") {
				t.Fatalf("rotate --withdraw-old: %+v", r)
			}
			final := jwksKIDs(t, h)
			if len(final) != 2 || slices.Contains(final, after[0]) || slices.Contains(final, before[0]) {
				t.Fatalf("JWKS after --withdraw-old: %v", final)
			}
			for _, kid := range append(before, after[:2]...) {
				if !strings.Contains(r.stdout, kid) {
					t.Errorf("withdrawn key %s not named:\n%s", kid, r.stdout)
				}
			}
			if evs := admAudit(t, h, "keys.rotate"); len(evs) != 2 || !strings.Contains(evs[0].Details["withdrawn"]+evs[1].Details["withdrawn"], after[0]) {
				t.Errorf("audit of the withdrawal: %+v", evs)
			}

			for _, args := range [][]string{{"keys"}, {"keys", "spin"}, {"keys", "rotate", "now"}, {"keys", "rotate", "--bogus"}} {
				r := runCLI(env, "", args...)
				if r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
					t.Errorf("%v: %+v", args, r)
				}
			}
		})
	}
}

// TestCLIKeySecret: keys made with a key secret are encrypted; serving
// without the secret, or with another, fails with a clear error (no
// panic), and `keys rotate` with the new secret recovers.
func TestCLIKeySecret(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.SQLiteURL(t)
	secret := strings.Repeat("k", 40)
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_KEY_SECRET": secret, "GATEHOUSE_ADDR": "127.0.0.1:0"}
	r := runCLI(env, "", "keys", "rotate")
	if r.code != 0 || strings.Contains(r.stderr, "warning") || strings.Count(r.stdout, " encrypted ") != 2 {
		t.Fatalf("rotate with a secret: %+v", r)
	}
	serve := func(env map[string]string) cliResult {
		done := make(chan cliResult, 1)
		go func() { done <- runCLI(env, "", "serve") }()
		select {
		case r := <-done:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("serve started although the keys cannot be decrypted")
			return cliResult{}
		}
	}
	noSecret := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_ADDR": "127.0.0.1:0"}
	r = serve(noSecret)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: signing key ") || !strings.Contains(r.stderr, "no key secret is configured") ||
		!strings.Contains(r.stderr, "GATEHOUSE_KEY_SECRET") || strings.Contains(r.stderr, "goroutine") {
		t.Fatalf("serve without the secret: %+v", r)
	}
	other := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_ADDR": "127.0.0.1:0", "GATEHOUSE_KEY_SECRET": strings.Repeat("o", 40)}
	r = serve(other)
	if r.code != 1 || !strings.Contains(r.stderr, "cannot be decrypted with the configured key secret") ||
		!strings.Contains(r.stderr, `"gatehouse keys rotate"`) || strings.Contains(r.stderr, secret) {
		t.Fatalf("serve with another secret: %+v", r)
	}
	// Recovery: rotate under the new secret; the server then starts.
	if r := runCLI(other, "", "keys", "rotate"); r.code != 0 {
		t.Fatalf("rotate under the new secret: %+v", r)
	}
	cfg := testConfig(t, dbURL, map[string]string{"GATEHOUSE_KEY_SECRET": other["GATEHOUSE_KEY_SECRET"]})
	st := models.New(dbtest.Open(t, dbURL))
	if _, err := NewServer(context.Background(), cfg, st, NewLogger(io.Discard, "error", "text")); err != nil {
		t.Fatalf("start after recovery: %v", err)
	}
}

// jwksKIDs returns the kids of the server's JWKS, in order.
func jwksKIDs(t *testing.T, h *harness) []string {
	t.Helper()
	r := h.get("/oauth/jwks")
	if r.StatusCode != 200 {
		t.Fatalf("jwks: %d %s", r.StatusCode, r.body)
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.body), &set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}

// jwtKID returns the kid of a compact JWS's header.
func jwtKID(t *testing.T, tok string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}

// scopes create validates as the dashboard's form does (same messages,
// under the flags' names), stores the scope in canonical form with an
// audit event by "cli", refuses a taken ID, and scopes list shows it.
func TestCLIScopes(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.SQLiteURL(t)
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL}
	r := runCLI(env, "", "scopes", "create", "--id", "calendar.read", "--name", "Read your calendar",
		"--description", "{client_name} will see {user}'s calendar.", "--icon", "fa-calendar",
		"--method", "get", "--path", "/api/calendar*", "--default")
	if r.code != 0 || r.stdout != "created scope \"calendar.read\"\n" {
		t.Fatalf("create: %+v", r)
	}
	st := models.New(dbtest.Open(t, dbURL))
	ctx := context.Background()
	sc, err := st.GetScope(ctx, "calendar.read")
	if err != nil {
		t.Fatal(err)
	}
	// The icon gets its default style and the method is upper-cased, as
	// the dashboard stores them.
	if sc.Name != "Read your calendar" || sc.Icon != "fa-solid fa-calendar" || sc.Method != "GET" ||
		sc.ResourcePath != "/api/calendar*" || !sc.IsDefault || sc.Description != "{client_name} will see {user}'s calendar." {
		t.Fatalf("stored scope %+v", sc)
	}
	evs, _, err := st.ListAuditEvents(ctx, models.AuditFilter{Action: "scope.created"})
	if err != nil || len(evs) != 1 || evs[0].Actor != "cli" || evs[0].Target != "calendar.read" ||
		evs[0].Details["resource_path"] != "/api/calendar*" || evs[0].Details["default"] != "true" {
		t.Fatalf("audit events %+v (%v), want one scope.created by cli", evs, err)
	}

	// A scope without a guarded resource and without a description.
	if r := runCLI(env, "", "scopes", "create", "--id", "contacts.read", "--name", "Contacts"); r.code != 0 {
		t.Fatalf("create without a resource: %+v", r)
	}
	r = runCLI(env, "", "scopes", "list")
	if r.code != 0 || !regexp.MustCompile(`(?m)^calendar\.read +GET /api/calendar\* +default +- +Read your calendar$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^contacts\.read +- +- +Contacts$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^user\.read +GET /api/user +default +http://localhost:8080/api +Read your profile$`).MatchString(r.stdout) {
		t.Fatalf("list:\n%s", r.stdout)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--id", "calendar.read", "--name", "Again"}, `error: --id: a scope "calendar.read" exists already`},
		{[]string{"--name", "No ID"}, "error: --id: The scope ID"},
		{[]string{"--id", "new", "--name", "Reserved"}, `error: --id: "new" is reserved`},
		{[]string{"--id", "has space", "--name", "Bad ID"}, "error: --id: The scope ID"},
		{[]string{"--id", "x.read"}, "error: --name: Give the scope a display name."},
		{[]string{"--id", "x.read", "--name", "X", "--icon", "fa-solid fa-no-such-icon-here"}, "error: --icon: Font Awesome has no icon called fa-no-such-icon-here."},
		{[]string{"--id", "x.read", "--name", "X", "--icon", "http://example.com/i.png"}, "error: --icon: Use an https:// address"},
		{[]string{"--id", "x.read", "--name", "X", "--method", "GET"}, "error: --path: Enter the path"},
		{[]string{"--id", "x.read", "--name", "X", "--path", "/api/x"}, "error: --method: Choose the method"},
		{[]string{"--id", "x.read", "--name", "X", "--method", "FETCH", "--path", "/api/x"}, "error: --method: Choose GET"},
		{[]string{"--id", "x.read", "--name", "X", "--method", "GET", "--path", "/api/../x"}, "error: --path: Write the path without"},
		{[]string{"--id", "x.read", "--name", "X", "extra"}, `error: scopes create takes no arguments (got "extra")`},
	} {
		r := runCLI(env, "", append([]string{"scopes", "create"}, c.args...)...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, c.want) {
			t.Errorf("scopes create %q: %+v, want exit 1 with %q", c.args, r, c.want)
		}
	}
	if _, err := st.GetScope(ctx, "x.read"); err == nil {
		t.Error("a refused scope was stored")
	}
	if r := runCLI(env, "", "scopes", "delete"); r.code != 1 || !strings.HasPrefix(r.stderr, "error: usage: gatehouse scopes create") {
		t.Errorf("unknown action: %+v", r)
	}
}

// TestCLIClientsLogoutFields: `clients create` sets the logout fields and
// the refresh token reuse interval; `clients update CLIENT_ID` changes only
// the fields whose flags are given, says what changed and records it in
// the audit log; bad input and unknown clients exit 1 with a message and
// change nothing.
func TestCLIClientsLogoutFields(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			dbURL := b.URL(t)
			env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL}
			r := runCLI(env, "", "clients", "create", "--name", "Notes", "--redirect-uri", "https://notes.example/cb",
				"--post-logout-redirect-uri", "https://notes.example/bye", "--post-logout-redirect-uri", "http://127.0.0.1:9/bye https://notes.example/bye",
				"--backchannel-logout-uri", "https://notes.example/bc", "--backchannel-logout-session-required",
				"--refresh-token-reuse-interval", "10s", "--json")
			var out map[string]string
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || out["client_id"] == "" {
				t.Fatalf("create: %+v", r)
			}
			id := out["client_id"]
			st := models.New(dbtest.Open(t, dbURL))
			ctx := context.Background()
			get := func() *models.Client {
				t.Helper()
				c, err := st.GetClient(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			c := get()
			if !slices.Equal(c.PostLogoutRedirectURIs, []string{"https://notes.example/bye", "http://127.0.0.1:9/bye"}) ||
				c.BackchannelLogoutURI != "https://notes.example/bc" || !c.BackchannelLogoutSessionRequired ||
				c.FrontchannelLogoutURI != "" || c.FrontchannelLogoutSessionRequired || c.RefreshTokenReuseSeconds == nil || *c.RefreshTokenReuseSeconds != 10 {
				t.Fatalf("created %+v", c)
			}

			// Only the flags given change; the report names each change.
			r = runCLI(env, "", "clients", "update", id, "--frontchannel-logout-uri", "https://notes.example/fc",
				"--frontchannel-logout-session-required", "--refresh-token-reuse-interval", "default")
			want := "updated client \"Notes\" (" + id + "):\n" +
				"  frontchannel_logout_uri: (none) -> https://notes.example/fc\n" +
				"  frontchannel_logout_session_required: false -> true\n" +
				"  refresh_token_reuse_interval: 10s -> default\n"
			if r.code != 0 || r.stdout != want {
				t.Fatalf("update: %+v, want stdout\n%s", r, want)
			}
			c = get()
			if c.FrontchannelLogoutURI != "https://notes.example/fc" || !c.FrontchannelLogoutSessionRequired || c.RefreshTokenReuseSeconds != nil ||
				c.BackchannelLogoutURI != "https://notes.example/bc" || len(c.PostLogoutRedirectURIs) != 2 || c.Name != "Notes" ||
				!slices.Equal(c.RedirectURIs, []string{"https://notes.example/cb"}) || len(c.SecretHash) == 0 {
				t.Fatalf("after update: %+v", c)
			}
			evs, _, err := st.ListAuditEvents(ctx, models.AuditFilter{Action: "client.updated"})
			if err != nil || len(evs) != 1 || evs[0].Actor != "cli" || evs[0].Target != id ||
				evs[0].Details["changed"] != "frontchannel_logout_uri,frontchannel_logout_session_required,refresh_token_reuse_interval" ||
				evs[0].Details["refresh_token_reuse_interval"] != "10s -> default" || evs[0].Details["frontchannel_logout_uri"] != " -> https://notes.example/fc" {
				t.Fatalf("audit events %+v (%v)", evs, err)
			}

			// Removing a logout URI turns its session-required flag off;
			// the post-logout list is replaced (here emptied); 0s is the
			// client's own "off"; flags may follow the client ID or
			// precede it.
			r = runCLI(env, "", "clients", "update", "--backchannel-logout-uri", "", id, "--post-logout-redirect-uri", "",
				"--refresh-token-reuse-interval", "0s", "--json")
			var upd struct {
				ClientID string   `json:"client_id"`
				Changed  []string `json:"changed"`
			}
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &upd) != nil || upd.ClientID != id ||
				!slices.Equal(upd.Changed, []string{"post_logout_redirect_uris", "backchannel_logout_uri", "backchannel_logout_session_required", "refresh_token_reuse_interval"}) {
				t.Fatalf("update --json: %+v", r)
			}
			c = get()
			if len(c.PostLogoutRedirectURIs) != 0 || c.BackchannelLogoutURI != "" || c.BackchannelLogoutSessionRequired ||
				c.RefreshTokenReuseSeconds == nil || *c.RefreshTokenReuseSeconds != 0 || c.FrontchannelLogoutURI != "https://notes.example/fc" {
				t.Fatalf("after clearing: %+v", c)
			}
			r = runCLI(env, "", "clients", "update", id, "--refresh-token-reuse-interval", "0s")
			if r.code != 0 || r.stdout != "client \"Notes\" ("+id+"): nothing changed\n" {
				t.Fatalf("no change: %+v", r)
			}
			r = runCLI(env, "", "clients", "update", id, "--json", "--refresh-token-reuse-interval", "0s")
			if r.code != 0 || strings.TrimSpace(r.stdout) != `{"changed":[],"client_id":"`+id+`","id_token_signed_response_alg":"RS256","token_endpoint_auth_method":"client_secret_basic"}` {
				t.Fatalf("no change, --json: %+v", r)
			}

			// Bad input: exit 1, a message naming the flag, nothing saved.
			stored := get()
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"update", id, "--refresh-token-reuse-interval", "61s"}, `error: --refresh-token-reuse-interval: "61s" is longer than 60s`},
				{[]string{"update", id, "--refresh-token-reuse-interval", "-1s"}, `error: --refresh-token-reuse-interval: "-1s" is negative`},
				{[]string{"update", id, "--refresh-token-reuse-interval", "500ms"}, `error: --refresh-token-reuse-interval: "500ms" is not a whole number of seconds`},
				{[]string{"update", id, "--refresh-token-reuse-interval", "5"}, `error: --refresh-token-reuse-interval: Add a unit to "5"`},
				{[]string{"update", id, "--backchannel-logout-uri", "http://notes.example/bc"}, "error: --backchannel-logout-uri: The back-channel logout URI must use https"},
				{[]string{"update", id, "--backchannel-logout-uri", "https://notes.example/bc#x"}, "error: --backchannel-logout-uri: The back-channel logout URI must not contain a fragment"},
				{[]string{"update", id, "--backchannel-logout-session-required"}, "error: --backchannel-logout-uri: Session required (sid in logout tokens) needs a back-channel logout URI"},
				{[]string{"update", id, "--frontchannel-logout-uri", "", "--frontchannel-logout-session-required"}, "error: --frontchannel-logout-uri: Session required"},
				{[]string{"update", id, "--frontchannel-logout-uri", "/fc"}, "error: --frontchannel-logout-uri: The front-channel logout URI must be an absolute URL"},
				{[]string{"update", id, "--post-logout-redirect-uri", "http://notes.example/bye"}, `error: --post-logout-redirect-uri: "http://notes.example/bye" must use https`},
				{[]string{"update", "nosuchclient", "--refresh-token-reuse-interval", "5s"}, `error: no client "nosuchclient"`},
				{[]string{"update", id}, "error: clients update: nothing to change"},
				{[]string{"update", id, "--json"}, "error: clients update: nothing to change"},
				{[]string{"update", "--refresh-token-reuse-interval", "5s"}, "error: clients update takes one CLIENT_ID"},
				{[]string{"update", id, id, "--refresh-token-reuse-interval", "5s"}, "error: clients update takes one CLIENT_ID"},
				{[]string{"update", id, "--name", "Renamed"}, "error: flag provided but not defined: -name"},
				{[]string{"delete", id}, "error: usage: gatehouse clients create"},
			} {
				r := runCLI(env, "", append([]string{"clients"}, c.args...)...)
				if r.code != 1 || !strings.HasPrefix(r.stderr, c.want) || strings.Contains(r.stderr, "goroutine") {
					t.Errorf("clients %q: %+v, want exit 1 with %q", c.args, r, c.want)
				}
			}
			if after := get(); !reflect.DeepEqual(after, stored) {
				t.Errorf("refused updates changed the client:\n%+v\n%+v", stored, after)
			}

			// clients create refuses the same mistakes and creates nothing.
			n, _ := st.CountClients(ctx, nil)
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"--frontchannel-logout-session-required"}, "error: --frontchannel-logout-uri: Session required"},
				{[]string{"--refresh-token-reuse-interval", "2m"}, `error: --refresh-token-reuse-interval: "2m" is longer than 60s`},
				{[]string{"--post-logout-redirect-uri", "https://notes.example/bye#x"}, "error: --post-logout-redirect-uri: "},
				{[]string{"--backchannel-logout-uri", "ftp://notes.example/bc"}, "error: --backchannel-logout-uri: The back-channel logout URI must use https"},
			} {
				args := append([]string{"clients", "create", "--name", "Bad", "--redirect-uri", "https://notes.example/cb"}, c.args...)
				r := runCLI(env, "", args...)
				if r.code != 1 || !strings.HasPrefix(r.stderr, c.want) {
					t.Errorf("%q: %+v, want exit 1 with %q", args, r, c.want)
				}
			}
			if m, _ := st.CountClients(ctx, nil); m != n {
				t.Errorf("refused creates made %d clients", m-n)
			}
		})
	}
}

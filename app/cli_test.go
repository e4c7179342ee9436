package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
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
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbtest.SQLiteURL(t)}
	r := runCLI(env, "", "settings", "get", "access_token_lifetime")
	if r.code != 0 || r.stdout != "1h\n" {
		t.Fatalf("get default: %+v", r)
	}
	r = runCLI(env, "", "settings", "get")
	if r.code != 0 || !strings.Contains(r.stdout, "enforce_state=true\n") || strings.Count(r.stdout, "\n") != 14 {
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
	} {
		r := runCLI(env, "", bad...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
			t.Errorf("%v: %+v", bad, r)
		}
	}
	if r := runCLI(env, "", "settings", "get", "authorization_code_lifetime"); r.stdout != "5m\n" {
		t.Fatalf("refused value changed the setting: %+v", r)
	}
	// flags after the positional arguments work too
	r = runCLI(map[string]string{}, "", "settings", "get", "enforce_state", "--database-url", env["GATEHOUSE_DATABASE_URL"])
	if r.code != 0 || r.stdout != "false\n" {
		t.Fatalf("flag after args: %+v", r)
	}
}

func TestCLIMigrate(t *testing.T) {
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbtest.SQLiteURL(t)}
	r := runCLI(env, "", "migrate", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "00001") || !strings.Contains(r.stdout, "pending") {
		t.Fatalf("status on empty db: %+v", r)
	}
	if r := runCLI(env, "", "migrate"); r.code != 0 || !strings.Contains(r.stdout, "applied 3 migration(s)") {
		t.Fatalf("up: %+v", r)
	}
	if r := runCLI(env, "", "migrate", "status"); !strings.Contains(r.stdout, "applied 20") {
		t.Fatalf("status after up: %+v", r)
	}
	if r := runCLI(env, "", "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "version 2") {
		t.Fatalf("down: %+v", r)
	}
	if r := runCLI(env, "", "migrate", "sideways"); r.code != 1 {
		t.Fatalf("bad action: %+v", r)
	}
}

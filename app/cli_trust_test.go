package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// TestCLITrust: `trust create|list|delete` with the rules of the
// dashboard; bad input exits 1 naming the flag and stores nothing; both
// changes are audited.
func TestCLITrust(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.SQLiteURL(t)
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_ISSUER": "https://id.example.com"}
	ctx := context.Background()
	if r := runCLI(env, "long enough pw\n", "users", "create", "--username", "deploy", "--password-stdin"); r.code != 0 {
		t.Fatalf("users create: %+v", r)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "ci-1", Use: "sig"}}})
	dir := t.TempDir()
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, set, 0o600); err != nil {
		t.Fatal(err)
	}
	private, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "ci-1"}}})
	privateFile := filepath.Join(dir, "private.json")
	if err := os.WriteFile(privateFile, private, 0o600); err != nil {
		t.Fatal(err)
	}

	r := runCLI(env, "", "trust", "create", "--issuer", "https://ci.example.com", "--name", "CI", "--jwks", jwksFile,
		"--subject", "repo:acme/app=deploy", "--scope", "user.read", "--scope", "openid", "--max-lifetime", "10m")
	if r.code != 0 || r.stdout != "trusted issuer https://ci.example.com registered: 1 subject(s), scopes openid user.read, assertions live at most 10m0s\n" {
		t.Fatalf("create: %+v", r)
	}
	r = runCLI(env, string(set), "trust", "create", "--issuer", "workload", "--jwks", "-", "--subject", "w1=deploy", "--scope", "user.read", "--json")
	var created map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &created) != nil || created["issuer"] != "workload" || created["max_lifetime_seconds"] != float64(3600) {
		t.Fatalf("create --json from stdin: %+v", r)
	}
	st := models.New(dbtest.Open(t, dbURL))
	ti, err := st.GetTrustedIssuer(ctx, "https://ci.example.com")
	if err != nil || ti.Name != "CI" || ti.Subjects["repo:acme/app"] != "deploy" || ti.MaxLifetimeSeconds != 600 || !strings.Contains(ti.JWKS, `"ci-1"`) {
		t.Fatalf("stored %+v %v", ti, err)
	}
	evs, _, err := st.ListAuditEvents(ctx, models.AuditFilter{Action: "trust.created"})
	if err != nil || len(evs) != 2 || evs[1].Actor != "cli" || evs[1].Target != "https://ci.example.com" || evs[1].Details["subjects"] != "repo:acme/app=deploy" {
		t.Fatalf("audit %+v %v", evs, err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--issuer", "https://ci.example.com", "--jwks", jwksFile, "--subject", "s=deploy", "--scope", "openid"}, "error: --issuer: This issuer is registered already."},
		{[]string{"--issuer", "x", "--subject", "s=deploy", "--scope", "openid"}, "error: --jwks: Give the issuer's public keys"},
		{[]string{"--issuer", "x", "--jwks", jwksFile, "--jwks-uri", "https://x.example/jwks", "--subject", "s=deploy", "--scope", "openid"}, "error: --jwks: Give either"},
		{[]string{"--issuer", "x", "--jwks", privateFile, "--subject", "s=deploy", "--scope", "openid"}, `error: --jwks: Key 1 (kid "ci-1") is a private key`},
		{[]string{"--issuer", "x", "--jwks", filepath.Join(dir, "nope.json"), "--subject", "s=deploy", "--scope", "openid"}, "error: --jwks: open "},
		{[]string{"--issuer", "x", "--jwks-uri", "http://x.example/jwks", "--subject", "s=deploy", "--scope", "openid"}, "error: --jwks-uri: The JWKS URL must use https"},
		{[]string{"--issuer", "x", "--jwks", jwksFile, "--subject", "s=nobody", "--scope", "openid"}, `error: --subject: No user "nobody"`},
		{[]string{"--issuer", "x", "--jwks", jwksFile, "--subject", "s=deploy", "--scope", "offline_access"}, "error: --scope: Leave out offline_access"},
		{[]string{"--issuer", "x", "--jwks", jwksFile, "--subject", "s=deploy", "--scope", "openid", "--max-lifetime", "48h"}, "error: --max-lifetime: Use 1m to 24h"},
		{[]string{"--jwks", jwksFile, "--subject", "s=deploy", "--scope", "openid"}, "error: --issuer: Enter the issuer"},
		{[]string{"--issuer", "x", "--jwks", jwksFile, "--scope", "openid", "extra"}, `error: trust create takes no arguments (got "extra")`},
	} {
		r := runCLI(env, "", append([]string{"trust", "create"}, c.args...)...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, c.want) {
			t.Errorf("trust create %q: %+v, want exit 1 with %q", c.args, r, c.want)
		}
	}
	if list, _ := st.ListTrustedIssuers(ctx); len(list) != 2 {
		t.Errorf("refused issuers stored: %+v", list)
	}

	r = runCLI(env, "", "trust", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "https://ci.example.com") || !strings.Contains(r.stdout, "repo:acme/app=deploy") || !strings.Contains(r.stdout, "JWK Set, 1 key") {
		t.Fatalf("list: %+v", r)
	}
	r = runCLI(env, "", "trust", "list", "--json")
	var list []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 2 || list[0]["issuer"] != "https://ci.example.com" || list[1]["issuer"] != "workload" {
		t.Fatalf("list --json: %+v", r)
	}
	if _, ok := list[0]["jwks"].(map[string]any); !ok {
		t.Errorf("list --json: jwks is not an object: %v", list[0]["jwks"])
	}

	if r := runCLI(env, "", "trust", "delete", "https://ci.example.com/"); r.code != 1 || !strings.Contains(r.stderr, "matched exactly") {
		t.Errorf("delete another spelling: %+v", r)
	}
	if r := runCLI(env, "", "trust", "delete"); r.code != 1 || !strings.HasPrefix(r.stderr, "error: usage: gatehouse trust delete ISS") {
		t.Errorf("delete without issuer: %+v", r)
	}
	if r := runCLI(env, "", "trust", "delete", "https://ci.example.com"); r.code != 0 || r.stdout != "deleted trusted issuer https://ci.example.com\n" {
		t.Fatalf("delete: %+v", r)
	}
	if list, _ := st.ListTrustedIssuers(ctx); len(list) != 1 || list[0].Issuer != "workload" {
		t.Errorf("after delete: %+v", list)
	}
	evs, _, err = st.ListAuditEvents(ctx, models.AuditFilter{Action: "trust.deleted"})
	if err != nil || len(evs) != 1 || evs[0].Target != "https://ci.example.com" || evs[0].Actor != "cli" {
		t.Fatalf("delete audit %+v %v", evs, err)
	}
	// The common flags work (but --issuer, which is the trusted issuer).
	r = runCLI(map[string]string{"GATEHOUSE_ISSUER": "https://id.example.com"}, "", "trust", "list", "--database-url", dbURL)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "workload ") {
		t.Errorf("list --database-url: %+v", r)
	}
	if r := runCLI(env, "", "trust"); r.code != 1 || !strings.Contains(r.stderr, "gatehouse trust create --issuer ISS") {
		t.Errorf("trust alone: %+v", r)
	}
}

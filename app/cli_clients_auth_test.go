package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// `clients create` and `clients update` take the authentication and
// security flags of SPEC.md §7.4, print them with --json, and refuse bad
// values with a message naming the flag (exit 1, nothing saved).
func TestCLIClientsAuthFields(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) { testCLIClientsAuthFields(t, b.URL(t)) })
	}
}

func testCLIClientsAuthFields(t *testing.T, dbURL string) {
	env := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL, "GATEHOUSE_KEY_SECRET": testKeySecret}
	noKey := map[string]string{"GATEHOUSE_DATABASE_URL": dbURL}
	st := models.New(dbtest.Open(t, dbURL))
	ctx := context.Background()
	get := func(id string) *models.Client {
		t.Helper()
		c, err := st.GetClient(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	create := func(env map[string]string, args ...string) map[string]any {
		t.Helper()
		r := runCLI(env, "", append([]string{"clients", "create", "--name", "Svc", "--redirect-uri", "https://svc.example/cb", "--json"}, args...)...)
		var out map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
			t.Fatalf("create %q: %+v", args, r)
		}
		return out
	}
	dir := t.TempDir()
	keys := publicJWKS(t, "k1")
	keysFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(keysFile, []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	privFile := filepath.Join(dir, "private.json")
	if err := os.WriteFile(privFile, []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}

	// Defaults: client_secret_basic and RS256, flags at false left out.
	out := create(env)
	if out["token_endpoint_auth_method"] != "client_secret_basic" || out["id_token_signed_response_alg"] != "RS256" ||
		!strings.HasPrefix(out["client_secret"].(string), "gcs_") || out["dpop_bound_access_tokens"] != nil || out["may_act"] != nil {
		t.Fatalf("default: %v", out)
	}
	basicID := out["client_id"].(string)

	// client_secret_jwt: the secret printed is the one kept sealed.
	out = create(env, "--token-endpoint-auth-method", "client_secret_jwt", "--dpop-bound", "--require-par",
		"--id-token-signed-response-alg", "ES256", "--may-act", basicID)
	jwtID := out["client_id"].(string)
	c := get(jwtID)
	if got, err := openSecret(c); err != nil || got != out["client_secret"] {
		t.Fatalf("sealed %q (%v), printed %v", got, err, out["client_secret"])
	}
	if out["dpop_bound_access_tokens"] != true || out["require_pushed_authorization_requests"] != true || out["id_token_signed_response_alg"] != "ES256" ||
		!reflect.DeepEqual(out["may_act"], []any{basicID}) || !c.DPoPBoundAccessTokens || !c.RequirePushedAuthorizationRequests || !slices.Equal(c.MayAct, []string{basicID}) {
		t.Fatalf("client_secret_jwt: %v %+v", out, c)
	}

	// private_key_jwt from a file: no secret; the keys in the output.
	out = create(env, "--token-endpoint-auth-method", "private_key_jwt", "--jwks", keysFile)
	pkID := out["client_id"].(string)
	if out["client_secret"] != nil || get(pkID).SecretHash != nil || get(pkID).JWKS != keys {
		t.Fatalf("private_key_jwt: %v", out)
	}
	if k, ok := out["jwks"].(map[string]any); !ok || len(k["keys"].([]any)) != 1 {
		t.Fatalf("jwks printed as %v", out["jwks"])
	}
	// From stdin, and the text output says there is no secret.
	r := runCLI(env, keys, "clients", "create", "--name", "Stdin", "--grant-type", "client_credentials", "--token-endpoint-auth-method", "private_key_jwt", "--jwks", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "private_key_jwt: no secret") || strings.Contains(r.stdout, "client_secret:") {
		t.Fatalf("--jwks -: %+v", r)
	}
	// none is a public client.
	out = create(env, "--token-endpoint-auth-method", "none")
	if out["client_secret"] != nil || !get(out["client_id"].(string)).Public || out["token_endpoint_auth_method"] != "none" {
		t.Fatalf("none: %v", out)
	}
	if out = create(env, "--public"); out["token_endpoint_auth_method"] != "none" {
		t.Fatalf("--public: %v", out)
	}

	// Refusals, each naming its flag; nothing created.
	n, _ := st.CountClients(ctx, nil)
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{noKey, []string{"--token-endpoint-auth-method", "client_secret_jwt"}, "error: --token-endpoint-auth-method: client_secret_jwt needs the server's key secret (GATEHOUSE_KEY_SECRET)"},
		{env, []string{"--token-endpoint-auth-method", "magic"}, `error: --token-endpoint-auth-method: "magic" is not a client authentication method`},
		{env, []string{"--public", "--token-endpoint-auth-method", "client_secret_basic"}, "error: --token-endpoint-auth-method: A public client authenticates with none"},
		{env, []string{"--token-endpoint-auth-method", "private_key_jwt"}, "error: --jwks: Private key JWT needs the client's public keys"},
		{env, []string{"--token-endpoint-auth-method", "private_key_jwt", "--jwks", privFile}, `error: --jwks: Key 1 is a private key (it has "d")`},
		{env, []string{"--token-endpoint-auth-method", "private_key_jwt", "--jwks", filepath.Join(dir, "missing.json")}, "error: --jwks: no such file or directory"},
		{env, []string{"--token-endpoint-auth-method", "private_key_jwt", "--jwks-uri", "http://keys.example/jwks"}, "error: --jwks-uri: The JWKS URL must use https"},
		{env, []string{"--token-endpoint-auth-method", "private_key_jwt", "--jwks", keysFile, "--jwks-uri", "https://keys.example/jwks"}, "error: --jwks: Give either"},
		{env, []string{"--jwks", keysFile}, "error: --jwks: Public keys are used only with private_key_jwt"},
		{env, []string{"--id-token-signed-response-alg", "HS256"}, `error: --id-token-signed-response-alg: "HS256" is not an ID token signing algorithm`},
		{env, []string{"--may-act", "ghost"}, `error: --may-act: "ghost" is not a client on this server`},
	} {
		args := append([]string{"clients", "create", "--name", "Bad", "--redirect-uri", "https://svc.example/cb"}, tc.args...)
		r := runCLI(tc.env, "", args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, tc.want) || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("%q: %+v, want exit 1 with %q", tc.args, r, tc.want)
		}
	}
	if m, _ := st.CountClients(ctx, nil); m != n {
		t.Errorf("refused creates made %d clients", m-n)
	}

	// update: switching to client_secret_jwt prints a new secret, once.
	r = runCLI(env, "", "clients", "update", basicID, "--token-endpoint-auth-method", "client_secret_jwt")
	c = get(basicID)
	sealed, err := openSecret(c)
	if r.code != 0 || err != nil || !strings.Contains(r.stdout, "  token_endpoint_auth_method: client_secret_basic -> client_secret_jwt\n") ||
		!strings.Contains(r.stdout, "client_secret: "+sealed+"\n") || !strings.Contains(r.stdout, "the old secret no longer works") {
		t.Fatalf("to client_secret_jwt: %+v (%v)", r, err)
	}
	evs, _, _ := st.ListAuditEvents(ctx, models.AuditFilter{Action: "client.updated"})
	if len(evs) != 1 || evs[0].Details["secret"] != "rotated" || evs[0].Details["token_endpoint_auth_method"] != "client_secret_basic -> client_secret_jwt" {
		t.Fatalf("audit %+v", evs)
	}
	// Without the key secret, neither that nor any other change to a
	// client_secret_jwt client goes through.
	if r := runCLI(noKey, "", "clients", "update", basicID, "--dpop-bound"); r.code != 1 || !strings.Contains(r.stderr, "GATEHOUSE_KEY_SECRET") {
		t.Fatalf("update without key secret: %+v", r)
	}

	// To private_key_jwt with a URL: the secret goes; --json says what changed.
	r = runCLI(env, "", "clients", "update", basicID, "--token-endpoint-auth-method", "private_key_jwt", "--jwks-uri", "https://svc.example/jwks",
		"--dpop-bound", "--may-act", jwtID, "--json")
	var upd map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &upd) != nil || upd["jwks_uri"] != "https://svc.example/jwks" || upd["client_secret"] != nil ||
		!reflect.DeepEqual(upd["changed"], []any{"token_endpoint_auth_method", "jwks_uri", "dpop_bound_access_tokens", "may_act"}) {
		t.Fatalf("to private_key_jwt: %+v", r)
	}
	if c := get(basicID); c.SecretHash != nil || c.SecretSealed != nil || c.JWKSURI != "https://svc.example/jwks" || !c.DPoPBoundAccessTokens {
		t.Fatalf("stored %+v", c)
	}
	// New keys of the other kind replace the URL; =false turns a flag off.
	r = runCLI(env, "", "clients", "update", basicID, "--jwks", keysFile, "--dpop-bound=false", "--may-act", "")
	if c := get(basicID); r.code != 0 || c.JWKS != keys || c.JWKSURI != "" || c.DPoPBoundAccessTokens || len(c.MayAct) != 0 ||
		!strings.Contains(r.stdout, "  jwks: (none) -> 1 key (kid k1)\n") || !strings.Contains(r.stdout, "  jwks_uri: https://svc.example/jwks -> (none)\n") {
		t.Fatalf("replace keys: %+v %+v", r, c)
	}
	// Back to a secret: the keys go, a secret is issued and printed.
	r = runCLI(env, "", "clients", "update", basicID, "--token-endpoint-auth-method", "client_secret_post", "--json")
	upd = nil
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &upd) != nil || !strings.HasPrefix(upd["client_secret"].(string), "gcs_") || upd["jwks"] != nil {
		t.Fatalf("to client_secret_post: %+v", r)
	}
	if c := get(basicID); c.JWKS != "" || c.SecretHash == nil || c.TokenEndpointAuthMethod != "client_secret_post" {
		t.Fatalf("stored %+v", c)
	}
	// none makes it public; a confidential method makes it confidential again.
	if r := runCLI(env, "", "clients", "update", basicID, "--token-endpoint-auth-method", "none"); r.code != 0 || !get(basicID).Public ||
		!strings.Contains(r.stdout, "  public: false -> true\n") || !strings.Contains(r.stdout, "the client secret was deleted") {
		t.Fatalf("to none: %+v", r)
	}
	if r := runCLI(env, "", "clients", "update", basicID, "--token-endpoint-auth-method", "client_secret_basic"); r.code != 0 || get(basicID).Public ||
		!strings.Contains(r.stdout, "client_secret: gcs_") {
		t.Fatalf("to client_secret_basic: %+v", r)
	}

	// Refused updates change nothing.
	stored := get(pkID)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--id-token-signed-response-alg", "none"}, "error: --id-token-signed-response-alg:"},
		{[]string{"--jwks-uri", "https://u:p@svc.example/jwks"}, "error: --jwks-uri: The JWKS URL must not contain a user name or password"},
		{[]string{"--jwks", privFile}, "error: --jwks: Key 1 is a private key"},
		{[]string{"--may-act", pkID}, "error: --may-act: A client may always act with its own tokens"},
		{[]string{"--token-endpoint-auth-method", "none"}, "error: --grant-type: Public clients cannot use client credentials"},
	} {
		if tc.args[1] == "none" {
			// Give the client the grant that public clients cannot have.
			_ = st.UpdateClient(ctx, pkID, func(c *models.Client) error { c.GrantTypes = []string{"client_credentials"}; return nil })
			stored = get(pkID)
		}
		r := runCLI(env, "", append([]string{"clients", "update", pkID}, tc.args...)...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("update %q: %+v, want %q", tc.args, r, tc.want)
		}
	}
	if after := get(pkID); !reflect.DeepEqual(after, stored) {
		t.Errorf("refused updates changed the client:\n%+v\n%+v", stored, after)
	}
}

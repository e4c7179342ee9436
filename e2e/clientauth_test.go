package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
)

// e2eKeySecret is the GATEHOUSE_KEY_SECRET of the assertion test's server
// and command line: the client_secret_jwt client's secret is sealed under
// it.
const e2eKeySecret = "e2e-key-secret-0123456789abcdefghijklmnop"

// assertionClient is a client of the script oidcclient/clientauth.mjs.
type assertionClient struct {
	Name     string          `json:"name"`
	ClientID string          `json:"client_id"`
	Method   string          `json:"method"`
	JWK      json.RawMessage `json:"jwk,omitempty"`
	Secret   string          `json:"secret,omitempty"`
}

// assertionResult is what the script saw for one client.
type assertionResult struct {
	MethodsAdvertised            []string       `json:"methods_advertised"`
	AlgsAdvertised               []string       `json:"algs_advertised"`
	TokenType                    string         `json:"token_type"`
	HasAccessToken               bool           `json:"has_access_token"`
	Introspection                map[string]any `json:"introspection"`
	IntrospectionAfterRevocation map[string]any `json:"introspection_after_revocation"`
	WrongAud                     struct {
		Accepted         bool   `json:"accepted"`
		Status           int    `json:"status"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	} `json:"wrong_aud"`
}

// privateJWK is the private JWK of key with kid and alg, as the script
// imports it.
func privateJWK(t *testing.T, key any, kid, alg string) json.RawMessage {
	t.Helper()
	b, err := jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publicJWKS is the JWK Set of the public halves of keys (by kid).
func publicJWKS(t *testing.T, keys map[string]any) string {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOpenIDClientAssertions: panva's openid-client authenticates with
// private_key_jwt (an RS256 and a PS256 key pasted as the clients' jwks,
// an ES256 key at a jwks_uri the server fetches) and client_secret_jwt
// (HS256 with the secret the server keeps sealed under
// GATEHOUSE_KEY_SECRET) against the real binary on SQLite and PostgreSQL:
// client credentials, introspection and revocation, each with a fresh
// assertion; an assertion with a wrong aud is 401 invalid_client saying
// so (rule 46). The clients are made with `clients create
// --token-endpoint-auth-method` (and --jwks FILE, --jwks-uri URL). (Ed25519 keys are not in it: oauth4webapi signs with them as
// alg "Ed25519" (RFC 9864), which go-jose does not know; the server says
// so. EdDSA is covered by the Go tests.)
func TestOpenIDClientAssertions(t *testing.T) {
	node, script := nodeScript(t, "clientauth.mjs", "openid-client")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	psKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var jwksHits atomic.Int64
	served := publicJWKS(t, map[string]any{"ec-1": ecKey.Public()})
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write([]byte(served))
	}))
	defer jwksSrv.Close()

	for _, b := range dbtest.Backends() {
		t.Run(b.Dialect, func(t *testing.T) {
			dbURL := b.URL(t)
			o := startOAuthWith(t, dbURL, serverOptions{env: []string{"GATEHOUSE_KEY_SECRET=" + e2eKeySecret, "GATEHOUSE_ALLOW_PRIVATE_FETCH=1"}})
			// The clients, made with the command line as an admin would
			// (client_secret_jwt seals the secret under the key secret).
			create := func(name string, args ...string) (string, string) {
				args = append([]string{"clients", "create", "--json", "--name", name, "--grant-type", "client_credentials"}, args...)
				cmd := exec.Command(binary, args...)
				// As the server: the jwks_uri is plain http on 127.0.0.1,
				// which only a server fetching from private addresses may
				// register (clients.CheckJWKSURI).
				cmd.Env = append(os.Environ(), "GATEHOUSE_DATABASE_URL="+dbURL, "GATEHOUSE_KEY_SECRET="+e2eKeySecret, "GATEHOUSE_ALLOW_PRIVATE_FETCH=1")
				out, err := cmd.Output()
				var v struct {
					ClientID     string `json:"client_id"`
					ClientSecret string `json:"client_secret"`
				}
				if err != nil || json.Unmarshal(out, &v) != nil || v.ClientID == "" {
					t.Fatalf("gatehouse %s: %v %s", strings.Join(args, " "), err, out)
				}
				return v.ClientID, v.ClientSecret
			}
			jwksFile := func(kid string, key any) string {
				f := filepath.Join(t.TempDir(), kid+".json")
				if err := os.WriteFile(f, []byte(publicJWKS(t, map[string]any{kid: key})), 0o600); err != nil {
					t.Fatal(err)
				}
				return f
			}
			pm := oauth.AuthPrivateKeyJWT
			rsID, _ := create("rs256-pasted", "--token-endpoint-auth-method", pm, "--jwks", jwksFile("rsa-1", rsaKey.Public()))
			esID, _ := create("es256-jwks-uri", "--token-endpoint-auth-method", pm, "--jwks-uri", jwksSrv.URL+"/jwks.json")
			psID, _ := create("ps256-pasted", "--token-endpoint-auth-method", pm, "--jwks", jwksFile("ps-1", psKey.Public()))
			csID, csSecret := create("hs256", "--token-endpoint-auth-method", oauth.AuthSecretJWT)
			clients := []assertionClient{
				{Name: "rs256-pasted", ClientID: rsID, Method: pm, JWK: privateJWK(t, rsaKey, "rsa-1", "RS256")},
				{Name: "es256-jwks-uri", ClientID: esID, Method: pm, JWK: privateJWK(t, ecKey, "ec-1", "ES256")},
				{Name: "ps256-pasted", ClientID: psID, Method: pm, JWK: privateJWK(t, psKey, "ps-1", "PS256")},
				{Name: "hs256", ClientID: csID, Method: oauth.AuthSecretJWT, Secret: csSecret},
			}
			if csSecret == "" {
				t.Fatal("clients create gave the client_secret_jwt client no secret")
			}
			list, _ := json.Marshal(clients)

			rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(rctx, node, script)
			cmd.Env = append(os.Environ(), "OIDC_ISSUER="+o.base, "OIDC_CLIENTS="+string(list))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("clientauth.mjs failed: %v\nstdout: %s\nstderr: %s\nserver log: %s", err, stdout.String(), stderr.String(), o.log)
			}
			var res map[string]assertionResult
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("clientauth.mjs printed %q: %v", stdout.String(), err)
			}
			t.Logf("openid-client: %s", stdout.String())
			for _, c := range clients {
				r, ok := res[c.Name]
				if !ok {
					t.Fatalf("%s: no result", c.Name)
				}
				if !slices.Contains(r.MethodsAdvertised, c.Method) || !slices.Contains(r.AlgsAdvertised, "ES256") {
					t.Errorf("%s: discovery advertises %v / %v", c.Name, r.MethodsAdvertised, r.AlgsAdvertised)
				}
				if !r.HasAccessToken || !strings.EqualFold(r.TokenType, "bearer") {
					t.Errorf("%s: token %+v", c.Name, r)
				}
				if r.Introspection["active"] != true || r.Introspection["client_id"] != c.ClientID {
					t.Errorf("%s: introspection %v", c.Name, r.Introspection)
				}
				if r.IntrospectionAfterRevocation["active"] != false {
					t.Errorf("%s: introspection after revocation %v", c.Name, r.IntrospectionAfterRevocation)
				}
				if w := r.WrongAud; w.Accepted || w.Status != http.StatusUnauthorized || w.Error != "invalid_client" || !strings.Contains(w.ErrorDescription, "aud") {
					t.Errorf("%s: wrong aud: %+v", c.Name, w)
				}
			}
		})
	}
	// The jwks_uri was fetched once per server: cached (max-age=300).
	if n, want := jwksHits.Load(), int64(len(dbtest.Backends())); n != want {
		t.Errorf("jwks_uri fetched %d times, want %d", n, want)
	}
}

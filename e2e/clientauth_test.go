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
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// e2eKeySecret is the GATEHOUSE_KEY_SECRET of the assertion test's
// server: the test seals the client_secret_jwt client's secret with it.
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
// so (rule 46). The clients are written to the database directly, as the
// clients service will once `clients create --token-endpoint-auth-method`
// exists. (Ed25519 keys are not in it: oauth4webapi signs with them as
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
			st := models.New(dbtest.Open(t, dbURL))
			ctx := context.Background()
			grants := []string{oauth.GrantClientCredentials}
			csj := oauth.NewCredentials(false)
			clients := []assertionClient{
				{Name: "rs256-pasted", ClientID: "pkj-rs256-" + b.Dialect, Method: oauth.AuthPrivateKeyJWT, JWK: privateJWK(t, rsaKey, "rsa-1", "RS256")},
				{Name: "es256-jwks-uri", ClientID: "pkj-es256-" + b.Dialect, Method: oauth.AuthPrivateKeyJWT, JWK: privateJWK(t, ecKey, "ec-1", "ES256")},
				{Name: "ps256-pasted", ClientID: "pkj-ps256-" + b.Dialect, Method: oauth.AuthPrivateKeyJWT, JWK: privateJWK(t, psKey, "ps-1", "PS256")},
				{Name: "hs256", ClientID: csj.ClientID, Method: oauth.AuthSecretJWT, Secret: csj.Secret},
			}
			rows := []*models.Client{
				{ClientID: clients[0].ClientID, JWKS: publicJWKS(t, map[string]any{"rsa-1": rsaKey.Public()})},
				{ClientID: clients[1].ClientID, JWKSURI: jwksSrv.URL + "/jwks.json"},
				{ClientID: clients[2].ClientID, JWKS: publicJWKS(t, map[string]any{"ps-1": psKey.Public()})},
				{ClientID: csj.ClientID, SecretHash: csj.SecretHash, SecretHint: csj.SecretHint,
					SecretSealed: secret.NewClientSecretSealer(e2eKeySecret).Seal(csj.ClientID, csj.Secret)},
			}
			for i, r := range rows {
				r.Name, r.GrantTypes, r.TokenEndpointAuthMethod = clients[i].Name, grants, clients[i].Method
				if err := st.CreateClient(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			list, _ := json.Marshal(clients)

			rctx, cancel := context.WithTimeout(ctx, time.Minute)
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

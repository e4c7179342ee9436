package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/oauth"
)

// basicAuthTransport authenticates every request as a client with HTTP
// Basic (golang.org/x/oauth2/jwt sends no client authentication of its
// own: it is given this transport through the oauth2.HTTPClient context
// value) and records the last token request's form.
type basicAuthTransport struct {
	id, secret string
	mu         sync.Mutex
	lastForm   url.Values
	lastAuth   string
}

func (b *basicAuthTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	form, _ := url.ParseQuery(string(body))
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(strings.NewReader(string(body)))
	if b.id != "" {
		r2.SetBasicAuth(url.QueryEscape(b.id), url.QueryEscape(b.secret))
	}
	b.mu.Lock()
	b.lastForm, b.lastAuth = form, r2.Header.Get("Authorization")
	b.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r2)
}

// jwtError is the error code and description of a refused
// golang.org/x/oauth2/jwt request (its RetrieveError carries only the
// body).
func jwtError(t *testing.T, err error) (int, string, string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a token endpoint error", err)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(re.Body, &body); err != nil {
		t.Fatalf("error body %q: %v", re.Body, err)
	}
	return re.Response.StatusCode, body.Error, body.Description
}

// TestJWTBearerGrant: a trusted issuer registered with `gatehouse trust
// create`, and golang.org/x/oauth2/jwt's token source, as is, signing the
// assertions (RS256, its one-hour lifetime, scopes in the scope claim);
// the client authenticates with Basic through the HTTP client it is
// given. The access token is for the mapped user at /api/user; a second
// use of the same jti or of the same assertion without jti, an unmapped
// subject, an unauthenticated request and a deleted trust are refused.
func TestJWTBearerGrant(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.SQLiteURL(t)
	o := startOAuth(t, dbURL)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "ci-1", Use: "sig", Algorithm: "RS256"}}})
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, set, 0o600); err != nil {
		t.Fatal(err)
	}
	const iss = "https://ci.example.com"
	gatehouseCLI(t, dbURL, "", "trust", "create", "--issuer", iss, "--name", "CI", "--jwks", jwksFile,
		"--subject", "repo:acme/app="+oauthUser, "--scope", "user.read", "--scope", "openid")
	id, secret := createClient(t, dbURL, "--name", "Deployer", "--grant-type", oauth.GrantJWTBearer, "--scope", "user.read", "--scope", "openid")

	rt := &basicAuthTransport{id: id, secret: secret}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rt, Timeout: 10 * time.Second})
	jti := func() map[string]any {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return map[string]any{"jti": base64.RawURLEncoding.EncodeToString(b)}
	}
	conf := func(sub, aud string, claims map[string]any) *jwt.Config {
		return &jwt.Config{Email: iss, Subject: sub, PrivateKey: pemKey, PrivateKeyID: "ci-1", Scopes: []string{"user.read"},
			TokenURL: o.base + "/oauth/token", Audience: aud, PrivateClaims: claims}
	}

	// aud defaults to the token URL; the issuer works too.
	for _, aud := range []string{"", o.issuer} {
		tok, err := conf("repo:acme/app", aud, jti()).TokenSource(ctx).Token()
		if err != nil {
			t.Fatalf("aud %q: %v", aud, err)
		}
		if tok.AccessToken == "" || tok.RefreshToken != "" || tok.Expiry.IsZero() {
			t.Fatalf("aud %q: token %+v", aud, tok)
		}
		rt.mu.Lock()
		form, auth := rt.lastForm, rt.lastAuth
		rt.mu.Unlock()
		if form.Get("grant_type") != oauth.GrantJWTBearer || form.Get("assertion") == "" || form.Has("client_id") || form.Has("scope") ||
			!strings.HasPrefix(auth, "Basic ") {
			t.Fatalf("request shape: form %v, Authorization %q", form, auth)
		}
		res, body := o.apiUser(t, tok.AccessToken)
		if res.StatusCode != http.StatusOK || body["username"] != oauthUser {
			t.Fatalf("GET /api/user with the token: %d %v", res.StatusCode, body)
		}
	}

	// The same jti again.
	claims := jti()
	if _, err := conf("repo:acme/app", "", claims).TokenSource(ctx).Token(); err != nil {
		t.Fatal(err)
	}
	_, err = conf("repo:acme/app", "", claims).TokenSource(ctx).Token()
	if status, code, desc := jwtError(t, err); status != http.StatusBadRequest || code != "invalid_grant" || !strings.Contains(desc, "replayed") {
		t.Fatalf("replayed jti: %d %s %q", status, code, desc)
	}
	// Without jti (x/oauth2/jwt as it is): accepted, and the assertion
	// itself is single use: posting the same one again is refused.
	if _, err := conf("repo:acme/app", "", nil).TokenSource(ctx).Token(); err != nil {
		t.Fatalf("no jti: %v", err)
	}
	rt.mu.Lock()
	sent := rt.lastForm
	rt.mu.Unlock()
	cfg := &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: o.endpoint()}
	if status, body := o.postToken(t, cfg, url.Values{"grant_type": {oauth.GrantJWTBearer}, "assertion": {sent.Get("assertion")}}); status != http.StatusBadRequest ||
		body["error"] != "invalid_grant" || !strings.Contains(body["error_description"].(string), "was used before") {
		t.Fatalf("the same assertion again: %d %v", status, body)
	}
	// An unmapped subject.
	_, err = conf("repo:acme/other", "", jti()).TokenSource(ctx).Token()
	if _, code, desc := jwtError(t, err); code != "invalid_grant" || !strings.Contains(desc, `"repo:acme/other" is not mapped`) {
		t.Fatalf("unmapped sub: %s %q", code, desc)
	}
	// Without client authentication (x/oauth2/jwt alone).
	plain := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: 10 * time.Second})
	_, err = conf("repo:acme/app", "", jti()).TokenSource(plain).Token()
	if status, code, _ := jwtError(t, err); code != "invalid_client" || status != http.StatusUnauthorized && status != http.StatusBadRequest {
		t.Fatalf("unauthenticated: %d %s", status, code)
	}
	// Trust deleted: refused at once.
	gatehouseCLI(t, dbURL, "", "trust", "delete", iss)
	_, err = conf("repo:acme/app", "", jti()).TokenSource(ctx).Token()
	if _, code, desc := jwtError(t, err); code != "invalid_grant" || !strings.Contains(desc, "is not trusted") {
		t.Fatalf("deleted trust: %s %q", code, desc)
	}

	// Discovery lists the grant.
	res, err := http.Get(o.base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var md struct {
		GrantTypes []string `json:"grant_types_supported"`
	}
	if err := json.NewDecoder(res.Body).Decode(&md); err != nil || !strings.Contains(strings.Join(md.GrantTypes, " "), oauth.GrantJWTBearer) {
		t.Fatalf("grant_types_supported %v (%v)", md.GrantTypes, err)
	}
}

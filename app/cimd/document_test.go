package cimd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/store"
)

func TestParseClientIDURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"https://app.example.com/client.json",
		"https://app.example.com:8443/oauth/client",
	} {
		if _, err := ParseClientIDURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	bad := map[string]string{
		"http://app.example.com/client.json":                  "https",
		"HTTPS://app.example.com/client.json":                 "https",
		"https://app.example.com":                             "path",
		"https://app.example.com/":                            "path",
		"https://app.example.com/a/../client.json":            ". or ..",
		"https://app.example.com/./client.json":               ". or ..",
		"https://app.example.com/a/%2e%2e/c":                  ". or ..",
		"https://app.example.com/client.json#x":               "fragment",
		"https://app.example.com/c?v=1":                       "query",
		"https://app.example.com/c?":                          "query",
		"https://u:p@app.example.com/client.json":             "user name",
		"https://u@app.example.com/client.json":               "user name",
		"https:///client.json":                                "host",
		"https://app.example.com/a b":                         "spaces",
		"https://app.example.com/" + strings.Repeat("a", 130): "longer",
	}
	for raw, want := range bad {
		_, err := ParseClientIDURL(raw)
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, want) {
			t.Errorf("%s: error %v, want a refusal mentioning %q", raw, err, want)
		}
	}
}

const testID = "https://app.example.com/client.json"

func doc(fields map[string]any) []byte {
	d := map[string]any{"client_id": testID, "client_name": "Example", "redirect_uris": []string{"https://app.example.com/cb"}}
	for k, v := range fields {
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
	}
	b, _ := json.Marshal(d)
	return b
}

func TestParseDocument(t *testing.T) {
	t.Parallel()
	d, err := ParseDocument(testID, doc(map[string]any{
		"logo_uri": "https://app.example.com/logo.png", "client_uri": "https://app.example.com/",
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"tos_uri": "https://app.example.com/tos", "unknown_field": map[string]any{"x": 1}, "scope": "a b",
		"redirect_uris": []string{"https://app.example.com/cb", "http://127.0.0.1/cb", "http://localhost:3000/cb"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Example" || d.LogoURI != "https://app.example.com/logo.png" || d.ClientURI != "https://app.example.com/" ||
		len(d.RedirectURIs) != 3 || len(d.GrantTypes) != 1 || d.Extra["tos_uri"] != "https://app.example.com/tos" {
		t.Errorf("document = %+v", d)
	}
	// VS Code's document lists the device flow too; grant types a
	// metadata document client may not have are left out, not refused.
	d, err = ParseDocument(testID, doc(map[string]any{"grant_types": []string{"authorization_code", "refresh_token",
		"urn:ietf:params:oauth:grant-type:device_code", "client_credentials", "implicit", "authorization_code"}}))
	if err != nil || strings.Join(d.GrantTypes, " ") != "authorization_code refresh_token urn:ietf:params:oauth:grant-type:device_code" {
		t.Errorf("grant types: %+v, %v", d, err)
	}
	// Defaults: both grants; the host as the name.
	d, err = ParseDocument(testID, doc(map[string]any{"client_name": nil}))
	if err != nil || d.Name != "app.example.com" || len(d.GrantTypes) != 2 {
		t.Errorf("defaults: %+v, %v", d, err)
	}

	bad := map[string]struct {
		body []byte
		want string
	}{
		"not an object":                {[]byte(`["client_id"]`), "JSON object"},
		"not JSON":                     {[]byte(`<html>`), "JSON object"},
		"null":                         {[]byte(`null`), "JSON object"},
		"no client_id":                 {doc(map[string]any{"client_id": nil}), "no client_id"},
		"mismatched":                   {doc(map[string]any{"client_id": "https://app.example.com/other.json"}), "differs"},
		"trailing slash":               {doc(map[string]any{"client_id": testID + "/"}), "differs"},
		"client_id not str":            {doc(map[string]any{"client_id": 5}), "wrong type"},
		"no redirect_uris":             {doc(map[string]any{"redirect_uris": nil}), "no redirect_uris"},
		"empty redirect_uris":          {doc(map[string]any{"redirect_uris": []string{}}), "empty"},
		"redirect not list":            {doc(map[string]any{"redirect_uris": "https://app.example.com/cb"}), "array of strings"},
		"javascript:":                  {doc(map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}), "redirect URI"},
		"http non-loopback":            {doc(map[string]any{"redirect_uris": []string{"http://app.example.com/cb"}}), "https"},
		"fragment":                     {doc(map[string]any{"redirect_uris": []string{"https://app.example.com/cb#x"}}), "fragment"},
		"private_key_jwt without keys": {doc(map[string]any{"token_endpoint_auth_method": "private_key_jwt"}), "needs the client's public keys"},
		"jwks and jwks_uri":            {doc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks", "jwks": testJWKS(t)}), "not both"},
		"http jwks_uri":                {doc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://app.example.com/jwks"}), "https"},
		"jwks_uri not a string":        {doc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": 5}), "jwks_uri must be a string"},
		"private key in jwks":          {doc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": privateJWKS(t)}), "private key"},
		"jwks not a set":               {doc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": []string{"x"}}), "jwks:"},
		"client_secret_jwt":            {doc(map[string]any{"token_endpoint_auth_method": "client_secret_jwt"}), "shared secret"},
		"client_secret_basic":          {doc(map[string]any{"token_endpoint_auth_method": "client_secret_basic"}), "shared secret"},
		"odd method":                   {doc(map[string]any{"token_endpoint_auth_method": "tls_client_auth"}), "not supported"},
		"client_secret":                {doc(map[string]any{"client_secret": "s3cret"}), "client_secret"},
		"secret expiry":                {doc(map[string]any{"client_secret_expires_at": 0}), "client_secret"},
		"no code grant":                {doc(map[string]any{"grant_types": []string{"refresh_token"}}), "authorization_code"},
		"implicit":                     {doc(map[string]any{"response_types": []string{"token"}}), "only code"},
		"http logo":                    {doc(map[string]any{"logo_uri": "http://app.example.com/logo.png"}), "logo_uri"},
		"javascript homepage":          {doc(map[string]any{"client_uri": "javascript:alert(1)"}), "client_uri"},
		"long name":                    {doc(map[string]any{"client_name": strings.Repeat("n", 101)}), "longer"},
		"control in name":              {doc(map[string]any{"client_name": "a\u0007b"}), "control"},
		"oversized":                    {append(doc(nil), []byte(strings.Repeat(" ", MaxDocumentBytes))...), "larger than 5120"},
	}
	for name, c := range bad {
		_, err := ParseDocument(testID, c.body)
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, c.want) {
			t.Errorf("%s: error %v, want a refusal mentioning %q", name, err, c.want)
		}
	}
}

// A private_key_jwt document names its keys by jwks_uri or jwks (rules
// of app/jwks); a none document is public and keys in it are ignored.
func TestParseDocumentPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	d, err := ParseDocument(testID, doc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks.json"}))
	if err != nil || d.TokenEndpointAuthMethod != "private_key_jwt" || d.JWKSURI != "https://app.example.com/jwks.json" || d.JWKS != "" {
		t.Fatalf("jwks_uri: %+v, %v", d, err)
	}
	d, err = ParseDocument(testID, doc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": testJWKS(t)}))
	if err != nil || d.JWKSURI != "" || !strings.HasPrefix(d.JWKS, `{"keys":[{`) {
		t.Fatalf("jwks: %+v, %v", d, err)
	}
	d, err = ParseDocument(testID, doc(map[string]any{"jwks_uri": "https://app.example.com/jwks.json"}))
	if err != nil || d.TokenEndpointAuthMethod != "none" || d.JWKSURI != "" {
		t.Fatalf("none: %+v, %v", d, err)
	}
}

// testJWKS is a JWK Set with one public EC key, as a JSON value.
func testJWKS(t *testing.T) any {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return jwkSet(t, jose.JSONWebKey{Key: k.Public(), KeyID: "k1"})
}

// privateJWKS is a JWK Set holding a private key.
func privateJWKS(t *testing.T) any {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return jwkSet(t, jose.JSONWebKey{Key: k, KeyID: "k1"})
}

func jwkSet(t *testing.T, keys ...jose.JSONWebKey) any {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func TestCacheAge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"none", h(), DefaultCacheAge},
		{"max-age", h("Cache-Control", "public, max-age=7200"), 2 * time.Hour},
		{"max-age too short", h("Cache-Control", "max-age=60"), MinCacheAge},
		{"max-age zero", h("Cache-Control", "max-age=0"), MinCacheAge},
		{"max-age too long", h("Cache-Control", "max-age=31536000"), MaxCacheAge},
		{"max-age huge", h("Cache-Control", "max-age=999999999999999999999"), DefaultCacheAge},
		{"no-store", h("Cache-Control", "no-store"), MinCacheAge},
		{"no-cache", h("Cache-Control", "max-age=7200, no-cache"), MinCacheAge},
		{"expires", h("Expires", now.Add(3*time.Hour).Format(http.TimeFormat)), 3 * time.Hour},
		{"expires against date", h("Date", now.Add(-time.Hour).Format(http.TimeFormat), "Expires", now.Add(time.Hour).Format(http.TimeFormat)), 2 * time.Hour},
		{"expires past", h("Expires", now.Add(-time.Hour).Format(http.TimeFormat)), MinCacheAge},
		{"expires invalid", h("Expires", "0"), MinCacheAge},
		{"max-age wins over expires", h("Cache-Control", "max-age=1800", "Expires", now.Add(5*time.Hour).Format(http.TimeFormat)), 30 * time.Minute},
	}
	for _, c := range cases {
		if got := CacheAge(c.h, now); got != c.want {
			t.Errorf("%s: CacheAge = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	v := func(mode string, hosts ...string) settings.Values {
		return settings.Values{ClientIDMetadataDocuments: mode, ClientIDMetadataHosts: hosts}
	}
	if err := Allowed(v("off"), testID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("off: %v, want ErrNotFound", err)
	}
	if err := Allowed(v(""), testID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unset: %v, want ErrNotFound", err)
	}
	if err := Allowed(v("any"), testID); err != nil {
		t.Errorf("any: %v", err)
	}
	if err := Allowed(v("any"), "http://app.example.com/c"); err == nil {
		t.Error("any: http accepted")
	}
	allowed := map[string][]string{
		"https://app.example.com/c":     {"app.example.com"},
		"https://APP.example.com/c":     {"app.example.com"},
		"https://a.b.example.com/c":     {"*.example.com"},
		"https://claude.ai/oauth/c":     {"other.org", "claude.ai"},
		"https://x.claude.ai:8443/path": {"*.claude.ai"},
	}
	for id, hosts := range allowed {
		if err := Allowed(v("allowlist", hosts...), id); err != nil {
			t.Errorf("%s with %v: %v", id, hosts, err)
		}
	}
	refusedIDs := map[string][]string{
		"https://example.com/c":          {"*.example.com"},
		"https://evil-example.com/c":     {"*.example.com", "example.com"},
		"https://app.example.com.evil/c": {"app.example.com"},
		"https://app.example.com/c":      nil,
		"https://claude.ai.evil.org/c":   {"claude.ai"},
	}
	for id, hosts := range refusedIDs {
		err := Allowed(v("allowlist", hosts...), id)
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, "client_id_metadata_hosts") {
			t.Errorf("%s with %v: %v, want a host refusal", id, hosts, err)
		}
	}
}

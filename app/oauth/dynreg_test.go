package oauth

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseClientMetadataRefusals: each bad registration request gets
// the RFC 7591 §3.2.2 error code that names its problem.
func TestParseClientMetadataRefusals(t *testing.T) {
	t.Parallel()
	ok := `"redirect_uris": ["https://app.example/cb"]`
	cases := []struct {
		name, body, code, mention string
	}{
		{"not JSON", `redirect_uris=x`, "invalid_client_metadata", "JSON object"},
		{"array", `[]`, "invalid_client_metadata", "JSON object"},
		{"null", `null`, "invalid_client_metadata", "JSON object"},
		{"no redirect for code", `{}`, "invalid_redirect_uri", "redirect_uris is required"},
		{"empty redirect list", `{"redirect_uris": []}`, "invalid_redirect_uri", "required"},
		{"javascript", `{"redirect_uris": ["javascript:alert(1)"]}`, "invalid_redirect_uri", "javascript:alert(1)"},
		{"data", `{"redirect_uris": ["data:text/html,hi"]}`, "invalid_redirect_uri", "data:"},
		{"http non-loopback", `{"redirect_uris": ["http://evil.example/cb"]}`, "invalid_redirect_uri", "https"},
		{"fragment", `{"redirect_uris": ["https://app.example/cb#x"]}`, "invalid_redirect_uri", "fragment"},
		{"wildcard host", `{"redirect_uris": ["https://*.example.com/cb"]}`, "invalid_redirect_uri", "wildcard"},
		{"wildcard path", `{"redirect_uris": ["https://app.example/*"]}`, "invalid_redirect_uri", "wildcard"},
		{"relative", `{"redirect_uris": ["/cb"]}`, "invalid_redirect_uri", "absolute"},
		{"custom scheme", `{"redirect_uris": ["myapp://cb"]}`, "invalid_redirect_uri", "https"},
		{"redirect not a list", `{"redirect_uris": "https://app.example/cb"}`, "invalid_client_metadata", "redirect_uris must be an array"},
		{"name not a string", `{` + ok + `, "client_name": 5}`, "invalid_client_metadata", "client_name must be a string"},
		{"client credentials", `{` + ok + `, "grant_types": ["authorization_code", "client_credentials"]}`, "invalid_client_metadata", `"client_credentials"`},
		{"password", `{` + ok + `, "grant_types": ["password"]}`, "invalid_client_metadata", `"password"`},
		{"implicit", `{` + ok + `, "grant_types": ["implicit"], "response_types": ["token"]}`, "invalid_client_metadata", `"implicit"`},
		{"token exchange", `{` + ok + `, "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"]}`, "invalid_client_metadata", "token-exchange"},
		{"refresh alone", `{` + ok + `, "grant_types": ["refresh_token"]}`, "invalid_client_metadata", "refresh_token alone"},
		{"response type token", `{` + ok + `, "response_types": ["code", "token"]}`, "invalid_client_metadata", `"token"`},
		{"code without grant", `{"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "response_types": ["code"]}`, "invalid_client_metadata", "needs the authorization_code grant"},
		{"grant without code", `{` + ok + `, "response_types": []}`, "invalid_client_metadata", "needs the response type code"},
		{"private_key_jwt without keys", `{` + ok + `, "token_endpoint_auth_method": "private_key_jwt"}`, "invalid_client_metadata", "needs the client's public keys"},
		{"jwks and jwks_uri", `{` + ok + `, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks", "jwks": ` + testJWKS + `}`, "invalid_client_metadata", "not both"},
		{"http jwks_uri", `{` + ok + `, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://app.example/jwks"}`, "invalid_client_metadata", "jwks_uri: the JWKS URL must use https"},
		{"jwks_uri fragment", `{` + ok + `, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks#k"}`, "invalid_client_metadata", "jwks_uri: the JWKS URL must not contain a fragment"},
		{"jwks with a private key", `{` + ok + `, "token_endpoint_auth_method": "private_key_jwt", "jwks": ` + testPrivateJWKS + `}`, "invalid_client_metadata", "private key"},
		{"jwks with a symmetric key", `{` + ok + `, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}}`, "invalid_client_metadata", "symmetric"},
		{"jwks not a set", `{` + ok + `, "token_endpoint_auth_method": "private_key_jwt", "jwks": ["x"]}`, "invalid_client_metadata", "jwks"},
		{"client_secret_jwt", `{` + ok + `, "token_endpoint_auth_method": "client_secret_jwt"}`, "invalid_client_metadata", "not supported"},
		{"tls auth", `{` + ok + `, "token_endpoint_auth_method": "tls_client_auth"}`, "invalid_client_metadata", "not supported"},
		{"auth method type", `{` + ok + `, "token_endpoint_auth_method": ["none"]}`, "invalid_client_metadata", "must be a string"},
		{"bad scope token", `{` + ok + `, "scope": "read \"x\""}`, "invalid_client_metadata", "scope"},
		{"scope not a string", `{` + ok + `, "scope": ["a"]}`, "invalid_client_metadata", "scope must be a string"},
		{"logo http", `{` + ok + `, "logo_uri": "http://app.example/logo.png"}`, "invalid_client_metadata", "logo_uri must be an https URL"},
		{"logo javascript", `{` + ok + `, "logo_uri": "javascript:alert(1)"}`, "invalid_client_metadata", "logo_uri"},
		{"client_uri relative", `{` + ok + `, "client_uri": "/home"}`, "invalid_client_metadata", "client_uri"},
		{"tos credentials", `{` + ok + `, "tos_uri": "https://u:p@app.example/tos"}`, "invalid_client_metadata", "tos_uri"},
		{"name two lines", `{` + ok + `, "client_name": "a\nb"}`, "invalid_client_metadata", "client_name"},
		{"post logout http", `{` + ok + `, "post_logout_redirect_uris": ["http://evil.example/bye"]}`, "invalid_client_metadata", "post_logout_redirect_uris"},
		{"backchannel bool", `{` + ok + `, "backchannel_logout_session_required": "yes"}`, "invalid_client_metadata", "true or false"},
		{"too many contacts", `{` + ok + `, "contacts": ["a","b","c","d","e","f","g","h","i","j","k"]}`, "invalid_client_metadata", "contacts"},
		{"too large", `{` + ok + `, "client_name": "` + strings.Repeat("a", MaxRegistrationBody) + `"}`, "invalid_client_metadata", "larger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ParseClientMetadata([]byte(c.body))
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != c.code || e.Status != 400 {
				t.Fatalf("got %v, want %s", err, c.code)
			}
			if !strings.Contains(e.Description, c.mention) {
				t.Errorf("description %q does not mention %q", e.Description, c.mention)
			}
		})
	}
}

// TestParseClientMetadataDefaults: RFC 7591 defaults (client_secret_basic,
// authorization_code, code), duplicates dropped, unknown fields and
// software statements ignored.
func TestParseClientMetadataDefaults(t *testing.T) {
	t.Parallel()
	m, err := ParseClientMetadata([]byte(`{"redirect_uris": ["https://app.example/cb", "https://app.example/cb", "http://127.0.0.1:8080/cb"],
		"client_name": "App", "scope": "openid  user.read openid", "unknown": {"x": 1}, "software_statement": "eyJ.x.y",
		"client_name#fr": "Appli", "jwks_uri": "https://app.example/jwks", "contacts": ["ops@app.example"], "client_id": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.TokenEndpointAuthMethod != AuthSecretBasic || m.Public() || !m.UsesSecret() {
		t.Errorf("auth method %q", m.TokenEndpointAuthMethod)
	}
	if m.JWKSURI != "" || m.JWKS != "" {
		t.Errorf("keys kept for a secret client: %q %q", m.JWKSURI, m.JWKS)
	}
	if !slices.Equal(m.GrantTypes, []string{GrantAuthorizationCode}) || !slices.Equal(m.ResponseTypes, []string{"code"}) {
		t.Errorf("grants %v responses %v", m.GrantTypes, m.ResponseTypes)
	}
	if !slices.Equal(m.RedirectURIs, []string{"https://app.example/cb", "http://127.0.0.1:8080/cb"}) || !slices.Equal(m.Scope, []string{"openid", "user.read"}) {
		t.Errorf("redirects %v scope %v", m.RedirectURIs, m.Scope)
	}

	// A device client: no redirect URI, no response type.
	d, err := ParseClientMetadata([]byte(`{"grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"], "token_endpoint_auth_method": "none"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Public() || len(d.ResponseTypes) != 0 || len(d.RedirectURIs) != 0 {
		t.Errorf("device client: %+v", d)
	}

	// The MCP SDK's registration.
	p, err := ParseClientMetadata([]byte(`{"redirect_uris":["http://localhost:6274/oauth/callback"],"token_endpoint_auth_method":"none",
		"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector","client_uri":"https://github.com/modelcontextprotocol/inspector"}`))
	if err != nil || !p.Public() {
		t.Fatalf("%v %+v", err, p)
	}
}

// TestClientInformation: the response carries the credentials issued now
// (client_secret_expires_at with a secret), and lists as lists.
func TestClientInformation(t *testing.T) {
	t.Parallel()
	m, err := ParseClientMetadata([]byte(`{"redirect_uris": ["https://app.example/cb"], "client_name": "App", "scope": "openid user.read"}`))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0)
	b, _ := json.Marshal(m.Information("cid", at, "https://id.example/oauth/register/cid", "gcs_x", "grat_y"))
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	for k, want := range map[string]any{"client_id": "cid", "client_secret": "gcs_x", "client_secret_expires_at": 0.0, "client_id_issued_at": 1700000000.0,
		"registration_access_token": "grat_y", "registration_client_uri": "https://id.example/oauth/register/cid", "client_name": "App",
		"scope": "openid user.read", "token_endpoint_auth_method": "client_secret_basic"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	b, _ = json.Marshal(m.Information("cid", at, "https://id.example/oauth/register/cid", "", ""))
	got = nil
	_ = json.Unmarshal(b, &got)
	for _, k := range []string{"client_secret", "client_secret_expires_at", "registration_access_token", "logo_uri"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s sent without being issued: %s", k, b)
		}
	}
}

// TestRegistrationAccessToken: random, prefixed, checked against its
// digest only.
func TestRegistrationAccessToken(t *testing.T) {
	t.Parallel()
	a, ha := NewRegistrationAccessToken()
	b, _ := NewRegistrationAccessToken()
	if a == b || !strings.HasPrefix(a, RegistrationAccessTokenPrefix) || len(a) < 40 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !RegistrationTokenMatches(ha, a) || RegistrationTokenMatches(ha, b) || RegistrationTokenMatches(nil, a) || RegistrationTokenMatches(ha, "") {
		t.Error("RegistrationTokenMatches")
	}
}

// testJWKS is a JWK Set of one public EC key (P-256), testPrivateJWKS the
// same key with its private part.
const (
	testJWKS        = `{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`
	testPrivateJWKS = `{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM", "d": "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"}]}`
)

// private_key_jwt registers with a jwks_uri (https) or a jwks of public
// keys, and the information response returns them; no secret is issued
// to it (UsesSecret).
func TestParseClientMetadataPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	m, err := ParseClientMetadata([]byte(`{"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks.json"}`))
	if err != nil || m.Public() || m.UsesSecret() || m.JWKSURI != "https://app.example/jwks.json" || m.JWKS != "" {
		t.Fatalf("jwks_uri: %+v %v", m, err)
	}
	info, _ := json.Marshal(m.Information("cid", time.Unix(0, 0), "https://as.example/register/cid", "", ""))
	if !strings.Contains(string(info), `"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks.json"`) || strings.Contains(string(info), "client_secret") {
		t.Errorf("information: %s", info)
	}
	m, err = ParseClientMetadata([]byte(`{"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": ` + testJWKS + `}`))
	if err != nil || m.JWKSURI != "" || !strings.HasPrefix(m.JWKS, `{"keys":[{"kty":"EC"`) {
		t.Fatalf("jwks: %+v %v", m, err)
	}
	info, _ = json.Marshal(m.Information("cid", time.Unix(0, 0), "https://as.example/register/cid", "", ""))
	if !strings.Contains(string(info), `"jwks":{"keys":[{"kty":"EC"`) {
		t.Errorf("information: %s", info)
	}
}

package oauth

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseClientMetadata checks the registration parser: it never
// panics; a refusal is invalid_redirect_uri or invalid_client_metadata
// with a description; what it accepts keeps the rules (an allowed
// authentication method, only the dynamic grant types, code exactly with
// authorization_code, valid redirect URIs without wildcards, at least one
// with authorization_code).
func FuzzParseClientMetadata(f *testing.F) {
	for _, s := range []string{`{}`, `{"redirect_uris": ["https://a.example/cb"]}`, `null`, `[]`, `{"redirect_uris": null}`,
		`{"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}`,
		`{"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "response_types": []}`,
		`{"redirect_uris": ["javascript:alert(1)"]}`, `{"redirect_uris": ["https://*/cb"], "scope": "a b"}`, `{"client_name": "\u0000"}`,
		`{"redirect_uris": ["https://a.example/cb"], "contacts": [1]}`, `{"redirect_uris": ["https://a.example/cb"], "response_types": ["code", "code"]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m, err := ParseClientMetadata([]byte(body))
		if err != nil {
			e := AsError(err)
			if (e.Code != ErrInvalidClientMetadata.Code && e.Code != ErrInvalidRedirectURI.Code) || e.Description == "" || e.Status != 400 {
				t.Fatalf("ParseClientMetadata(%q): %v", body, err)
			}
			return
		}
		if !slices.Contains(DynamicAuthMethods, m.TokenEndpointAuthMethod) || len(m.GrantTypes) == 0 {
			t.Fatalf("accepted %q: %+v", body, m)
		}
		for _, g := range m.GrantTypes {
			if !slices.Contains(DynamicGrantTypes, g) {
				t.Fatalf("accepted grant %q", g)
			}
		}
		code := slices.Contains(m.GrantTypes, GrantAuthorizationCode)
		if code != slices.Equal(m.ResponseTypes, []string{ResponseTypeCode}) || (code && len(m.RedirectURIs) == 0) {
			t.Fatalf("accepted %q: grants %v responses %v redirects %v", body, m.GrantTypes, m.ResponseTypes, m.RedirectURIs)
		}
		for _, u := range append(slices.Clone(m.RedirectURIs), m.PostLogoutRedirectURIs...) {
			if ValidateRedirectURI(u) != nil || strings.Contains(u, "*") {
				t.Fatalf("accepted redirect URI %q", u)
			}
		}
	})
}

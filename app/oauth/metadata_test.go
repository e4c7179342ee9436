package oauth_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// The discovery document (metadata.go, OIDC Discovery §3, RFC 8414 §2)
// without HTTP.

// extensionGrant is a registered grant handler that does nothing, on or
// off.
type extensionGrant struct {
	id string
	on bool
}

func (g extensionGrant) Info() oauth.GrantTypeInfo { return oauth.GrantTypeInfo{ID: g.id, Name: g.id} }
func (g extensionGrant) Enabled(oauth.Policy) bool { return g.on }
func (extensionGrant) Handle(context.Context, *oauth.TokenRequest) (*oauth.TokenResponse, error) {
	return nil, oauth.ErrInvalidGrant
}

var _ oauth.GrantHandler = extensionGrant{}

// Rule 2: only the grant types enabled now are listed: the built-in
// grants in their order, implicit while allowed, then extension grants
// sorted.
func TestRule02_SupportedGrants(t *testing.T) {
	t.Parallel()
	const device, exchange, jwtBearer = oauth.GrantDeviceCode, oauth.GrantTokenExchange, oauth.GrantJWTBearer
	base := []string{"authorization_code", "refresh_token", "client_credentials", device, exchange, jwtBearer}
	cases := []struct {
		name       string
		pol        func(*oauth.Policy)
		extensions []extensionGrant
		want       []string
	}{
		{name: "default settings", want: base},
		{name: "password grant on", pol: func(p *oauth.Policy) { p.AllowPasswordGrant = true }, want: append(base[:6:6], "password")},
		{name: "implicit on", pol: func(p *oauth.Policy) { p.AllowImplicitGrant = true }, want: append(base[:6:6], "implicit")},
		{name: "both on", pol: func(p *oauth.Policy) { p.AllowPasswordGrant, p.AllowImplicitGrant = true, true },
			want: append(base[:6:6], "password", "implicit")},
		{name: "extension grants, sorted, enabled only",
			extensions: []extensionGrant{{"urn:x:zeta", true}, {"urn:x:alpha", true}, {"urn:x:off", false}},
			want:       append(base[:6:6], "urn:x:alpha", "urn:x:zeta")},
		{name: "a built-in grant replaced by a disabled handler", extensions: []extensionGrant{{device, false}},
			want: []string{"authorization_code", "refresh_token", "client_credentials", exchange, jwtBearer}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := oauthtest.NewCore(t, nil, oauthtest.WithPolicy(tc.pol))
			for _, g := range tc.extensions {
				c.Server.RegisterGrant(g)
			}
			pol := oauthtest.DefaultPolicy
			if tc.pol != nil {
				tc.pol(&pol)
			}
			if got := c.Server.SupportedGrants(pol); !slices.Equal(got, tc.want) {
				t.Errorf("SupportedGrants = %v\n           want %v", got, tc.want)
			}
			m, err := c.Server.Metadata(context.Background(), oauth.Endpoints{DeviceAuthorization: "https://gatehouse.test/oauth/device/code"})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.GrantTypesSupported, tc.want) {
				t.Errorf("grant_types_supported %v", m.GrantTypesSupported)
			}
			// The device endpoint is advertised with its grant only.
			if (m.DeviceAuthorizationEndpoint != "") != slices.Contains(tc.want, device) {
				t.Errorf("device_authorization_endpoint %q with grants %v", m.DeviceAuthorizationEndpoint, tc.want)
			}
			wantRT := []string{"code"}
			if slices.Contains(tc.want, "implicit") {
				wantRT = append(wantRT, "token")
			}
			if !slices.Equal(m.ResponseTypesSupported, wantRT) {
				t.Errorf("response_types_supported %v, want %v", m.ResponseTypesSupported, wantRT)
			}
		})
	}
}

// Rules 1, 2, 3 and 15: the document names the configured issuer and
// endpoints exactly, S256 only, RS256 and ES256 ID tokens, iss on authorization
// responses, no request objects, and the scopes defined now.
func TestRule01_MetadataDocument(t *testing.T) {
	t.Parallel()
	const iss = "https://login.example.test:8443/tenant-a"
	c := oauthtest.NewCore(t, []oauth.Scope{{ID: "notes.read"}, {ID: "jobs.run", Machine: true}},
		func(o *oauth.Options) { o.Issuer = iss })
	ep := oauth.Endpoints{Authorization: iss + "/o2/authorize", Token: iss + "/o2/token", Revocation: iss + "/o2/revoke",
		Introspection: iss + "/o2/introspect", UserInfo: iss + "/o2/userinfo", JWKS: iss + "/o2/jwks", DeviceAuthorization: iss + "/o2/device/code",
		EndSession: iss + "/o2/logout", PushedAuthorizationRequest: iss + "/o2/par"}
	m, err := c.Server.Metadata(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":                 iss,
		"authorization_endpoint": ep.Authorization, "token_endpoint": ep.Token, "userinfo_endpoint": ep.UserInfo, "jwks_uri": ep.JWKS,
		"revocation_endpoint": ep.Revocation, "introspection_endpoint": ep.Introspection, "device_authorization_endpoint": ep.DeviceAuthorization,
		"scopes_supported":                              []any{"email", "jobs.run", "notes.read", "offline_access", "openid", "profile", "user.read"},
		"response_types_supported":                      []any{"code"},
		"response_modes_supported":                      []any{"query", "fragment", "form_post"},
		"pushed_authorization_request_endpoint":         ep.PushedAuthorizationRequest,
		"require_pushed_authorization_requests":         false,
		"grant_types_supported":                         []any{"authorization_code", "refresh_token", "client_credentials", oauth.GrantDeviceCode, oauth.GrantTokenExchange, oauth.GrantJWTBearer},
		"subject_types_supported":                       []any{"public"},
		"id_token_signing_alg_values_supported":         []any{"RS256", "ES256"},
		"token_endpoint_auth_methods_supported":         []any{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"},
		"revocation_endpoint_auth_methods_supported":    []any{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"},
		"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"},
		// Rule 46: the assertion algorithms, never none.
		"token_endpoint_auth_signing_alg_values_supported":         []any{"RS256", "PS256", "ES256", "EdDSA", "HS256"},
		"revocation_endpoint_auth_signing_alg_values_supported":    []any{"RS256", "PS256", "ES256", "EdDSA", "HS256"},
		"introspection_endpoint_auth_signing_alg_values_supported": []any{"RS256", "PS256", "ES256", "EdDSA", "HS256"},
		"code_challenge_methods_supported":                         []any{"S256"},
		"claims_supported": []any{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid",
			"name", "preferred_username", "email", "email_verified"},
		"prompt_values_supported":                        []any{"none", "login", "consent", "select_account"},
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"authorization_response_iss_parameter_supported": true,
		"end_session_endpoint":                           ep.EndSession,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"frontchannel_logout_supported":                  true,
		"frontchannel_logout_session_supported":          true,
		"dpop_signing_alg_values_supported":              []any{"ES256", "EdDSA", "PS256", "RS256"},
	}
	for k, w := range want {
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(doc[k])
		if string(wj) != string(gj) {
			t.Errorf("%s = %s, want %s", k, gj, wj)
		}
	}
	for k := range doc {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected field %s", k)
		}
	}
}

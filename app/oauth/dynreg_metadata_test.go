package oauth_test

import (
	"context"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
)

// Metadata: registration_endpoint only while dynamic registration is on
// (the caller passes it), and none always among the token endpoint's
// authentication methods (SPEC.md §7.3).
func TestMetadataRegistrationEndpoint(t *testing.T) {
	t.Parallel()
	c := oauthtest.NewCore(t, nil)
	for _, reg := range []string{"", "https://gatehouse.test/oauth/register"} {
		m, err := c.Server.Metadata(context.Background(), oauth.Endpoints{Registration: reg})
		if err != nil {
			t.Fatal(err)
		}
		if m.RegistrationEndpoint != reg {
			t.Errorf("registration_endpoint %q, want %q", m.RegistrationEndpoint, reg)
		}
		if !slices.Contains(m.TokenEndpointAuthMethodsSupported, oauth.AuthNone) {
			t.Errorf("token_endpoint_auth_methods_supported %v lacks none", m.TokenEndpointAuthMethodsSupported)
		}
	}
}

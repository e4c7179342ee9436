package clients

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// Only an admin gives a client the JWT bearer grant (tokens for users
// without their consent); a developer keeps or removes it.
func TestCheckTrustJWTBearer(t *testing.T) {
	t.Parallel()
	bearer := []string{"authorization_code", oauth.GrantJWTBearer}
	cases := []struct {
		name   string
		actor  Actor
		before *Input
		in     Input
		want   string // "" when allowed
	}{
		{"developer, new client", developer, nil, input(bearer), "Only an admin can give a client the JWT bearer grant"},
		{"developer adds it", developer, ptr(input(code)), input(bearer), "Only an admin can give a client the JWT bearer grant"},
		{"developer keeps it", developer, ptr(input(bearer)), input(bearer), ""},
		{"developer removes it", developer, ptr(input(bearer)), input(code), ""},
		{"admin, new client", admin, nil, input(bearer), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := CheckTrust(tc.actor, tc.before, tc.in, trustScopes)
			if tc.want == "" {
				if errs != nil {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if !strings.Contains(errs[FieldGrantTypes], tc.want) {
				t.Fatalf("errors %v, want grant_types %q", errs, tc.want)
			}
		})
	}
}

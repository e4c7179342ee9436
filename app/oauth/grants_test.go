package oauth

import (
	"slices"
	"testing"
)

// The dashboard's list of grant types comes from the grant handlers, in
// builtinGrants' order, then implicit; every built-in grant is registered
// under its own Info().ID.
func TestGrantTypesComeFromTheHandlers(t *testing.T) {
	t.Parallel()
	var ids []string
	for _, g := range GrantTypes {
		ids = append(ids, g.ID)
		if g.Name == "" || g.Explanation == "" {
			t.Errorf("%s: no name or explanation", g.ID)
		}
	}
	want := []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode, GrantTokenExchange, GrantJWTBearer, GrantPassword, GrantImplicit}
	if !slices.Equal(ids, want) {
		t.Fatalf("GrantTypes %v, want %v", ids, want)
	}
	s := New(Options{Policy: Policy{AllowPasswordGrant: true, AllowImplicitGrant: true}})
	for _, g := range builtinGrants {
		h, ok := s.grants[g.Info().ID]
		if !ok {
			t.Errorf("%s is not registered", g.Info().ID)
			continue
		}
		if h.Info() != g.Info() {
			t.Errorf("%s registered with another Info", g.Info().ID)
		}
	}
	if got := s.SupportedGrants(Policy{AllowPasswordGrant: true, AllowImplicitGrant: true}); !slices.Equal(got, want) {
		t.Errorf("SupportedGrants %v, want %v", got, want)
	}
	if got := s.SupportedGrants(Policy{}); slices.Contains(got, GrantPassword) || slices.Contains(got, GrantImplicit) {
		t.Errorf("SupportedGrants lists disabled grants: %v", got)
	}
}

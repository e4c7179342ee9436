package oauth

import (
	"testing"
)

// The example of OpenID Connect Core 1.0 Appendix A.3.
func TestAtHashSpecExample(t *testing.T) {
	t.Parallel()
	if got := atHash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Fatalf("at_hash = %s", got)
	}
}

func TestUserClaimsFollowScopes(t *testing.T) {
	t.Parallel()
	u := &User{Subject: "s", Username: "alice", Name: "Alice", Email: "a@example.com", EmailVerified: true}
	if c := userClaims(u, []string{"openid"}); c != (UserClaims{}) {
		t.Errorf("openid only: %+v", c)
	}
	c := userClaims(u, []string{"openid", "profile"})
	if c.Name != "Alice" || c.PreferredUsername != "alice" || c.Email != "" || c.EmailVerified != nil {
		t.Errorf("profile: %+v", c)
	}
	c = userClaims(u, []string{"email"})
	if c.Email != "a@example.com" || c.EmailVerified == nil || !*c.EmailVerified || c.Name != "" {
		t.Errorf("email: %+v", c)
	}
	// No address, no email_verified claim about nothing.
	if c := userClaims(&User{}, []string{"email"}); c.EmailVerified != nil {
		t.Errorf("empty email: %+v", c)
	}
}

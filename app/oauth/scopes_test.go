package oauth

import (
	"strings"
	"testing"
)

// Rule 10 (scope part): scope order does not matter and repeats collapse.
func TestRule10_ParseScopeOrderInsensitive(t *testing.T) {
	t.Parallel()
	a, err := ParseScope("profile openid email")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseScope("email  openid profile openid")
	if JoinScope(a) != JoinScope(b) || JoinScope(a) != "email openid profile" {
		t.Fatalf("%q vs %q", a, b)
	}
	if _, err := ParseScope(`bad"scope`); err == nil || AsError(err).Code != "invalid_scope" {
		t.Fatalf("malformed scope accepted: %v", err)
	}
	if _, err := ParseScope(strings.Repeat("s ", maxScopes+1)); err == nil {
		t.Fatal("too many scopes accepted")
	}
}

func TestGuardsAndVerifyScope(t *testing.T) {
	t.Parallel()
	all := []Scope{
		{ID: "user.read", ResourcePath: "/api/user", Method: "GET"},
		{ID: "files.write", ResourcePath: "/files/*", Method: "PUT"},
		{ID: "admin", ResourcePath: "/admin/*", Method: "*"},
		{ID: "openid"},
	}
	cases := []struct {
		granted        []string
		method, target string
		ok             bool
		needed         string
	}{
		{[]string{"user.read"}, "GET", "/api/user", true, ""},
		{[]string{"user.read"}, "HEAD", "/api/user", true, ""},
		{[]string{"user.read"}, "POST", "/api/user", false, ""},
		{[]string{"user.read"}, "GET", "/api/user?x=1", true, ""},
		{[]string{"user.read"}, "GET", "/api/users", false, ""},
		{[]string{"openid"}, "GET", "/api/user", false, "user.read"},
		{[]string{"files.write"}, "PUT", "/files/a/b.txt", true, ""},
		{[]string{"files.write"}, "PUT", "/files", true, ""},
		{[]string{"files.write"}, "PUT", "/filesystem", false, ""},
		{[]string{"files.write"}, "PUT", "/files/../admin/x", false, "admin"},
		{[]string{"files.write"}, "PUT", "/files/..%2fadmin", false, ""},
		{[]string{"admin"}, "DELETE", "/admin/users/1", true, ""},
		{[]string{"user.read"}, "GET", "/api/%75ser", true, ""},
		{[]string{"user.read"}, "GET", "relative", false, ""},
		{[]string{"files.write"}, "PUT", "/files/..;/admin", false, ""},
		{[]string{"files.write"}, "PUT", "/files/a%3b/b", false, ""},
		{[]string{"files.write"}, "PUT", "/files/%252e%252e/admin/x", false, ""},
	}
	for _, c := range cases {
		ok, needed := VerifyScope(all, c.granted, c.method, c.target)
		if ok != c.ok || strings.Join(needed, " ") != c.needed {
			t.Errorf("%v %s %s = %v %v, want %v %q", c.granted, c.method, c.target, ok, needed, c.ok, c.needed)
		}
	}
}

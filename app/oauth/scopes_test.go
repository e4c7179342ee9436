package oauth

import (
	"strings"
	"testing"
)

// Rule 10 (scope part): scope order does not matter and repeats collapse.
func TestRule10_ParseScopeOrderInsensitive(t *testing.T) {
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

// TestCleanResourcePath: the path the scope rules compare, and the targets
// refused because a backend could serve another resource than the one
// checked (encoded "/", "\", ";" and "%": "%252e%252e" is ".." to a
// server that decodes twice).
func TestCleanResourcePath(t *testing.T) {
	cases := []struct {
		target, want string
		ok           bool
	}{
		{"/api/user", "/api/user", true},
		{"/api/user?x=%25", "/api/user", true},
		{"/api/%75ser", "/api/user", true},
		{"/files/a/../b/", "/files/b/", true},
		{"/files/%2e%2e/admin", "/admin", true},
		{"/files/.%2E/admin", "/admin", true},
		{"relative", "", false},
		{"/files/..%2fadmin", "", false},
		{"/files/..%5cadmin", "", false},
		{`/files/..\admin`, "", false},
		{"/files/..;/admin", "", false},
		{"/files/a%3Bb", "", false},
		{"/files/%252e%252e/admin", "", false},
		{"/files/%252E%252E/admin", "", false},
		{"/files/%25%32%65%25%32%65/admin", "", false},
		{"/files/100%25", "", false},
		{"/files/%2", "", false},
		{"/pub/x#/../../admin/secret", "", false},
		{"/pub/x#frag", "", false},
		{"/pub/%EF%BC%8E%EF%BC%8E/admin", "", false},
		{"/pub/%c0%ae%c0%ae/admin", "", false},
		{"/pub/..%00/admin", "", false},
		{"/pub/..%20/admin", "", false},
		{"/pub/.../admin", "", false},
		{"/pub/caf%C3%A9", "/pub/café", true},
		{"/pub/v1.2/a..b", "/pub/v1.2/a..b", true},
	}
	for _, c := range cases {
		got, ok := CleanResourcePath(c.target)
		if got != c.want || ok != c.ok {
			t.Errorf("CleanResourcePath(%q) = %q, %v; want %q, %v", c.target, got, ok, c.want, c.ok)
		}
	}
}

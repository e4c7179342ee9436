package oauth

import (
	"strings"
	"testing"
)

func TestValidateResourcePath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		path string
		want string // "" when valid
	}{
		{"", ""},
		{"/", ""},
		{"/api/orders", ""},
		{"/api/orders/", ""},
		{"/api/orders*", ""},
		{"/api/orders/*", ""},
		{"*", "Start the path with /, for example /api/orders."},
		{"/*", ""},
		{"/a-b._~!$&'()+,=:@/x", ""},
		{"/" + strings.Repeat("x", 499), ""},
		{"/" + strings.Repeat("x", 500), "Use at most 500 characters."},
		{"api/orders", "Start the path with /, for example /api/orders."},
		{" /api", "Start the path with /, for example /api/orders."},
		{"/api/*/orders", "A * may only end the path, as in /api/orders/*."},
		{"/api/**", "A * may only end the path, as in /api/orders/*."},
		{"/api/orders?id=1", "Leave out the query string and fragment: a scope guards a path."},
		{"/api/orders#top", "Leave out the query string and fragment: a scope guards a path."},
		{"/api/%2e%2e/x", "Write the path as it reads, without percent-encoding."},
		{"/api/or ders", "Use letters, digits and - . _ ~ ! $ & ' ( ) + , ; = : @ / only."},
		{"/api/\\x", "Use letters, digits and - . _ ~ ! $ & ' ( ) + , ; = : @ / only."},
		{"/api/é", "Use letters, digits and - . _ ~ ! $ & ' ( ) + , ; = : @ / only."},
		{"/api/../admin", `Write the path without "//", "." or ".." segments.`},
		{"/api/./x", `Write the path without "//", "." or ".." segments.`},
		{"/api//x", `Write the path without "//", "." or ".." segments.`},
		{"/api/..*", `Write the path without "//", "." or ".." segments.`},
		{"/api/...", ""},
		{"/api/..", `Write the path without "//", "." or ".." segments.`},
		{"//*", `Write the path without "//", "." or ".." segments.`},
	}
	for _, c := range cases {
		err := ValidateResourcePath(c.path)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("ValidateResourcePath(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

// A valid resource path without "*" is its own cleaned form, so that the
// request paths CleanResourcePath returns can equal it.
func TestValidResourcePathIsClean(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/", "/api", "/api/orders/", "/a-b._~!$&'()+,=:@/x"} {
		if err := ValidateResourcePath(p); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if clean, ok := CleanResourcePath(p); !ok || clean != p {
			t.Errorf("CleanResourcePath(%q) = %q %v, want it unchanged", p, clean, ok)
		}
	}
}

// TestCleanResourcePath: the path the scope rules compare, and the targets
// refused because a backend could serve another resource than the one
// checked (encoded "/", "\", ";" and "%": "%252e%252e" is ".." to a
// server that decodes twice).
func TestCleanResourcePath(t *testing.T) {
	t.Parallel()
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

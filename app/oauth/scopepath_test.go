package oauth

import (
	"strings"
	"testing"
)

func TestValidateResourcePath(t *testing.T) {
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
	for _, p := range []string{"/", "/api", "/api/orders/", "/a-b._~!$&'()+,=:@/x"} {
		if err := ValidateResourcePath(p); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if clean, ok := CleanResourcePath(p); !ok || clean != p {
			t.Errorf("CleanResourcePath(%q) = %q %v, want it unchanged", p, clean, ok)
		}
	}
}

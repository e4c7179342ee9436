package oauth_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// Resource URIs compare canonically (SPEC.md §7.3): the scheme and host in
// lower case, the default port dropped, a trailing slash of the path
// dropped, and nothing else: the query is kept, percent-encoding and dot
// segments are not normalised, and fragments are refused (RFC 8707 §2).
func TestCanonicalResource(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"https://api.example.com", "https://api.example.com"},
		{"HTTPS://API.Example.COM/v1", "https://api.example.com/v1"},
		{"https://api.example.com:443/v1", "https://api.example.com/v1"},
		{"http://api.example.com:80/v1", "http://api.example.com/v1"},
		{"https://api.example.com:8443/v1", "https://api.example.com:8443/v1"},
		{"http://api.example.com:443/v1", "http://api.example.com:443/v1"}, // not http's default
		{"https://api.example.com/", "https://api.example.com"},
		{"https://api.example.com/v1/", "https://api.example.com/v1"},
		{"https://api.example.com/V1", "https://api.example.com/V1"}, // the path keeps its case
		{"https://api.example.com/v1?tenant=A", "https://api.example.com/v1?tenant=A"},
		{"https://api.example.com/v1/?x=1", "https://api.example.com/v1?x=1"},
		{"https://api.example.com?x=1", "https://api.example.com?x=1"},
		{"https://api.example.com/a%2Fb", "https://api.example.com/a%2Fb"}, // not decoded
		{"https://api.example.com/a%2fb", "https://api.example.com/a%2fb"}, // nor its case changed
		{"https://api.example.com/%7Euser", "https://api.example.com/%7Euser"},
		{"https://api.example.com/a/../b", "https://api.example.com/a/../b"},
		{"https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"},
	}
	for _, tc := range cases {
		got, err := oauth.CanonicalResource(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CanonicalResource(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// Distinct after canonicalisation: nothing beyond the rules above.
	for _, pair := range [][2]string{
		{"https://api.example.com/a%2Fb", "https://api.example.com/a/b"},
		{"https://api.example.com/~user", "https://api.example.com/%7Euser"},
		{"https://api.example.com/v1", "https://api.example.com/v1?x=1"},
		{"https://api.example.com/v1", "http://api.example.com/v1"},
	} {
		a, _ := oauth.CanonicalResource(pair[0])
		b, _ := oauth.CanonicalResource(pair[1])
		if a == b {
			t.Errorf("%q and %q compare equal", pair[0], pair[1])
		}
	}
	for _, bad := range []string{"", "api.example.com", "/api", "https://api.example.com/x#frag", "https://api.example.com/#",
		"urn:example:api", "ftp://api.example.com", "https://user:pw@api.example.com", "https://api.example.com/a b",
		"https:///path", "https://api.example.com/\x00", "https://" + strings.Repeat("a", 2000) + ".example"} {
		if got, err := oauth.CanonicalResource(bad); err == nil {
			t.Errorf("CanonicalResource(%q) = %q, want an error", bad, got)
		}
	}
}

// ParseResources canonicalises the resource parameters of a request,
// sorted and without duplicates (also ones that differ only in form); a
// malformed one is invalid_target naming it.
func TestParseResources(t *testing.T) {
	t.Parallel()
	got, err := oauth.ParseResources([]string{"https://b.example/", "HTTPS://A.example:443/x", "https://b.example"})
	if err != nil || !slices.Equal(got, []string{"https://a.example/x", "https://b.example"}) {
		t.Fatalf("ParseResources = %q, %v", got, err)
	}
	if got, err := oauth.ParseResources(nil); err != nil || got != nil {
		t.Fatalf("no resources: %q, %v", got, err)
	}
	_, err = oauth.ParseResources([]string{"https://a.example", "https://b.example/#f"})
	if e := oauth.AsError(err); err == nil || e.Code != "invalid_target" || !strings.Contains(e.Description, "fragment") {
		t.Fatalf("fragment: %v", err)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = "https://a.example/" + strings.Repeat("x", i+1)
	}
	if _, err := oauth.ParseResources(many); oauth.AsError(err).Code != "invalid_target" {
		t.Fatalf("21 resources: %v", err)
	}
}

// The metadata of a resource lives at its own origin, the well-known path
// inserted before its path and query (RFC 9728 §3.1).
func TestProtectedResourceMetadataURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://mcp.example.com":            "https://mcp.example.com/.well-known/oauth-protected-resource",
		"https://mcp.example.com/mcp":        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
		"https://id.example.com:8443/gh/api": "https://id.example.com:8443/.well-known/oauth-protected-resource/gh/api",
		"https://api.example.com/v1?t=a":     "https://api.example.com/.well-known/oauth-protected-resource/v1?t=a",
		"https://api.example.com?t=a":        "https://api.example.com/.well-known/oauth-protected-resource?t=a",
	} {
		if got := oauth.ProtectedResourceMetadataURL(in); got != want {
			t.Errorf("ProtectedResourceMetadataURL(%q) = %q, want %q", in, got, want)
		}
	}
}

package oauth

import "testing"

// Rule 6: exact string match, loopback IP literals with any port, and the
// relaxed prefix match only when require_exact_redirect_uri is off.
func TestRule06_RedirectURIMatching(t *testing.T) {
	t.Parallel()
	reg := []string{"https://app.example.com/cb", "http://127.0.0.1/native", "http://[::1]:9/v6", "http://localhost:3000/dev", "http://localhost/callback"}
	cases := []struct {
		uri          string
		exact, loose bool
	}{
		{"https://app.example.com/cb", true, true},
		{"https://app.example.com/cb/", false, true},
		{"https://app.example.com/cb/deeper", false, true},
		{"https://app.example.com/cbx", false, false},
		{"https://app.example.com/other", false, false},
		{"https://app.example.com/cb/../admin", false, false},
		{"https://app.example.com/cb/%2e%2e/admin", false, false},
		{"https://APP.example.com/cb/x", false, true},
		{"https://app.example.com:444/cb", false, false},
		{"http://app.example.com/cb", false, false},
		{"https://app.example.com.evil.com/cb", false, false},
		{"https://app.example.com/cb#x", false, false},
		{"https://evil@app.example.com/cb", false, false},
		{"http://127.0.0.1:51234/native", true, true},
		{"http://127.0.0.1/native", true, true},
		{"http://127.0.0.1:51234/other", false, false},
		{"http://[::1]:4000/v6", true, true},
		{"http://localhost:4000/dev", false, false}, // localhost is a name, not a loopback literal
		{"http://localhost:3000/dev", true, true},
		// localhost registered without a port: any port (Claude Code), the
		// same path and query only.
		{"http://localhost:58135/callback", true, true},
		{"http://LOCALHOST:58135/callback", false, false},
		{"http://localhost:58135/callback/x", false, false},
		{"http://localhost:58135/other", false, false},
		{"https://localhost:58135/callback", false, false},
		{"http://localhost.evil.com:58135/callback", false, false},
		{"", false, false},
		// Relaxed matching refuses what could climb out of the
		// registered path on the client's server: ";" path parameters,
		// encoded "%" (servers that decode twice), dot segments in any
		// spelling, encoded "/" and "\".
		{"https://app.example.com/cb/..;/x", false, false},
		{"https://app.example.com/cb/..;/", false, false},
		{"https://app.example.com/cb;/../admin", false, false},
		{"https://app.example.com/cb/x;jsessionid=1", false, false},
		{"https://app.example.com/cb/%3b/x", false, false},
		{"https://app.example.com/cb/%252e%252e/admin", false, false},
		{"https://app.example.com/cb/%252E%252E/admin", false, false},
		{"https://app.example.com/cb/%25%32%65%25%32%65/admin", false, false},
		{"https://app.example.com/cb/100%25", false, false},
		{"https://app.example.com/cb/%2E%2E/admin", false, false},
		{"https://app.example.com/cb/.%2e/admin", false, false},
		{"https://app.example.com/cb/%2e./admin", false, false},
		{"https://app.example.com/cb/%2e/x", false, false},
		{"https://app.example.com/cb/./x", false, false},
		{"https://app.example.com/cb/..", false, false},
		{"https://app.example.com/cb%2f..%2fadmin", false, false},
		{"https://app.example.com/cb/%5c..%5cadmin", false, false},
		{`https://app.example.com/cb/\..\admin`, false, false},
		// Nor what some decoder, normaliser or file system reads as a
		// dot segment, the end of the path or another host.
		{"https://app.example.com/cb/%EF%BC%8E%EF%BC%8E/x", false, false}, // fullwidth dots
		{"https://app.example.com/cb/．．/x", false, false},
		{"https://app.example.com/cb/%E3%80%82%E3%80%82/x", false, false}, // ideographic full stops
		{"https://app.example.com/cb/%ef%b9%92%ef%b9%92/x", false, false}, // small full stops
		{"https://app.example.com/cb/%E2%80%A5/x", false, false},          // two dot leader
		{"https://app.example.com/cb/%c0%ae%c0%ae/x", false, false},       // overlong UTF-8
		{"https://app.example.com/cb/..%00/x", false, false},
		{"https://app.example.com/cb/.%00./x", false, false},
		{"https://app.example.com/cb/..%20/x", false, false},
		{"https://app.example.com/cb/%09../x", false, false},
		{"https://app.example.com/cb/.../x", false, false},
		{"https://app.example.com/cb//evil.example/x", false, false},
		// Still fine: dots inside a name, a query.
		{"https://app.example.com/cb/v1.2/x.y", false, true},
		{"https://app.example.com/cb/caf%C3%A9/", false, true},
		{"https://app.example.com/cb/v1.2/..x", false, true},
		{"https://app.example.com/cb/x?next=%2e%2e;%25", false, true},
	}
	for _, c := range cases {
		if got := MatchRedirectURI(reg, c.uri, true); got != c.exact {
			t.Errorf("exact match %q = %v, want %v", c.uri, got, c.exact)
		}
		if got := MatchRedirectURI(reg, c.uri, false); got != c.loose {
			t.Errorf("relaxed match %q = %v, want %v", c.uri, got, c.loose)
		}
	}
}

package oauth

import (
	"encoding/base64"
	"testing"
)

// Rule 20: Basic credentials are form-urldecoded before comparison.
func TestRule20_BasicCredentialsAreFormDecoded(t *testing.T) {
	t.Parallel()
	h := "Basic " + base64.StdEncoding.EncodeToString([]byte("my%20client:s%2Bcr%3At+x"))
	id, sec, ok := ParseBasic(h)
	if !ok || id != "my client" || sec != "s+cr:t x" {
		t.Fatalf("ParseBasic = %q %q %v", id, sec, ok)
	}
	for _, bad := range []string{"Bearer abc", "Basic", "Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(":secret")), "Basic " + base64.StdEncoding.EncodeToString([]byte("a%zz:b"))} {
		if _, _, ok := ParseBasic(bad); ok {
			t.Errorf("ParseBasic(%q) accepted", bad)
		}
	}
}

func TestS256Challenge(t *testing.T) {
	t.Parallel()
	// RFC 7636 Appendix B.
	if got := S256Challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("got %s", got)
	}
}

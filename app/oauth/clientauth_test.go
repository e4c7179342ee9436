package oauth

import (
	"encoding/base64"
	"testing"
)

// Rule 20: Basic credentials are form-urldecoded before comparison.
func TestRule20_BasicCredentialsAreFormDecoded(t *testing.T) {
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
	// RFC 7636 Appendix B.
	if got := S256Challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("got %s", got)
	}
}

func TestExtractBearer(t *testing.T) {
	tok, err := ExtractBearer(BearerSource{Authorization: "bearer abc"}, false)
	if err != nil || tok != "abc" {
		t.Fatalf("%q %v", tok, err)
	}
	if tok, err := ExtractBearer(BearerSource{Query: []string{"q"}}, false); tok != "" || err != nil {
		t.Fatalf("query token used while off: %q %v", tok, err)
	}
	if tok, err := ExtractBearer(BearerSource{Query: []string{"q"}}, true); tok != "q" || err != nil {
		t.Fatalf("query token refused while on: %q %v", tok, err)
	}
	for _, src := range []BearerSource{
		{Authorization: "Bearer a", Query: []string{"b"}},
		{Query: []string{"a", "b"}},
		{Authorization: "Bearer a b"},
	} {
		if _, err := ExtractBearer(src, true); err == nil || AsError(err).Code != "invalid_request" {
			t.Errorf("%+v: want invalid_request, got %v", src, err)
		}
	}
	// Another scheme carries no bearer token (RFC 6750 §3.1: bare challenge).
	if tok, err := ExtractBearer(BearerSource{Authorization: "Basic xyz"}, false); tok != "" || err != nil {
		t.Errorf("Basic: %q %v", tok, err)
	}
}

package oauth

import (
	"testing"
)

// FuzzParseAssertion feeds arbitrary strings to the assertion parser (the
// first thing a client assertion or JWT bearer assertion meets): it never
// panics, every refusal is an *AssertionError with a reason, and what it
// accepts uses an algorithm of the allow-list, never none.
func FuzzParseAssertion(f *testing.F) {
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJhIn0.AAAA",
		"eyJhbGciOiJFZDI1NTE5In0.e30.AAAA", "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiZXhwIl19.e30.AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseAssertion(raw, AssertionPublicKeyAlgs)
		if err != nil {
			if AssertionReason(err) == "" {
				t.Fatalf("parseAssertion(%q): %v without a reason", raw, err)
			}
			return
		}
		alg := tok.Headers[0].Algorithm
		if alg == "none" || alg == "HS256" {
			t.Fatalf("parseAssertion(%q) accepted alg %s", raw, alg)
		}
		if _, _, err := PeekAssertion(raw); err != nil && AssertionReason(err) == "" {
			t.Fatalf("PeekAssertion(%q): %v without a reason", raw, err)
		}
	})
}

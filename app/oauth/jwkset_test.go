package oauth

import "testing"

// A single JWK pasted without {"keys": [...]} is a set of one; anything
// else is left to ParsePublicJWKSWith.
func TestSingleJWKAsSet(t *testing.T) {
	t.Parallel()
	one := `{"kty":"EC","crv":"P-256","x":"a","y":"b"}`
	if got := SingleJWKAsSet(one); got != `{"keys": [`+one+`]}` {
		t.Errorf("single JWK: %s", got)
	}
	for _, s := range []string{`{"keys":[]}`, `{"x":1}`, `[1]`, `{"kty"`, ``} {
		if got := SingleJWKAsSet(s); got != s {
			t.Errorf("SingleJWKAsSet(%s) = %s, want it unchanged", s, got)
		}
	}
}

// Private key material is found whatever else is wrong with the text, so
// that a form does not show it back.
func TestHoldsPrivateKey(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		`{"keys":[{"kty":"EC","x":"a","y":"b"}]}`:          false,
		`{"keys":[{"kty":"EC","x":"a","y":"b","d":"s"}]}`:  true,
		`{"kty":"EC","x":"a","y":"b","d":"s"}`:             true,
		`{"kty":"oct","k":"s"}`:                            true,
		`{"keys":[{"kty":"RSA","n":"a","e":"AQAB","p":"x"`: true, // cut short
		"-----BEGIN PRIVATE KEY-----\nMIGH\n":              true,
		`{"keys": "none"}`:                                 false,
		`not json at all`:                                  false,
	} {
		if got := HoldsPrivateKey([]byte(s)); got != want {
			t.Errorf("HoldsPrivateKey(%.40s) = %v, want %v", s, got, want)
		}
	}
}

package oauth

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseForm checks the form decoding of the client-authenticated
// endpoints (token, revoke, introspect, device code): it never panics;
// what it accepts is what url.ParseQuery reads, valid UTF-8 without NUL
// in every name and value (so nothing malformed reaches the database),
// and it round-trips through Encode; what it refuses is invalid_request
// naming the problem. Repeated parameters are kept, and singleValues names
// one of them (RFC 6749 §3.1, §3.2: the endpoints refuse them).
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"", "grant_type=client_credentials", "grant_type=a&grant_type=b", "scope=a+b&scope=c",
		"a=%ff", "%ff=a", "a=%00", "a=%zz", "a=1;b=2", "a", "=x", "&&&", "client_id=%C3%A9&client_secret=%E2%82%AC",
		"username=%27+OR+1%3D1+--", "x=\xff", "token=a&token=a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, e := ParseForm(body)
		std, stdErr := url.ParseQuery(body)
		if e != nil {
			if AsError(e).Code != ErrInvalidRequest.Code || AsError(e).Description == "" {
				t.Fatalf("ParseForm(%q): %v", body, e)
			}
			if stdErr == nil && validForm(std) {
				t.Fatalf("ParseForm(%q) refused a valid form: %v", body, AsError(e).Description)
			}
			return
		}
		if stdErr != nil {
			t.Fatalf("ParseForm(%q) accepted what url.ParseQuery refuses: %v", body, stdErr)
		}
		if !validForm(form) {
			t.Fatalf("ParseForm(%q) accepted invalid text: %q", body, form)
		}
		if len(form) != len(std) {
			t.Fatalf("ParseForm(%q) = %q, url.ParseQuery = %q", body, form, std)
		}
		for k, v := range std {
			if !slices.Equal(form[k], v) {
				t.Fatalf("ParseForm(%q)[%q] = %q, want %q", body, k, form[k], v)
			}
		}
		again, e := ParseForm(form.Encode())
		if e != nil || len(again) != len(form) {
			t.Fatalf("round trip of %q: %q, %v", form, again, e)
		}
		for k, v := range form {
			if !slices.Equal(again[k], v) {
				t.Fatalf("round trip of %q: %q", form, again)
			}
		}
		dup, single := singleValues(form)
		repeated := false
		for k, v := range form {
			repeated = repeated || (len(v) > 1 && k != "resource" && k != "audience")
		}
		if single == repeated || (!single && len(form[dup]) < 2) {
			t.Fatalf("singleValues(%q) = %q, %v", form, dup, single)
		}
	})
}

func validForm(v url.Values) bool {
	for k, vals := range v {
		for _, s := range append([]string{k}, vals...) {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				return false
			}
		}
	}
	return true
}

package oauth

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseScope checks ParseScope against RFC 6749 §3.3
// (scope = scope-token *( SP scope-token ), scope-token = 1*( %x21 /
// %x23-5B / %x5D-7E )): what it accepts are the distinct tokens of the
// input, sorted, none empty, each made of allowed characters only; it
// rejects (invalid_scope) any input with another character than those and
// space, and more than maxScopes; and parse/join round-trips.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "openid", "openid profile email", "email  openid profile openid", " a ", `bad"scope`,
		`back\slash`, "tab\tsep", "new\nline", "ünïcode", "a\x00b", "read:users write:users", "https://api.example.com/read",
		strings.Repeat("s ", 101), strings.Repeat("x", 300), "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseScope(s)
		forbidden := strings.ContainsFunc(s, func(r rune) bool {
			return r != ' ' && (r < 0x21 || r > 0x7e || r == '"' || r == '\\')
		})
		if err != nil {
			if AsError(err).Code != ErrInvalidScope.Code {
				t.Fatalf("ParseScope(%q) error code %q, want invalid_scope", s, AsError(err).Code)
			}
			if !forbidden && len(strings.Fields(s)) <= maxScopes && len(strings.Split(s, " ")) <= maxScopes {
				t.Fatalf("ParseScope(%q) refused a valid scope list: %v", s, err)
			}
			return
		}
		if forbidden {
			t.Fatalf("ParseScope(%q) accepted a character RFC 6749 §3.3 forbids: %q", s, out)
		}
		if len(out) > maxScopes {
			t.Fatalf("ParseScope accepted %d scopes", len(out))
		}
		if !slices.IsSorted(out) || len(slices.Compact(slices.Clone(out))) != len(out) {
			t.Fatalf("ParseScope(%q) = %q: not sorted and distinct", s, out)
		}
		want := map[string]bool{}
		for _, tok := range strings.Split(s, " ") {
			if tok != "" {
				want[tok] = true
			}
		}
		if len(want) != len(out) {
			t.Fatalf("ParseScope(%q) = %q, want the %d distinct tokens", s, out, len(want))
		}
		for _, tok := range out {
			if tok == "" || !want[tok] || !validScopeToken(tok) {
				t.Fatalf("ParseScope(%q) returned %q", s, tok)
			}
		}
		again, err := ParseScope(JoinScope(out))
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("round trip of %q: %q, %v", out, again, err)
		}
	})
}

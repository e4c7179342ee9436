package oauth

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseBasic feeds arbitrary Authorization headers to ParseBasic: it
// never panics; what it accepts has a non-empty client ID, and valid
// UTF-8 without NUL or other control characters (they would reach the
// database); and encoding the result again the RFC 6749 §2.3.1 way
// (form-urlencoded, then Basic) parses to the same credentials.
func FuzzParseBasic(f *testing.F) {
	for _, h := range []string{"", "Basic", "Basic ", "basic YTpi", "BASIC  YTpi  ", "Bearer YTpi", "Basic YTpi=", "Basic !!!",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("a%3Ab:c%2Bd+e")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(":secret")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("id:sec:ret")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("id%ff:x")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("id%00:x")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("\xff\xfe:x")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:x")),
	} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, sec, ok := ParseBasic(header)
		if !ok {
			if id != "" || sec != "" {
				t.Fatalf("ParseBasic(%q) refused but returned %q, %q", header, id, sec)
			}
			return
		}
		if id == "" {
			t.Fatalf("ParseBasic(%q) accepted an empty client ID", header)
		}
		for _, v := range []string{id, sec} {
			if !utf8.ValidString(v) || strings.ContainsFunc(v, isControl) {
				t.Fatalf("ParseBasic(%q) accepted %q", header, v)
			}
		}
		id2, sec2, ok2 := ParseBasic(basicHeader(id, sec))
		if !ok2 || id2 != id || sec2 != sec {
			t.Fatalf("re-encoded %q/%q parsed as %q/%q/%v", id, sec, id2, sec2, ok2)
		}
	})
}

// FuzzBasicRoundTrip encodes client credentials as RFC 6749 §2.3.1 says
// (form-urlencoded, then HTTP Basic) and checks that ParseBasic gets them
// back exactly whenever they are acceptable at all.
func FuzzBasicRoundTrip(f *testing.F) {
	for _, s := range [][2]string{{"client", "secret"}, {"a:b", "c:d"}, {"a b+c", "%41&="}, {"ünï", "çødé"}, {"x", ""}, {"", "x"},
		{"id\x00", "s"}, {"id", "s\n"}, {"\xff", "s"}, {"' OR 1=1 --", `"; DROP TABLE users; --`}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, id, sec string) {
		gotID, gotSec, ok := ParseBasic(basicHeader(id, sec))
		acceptable := id != "" && utf8.ValidString(id) && utf8.ValidString(sec) &&
			!strings.ContainsFunc(id, isControl) && !strings.ContainsFunc(sec, isControl)
		if ok != acceptable {
			t.Fatalf("ParseBasic of %q/%q: ok=%v, want %v", id, sec, ok, acceptable)
		}
		if ok && (gotID != id || gotSec != sec) {
			t.Fatalf("ParseBasic of %q/%q gave %q/%q", id, sec, gotID, gotSec)
		}
	})
}

func basicHeader(id, sec string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

package web

import "testing"

func TestSafeNext(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"/dashboard":               "/dashboard",
		"/oauth/authorize?a=b&c=d": "/oauth/authorize?a=b&c=d",
		"":                         "",
		"dashboard":                "",
		"//evil.example/x":         "",
		"/\\evil.example":          "",
		"/%5Cevil":                 "/%5Cevil",
		"https://evil.example":     "",
		"javascript:alert(1)":      "",
		"/ok\r\nSet-Cookie: x=y":   "",
		"/ok\x00":                  "",
	}
	for in, want := range cases {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCookieName(t *testing.T) {
	t.Parallel()
	if CookieName(true) != "__Host-gatehouse" || CookieName(false) != "gatehouse_session" {
		t.Fatal("cookie names")
	}
}

package oauth

import (
	"strings"
	"testing"
)

// Rule 7: a client cannot register an http redirect URI other than
// loopback/localhost, nor one with a fragment.
func TestRule07_RegisteredRedirectURIs(t *testing.T) {
	t.Parallel()
	good := []string{
		"https://app.example.com/callback",
		"https://app.example.com:8443/cb?x=1",
		"http://127.0.0.1/cb",
		"http://127.0.0.1:5000/cb",
		"http://[::1]:8080/cb",
		"http://localhost:3000/callback",
	}
	for _, u := range good {
		if err := ValidateRedirectURI(u); err != nil {
			t.Errorf("ValidateRedirectURI(%q) = %v, want ok", u, err)
		}
	}
	bad := map[string]string{
		"http://app.example.com/cb":       "https",
		"https://app.example.com/cb#frag": "fragment",
		"/relative/cb":                    "absolute",
		"app.example.com/cb":              "absolute",
		"https://user:pw@app.example.com": "user name",
		"javascript:alert(1)":             "absolute",
		"ftp://files.example.com/cb":      "https",
		"https://app.example.com/a b":     "spaces",
		"":                                "empty",
		"https://x.example.com/" + strings.Repeat("a", 2100): "longer",
	}
	for u, want := range bad {
		err := ValidateRedirectURI(u)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateRedirectURI(%q) = %v, want an error mentioning %q", u, err, want)
		}
	}
}

func TestParseRedirectURIs(t *testing.T) {
	t.Parallel()
	got := ParseRedirectURIs(" https://a.example/cb\nhttps://b.example/cb  https://a.example/cb\r\n")
	if strings.Join(got, ",") != "https://a.example/cb,https://b.example/cb" {
		t.Fatalf("got %q", got)
	}
}

func TestValidateScopeID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"user.read", "openid", "repo:write", "https://api.example.com/read"} {
		if err := ValidateScopeID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "two words", `quo"te`, `back\slash`, "tab\there", "é", strings.Repeat("x", 65)} {
		if err := ValidateScopeID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	c := NewCredentials(false)
	if len(c.ClientID) != 24 || !strings.HasPrefix(c.Secret, ClientSecretPrefix) || len(c.Secret) != len(ClientSecretPrefix)+43 {
		t.Fatalf("credentials %+v", c)
	}
	if c.SecretHint != c.Secret[len(c.Secret)-4:] || len(c.SecretHash) != 32 {
		t.Fatalf("hint/hash wrong: %+v", c)
	}
	if p := NewCredentials(true); p.Secret != "" || p.SecretHash != nil {
		t.Fatalf("public client got a secret: %+v", p)
	}
	if NewCredentials(false).Secret == c.Secret {
		t.Fatal("secrets repeat")
	}
}

func TestScopeDescription(t *testing.T) {
	t.Parallel()
	got := ScopeDescription("Let {client_name} read {user}'s <b>profile</b>", "Ann", "Acme")
	if got != "Let Acme read Ann's <b>profile</b>" {
		t.Fatalf("got %q", got)
	}
}

package app

import (
	"net/http"
	"strings"
	"testing"
)

// TestRule06_RelaxedRedirectRefusesClimbingPaths: with
// require_exact_redirect_uri off, an attacker sends the user to the
// authorization endpoint with a redirect_uri below the registered one that
// the client's server reads as another path (a ";" parameter a servlet
// container drops, "%252e%252e" a server decodes twice, encoded dot
// segments): Gatehouse never redirects there, it shows the error page.
func TestRule06_RelaxedRedirectRefusesClimbingPaths(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		f := newOAuthFixture(t, newHarness(t, dbURL, nil))
		f.signIn()
		f.set("require_exact_redirect_uri", "false")
		// A path below the registered one is accepted while relaxed.
		if r := f.authorize(f.authzParams("redirect_uri", f.redirect+"/sub")); r.StatusCode != http.StatusOK {
			t.Fatalf("sub-path refused while relaxed: %d", r.StatusCode)
		}
		for _, uri := range []string{
			f.redirect + "/..;/admin",
			f.redirect + "/x/..;/..;/admin",
			f.redirect + ";/../admin",
			f.redirect + "/%3b/admin",
			f.redirect + "/%252e%252e/admin",
			f.redirect + "/%252E%252E/%252e%252e/admin",
			f.redirect + "/%2e%2e/admin",
			f.redirect + "/%2E%2E/admin",
			f.redirect + "/.%2e/admin",
			f.redirect + "/../admin",
			f.redirect + "%2f..%2fadmin",
		} {
			r := f.authorize(f.authzParams("redirect_uri", uri))
			if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" ||
				!strings.Contains(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "redirect") {
				t.Errorf("%s: %d Location=%q", uri, r.StatusCode, r.Header.Get("Location"))
			}
		}
	})
}

package app

import (
	"net/http"
	"strings"
	"testing"
)

// TestRule06_RelaxedRedirectRefusesClimbingPaths on the wire: with
// require_exact_redirect_uri off (stored on either database), a path
// below the registered redirect URI is accepted; one that could climb out
// of it on the client's server gets the error page, never a redirect.
// Which redirect URIs climb: oauth.TestRule06_RedirectURIMatching and
// oauth.TestRule05_UntrustedClientOrRedirectIsNotRedirected.
func TestRule06_RelaxedRedirectRefusesClimbingPaths(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		f := newOAuthFixture(t, newHarness(t, dbURL, nil))
		f.signIn()
		f.set("require_exact_redirect_uri", "false")
		if r := f.authorize(f.authzParams("redirect_uri", f.redirect+"/sub")); r.StatusCode != http.StatusOK {
			t.Fatalf("sub-path refused while relaxed: %d", r.StatusCode)
		}
		r := f.authorize(f.authzParams("redirect_uri", f.redirect+"/%252e%252e/admin"))
		if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" ||
			!strings.Contains(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "redirect") {
			t.Errorf("climbing path: %d Location=%q", r.StatusCode, r.Header.Get("Location"))
		}
	})
}

package app

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/models"
)

// TestVerifyRefusesEncodedPercent: a token allowed under /files/* asks the
// forward-auth check about /files/%252e%252e/admin/x; a backend that
// decodes the path twice serves /admin/x. Like other targets the scope
// rules cannot vouch for ("..;", "%2f"), it is refused with 403
// insufficient_scope.
func TestVerifyRefusesEncodedPercent(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, dbURL string) {
		f := newOAuthFixture(t, newHarness(t, dbURL, nil))
		f.signIn()
		if err := f.store.CreateScope(context.Background(), &models.Scope{ScopeID: "files.write", Name: "Files", ResourcePath: "/files/*", Method: "PUT"}); err != nil {
			t.Fatal(err)
		}
		at, _ := f.refreshPair("user.read files.write")
		verify := func(uri string) *response {
			return f.do(http.MethodGet, "/oauth/verify", nil, "X-Forwarded-Method", "PUT", "X-Forwarded-Uri", uri, "Authorization", "Bearer "+at)
		}
		// A "%" encoded in the query is no path: allowed.
		for _, uri := range []string{"/files/a.txt", "/files/a.txt?q=100%25"} {
			if r := verify(uri); r.StatusCode != http.StatusOK {
				t.Fatalf("allowed target %s: %d %s", uri, r.StatusCode, r.body)
			}
		}
		for _, uri := range []string{"/files/%252e%252e/admin/x", "/files/%252E%252E/admin/x", "/files/%25%32%65%25%32%65/admin",
			"/files/100%25", "/files/..;/admin",
			// A raw "#" nginx passes on ("/files/x#/../../admin" is /admin
			// to a backend that resolves it), and dot look-alikes.
			"/files/x#/../../admin/x", "/files/%EF%BC%8E%EF%BC%8E/admin", "/files/..%00/admin", "/files/%c0%ae%c0%ae/admin"} {
			r := verify(uri)
			if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
				r.Header.Get("X-Gatehouse-User") != "" {
				t.Errorf("%s: %d %q", uri, r.StatusCode, r.Header.Get("WWW-Authenticate"))
			}
		}
	})
}

package app

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/models"
)

var hrefRE = regexp.MustCompile(`href="(/[^"]*)"`)

// TestNoDeadLinks follows every local link on the pages each role sees and
// expects none of them to be a 404.
func TestNoDeadLinks(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	for _, role := range []string{models.RoleAdmin, models.RoleDeveloper, models.RoleUser} {
		h.clearCookies()
		h.createUser("u-"+role, pw, role)
		if r := h.login("u-"+role, pw); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s login: %d", role, r.StatusCode)
		}
		seen := map[string]bool{}
		for _, page := range []string{"/dashboard", "/account"} {
			body := h.get(page).body
			for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
				link := strings.ReplaceAll(m[1], "&amp;", "&")
				if seen[link] || strings.HasPrefix(link, "/static/") {
					continue
				}
				seen[link] = true
				if r := h.get(link); r.StatusCode == http.StatusNotFound {
					t.Errorf("%s: %s links to %s, which is 404", role, page, link)
				}
			}
		}
		if len(seen) < 2 {
			t.Errorf("%s: found only %d links", role, len(seen))
		}
	}
}

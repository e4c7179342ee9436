package pages

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/views"
)

func renderConsent(t *testing.T, d ConsentData) string {
	t.Helper()
	var sb strings.Builder
	if err := Consent(views.Base{Title: "Consent", CSRFToken: "t"}, d).Render(context.Background(), &sb); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// TestConsentUnverifiedWords: the unverified box names the logo only when
// there is one, an unverified app's homepage is plain text (not a link),
// a verified app's homepage is a link, and a logo has alt="" with the
// initials underneath for when it fails to load.
func TestConsentUnverifiedWords(t *testing.T) {
	t.Parallel()
	base := ConsentData{RequestID: "req", ClientName: "Notes App", UserName: "Ada", Username: "ada", SwitchURL: "/login",
		ClientHomepage: "https://example.net"}

	d := base
	d.Unverified = true
	page := renderConsent(t, d)
	if !strings.Contains(page, "The name above comes from the app itself") || strings.Contains(page, "name and logo") {
		t.Error("unverified app without a logo: the box should name only the name")
	}
	if !strings.Contains(page, "Says its homepage is") || strings.Contains(page, `href="https://example.net"`) {
		t.Error("unverified app: the homepage should be plain text, not a link")
	}

	d.ClientIcon = "https://example.net/logo.png"
	page = renderConsent(t, d)
	if !strings.Contains(page, "The name and logo above come from the app itself") {
		t.Error("unverified app with a logo: the box should name the name and logo")
	}
	if !strings.Contains(page, `alt="" class=`) || strings.Contains(page, "Notes App logo") {
		t.Error("the logo should have alt=\"\" (the name is in the heading)")
	}
	if !strings.Contains(page, `[grid-area:1/1]" aria-hidden="true">NA</span>`) {
		t.Error("the initials should sit under the logo for when it fails to load")
	}

	page = renderConsent(t, base)
	if !strings.Contains(page, `href="https://example.net"`) || strings.Contains(page, "Says its homepage is") {
		t.Error("verified app: the homepage should be a link")
	}
}

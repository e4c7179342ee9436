package app

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func TestAppsEmptyState(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "alice", models.RoleUser)
	r := h.get("/account/apps")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", r.StatusCode)
	}
	admContains(t, "empty", r.body, "No authorized apps", "When you sign in to an app with Gatehouse and approve what it asks for, it appears here.")
	admContains(t, "account links here", h.get("/account").body, `href="/account/apps"`)

	h.clearCookies()
	if r := h.get("/account/apps"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?next=%2Faccount%2Fapps") {
		t.Errorf("signed out: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

// appsFixture: alice authorized "notes" and "photos", bob authorized
// "notes"; each holds tokens.
func appsFixture(t *testing.T, h *harness) (alice, bob *models.User) {
	t.Helper()
	ctx := context.Background()
	alice = h.createUser("alice", pw, models.RoleUser)
	bob = h.createUser("bob", pw, models.RoleUser)
	for _, c := range []*models.Client{
		{ClientID: "notes", Name: "Acme Notes", Description: "Notes everywhere.", Icon: "/icons/0123abcd", Homepage: "https://notes.example.com/about"},
		{ClientID: "photos", Name: "Photo Box", Icon: "https://cdn.example.com/photos.png"},
		{ClientID: "plain", Name: "Plain App"},
	} {
		if err := h.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.store.UpsertConsent(ctx, alice.ID, "notes", "openid user.read legacy.scope"))
	must(h.store.UpsertConsent(ctx, alice.ID, "plain", ""))
	must(h.store.UpsertConsent(ctx, bob.ID, "notes", "openid"))
	exp := time.Now().Add(time.Hour)
	tok := func(name, client string, u *models.User) *models.Token {
		return &models.Token{TokenHash: []byte(name), Kind: models.TokenAccess, ClientID: client, UserID: &u.ID, Scope: "openid", FamilyID: name, ExpiresAt: exp}
	}
	must(h.store.CreateTokens(ctx, tok("alice-notes", "notes", alice), tok("alice-photos", "photos", alice), tok("bob-notes", "notes", bob)))
	must(h.store.CreateAuthorizationCode(ctx, &models.AuthorizationCode{CodeHash: []byte("alice-code"), ClientID: "notes", UserID: alice.ID,
		FamilyID: "fc", AuthTime: time.Now(), ExpiresAt: exp}))
	return alice, bob
}

func revokedAt(t *testing.T, h *harness, name string) *time.Time {
	t.Helper()
	tk, err := h.store.GetToken(context.Background(), []byte(name))
	if err != nil {
		t.Fatal(err)
	}
	return tk.RevokedAt
}

func TestAppsListAndRevoke(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		alice, bob := appsFixture(t, h)
		h.login("alice", pw)
		r := h.get("/account/apps")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d", r.StatusCode)
		}
		admContains(t, "list", r.body,
			"Acme Notes", "Notes everywhere.", `src="/icons/0123abcd"`, `href="https://notes.example.com/about"`, "notes.example.com",
			"Sign you in", "Read your profile", "legacy.scope", // unknown scopes show their ID
			"Plain App", ">PA<", "Know that you signed in; nothing more.",
			`action="/account/apps/notes/revoke"`, "Authorized <time")
		if strings.Contains(r.body, "Photo Box") {
			t.Error("an app without consent is listed")
		}

		r = h.post("/account/apps", "/account/apps/notes/revoke", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/apps" {
			t.Fatalf("revoke: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		admContains(t, "after", h.get("/account/apps").body, "Access revoked: Acme Notes can no longer use your account.")
		if _, err := h.store.GetConsent(ctx, alice.ID, "notes"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("alice's consent still there: %v", err)
		}
		if revokedAt(t, h, "alice-notes") == nil {
			t.Error("alice's token for notes not revoked")
		}
		if _, err := h.store.GetAuthorizationCode(ctx, []byte("alice-code")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("alice's unredeemed code survives: %v", err)
		}
		// Nothing else is touched.
		if revokedAt(t, h, "alice-photos") != nil || revokedAt(t, h, "bob-notes") != nil {
			t.Error("other tokens revoked")
		}
		if _, err := h.store.GetConsent(ctx, bob.ID, "notes"); err != nil {
			t.Errorf("bob's consent gone: %v", err)
		}
		if _, err := h.store.GetConsent(ctx, alice.ID, "plain"); err != nil {
			t.Errorf("alice's other consent gone: %v", err)
		}
		evs := admAudit(t, h, "consent.revoked")
		if len(evs) != 1 || evs[0].Target != "notes" || evs[0].Actor != "alice" || evs[0].Details["tokens_revoked"] != "1" {
			t.Errorf("audit: %+v", evs)
		}
	})
}

// TestAppsRevokeOnlyOwnConsent: a user cannot revoke someone else's
// authorization; the client ID only picks among their own consents.
func TestAppsRevokeOnlyOwnConsent(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := context.Background()
	alice, _ := appsFixture(t, h)
	h.createUser("carol", pw, models.RoleUser)
	h.login("carol", pw)
	r := h.post("/account/apps", "/account/apps/notes/revoke", url.Values{})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	admContains(t, "flash", h.get("/account/apps").body, "That app had no access to your account")
	if _, err := h.store.GetConsent(ctx, alice.ID, "notes"); err != nil {
		t.Errorf("alice's consent deleted by carol: %v", err)
	}
	if revokedAt(t, h, "alice-notes") != nil || revokedAt(t, h, "bob-notes") != nil {
		t.Error("carol revoked other users' tokens")
	}
	if r := h.post("/account/apps", "/account/apps/no-such-client/revoke", url.Values{}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("unknown client: %d", r.StatusCode)
	}
	if evs := admAudit(t, h, "consent.revoked"); len(evs) != 0 {
		t.Errorf("audit: %+v", evs)
	}
	// Without the CSRF token nothing happens.
	h2 := h.browser(h.t)
	h2.login("alice", pw)
	if r := h2.do(http.MethodPost, "/account/apps/notes/revoke", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Errorf("revoke without CSRF token: %d", r.StatusCode)
	}
	if _, err := h.store.GetConsent(ctx, alice.ID, "notes"); err != nil {
		t.Errorf("consent deleted without CSRF token: %v", err)
	}
}

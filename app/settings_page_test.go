package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/models"
)

// settingsForm is the settings form as a browser submits it with every
// value in raw: toggles send "false" from the hidden field and, when on,
// "true" from the checkbox after it.
func settingsForm(raw map[string]string, changes ...string) url.Values {
	vals := map[string]string{}
	for k, v := range raw {
		vals[k] = v
	}
	for i := 0; i+1 < len(changes); i += 2 {
		vals[changes[i]] = changes[i+1]
	}
	f := url.Values{}
	for _, d := range settings.Definitions {
		if d.Kind == settings.Bool {
			f.Add(d.Key, "false")
			if vals[d.Key] == "true" {
				f.Add(d.Key, "true")
			}
			continue
		}
		f.Set(d.Key, vals[d.Key])
	}
	return f
}

func defaults() map[string]string {
	m := map[string]string{}
	for _, d := range settings.Definitions {
		m[d.Key] = d.Default
	}
	return m
}

func TestSettingsPageAdminOnly(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	for _, role := range []string{models.RoleUser, models.RoleDeveloper} {
		admSignIn(t, h, "u-"+role, role)
		if r := h.get("/dashboard/settings"); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s GET: %d, want 403", role, r.StatusCode)
		}
		r := h.post("/dashboard", "/dashboard/settings", url.Values{"allow_signup": {"true"}})
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("%s POST: %d, want 403", role, r.StatusCode)
		}
	}
	stored, err := h.store.GetSettings(context.Background())
	if err != nil || len(stored) != 0 {
		t.Errorf("settings written by non-admins: %v %v", stored, err)
	}
}

func TestSettingsPageShowsEverySetting(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	r := h.get("/dashboard/settings")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", r.StatusCode)
	}
	for _, d := range settings.Definitions {
		admContains(t, d.Key, r.body, `name="`+d.Key+`"`, d.Title, d.Help, d.Risk, d.Group)
	}
	admContains(t, "controls", r.body,
		`role="switch"`, `<select id="require_pkce" name="require_pkce"`, "Public clients only",
		"Between 1s and 10m.", `value="5m"`, `for="authorization_code_lifetime"`, `aria-labelledby="enforce_state-label"`,
		"0 to keep everything, or between 1h and 87600h.")
	// Every choice of a list has words of its own, not the stored value.
	for _, d := range settings.Definitions {
		if d.Kind != settings.Enum {
			continue
		}
		for _, ch := range d.Choices {
			if strings.Contains(r.body, ">"+ch+"</option>") {
				t.Errorf("%s: the choice %q shows its raw value; add it to choiceLabels", d.Key, ch)
			}
		}
	}
	admContains(t, "dynamic registration", r.body, ">With an initial access token</option>", ">Open to any app</option>")
	bools := 0
	for _, d := range settings.Definitions {
		if d.Kind == settings.Bool {
			bools++
		}
	}
	if n := strings.Count(r.body, `role="switch"`); n != bools || n < 7 {
		t.Errorf("%d toggles, want one per boolean setting (%d)", n, bools)
	}
}

func TestSettingsValidation(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	cases := []struct {
		key, value, msg string
	}{
		{"authorization_code_lifetime", "11m", "Must be at most 10m, not 11m."},
		{"authorization_code_lifetime", "0s", "Must be longer than zero"},
		{"access_token_lifetime", "-5m", "Must be longer than zero"},
		{"refresh_token_lifetime", "30 days", "Write a duration with a unit, such as 30s, 5m or 1h"},
		{"device_poll_interval", "", "Enter a duration between 1s and 1m."},
		{"access_token_lifetime", "25h", "Must be at most 24h"},
		{"device_poll_interval", "500ms", "Must be at least 1s."},
		{"require_pkce", "sometimes", "Choose one of: public, all, none."},
		{"enforce_state", "maybe", "Choose on or off."},
		{"audit_retention", "-1h", "Must be 0 (keep everything) or at least 1h."},
		{"audit_retention", "30m", "Must be 0 (keep everything) or at least 1h."},
		{"audit_retention", "90 days", "Write a duration with a unit"},
		{"audit_retention", "", "Enter 0 (keep everything) or a duration between 1h and 87600h."},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			// Another, valid change in the same form is not saved either.
			f := settingsForm(defaults(), "allow_signup", "true")
			f.Set(tc.key, tc.value)
			r := h.post("/dashboard/settings", "/dashboard/settings", f)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", r.StatusCode)
			}
			admContains(t, "page", r.body, tc.msg, `id="`+tc.key+`-error"`, "Nothing was saved")
			if tc.value != "" && tc.key != "require_pkce" && tc.key != "enforce_state" {
				admContains(t, "kept input", r.body, `value="`+tc.value+`"`)
			}
			stored, err := h.store.GetSettings(context.Background())
			if err != nil || len(stored) != 0 {
				t.Errorf("stored after refusal: %v %v", stored, err)
			}
		})
	}
	if evs := admAudit(t, h, "setting.changed"); len(evs) != 0 {
		t.Errorf("audit events after refusals: %+v", evs)
	}
}

func TestSettingsUnknownKeyRefused(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	f := settingsForm(defaults(), "allow_signup", "true")
	f.Set("allow_everything", "true")
	r := h.post("/dashboard/settings", "/dashboard/settings", f)
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", r.StatusCode)
	}
	admContains(t, "page", r.body, "Nothing was saved: “allow_everything” is not a setting.")
	if stored, _ := h.store.GetSettings(context.Background()); len(stored) != 0 {
		t.Errorf("stored: %v", stored)
	}
}

// TestSettingsSaveChangedOnly: only changed keys are written, one audit
// event each with the old and new value, and the change applies at once.
func TestSettingsSaveChangedOnly(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		admSignIn(t, h, "root", models.RoleAdmin)
		anon := h.browser(t)
		if r := anon.get("/signup"); r.StatusCode != http.StatusNotFound {
			t.Fatalf("signup before: %d", r.StatusCode)
		}

		f := settingsForm(defaults(), "allow_signup", "true", "access_token_lifetime", " 15m ", "require_pkce", "ALL", "enforce_state", "false")
		r := h.post("/dashboard/settings", "/dashboard/settings", f)
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("save: %d", r.StatusCode)
		}
		stored, err := h.store.GetSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"allow_signup": "true", "access_token_lifetime": "15m", "require_pkce": "all", "enforce_state": "false"}
		if len(stored) != len(want) {
			t.Errorf("stored %v, want only %v", stored, want)
		}
		for k, v := range want {
			if stored[k] != v {
				t.Errorf("%s = %q, want %q", k, stored[k], v)
			}
		}
		evs := admAudit(t, h, "setting.changed")
		if len(evs) != 4 {
			t.Fatalf("%d audit events, want 4: %+v", len(evs), evs)
		}
		for _, e := range evs {
			if e.Details["new"] != want[e.Target] || e.Details["old"] != defaults()[e.Target] || e.Actor != "root" {
				t.Errorf("audit event %s: %+v", e.Target, e.Details)
			}
		}
		r = h.get("/dashboard/settings")
		admContains(t, "after save", r.body, "Saved 4 settings.", "Changed from default")
		// The next request sees the change.
		if r := anon.get("/signup"); r.StatusCode != http.StatusOK {
			t.Errorf("signup after allow_signup=true: %d", r.StatusCode)
		}

		// The same form again changes nothing and logs nothing.
		raw, _ := h.srv.Handlers.Settings.Raw(ctx)
		r = h.post("/dashboard/settings", "/dashboard/settings", settingsForm(raw))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("resave: %d", r.StatusCode)
		}
		admContains(t, "no change", h.get("/dashboard/settings").body, "Nothing changed")
		if evs := admAudit(t, h, "setting.changed"); len(evs) != 4 {
			t.Errorf("%d audit events after an unchanged save, want 4", len(evs))
		}

		// A toggle switched off sends only the hidden "false".
		r = h.post("/dashboard/settings", "/dashboard/settings", settingsForm(raw, "allow_signup", "false"))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("toggle off: %d", r.StatusCode)
		}
		if v, _ := h.srv.Handlers.Settings.Get(ctx, "allow_signup"); v != "false" {
			t.Errorf("allow_signup = %q after switching it off", v)
		}
		if r := anon.get("/signup"); r.StatusCode != http.StatusNotFound {
			t.Errorf("signup after switching it off: %d", r.StatusCode)
		}
		// A form carrying one setting leaves the others alone.
		r = h.post("/dashboard/settings", "/dashboard/settings", url.Values{"device_poll_interval": {"10s"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("partial form: %d", r.StatusCode)
		}
		if v, _ := h.srv.Handlers.Settings.Get(ctx, "require_pkce"); v != "all" {
			t.Errorf("partial form changed require_pkce to %q", v)
		}
	})
}

// keysByStatus lists the kids of the stored keys by status.
func keysByStatus(t *testing.T, h *harness) map[string][]string {
	t.Helper()
	list, err := h.srv.Handlers.Keys.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, k := range list {
		m[k.Status] = append(m[k.Status], k.KID)
	}
	return m
}

func TestSettingsSigningKeysSection(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	r := h.get("/dashboard/settings")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", r.StatusCode)
	}
	cur := keysByStatus(t, h)["current"]
	if len(cur) != 2 {
		t.Fatalf("current keys: %v", cur)
	}
	admContains(t, "keys section", r.body, `id="signing-keys"`, `href="#signing-keys"`, "Signing keys", cur[0], cur[1], "RS256", "ES256",
		"Signs new tokens", "Current", "Unencrypted", "http://localhost:8080/oauth/jwks",
		"Private keys are stored unencrypted in the database", "GATEHOUSE_KEY_SECRET",
		`<details`, "Rotate signing keys…", `action="/dashboard/settings/keys/rotate"`, "Rotate signing keys now",
		"stay published for 24h5m", "tokens already issued stay valid")
	// The rotation form is not inside the settings form, and carries
	// its own CSRF token.
	form := r.body[strings.Index(r.body, `action="/dashboard/settings/keys/rotate"`):]
	form = form[:strings.Index(form, "</form>")]
	if !strings.Contains(form, `name="csrf_token"`) {
		t.Error("rotation form without a CSRF token")
	}
	settingsForm := r.body[strings.Index(r.body, `action="/dashboard/settings"`):]
	if i := strings.Index(settingsForm, "</form>"); strings.Contains(settingsForm[:i], "keys/rotate") {
		t.Error("rotation form nested in the settings form")
	}
	// The settings form still saves (with the keys section on the page).
	if r := h.post("/dashboard/settings", "/dashboard/settings", url.Values{"allow_signup": {"true"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving settings: %d", r.StatusCode)
	}
	// A refused settings form shows the keys too.
	r = h.post("/dashboard/settings", "/dashboard/settings", url.Values{"access_token_lifetime": {"25h"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("refused form: %d", r.StatusCode)
	}
	admContains(t, "refused form", r.body, "Signing keys", cur[0])
}

func TestSettingsSigningKeysEncrypted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_KEY_SECRET": strings.Repeat("s", 32)})
	admSignIn(t, h, "root", models.RoleAdmin)
	r := h.get("/dashboard/settings")
	admContains(t, "keys", r.body, "Encrypted")
	for _, no := range []string{"Unencrypted", "stored unencrypted"} {
		if strings.Contains(r.body, no) {
			t.Errorf("page says %q with a key secret", no)
		}
	}
}

func TestRotateSigningKeysAdminOnly(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	before := keysByStatus(t, h)
	anon := h.browser(t)
	if r := anon.post("/login", "/dashboard/settings/keys/rotate", url.Values{}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out: %d, want 401", r.StatusCode)
	}
	for _, role := range []string{models.RoleUser, models.RoleDeveloper} {
		admSignIn(t, h, "u-"+role, role)
		if r := h.post("/dashboard", "/dashboard/settings/keys/rotate", url.Values{}); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", role, r.StatusCode)
		}
	}
	// An admin without the CSRF token is refused.
	admSignIn(t, h, "root", models.RoleAdmin)
	if r := h.do(http.MethodPost, "/dashboard/settings/keys/rotate", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Errorf("no CSRF token: %d, want 403", r.StatusCode)
	}
	if r := h.get("/dashboard/settings/keys/rotate"); r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET rotates? %d", r.StatusCode)
	}
	after := keysByStatus(t, h)
	if strings.Join(after["current"], " ") != strings.Join(before["current"], " ") || len(after["retired"]) != 0 {
		t.Fatalf("keys changed by refused requests: %v -> %v", before, after)
	}
	if evs := admAudit(t, h, "keys.rotate"); len(evs) != 0 {
		t.Errorf("audit events: %+v", evs)
	}
}

// TestRotateSigningKeys: the button makes new keys that sign at once, the
// old ones stay published, the event is audited and the page says so.
func TestRotateSigningKeys(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		admSignIn(t, h, "root", models.RoleAdmin)
		old := keysByStatus(t, h)["current"]
		oldTok, err := h.srv.Handlers.Keys.Sign(ctx, map[string]string{"sub": "x"}, "JWT")
		if err != nil {
			t.Fatal(err)
		}
		r := h.post("/dashboard/settings", "/dashboard/settings/keys/rotate", url.Values{})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/settings" {
			t.Fatalf("rotate: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		now := keysByStatus(t, h)
		if len(now["current"]) != 2 || len(now["retired"]) != 2 || now["retired"][0] != old[0] || now["current"][0] == old[0] {
			t.Fatalf("after rotation: %v (before %v)", now, old)
		}
		tok, err := h.srv.Handlers.Keys.Sign(ctx, map[string]string{"sub": "x"}, "JWT")
		if err != nil || jwtKID(t, tok) != now["current"][0] {
			t.Fatalf("signs with %s, want %s (%v)", jwtKID(t, tok), now["current"][0], err)
		}
		if kids := jwksKIDs(t, h); len(kids) != 4 || kids[0] != now["current"][0] || kids[2] != old[0] {
			t.Fatalf("JWKS: %v", kids)
		}
		if _, err := h.srv.Handlers.Keys.Verify(ctx, oldTok, "JWT"); err != nil {
			t.Fatalf("a token of the old key no longer verifies: %v", err)
		}
		evs := admAudit(t, h, "keys.rotate")
		if len(evs) != 1 || evs[0].Actor != "root" || evs[0].Target != now["current"][0] || !evs[0].Success ||
			!strings.Contains(evs[0].Details["retired"], old[0]) || !strings.Contains(evs[0].Details["new"], now["current"][1]) {
			t.Fatalf("audit: %+v", evs)
		}
		page := h.get("/dashboard/settings")
		admContains(t, "after rotation", page.body, "Signing keys rotated: new tokens are signed with key "+now["current"][0],
			"The previous keys stay published until", "Retired", "Published until")
	})
}

// TestSettingsAuditRetentionZero: the page takes 0 for audit_retention
// (keep everything) and says what it means.
func TestSettingsAuditRetentionZero(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	r := h.post("/dashboard/settings", "/dashboard/settings", settingsForm(defaults(), "audit_retention", "0s"))
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save 0s: %d %.300s", r.StatusCode, r.body)
	}
	if v, _ := h.srv.Handlers.Settings.Get(context.Background(), "audit_retention"); v != "0" {
		t.Fatalf("audit_retention = %q, want 0", v)
	}
	admContains(t, "page", h.get("/dashboard/settings").body, `id="audit_retention"`, `value="0"`, "0 to keep everything", "0 keeps everything.")
}

// Text settings (client_id_metadata_hosts) render as a box with a hint,
// are normalised when saved, and a bad value is refused with a message;
// the "Client registration" group is described.
func TestSettingsTextKind(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	admSignIn(t, h, "root", models.RoleAdmin)
	r := h.get("/dashboard/settings")
	admContains(t, "page", r.body, `<input id="client_id_metadata_hosts" name="client_id_metadata_hosts" type="text"`,
		`id="client_id_metadata_hosts-bounds"`, "Comma-separated host names, such as claude.ai", "default empty",
		"Client registration", "How apps that no one registered here can introduce themselves")

	f := settingsForm(defaults(), "client_id_metadata_hosts", "claude.ai  , bad host!")
	r = h.post("/dashboard/settings", "/dashboard/settings", f)
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad hosts: status %d, want 422", r.StatusCode)
	}
	admContains(t, "refusal", r.body, `id="client_id_metadata_hosts-error"`, "is not a host name or a *.example.com wildcard.",
		`value="claude.ai  , bad host!"`)
	if stored, _ := h.store.GetSettings(context.Background()); len(stored) != 0 {
		t.Fatalf("stored after refusal: %v", stored)
	}

	f = settingsForm(defaults(), "client_id_metadata_documents", "allowlist", "client_id_metadata_hosts", " Claude.AI, *.Example.com ")
	if r = h.post("/dashboard/settings", "/dashboard/settings", f); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", r.StatusCode, r.body)
	}
	stored, _ := h.store.GetSettings(context.Background())
	if stored["client_id_metadata_hosts"] != "claude.ai,*.example.com" || stored["client_id_metadata_documents"] != "allowlist" {
		t.Fatalf("stored %v", stored)
	}
	admContains(t, "saved page", h.get("/dashboard/settings").body, `value="claude.ai,*.example.com"`)
}

package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

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
		"Between 1s and 10m.", `value="5m"`, `for="authorization_code_lifetime"`, `aria-labelledby="enforce_state-label"`)
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
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		admSignIn(t, h, "root", models.RoleAdmin)
		anon := &harness{t: t, srv: h.srv, store: h.store, jar: map[string]*http.Cookie{}}
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

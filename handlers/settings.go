package handlers

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/keys"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// The Settings page (admins): every runtime setting of SPEC.md §4, grouped.

// settingGroups describes the groups of settings.Definitions, in order.
var settingGroups = []struct{ Name, ID, Description, Icon string }{
	{"Grants", "grants", "Legacy ways for apps to get tokens. Both are off by default, as current OAuth security advice says.", "fa-solid fa-key"},
	{"Authorization requests", "authorization", "How strictly Gatehouse checks the requests apps send users through.", "fa-solid fa-right-to-bracket"},
	{"Token lifetimes", "lifetimes", "How long codes and tokens stay valid once issued.", "fa-solid fa-hourglass-half"},
	{"Tokens", "tokens", "What access tokens look like and where resources accept them.", "fa-solid fa-ticket"},
	{"Device flow", "device", "Sign-in on TVs, consoles and command-line tools (RFC 8628).", "fa-solid fa-tv"},
	{"Client registration", "registration", "How apps that no one registered here can introduce themselves, as MCP clients and AI agents do: by registering at the registration endpoint (RFC 7591), or by a client_id that is the URL of their metadata document. Such apps are marked unverified on the consent screen.", "fa-solid fa-id-card"},
	{"Sessions", "sessions", "How long people stay signed in to Gatehouse (the dashboard, the sign-in and consent pages).", "fa-solid fa-clock"},
	{"Accounts", "accounts", "Who can create an account.", "fa-solid fa-user-plus"},
	{"Audit log", "audit", "How long the record of sign-ins and changes is kept.", "fa-solid fa-clock-rotate-left"},
}

// choiceLabels are the words the page uses for enum values.
var choiceLabels = map[string]map[string]string{
	"require_pkce":                 {"public": "Public clients only", "all": "All clients", "none": "No clients"},
	"access_token_format":          {"opaque": "Opaque (random string)", "jwt": "JWT (RFC 9068)"},
	"client_id_metadata_documents": {"off": "Off", "allowlist": "Only from the hosts below", "any": "From any host"},
	"dynamic_registration":         {"off": "Off", "token": "With an initial access token", "open": "Open to any app"},
	"dpop_nonce":                   {"off": "Off", "token": "At the token endpoint", "all": "At the token endpoint and the resources"},
}

// textHints say what a text setting takes, under its box.
var textHints = map[string]string{
	"client_id_metadata_hosts": "Comma-separated host names, such as claude.ai, *.example.com. Empty: no host (while the setting above is 'Only from the hosts below').",
}

// settingsData builds the page from values (by key) and errors.
func settingsData(values, stored map[string]string, errs views.FieldErrors) pages.SettingsData {
	d := pages.SettingsData{Errors: errs}
	byGroup := map[string][]pages.SettingField{}
	for _, def := range settings.Definitions {
		f := pages.SettingField{
			Key: def.Key, Title: def.Title, Help: def.Help, Risk: def.Risk,
			Value: values[def.Key], Default: def.Default, Modified: stored[def.Key] != def.Default,
		}
		switch def.Kind {
		case settings.Bool:
			f.Kind = pages.SettingBool
		case settings.Enum:
			f.Kind = pages.SettingEnum
			for _, ch := range def.Choices {
				label := choiceLabels[def.Key][ch]
				if label == "" {
					label = ch
				}
				f.Choices = append(f.Choices, pages.SettingChoice{Value: ch, Label: label})
			}
		case settings.Duration:
			f.Kind = pages.SettingDuration
			f.Min, f.Max, f.Zero = settings.ShortDuration(def.Min), settings.ShortDuration(def.Max), def.Zero
		case settings.Text:
			f.Kind = pages.SettingText
			f.Hint = textHints[def.Key]
		}
		byGroup[def.Group] = append(byGroup[def.Group], f)
	}
	seen := map[string]bool{}
	for _, g := range settingGroups {
		if fs := byGroup[g.Name]; len(fs) > 0 {
			d.Groups = append(d.Groups, pages.SettingsGroup{ID: g.ID, Title: g.Name, Description: g.Description, Icon: g.Icon, Settings: fs})
			seen[g.Name] = true
		}
	}
	// A group added to settings.Definitions but not described above
	// still shows.
	for _, def := range settings.Definitions {
		if !seen[def.Group] {
			seen[def.Group] = true
			id := strings.ToLower(strings.ReplaceAll(def.Group, " ", "-"))
			d.Groups = append(d.Groups, pages.SettingsGroup{ID: id, Title: def.Group, Icon: "fa-solid fa-gear", Settings: byGroup[def.Group]})
		}
	}
	return d
}

// SettingsPage shows the settings form (GET /dashboard/settings).
func (h *Handlers) SettingsPage(c *fiber.Ctx) error {
	raw, err := h.Settings.Raw(c.UserContext())
	if err != nil {
		return err
	}
	kd, err := h.signingKeysData(c)
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, pages.Settings(h.base(c, "Settings", "settings"), settingsData(raw, raw, nil), kd))
}

// SaveSettings validates the submitted settings and writes the changed ones
// (POST /dashboard/settings). Nothing is written unless every value is
// valid; each changed key is written and audited (setting.changed with the
// old and new value). A key that is not a setting refuses the whole form.
// Settings missing from the form keep their value, so that a form may
// carry only some of them; a toggle sends "false" from a hidden field
// followed by the checkbox's "true", and the last value counts.
func (h *Handlers) SaveSettings(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	current, err := h.Settings.Raw(ctx)
	if err != nil {
		return err
	}
	submitted := map[string]string{}
	var unknown []string
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		key := string(k)
		if key == web.CSRFField {
			return
		}
		if _, ok := settings.Lookup(key); !ok {
			unknown = append(unknown, key)
			return
		}
		submitted[key] = string(v) // the last value wins
	})
	values := make(map[string]string, len(current))
	for k, v := range current {
		values[k] = v
	}
	for k, v := range submitted {
		values[k] = v
	}
	render := func(errs views.FieldErrors) error {
		kd, err := h.signingKeysData(c)
		if err != nil {
			return err
		}
		return web.Render(c, fiber.StatusUnprocessableEntity, pages.Settings(h.base(c, "Settings", "settings"), settingsData(values, current, errs), kd))
	}
	if len(unknown) > 0 {
		names := make([]string, len(unknown))
		for i, k := range unknown {
			names[i] = settingQuote(k)
		}
		what := " is not a setting"
		if len(names) > 1 {
			what = " are not settings"
		}
		return render(views.FieldErrors{views.FormError: "Nothing was saved: " + strings.Join(names, ", ") + what + ". Reload the page and try again."})
	}
	errs := views.FieldErrors{}
	type change struct{ key, old, new string }
	var changes []change
	for _, def := range settings.Definitions {
		v, ok := submitted[def.Key]
		if !ok {
			continue
		}
		n, err := def.Normalize(v)
		if err != nil {
			errs[def.Key] = settingMessage(&def, v)
			continue
		}
		values[def.Key] = n
		if n != current[def.Key] {
			changes = append(changes, change{def.Key, current[def.Key], n})
		}
	}
	if len(errs) > 0 {
		errs[views.FormError] = "Nothing was saved. Correct the settings marked below and save again."
		return render(errs)
	}
	if len(changes) > 0 {
		err := h.Store.Tx(ctx, func(tx *models.Store) error {
			svc := settings.NewService(tx)
			for _, ch := range changes {
				if _, err := svc.Set(ctx, ch.key, ch.new); err != nil {
					return err
				}
			}
			return nil
		})
		var verr *settings.ValidationError
		if errors.As(err, &verr) {
			return render(views.FieldErrors{verr.Key: verr.Error()})
		}
		if err != nil {
			return err
		}
		for _, ch := range changes {
			h.audit(c, u, "setting.changed", ch.key, true, map[string]string{"old": ch.old, "new": ch.new})
		}
	}
	sess := web.CurrentSession(c)
	switch len(changes) {
	case 0:
		sess.AddFlash("info", "Nothing changed: every setting already had the value you submitted.")
	case 1:
		sess.AddFlash("success", "Saved: "+settingTitle(changes[0].key)+" is now "+changes[0].new+". It applies from the next request.")
	default:
		sess.AddFlash("success", "Saved "+pages.Plural(int64(len(changes)), "setting", "settings")+". The changes apply from the next request.")
	}
	return seeOther(c, "/dashboard/settings")
}

func settingTitle(key string) string {
	if d, ok := settings.Lookup(key); ok {
		return d.Title
	}
	return key
}

// settingMessage explains a refused value in the words of the page (the
// settings package's messages name the key, which the page shows anyway).
func settingMessage(def *settings.Definition, value string) string {
	v := strings.TrimSpace(value)
	switch def.Kind {
	case settings.Bool:
		return "Choose on or off."
	case settings.Enum:
		return "Choose one of: " + strings.Join(def.Choices, ", ") + "."
	case settings.Duration:
		zero := ""
		if def.Zero != "" {
			zero = "0 (" + def.Zero + ") or "
		}
		if v == "" {
			return "Enter " + zero + "a duration between " + settings.ShortDuration(def.Min) + " and " + settings.ShortDuration(def.Max) + "."
		}
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return "Write a duration with a unit, such as 30s, 5m or 1h (not " + settingQuote(v) + ")."
		case d < 0 && zero != "":
			return "Must be 0 (" + def.Zero + ") or at least " + settings.ShortDuration(def.Min) + "."
		case d <= 0:
			return "Must be longer than zero: at least " + settings.ShortDuration(def.Min) + "."
		case d < def.Min:
			return "Must be " + zero + "at least " + settings.ShortDuration(def.Min) + "."
		case d > def.Max:
			return "Must be at most " + settings.ShortDuration(def.Max) + ", not " + v + "."
		}
	}
	if _, err := def.Normalize(value); err != nil {
		msg := strings.TrimPrefix(err.Error(), def.Key+": ")
		if def.Kind == settings.Text && msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
		}
		return msg
	}
	return ""
}

// settingQuote quotes what someone typed, cut to 40 characters.
func settingQuote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return "“" + s + "”"
}

// ---- signing keys ----------------------------------------------------

// signingKeysData lists the signing keys for the settings page.
func (h *Handlers) signingKeysData(c *fiber.Ctx) (pages.SigningKeysData, error) {
	list, err := h.Keys.List(c.UserContext())
	if err != nil {
		return pages.SigningKeysData{}, err
	}
	d := pages.SigningKeysData{
		JWKSURL: h.Config.EndpointURL("jwks"), Encrypting: h.Keys.Encrypting(),
		Retention: settings.ShortDuration(keys.Retention()), MaxLifetime: settings.ShortDuration(keys.MaxTokenLifetime()),
	}
	for _, k := range list {
		d.Keys = append(d.Keys, pages.SigningKeyRow{KID: k.KID, Alg: k.Alg, Status: k.Status, Encrypted: k.Encrypted, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt})
	}
	return d, nil
}

// RotateSigningKeys makes new signing keys and retires the current ones,
// which stay published until their tokens have expired (POST
// /dashboard/settings/keys/rotate, admins). Audited as keys.rotate.
func (h *Handlers) RotateSigningKeys(c *fiber.Ctx) error {
	rot, err := h.Keys.Rotate(c.UserContext())
	if err != nil {
		return err
	}
	h.audit(c, web.CurrentUser(c), "keys.rotate", rot.New[0].KID, true, rot.AuditDetails())
	msg := "Signing keys rotated: new tokens are signed with key " + rot.New[0].KID + "."
	if len(rot.Retired) > 0 {
		until := rot.Retired[0].ExpiresAt.UTC().Format("2 Jan 2006, 15:04 MST")
		msg += " The previous keys stay published until " + until + ", so tokens they signed stay valid."
	}
	web.CurrentSession(c).AddFlash("success", msg)
	return seeOther(c, "/dashboard/settings")
}

package clients

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// withLogout is valid() with every logout field and a reuse interval set.
func withLogout() Input {
	in := valid()
	in.RedirectURIs = append(in.RedirectURIs, "http://localhost:3000/cb", "http://[::1]:3000/cb")
	in.PostLogoutRedirectURIs = []string{" https://app.example.com/bye ", "http://127.0.0.1:8400/bye", "https://app.example.com/bye", ""}
	in.BackchannelLogoutURI = " https://app.example.com/backchannel?tenant=a "
	in.BackchannelLogoutSessionRequired = true
	in.FrontchannelLogoutURI = "http://localhost:3000/frontchannel"
	in.FrontchannelLogoutSessionRequired = true
	in.RefreshTokenReuseInterval = " 5s "
	return in
}

// Every rule of the logout fields and the refresh token reuse interval
// refuses the input with a sentence on its field, and only on it.
func TestValidateLogoutAndReuseInterval(t *testing.T) {
	t.Parallel()
	in := withLogout()
	in.Normalize()
	if errs := in.Validate(known); len(errs) != 0 {
		t.Fatalf("valid input refused: %v", errs)
	}
	if !slices.Equal(in.PostLogoutRedirectURIs, []string{"https://app.example.com/bye", "http://127.0.0.1:8400/bye"}) ||
		in.BackchannelLogoutURI != "https://app.example.com/backchannel?tenant=a" || in.RefreshTokenReuseInterval != "5s" {
		t.Fatalf("not normalized: %+v", in)
	}

	const (
		bc = FieldBackchannelLogoutURI
		fc = FieldFrontchannelLogoutURI
		pl = FieldPostLogoutRedirectURIs
		iv = FieldRefreshTokenReuseInterval
	)
	cases := []struct {
		name  string
		mod   func(*Input)
		field string
		want  string
	}{
		// post_logout_redirect_uris: the rules of redirect URIs.
		{"post-logout: none", func(in *Input) { in.PostLogoutRedirectURIs = nil }, "", ""},
		{"post-logout: http", func(in *Input) { in.PostLogoutRedirectURIs = []string{"http://app.example.com/bye"} }, pl,
			`"http://app.example.com/bye" must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost).`},
		{"post-logout: loopback http", func(in *Input) { in.PostLogoutRedirectURIs = []string{"http://[::1]:8080/bye"} }, "", ""},
		{"post-logout: fragment", func(in *Input) { in.PostLogoutRedirectURIs = []string{"https://app.example.com/bye#x"} }, pl,
			`"https://app.example.com/bye#x" must not contain a fragment (#...).`},
		{"post-logout: relative", func(in *Input) { in.PostLogoutRedirectURIs = []string{"/bye"} }, pl, `"/bye" must be an absolute URL`},
		{"post-logout: javascript", func(in *Input) { in.PostLogoutRedirectURIs = []string{"javascript:alert(1)"} }, pl, `"javascript:alert(1)" must be an absolute URL`},
		{"post-logout: custom scheme", func(in *Input) { in.PostLogoutRedirectURIs = []string{"com.example.app://bye"} }, pl, `"com.example.app://bye" must use https (or http on a loopback address).`},
		{"post-logout: user info", func(in *Input) { in.PostLogoutRedirectURIs = []string{"https://u:p@app.example.com/bye"} }, pl, "user name or password"},
		{"post-logout: every bad one named", func(in *Input) {
			in.PostLogoutRedirectURIs = []string{"/a", "https://ok.example/bye", "http://x.example/bye", "/b"}
		}, pl, `"/a" and "/b" each must be an absolute URL such as https://app.example.com/callback; "http://x.example/bye" must use https`},
		{"post-logout: too many", func(in *Input) {
			in.PostLogoutRedirectURIs = nil
			for i := range MaxRedirectURIs + 1 {
				in.PostLogoutRedirectURIs = append(in.PostLogoutRedirectURIs, "https://a.example/"+strings.Repeat("x", i))
			}
		}, pl, "Register at most 50 post-logout redirect URIs."},

		// backchannel_logout_uri and frontchannel_logout_uri.
		{"back-channel: none", func(in *Input) { in.BackchannelLogoutURI, in.BackchannelLogoutSessionRequired = "", false }, "", ""},
		{"back-channel: http", func(in *Input) { in.BackchannelLogoutURI = "http://app.example.com/bc" }, bc,
			"The back-channel logout URI must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost)."},
		{"back-channel: loopback http", func(in *Input) { in.BackchannelLogoutURI = "http://127.0.0.1:9000/bc" }, "", ""},
		{"back-channel: fragment", func(in *Input) { in.BackchannelLogoutURI = "https://app.example.com/bc#x" }, bc,
			"The back-channel logout URI must not contain a fragment (#...)."},
		{"back-channel: relative", func(in *Input) { in.BackchannelLogoutURI = "/logout" }, bc,
			"The back-channel logout URI must be an absolute URL such as https://app.example.com/logout."},
		{"back-channel: no host", func(in *Input) { in.BackchannelLogoutURI = "https:///logout" }, bc, "must be an absolute URL"},
		{"back-channel: other scheme", func(in *Input) { in.BackchannelLogoutURI = "ftp://app.example.com/bc" }, bc,
			"The back-channel logout URI must use https (or http on a loopback address)."},
		{"back-channel: spaces", func(in *Input) { in.BackchannelLogoutURI = "https://app.example.com/a b" }, bc,
			"The back-channel logout URI contains spaces or control characters."},
		{"back-channel: user info", func(in *Input) { in.BackchannelLogoutURI = "https://u:p@app.example.com/bc" }, bc, "must not contain a user name or password."},
		{"back-channel: too long", func(in *Input) { in.BackchannelLogoutURI = "https://app.example.com/" + strings.Repeat("x", 2000) }, bc, "is longer than 2000 characters."},
		{"back-channel: session required without the URI", func(in *Input) { in.BackchannelLogoutURI = "" }, bc,
			"Session required (sid in logout tokens) needs a back-channel logout URI: enter one, or turn session required off."},
		{"back-channel: URI without session required", func(in *Input) { in.BackchannelLogoutSessionRequired = false }, "", ""},
		{"front-channel: none", func(in *Input) { in.FrontchannelLogoutURI, in.FrontchannelLogoutSessionRequired = "", false }, "", ""},
		{"front-channel: http", func(in *Input) { in.FrontchannelLogoutURI = "http://app.example.com/fc" }, fc,
			"The front-channel logout URI must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost)."},
		{"front-channel: fragment", func(in *Input) { in.FrontchannelLogoutURI = "https://app.example.com/fc#x" }, fc,
			"The front-channel logout URI must not contain a fragment (#...)."},
		{"front-channel: relative", func(in *Input) { in.FrontchannelLogoutURI = "logout" }, fc,
			"The front-channel logout URI must be an absolute URL such as https://app.example.com/logout."},
		{"front-channel: javascript", func(in *Input) { in.FrontchannelLogoutURI = "javascript:alert(1)" }, fc, "must be an absolute URL"},
		{"front-channel: data", func(in *Input) { in.FrontchannelLogoutURI = "data://x/text/html,hi" }, fc, "The front-channel logout URI must use https (or http on a loopback address)."},
		{"front-channel: loopback http", func(in *Input) { in.FrontchannelLogoutURI = "http://[::1]:3000/fc" }, "", ""},
		{"front-channel: the origin of a redirect URI", func(in *Input) { in.FrontchannelLogoutURI = "https://APP.example.com:443/fc" }, "", ""},
		{"front-channel: another host", func(in *Input) { in.FrontchannelLogoutURI = "https://other.example.com/fc" }, fc,
			"The front-channel logout URI must be on the same scheme, host and port as one of the redirect URIs."},
		{"front-channel: another port", func(in *Input) { in.FrontchannelLogoutURI = "http://localhost:3001/fc" }, fc, "same scheme, host and port"},
		{"front-channel: another scheme", func(in *Input) { in.FrontchannelLogoutURI = "https://localhost:3000/fc" }, fc, "same scheme, host and port"},
		{"front-channel: session required without the URI", func(in *Input) { in.FrontchannelLogoutURI = "" }, fc,
			"Session required (iss and sid in the address) needs a front-channel logout URI: enter one, or turn session required off."},

		// refresh_token_reuse_interval: "" follows the setting; 0s..60s.
		{"interval: empty", func(in *Input) { in.RefreshTokenReuseInterval = "" }, "", ""},
		{"interval: 0s", func(in *Input) { in.RefreshTokenReuseInterval = "0s" }, "", ""},
		{"interval: 60s", func(in *Input) { in.RefreshTokenReuseInterval = "60s" }, "", ""},
		{"interval: 1m", func(in *Input) { in.RefreshTokenReuseInterval = "1m" }, "", ""},
		{"interval: 61s", func(in *Input) { in.RefreshTokenReuseInterval = "61s" }, iv, `"61s" is longer than 60s: use at most 60s, and keep it to a few seconds.`},
		{"interval: 2m", func(in *Input) { in.RefreshTokenReuseInterval = "2m" }, iv, `"2m" is longer than 60s`},
		{"interval: negative", func(in *Input) { in.RefreshTokenReuseInterval = "-1s" }, iv,
			`"-1s" is negative: use 0s to turn the reuse interval off for this client, or up to 60s.`},
		{"interval: fraction of a second", func(in *Input) { in.RefreshTokenReuseInterval = "1500ms" }, iv,
			`"1500ms" is not a whole number of seconds: use whole seconds, such as 2s.`},
		{"interval: no unit", func(in *Input) { in.RefreshTokenReuseInterval = "5" }, iv,
			`Add a unit to "5": write it as a duration such as 5s, or leave it empty to use the server setting.`},
		{"interval: not a duration", func(in *Input) { in.RefreshTokenReuseInterval = "a few" }, iv,
			`"a few" is not a duration: write one such as 5s or 30s, or leave it empty to use the server setting.`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := withLogout()
			in.Normalize()
			tc.mod(&in)
			errs := in.Validate(known)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if !strings.Contains(errs[tc.field], tc.want) {
				t.Fatalf("errs[%s] = %q, want it to contain %q (all: %v)", tc.field, errs[tc.field], tc.want, errs)
			}
			if len(errs) != 1 {
				t.Errorf("more errors than expected: %v", errs)
			}
		})
	}
}

// Normalize writes a valid interval as whole seconds, "default" as ""
// (the setting), and leaves an invalid one as typed.
func TestNormalizeReuseInterval(t *testing.T) {
	t.Parallel()
	for typed, want := range map[string]string{
		"": "", "  ": "", "default": "", "Default": "", "0": "0s", "0s": "0s", "0m": "0s",
		" 10s ": "10s", "1m": "60s", "2000ms": "2s", "1m30s": "1m30s", "1.5s": "1.5s", "abc": "abc", "-1s": "-1s",
	} {
		in := Input{RefreshTokenReuseInterval: typed}
		in.Normalize()
		if in.RefreshTokenReuseInterval != want {
			t.Errorf("%q normalized to %q, want %q", typed, in.RefreshTokenReuseInterval, want)
		}
	}
}

// Apply stores the fields on the client, and FromClient reads them back;
// an empty interval is nil (the setting), 0s is 0.
func TestApplyAndFromClientLogoutFields(t *testing.T) {
	t.Parallel()
	in := withLogout()
	in.Normalize()
	var c models.Client
	in.Apply(&c)
	if !slices.Equal(c.PostLogoutRedirectURIs, in.PostLogoutRedirectURIs) || c.BackchannelLogoutURI != in.BackchannelLogoutURI ||
		!c.BackchannelLogoutSessionRequired || c.FrontchannelLogoutURI != "http://localhost:3000/frontchannel" ||
		!c.FrontchannelLogoutSessionRequired || c.RefreshTokenReuseSeconds == nil || *c.RefreshTokenReuseSeconds != 5 {
		t.Fatalf("applied: %+v", c)
	}
	back := FromClient(&c)
	if Changes(in, back) != nil {
		t.Fatalf("FromClient(Apply(in)) differs in %v: %+v", Changes(in, back), back)
	}
	for typed, want := range map[string]*int64{"": nil, "0s": new(int64)} {
		in.RefreshTokenReuseInterval = typed
		in.Apply(&c)
		if (c.RefreshTokenReuseSeconds == nil) != (want == nil) || (want != nil && *c.RefreshTokenReuseSeconds != *want) {
			t.Errorf("%q stored as %v", typed, c.RefreshTokenReuseSeconds)
		}
		if got := FromClient(&c).RefreshTokenReuseInterval; got != typed {
			t.Errorf("%q read back as %q", typed, got)
		}
	}
}

// Changes names each changed field; AuditDetails records the changed
// logout URIs and interval with their values.
func TestChangesAndAuditDetails(t *testing.T) {
	t.Parallel()
	before := valid()
	before.RedirectURIs = withLogout().RedirectURIs
	before.Normalize()
	if got := Changes(before, before); got != nil {
		t.Fatalf("no change: %v", got)
	}
	after := withLogout()
	after.Normalize()
	want := []string{FieldPostLogoutRedirectURIs, FieldBackchannelLogoutURI, FieldBackchannelLogoutSessionRequired,
		FieldFrontchannelLogoutURI, FieldFrontchannelLogoutSessionRequired, FieldRefreshTokenReuseInterval}
	if got := Changes(before, after); !slices.Equal(got, want) {
		t.Fatalf("Changes = %v, want %v", got, want)
	}
	// Each field alone.
	for _, f := range want {
		one := before
		switch f {
		case FieldPostLogoutRedirectURIs:
			one.PostLogoutRedirectURIs = after.PostLogoutRedirectURIs
		case FieldBackchannelLogoutURI:
			one.BackchannelLogoutURI = after.BackchannelLogoutURI
		case FieldBackchannelLogoutSessionRequired:
			one.BackchannelLogoutSessionRequired = true
		case FieldFrontchannelLogoutURI:
			one.FrontchannelLogoutURI = after.FrontchannelLogoutURI
		case FieldFrontchannelLogoutSessionRequired:
			one.FrontchannelLogoutSessionRequired = true
		case FieldRefreshTokenReuseInterval:
			one.RefreshTokenReuseInterval = "0s"
		}
		if got := Changes(before, one); !slices.Equal(got, []string{f}) {
			t.Errorf("changing %s alone: Changes = %v", f, got)
		}
	}
	got := AuditDetails(before, after)
	wantDetails := map[string]string{
		"changed":                      strings.Join(want, ","),
		FieldPostLogoutRedirectURIs:    " -> https://app.example.com/bye http://127.0.0.1:8400/bye",
		FieldBackchannelLogoutURI:      " -> https://app.example.com/backchannel?tenant=a",
		FieldFrontchannelLogoutURI:     " -> http://localhost:3000/frontchannel",
		FieldRefreshTokenReuseInterval: "default -> 5s",
	}
	if !maps.Equal(got, wantDetails) {
		t.Fatalf("AuditDetails = %v\nwant %v", got, wantDetails)
	}
	back := AuditDetails(after, before)
	if back[FieldRefreshTokenReuseInterval] != "5s -> default" || back[FieldBackchannelLogoutURI] != "https://app.example.com/backchannel?tenant=a -> " {
		t.Errorf("back to the defaults: %v", back)
	}
	// The fields that were there before keep their audit details.
	before = valid()
	before.Normalize()
	wider := before
	wider.RedirectURIs = append(slices.Clone(before.RedirectURIs), "https://app.example.com/cb2")
	wider.Public = true
	if d := AuditDetails(before, wider); d["changed"] != "redirect_uris,public" ||
		d[FieldRedirectURIs] != "https://app.example.com/cb -> https://app.example.com/cb https://app.example.com/cb2" || d[FieldPublic] != "false -> true" {
		t.Errorf("AuditDetails = %v", d)
	}
}

// Edit changes only what its function changes, on the client as stored,
// and saves nothing when the result is invalid.
func TestEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &trustStore{clients: map[string]*models.Client{}}
	c, _, errs, err := Create(ctx, st, withLogout(), nil)
	if err != nil {
		t.Fatal(err, errs)
	}
	// Meanwhile someone renamed it: Edit keeps that.
	st.clients[c.ClientID].Name = "Renamed"
	saved, errs, err := Edit(ctx, st, developer, c.ClientID, func(in *Input) {
		in.BackchannelLogoutURI = "https://app.example.com/bc2"
		in.RefreshTokenReuseInterval = "default"
	})
	if err != nil {
		t.Fatal(err, errs)
	}
	if got := Changes(saved.Before, saved.After); !slices.Equal(got, []string{FieldBackchannelLogoutURI, FieldRefreshTokenReuseInterval}) {
		t.Fatalf("Changes = %v", got)
	}
	got := st.clients[c.ClientID]
	if got.Name != "Renamed" || got.BackchannelLogoutURI != "https://app.example.com/bc2" || got.RefreshTokenReuseSeconds != nil ||
		!got.FrontchannelLogoutSessionRequired || len(got.PostLogoutRedirectURIs) != 2 {
		t.Fatalf("stored %+v", got)
	}
	// Clearing the URI while session required stays on is refused.
	_, errs, err = Edit(ctx, st, developer, c.ClientID, func(in *Input) { in.BackchannelLogoutURI = "" })
	if !errors.Is(err, ErrInvalid) || !strings.Contains(errs[FieldBackchannelLogoutURI], "needs a back-channel logout URI") {
		t.Fatalf("session required without a URI: %v %v", err, errs)
	}
	if st.clients[c.ClientID].BackchannelLogoutURI != "https://app.example.com/bc2" {
		t.Fatal("a refused edit was saved")
	}
	if _, _, err := Edit(ctx, st, developer, "nope", func(*Input) {}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
}

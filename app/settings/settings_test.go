package settings

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type memStore map[string]string

func (m memStore) GetSettings(context.Context) (map[string]string, error) { return m, nil }
func (m memStore) SetSetting(_ context.Context, k, v string) error        { m[k] = v; return nil }

func TestDefaultsMatchSpec(t *testing.T) {
	t.Parallel()
	v, raw, bad := Resolve(nil)
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	want := map[string]string{
		"allow_implicit_grant": "false", "enforce_state": "true", "require_exact_redirect_uri": "true",
		"access_token_lifetime": "1h", "refresh_token_lifetime": "720h", "authorization_code_lifetime": "5m",
		"require_pkce": "public", "allow_query_access_token": "false", "allow_password_grant": "false",
		"remember_consent": "true", "allow_signup": "false", "device_code_lifetime": "10m",
		"device_poll_interval": "5s", "access_token_format": "opaque",
		"session_lifetime": "720h", "session_idle_timeout": "12h",
		"audit_retention": "2160h", "refresh_token_reuse_interval": "0s",
		"dynamic_registration": "off", "client_id_metadata_documents": "off", "client_id_metadata_hosts": "",
		"require_pushed_authorization_requests": "false",
		"dpop_nonce":                            "off",
	}
	if len(raw) != len(want) {
		t.Fatalf("%d settings, SPEC has %d", len(raw), len(want))
	}
	for k, w := range want {
		if raw[k] != w {
			t.Errorf("%s default = %q, want %q", k, raw[k], w)
		}
	}
	if v.AccessTokenLifetime != time.Hour || !v.EnforceState || v.AllowImplicitGrant || v.RequirePKCE != "public" || v.RequirePAR {
		t.Fatalf("typed values wrong: %+v", v)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"authorization_code_lifetime":  "11m",
		"access_token_lifetime":        "0s",
		"refresh_token_lifetime":       "-1h",
		"device_poll_interval":         "soon",
		"enforce_state":                "maybe",
		"require_pkce":                 "some",
		"access_token_format":          "xml",
		"session_lifetime":             "1m",
		"session_idle_timeout":         "721h",
		"refresh_token_reuse_interval": "61s",
		"dpop_nonce":                   "sometimes",
	}
	for k, v := range bad {
		if _, err := Normalize(k, v); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		} else if !strings.Contains(err.Error(), k) {
			t.Errorf("error for %s does not name it: %v", k, err)
		}
	}
	if _, err := Normalize("no_such_key", "x"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
	good := map[string][2]string{
		"authorization_code_lifetime": {"10m", "10m"},
		"enforce_state":               {"OFF", "false"},
		"require_pkce":                {"All", "all"},
		"access_token_lifetime":       {" 15m ", "15m"},
	}
	for k, io := range good {
		if got, err := Normalize(k, io[0]); err != nil || got != io[1] {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q", k, io[0], got, err, io[1])
		}
	}
}

func TestServiceSetGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := memStore{}
	s := NewService(m)
	if _, err := s.Set(ctx, "authorization_code_lifetime", "20m"); err == nil {
		t.Fatal("invalid value stored")
	}
	var ve *ValidationError
	if _, err := s.Set(ctx, "enforce_state", "nope"); !errors.As(err, &ve) {
		t.Fatalf("want ValidationError, got %v", err)
	}
	if len(m) != 0 {
		t.Fatal("refused value was written")
	}
	if _, err := s.Set(ctx, "enforce_state", "false"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get(ctx, "enforce_state"); v != "false" {
		t.Fatalf("Get = %q", v)
	}
	vals, _ := s.Load(ctx)
	if vals.EnforceState {
		t.Fatal("Load ignores stored value")
	}
	m["access_token_lifetime"] = "garbage" // e.g. written by an older version
	vals, _ = s.Load(ctx)
	if vals.AccessTokenLifetime != time.Hour {
		t.Fatal("bad stored value not replaced by default")
	}
}

// TestZeroAllowed: a duration whose definition says what 0 means
// (audit_retention: keep everything) takes 0 in any spelling and stores
// "0"; it still refuses negative, malformed and too short values, and the
// other durations still refuse 0.
func TestZeroAllowed(t *testing.T) {
	t.Parallel()
	d, _ := Lookup("audit_retention")
	if d.Zero == "" {
		t.Fatal("audit_retention does not allow 0")
	}
	for _, in := range []string{"0", "0s", " 0h ", "0m0s"} {
		if got, err := Normalize("audit_retention", in); err != nil || got != "0" {
			t.Errorf("Normalize(audit_retention, %q) = %q, %v; want 0", in, got, err)
		}
	}
	// A setting whose default is 0 writes 0 as its default does, so that
	// saving the settings form unchanged stores nothing.
	for _, in := range []string{"0", "0s", "0ms"} {
		if got, err := Normalize("refresh_token_reuse_interval", in); err != nil || got != "0s" {
			t.Errorf("Normalize(refresh_token_reuse_interval, %q) = %q, %v; want 0s", in, got, err)
		}
	}
	if got, err := Normalize("refresh_token_reuse_interval", "500ms"); err == nil {
		t.Errorf("500ms accepted as %q (at least 1s or 0)", got)
	}
	if got, err := Normalize("audit_retention", "720h"); err != nil || got != "720h" {
		t.Errorf("720h: %q %v", got, err)
	}
	for _, in := range []string{"-1h", "-0.5s", "forever", "", "30m", "87601h"} {
		_, err := Normalize("audit_retention", in)
		if err == nil {
			t.Errorf("audit_retention %q accepted", in)
			continue
		}
		if in == "-1h" || in == "30m" {
			if !strings.Contains(err.Error(), "0 (keep everything)") {
				t.Errorf("audit_retention %q: message does not offer 0: %v", in, err)
			}
		}
	}
	for _, d := range Definitions {
		if d.Kind == Duration && d.Zero == "" {
			if _, err := Normalize(d.Key, "0"); err == nil {
				t.Errorf("%s accepts 0", d.Key)
			}
		}
	}
	v, raw, bad := Resolve(map[string]string{"audit_retention": "0"})
	if len(bad) != 0 || raw["audit_retention"] != "0" || v.AuditRetention != 0 {
		t.Errorf("stored 0: %v %q %v", bad, raw["audit_retention"], v.AuditRetention)
	}
	if v, _, _ := Resolve(nil); v.AuditRetention != 2160*time.Hour {
		t.Errorf("default retention %v", v.AuditRetention)
	}
}

func TestHostPatterns(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                            "",
		" Claude.AI , *.Example.com ": "claude.ai,*.example.com",
		"a-b.example.org":             "a-b.example.org",
	} {
		got, err := Normalize("client_id_metadata_hosts", in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"https://claude.ai", "*.*.example.com", "a*.example.com", "exa mple.com", "-a.com", "a..b", "claude.ai/x", "127.0.0.1:443"} {
		if _, err := Normalize("client_id_metadata_hosts", bad); err == nil {
			t.Errorf("Normalize(%q) accepted", bad)
		}
	}
	pats := []string{"claude.ai", "*.example.com"}
	for host, want := range map[string]bool{
		"claude.ai": true, "CLAUDE.AI": true, "x.claude.ai": false, "app.example.com": true,
		"a.b.example.com": true, "example.com": false, "badexample.com": false, "claude.ai.evil.com": false,
	} {
		if HostAllowed(pats, host) != want {
			t.Errorf("HostAllowed(%q) = %v", host, !want)
		}
	}
}

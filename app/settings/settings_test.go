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
	}
	if len(raw) != len(want) {
		t.Fatalf("%d settings, SPEC has %d", len(raw), len(want))
	}
	for k, w := range want {
		if raw[k] != w {
			t.Errorf("%s default = %q, want %q", k, raw[k], w)
		}
	}
	if v.AccessTokenLifetime != time.Hour || !v.EnforceState || v.AllowImplicitGrant || v.RequirePKCE != "public" {
		t.Fatalf("typed values wrong: %+v", v)
	}
}

func TestValidation(t *testing.T) {
	bad := map[string]string{
		"authorization_code_lifetime": "11m",
		"access_token_lifetime":       "0s",
		"refresh_token_lifetime":      "-1h",
		"device_poll_interval":        "soon",
		"enforce_state":               "maybe",
		"require_pkce":                "some",
		"access_token_format":         "xml",
		"session_lifetime":            "1m",
		"session_idle_timeout":        "721h",
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

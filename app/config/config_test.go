package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.Load(func(k string) string { return env[k] })
}

func sqliteEnv(t *testing.T) map[string]string {
	return map[string]string{"GATEHOUSE_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "gh.db")}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	_ = os.Chdir(dir)
	defer os.Chdir(wd)
	cfg, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.Issuer != "http://localhost:8080" || cfg.OAuthPrefix != "/oauth" ||
		cfg.LogLevel != "info" || cfg.LogFormat != "text" || len(cfg.TrustedProxies) != 0 {
		t.Fatalf("defaults wrong: %+v", cfg)
	}
	if cfg.Database.Dialect != "sqlite" || cfg.Database.Path != "data/gatehouse.db" {
		t.Fatalf("default database = %+v", cfg.Database)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatal("data folder not created")
	}
	if cfg.Endpoint("token") != "/oauth/token" || cfg.EndpointURL("device_code") != "http://localhost:8080/oauth/device/code" {
		t.Fatalf("endpoints: %s %s", cfg.Endpoint("token"), cfg.EndpointURL("device_code"))
	}
	if cfg.SecureCookies() {
		t.Fatal("http issuer must not give Secure cookies")
	}
}

// TestPrecedence checks flags > env > file > defaults for each setting.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(file, []byte(`
addr: 127.0.0.1:7000
issuer: https://file.example.com
database_url: sqlite://`+filepath.Join(dir, "file.db")+`
log_level: warn
oauth:
  prefix: /auth
  paths: {token: /access-token}
`), 0o600)

	// file over defaults
	cfg, err := load(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7000" || cfg.Issuer != "https://file.example.com" || cfg.LogLevel != "warn" ||
		cfg.OAuthPrefix != "/auth" || cfg.Endpoint("token") != "/auth/access-token" || cfg.Endpoint("authorize") != "/auth/authorize" {
		t.Fatalf("file values not used: %+v", cfg)
	}
	if !cfg.SecureCookies() {
		t.Fatal("https issuer must give Secure cookies")
	}

	// env over file
	env := map[string]string{"GATEHOUSE_ADDR": "127.0.0.1:7001", "GATEHOUSE_ISSUER": "https://env.example.com", "GATEHOUSE_OAUTH_PREFIX": "/o"}
	cfg, err = load(t, []string{"--config", file}, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7001" || cfg.Issuer != "https://env.example.com" || cfg.OAuthPrefix != "/o" {
		t.Fatalf("env did not override file: %+v", cfg)
	}

	// flags over env
	cfg, err = load(t, []string{"--config", file, "--addr", "127.0.0.1:7002", "--issuer", "https://flag.example.com/gh", "--oauth-prefix", "/x"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7002" || cfg.Issuer != "https://flag.example.com/gh" || cfg.OAuthPrefix != "/x" {
		t.Fatalf("flags did not override env: %+v", cfg)
	}

	// config file named by environment
	cfg, err = load(t, nil, map[string]string{"GATEHOUSE_CONFIG": file})
	if err != nil || cfg.Addr != "127.0.0.1:7000" {
		t.Fatalf("GATEHOUSE_CONFIG not read: %v %+v", err, cfg)
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"GATEHOUSE_ISSUER":          "auth.example.com",
		"GATEHOUSE_DATABASE_URL":    "mysql://x",
		"GATEHOUSE_ADDR":            "8080",
		"GATEHOUSE_LOG_LEVEL":       "loud",
		"GATEHOUSE_LOG_FORMAT":      "xml",
		"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8, nonsense",
		"GATEHOUSE_OAUTH_PREFIX":    "oauth/",
	}
	_, err := load(t, nil, env)
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error type %T", err)
	}
	want := []string{"GATEHOUSE_ADDR", "GATEHOUSE_ISSUER", "GATEHOUSE_DATABASE_URL", "GATEHOUSE_OAUTH_PREFIX", "GATEHOUSE_LOG_LEVEL", "GATEHOUSE_LOG_FORMAT", "GATEHOUSE_TRUSTED_PROXIES"}
	if len(cerr.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(cerr.Problems), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(cerr.Problems[i], w) {
			t.Errorf("problem %d = %q, want it to start with %s", i, cerr.Problems[i], w)
		}
		if strings.Contains(cerr.Problems[i], "\n") {
			t.Errorf("problem %d spans lines", i)
		}
	}
}

func TestIssuerRules(t *testing.T) {
	t.Parallel()
	bad := []string{"auth.example.com", "ftp://x.example.com", "https://x.example.com/", "https://x.example.com?a=b",
		"https://x.example.com#f", "https://user@x.example.com", "/relative", "HTTPS://x.example.com"}
	for _, iss := range bad {
		env := sqliteEnv(t)
		env["GATEHOUSE_ISSUER"] = iss
		if _, err := load(t, nil, env); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_ISSUER") {
			t.Errorf("issuer %q accepted (err=%v)", iss, err)
		}
	}
	for _, iss := range []string{"https://auth.example.com", "http://localhost:9000", "https://example.com/auth"} {
		env := sqliteEnv(t)
		env["GATEHOUSE_ISSUER"] = iss
		cfg, err := load(t, nil, env)
		if err != nil || cfg.Issuer != iss {
			t.Errorf("issuer %q refused or changed: %v", iss, err)
		}
	}
}

func TestUnwritableSQLitePath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	_, err := load(t, nil, map[string]string{"GATEHOUSE_DATABASE_URL": "sqlite://" + filepath.Join(blocker, "gh.db")})
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_DATABASE_URL") {
		t.Fatalf("unwritable SQLite path accepted: %v", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	env := sqliteEnv(t)
	env["GATEHOUSE_TRUSTED_PROXIES"] = "10.0.0.0/8,192.168.1.7 ::1"
	cfg, err := load(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.TrustedProxies) != 3 || cfg.TrustedProxies[1].String() != "192.168.1.7/32" {
		t.Fatalf("trusted proxies = %v", cfg.TrustedProxies)
	}
}

func TestConfigFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := load(t, []string{"--config", filepath.Join(dir, "missing.yaml")}, nil); err == nil {
		t.Fatal("missing config file accepted")
	}
	f := filepath.Join(dir, "typo.yaml")
	os.WriteFile(f, []byte("isuer: https://x\n"), 0o600)
	if _, err := load(t, []string{"--config", f}, sqliteEnv(t)); err == nil || !strings.Contains(err.Error(), "isuer") {
		t.Fatalf("unknown key in config file accepted: %v", err)
	}
	f2 := filepath.Join(dir, "paths.yaml")
	os.WriteFile(f2, []byte("oauth:\n  paths: {tokn: /t, revoke: revoke}\n"), 0o600)
	_, err := load(t, []string{"--config", f2}, sqliteEnv(t))
	if err == nil || !strings.Contains(err.Error(), `unknown endpoint "tokn"`) || !strings.Contains(err.Error(), "oauth.paths.revoke") {
		t.Fatalf("bad paths accepted: %v", err)
	}
}

func TestEndpointsMustNotShadowPages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "g.yaml")
	os.WriteFile(f, []byte("oauth:\n  prefix: \"\"\n  paths: {token: /login}\n"), 0o600)
	_, err := load(t, []string{"--config", f}, sqliteEnv(t))
	if err == nil || !strings.Contains(err.Error(), "collides") {
		t.Fatalf("endpoint at /login accepted: %v", err)
	}
	// The default device_code path (/device/code) collides with /device
	// when there is no prefix.
	os.WriteFile(f, []byte("oauth:\n  prefix: \"\"\n  paths: {device_code: /device-authorization}\n"), 0o600)
	cfg, err := load(t, []string{"--config", f}, sqliteEnv(t))
	if err != nil {
		t.Fatalf("empty prefix with free paths refused: %v", err)
	}
	if cfg.Endpoint("token") != "/token" {
		t.Fatalf("token endpoint = %q", cfg.Endpoint("token"))
	}
	// A configuration of the previous release without a prefix still
	// starts: the end-session endpoint, new, moves off /logout.
	if cfg.Endpoint("logout") != "/end_session" {
		t.Fatalf("end-session endpoint without a prefix = %q, want /end_session", cfg.Endpoint("logout"))
	}
	os.WriteFile(f, []byte("oauth:\n  prefix: \"\"\n  paths: {device_code: /device-authorization, logout: /logout}\n"), 0o600)
	if _, err := load(t, []string{"--config", f}, sqliteEnv(t)); err == nil || !strings.Contains(err.Error(), "collides") {
		t.Fatalf("end-session endpoint at /logout accepted: %v", err)
	}
	cfg, err = load(t, nil, sqliteEnv(t))
	if err != nil || cfg.Endpoint("logout") != "/oauth/logout" {
		t.Fatalf("default end-session endpoint = %q (%v), want /oauth/logout", cfg.Endpoint("logout"), err)
	}
}

// TestRegisterEndpointPath: the registration endpoint (RFC 7591) is
// {P}/register by default, may move like the others, must not shadow a
// page, and no endpoint may sit in its subtree ({P}/register/{client_id}).
func TestRegisterEndpointPath(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, sqliteEnv(t))
	if err != nil || cfg.Endpoint("register") != "/oauth/register" || cfg.EndpointURL("register") != "http://localhost:8080/oauth/register" {
		t.Fatalf("default: %q (%v)", cfg.Endpoint("register"), err)
	}
	f := filepath.Join(t.TempDir(), "g.yaml")
	os.WriteFile(f, []byte("oauth:\n  prefix: \"\"\n  paths: {device_code: /device-authorization}\n"), 0o600)
	if cfg, err = load(t, []string{"--config", f}, sqliteEnv(t)); err != nil || cfg.Endpoint("register") != "/register" {
		t.Fatalf("without a prefix: %q (%v)", cfg.Endpoint("register"), err)
	}
	os.WriteFile(f, []byte("oauth:\n  paths: {register: /clients/register}\n"), 0o600)
	if cfg, err = load(t, []string{"--config", f}, sqliteEnv(t)); err != nil || cfg.Endpoint("register") != "/oauth/clients/register" {
		t.Fatalf("moved: %q (%v)", cfg.Endpoint("register"), err)
	}
	for _, yaml := range []string{
		"oauth:\n  prefix: \"\"\n  paths: {device_code: /device-authorization, register: /dashboard/register}\n",
		"oauth:\n  prefix: \"\"\n  paths: {device_code: /device-authorization, register: /api}\n",
	} {
		os.WriteFile(f, []byte(yaml), 0o600)
		if _, err := load(t, []string{"--config", f}, sqliteEnv(t)); err == nil || !strings.Contains(err.Error(), "collides") {
			t.Errorf("%q accepted: %v", yaml, err)
		}
	}
	os.WriteFile(f, []byte("oauth:\n  paths: {token: /register/token}\n"), 0o600)
	if _, err := load(t, []string{"--config", f}, sqliteEnv(t)); err == nil || !strings.Contains(err.Error(), "below the registration endpoint") {
		t.Errorf("token endpoint below the registration endpoint accepted: %v", err)
	}
}

// TestKeySecret checks the key-encryption secret: flags > env > file >
// empty default, a short secret refused without showing it, and the value
// hidden from fmt and log/slog.
func TestKeySecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	fileSecret := strings.Repeat("f", 32)
	envSecret := strings.Repeat("e", 40)
	flagSecret := strings.Repeat("g", 33)
	os.WriteFile(file, []byte("key_secret: "+fileSecret+"\n"), 0o600)

	cfg, err := load(t, nil, sqliteEnv(t))
	if err != nil || cfg.KeySecret != "" {
		t.Fatalf("default key secret = %q (%v), want empty", cfg.KeySecret.Reveal(), err)
	}
	env := sqliteEnv(t)
	cfg, err = load(t, []string{"--config", file}, env)
	if err != nil || cfg.KeySecret.Reveal() != fileSecret {
		t.Fatalf("file key_secret not used: %v", err)
	}
	env["GATEHOUSE_KEY_SECRET"] = envSecret
	cfg, err = load(t, []string{"--config", file}, env)
	if err != nil || cfg.KeySecret.Reveal() != envSecret {
		t.Fatalf("env did not override file: %v", err)
	}
	cfg, err = load(t, []string{"--config", file, "--key-secret", flagSecret}, env)
	if err != nil || cfg.KeySecret.Reveal() != flagSecret {
		t.Fatalf("flag did not override env: %v", err)
	}
	// An explicitly empty flag turns encryption off over the environment.
	cfg, err = load(t, []string{"--key-secret", ""}, env)
	if err != nil || cfg.KeySecret != "" {
		t.Fatalf("--key-secret \"\" did not override env: %v", err)
	}

	// Too short: refused, with every other problem, and never echoed.
	short := "hunter2-is-short"
	env = map[string]string{"GATEHOUSE_KEY_SECRET": short, "GATEHOUSE_LOG_LEVEL": "loud", "GATEHOUSE_DATABASE_URL": env["GATEHOUSE_DATABASE_URL"]}
	_, err = load(t, nil, env)
	var cerr *Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 2 {
		t.Fatalf("short secret: %v", err)
	}
	if !strings.HasPrefix(cerr.Problems[1], "GATEHOUSE_KEY_SECRET is 16 characters long; use at least 32") {
		t.Errorf("problem = %q", cerr.Problems[1])
	}
	if strings.Contains(err.Error(), short) {
		t.Error("the error shows the secret")
	}

	// Printing or logging the configuration never shows the secret.
	cfg, err = load(t, []string{"--key-secret", flagSecret}, sqliteEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg, "secret", cfg.KeySecret)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "secret", cfg.KeySecret)
	js, _ := json.Marshal(cfg)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.KeySecret), logs.String(), string(js)} {
		if strings.Contains(out, flagSecret) || !strings.Contains(out, "[redacted]") {
			t.Errorf("secret not hidden in %q", out)
		}
	}
}

// TestRedisURL checks GATEHOUSE_REDIS_URL / --redis-url / redis_url: flags
// > env > file > empty default (the database keeps the throttle counts), a
// malformed URL refused without showing it (it may hold a password), and
// the value hidden from fmt.
func TestRedisURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(file, []byte("redis_url: redis://file:6379/1\n"), 0o600)

	cfg, err := load(t, nil, sqliteEnv(t))
	if err != nil || cfg.RedisURL != "" {
		t.Fatalf("default redis URL = %q (%v), want empty", cfg.RedisURL.Reveal(), err)
	}
	env := sqliteEnv(t)
	cfg, err = load(t, []string{"--config", file}, env)
	if err != nil || cfg.RedisURL.Reveal() != "redis://file:6379/1" {
		t.Fatalf("file redis_url not used: %v", err)
	}
	env["GATEHOUSE_REDIS_URL"] = "redis://:pw@env:6379/2"
	cfg, err = load(t, []string{"--config", file}, env)
	if err != nil || cfg.RedisURL.Reveal() != "redis://:pw@env:6379/2" {
		t.Fatalf("env did not override file: %v", err)
	}
	cfg, err = load(t, []string{"--config", file, "--redis-url", "rediss://flag:6380/3"}, env)
	if err != nil || cfg.RedisURL.Reveal() != "rediss://flag:6380/3" {
		t.Fatalf("flag did not override env: %v", err)
	}
	if s := fmt.Sprintf("%v %+v", cfg.RedisURL, cfg); strings.Contains(s, "flag:6380") {
		t.Fatalf("the redis URL is printed: %s", s)
	}

	bad := "http://:hunter2@host/0"
	env = sqliteEnv(t)
	env["GATEHOUSE_REDIS_URL"] = bad
	_, err = load(t, nil, env)
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_REDIS_URL is not a redis://") {
		t.Fatalf("malformed redis URL: %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("the error shows the password")
	}
}

// TestMetricsAddr checks GATEHOUSE_METRICS_ADDR / --metrics-addr /
// metrics_addr: flags > env > file > empty default (/metrics on the main
// address), and host:port different from the main address.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(file, []byte("metrics_addr: 127.0.0.1:9001\n"), 0o600)

	cfg, err := load(t, nil, sqliteEnv(t))
	if err != nil || cfg.MetricsAddr != "" {
		t.Fatalf("default metrics address = %q (%v), want empty", cfg.MetricsAddr, err)
	}
	env := sqliteEnv(t)
	cfg, err = load(t, []string{"--config", file}, env)
	if err != nil || cfg.MetricsAddr != "127.0.0.1:9001" {
		t.Fatalf("file metrics_addr not used: %q %v", cfg.MetricsAddr, err)
	}
	env["GATEHOUSE_METRICS_ADDR"] = "127.0.0.1:9002"
	cfg, err = load(t, []string{"--config", file}, env)
	if err != nil || cfg.MetricsAddr != "127.0.0.1:9002" {
		t.Fatalf("env did not override file: %q %v", cfg.MetricsAddr, err)
	}
	cfg, err = load(t, []string{"--config", file, "--metrics-addr", "[::1]:9003"}, env)
	if err != nil || cfg.MetricsAddr != "[::1]:9003" {
		t.Fatalf("flag did not override env: %q %v", cfg.MetricsAddr, err)
	}
	// An explicitly empty flag puts /metrics back on the main address.
	cfg, err = load(t, []string{"--metrics-addr", ""}, env)
	if err != nil || cfg.MetricsAddr != "" {
		t.Fatalf("--metrics-addr \"\" did not override env: %q %v", cfg.MetricsAddr, err)
	}

	for addr, want := range map[string]string{
		"9090":           `GATEHOUSE_METRICS_ADDR "9090" is not host:port`,
		"localhost:http": `GATEHOUSE_METRICS_ADDR "localhost:http" is not host:port`,
		"127.0.0.1:8080": `GATEHOUSE_METRICS_ADDR "127.0.0.1:8080" is the main address`,
	} {
		env := sqliteEnv(t)
		env["GATEHOUSE_METRICS_ADDR"] = addr
		if _, err := load(t, nil, env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("metrics address %q: %v, want %q", addr, err, want)
		}
	}
}

// GATEHOUSE_ALLOW_PRIVATE_FETCH: off by default, 1 turns it on, from the
// environment only (not the config file), anything else is refused.
func TestAllowPrivateFetch(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, sqliteEnv(t))
	if err != nil || cfg.AllowPrivateFetch {
		t.Fatalf("default: %v %v, want off", cfg, err)
	}
	for v, want := range map[string]bool{"1": true, "0": false, "": false} {
		env := sqliteEnv(t)
		env["GATEHOUSE_ALLOW_PRIVATE_FETCH"] = v
		cfg, err := load(t, nil, env)
		if err != nil || cfg.AllowPrivateFetch != want {
			t.Errorf("GATEHOUSE_ALLOW_PRIVATE_FETCH=%q: %v %v, want %v", v, cfg.AllowPrivateFetch, err, want)
		}
	}
	for _, v := range []string{"yes", "true", "2"} {
		env := sqliteEnv(t)
		env["GATEHOUSE_ALLOW_PRIVATE_FETCH"] = v
		if _, err := load(t, nil, env); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_ALLOW_PRIVATE_FETCH") {
			t.Errorf("GATEHOUSE_ALLOW_PRIVATE_FETCH=%q: %v, want an error naming it", v, err)
		}
	}
	file := filepath.Join(t.TempDir(), "gatehouse.yaml")
	os.WriteFile(file, []byte("allow_private_fetch: \"1\"\n"), 0o600)
	if _, err := load(t, []string{"--config", file}, sqliteEnv(t)); err == nil {
		t.Error("allow_private_fetch accepted in the config file")
	}
}

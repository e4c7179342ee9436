// Package config loads Gatehouse's boot-time configuration. Precedence:
// command-line flags, then GATEHOUSE_* environment variables, then the
// optional YAML file given with --config, then built-in defaults.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse/gatehouse/app/database"
)

// Defaults.
const (
	DefaultAddr        = "127.0.0.1:8080"
	DefaultIssuer      = "http://localhost:8080"
	DefaultDatabaseURL = "sqlite://data/gatehouse.db"
	DefaultOAuthPrefix = "/oauth"
	DefaultLogLevel    = "info"
	DefaultLogFormat   = "text"
)

// DefaultPaths are the OAuth endpoints' paths under the prefix.
var DefaultPaths = map[string]string{
	"authorize":   "/authorize",
	"token":       "/token",
	"revoke":      "/revoke",
	"introspect":  "/introspect",
	"userinfo":    "/userinfo",
	"jwks":        "/jwks",
	"device_code": "/device/code",
	// par is the pushed authorization request endpoint (RFC 9126).
	"par":    "/par",
	"verify": "/verify",
	"logout": "/logout",
	// register is dynamic client registration (RFC 7591); its subtree,
	// register/{client_id}, is the client configuration endpoint (RFC
	// 7592).
	"register": "/register",
}

// EmptyPrefixLogoutPath is the end-session endpoint's default path when
// the OAuth prefix is empty, where /logout is the sign-out form's.
const EmptyPrefixLogoutPath = "/end_session"

// reservedPaths are served by Gatehouse itself; no OAuth endpoint may sit at
// or below one of them.
var reservedPaths = []string{"/login", "/logout", "/signup", "/setup", "/dashboard", "/account", "/device",
	"/static", "/consent", "/healthz", "/readyz", "/metrics", "/api", "/.well-known", "/icons"}

// Config is the validated boot-time configuration.
type Config struct {
	Addr           string
	Issuer         string
	DatabaseURL    string
	Database       database.Target
	OAuthPrefix    string
	OAuthPaths     map[string]string // endpoint name -> path under the prefix
	LogLevel       string
	LogFormat      string
	TrustedProxies []netip.Prefix
	ConfigFile     string
	// KeySecret encrypts the signing keys' private parts in the database;
	// empty stores them unencrypted.
	KeySecret Secret
	// RedisURL, when set, keeps the throttle counts in Redis instead of
	// the database (it may hold a password: never printed).
	RedisURL Secret
	// MetricsAddr, when set, is the only address serving /metrics (a
	// second listener); the main address then answers 404 there.
	MetricsAddr string
	// AllowPrivateFetch lets the requests Gatehouse makes to configured
	// URLs (app/outbound: back-channel logout, ...) reach private and
	// loopback addresses (GATEHOUSE_ALLOW_PRIVATE_FETCH=1, environment
	// only: for tests with receivers on loopback ports).
	AllowPrivateFetch bool
}

// MinKeySecretLength is the shortest key secret accepted, in bytes: the
// secret is stretched with HKDF only, so it must carry its own entropy.
const MinKeySecretLength = 32

// Secret is a configuration value that must never be printed or logged:
// fmt and log/slog show it as [redacted]. Reveal returns the value.
type Secret string

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String hides the secret from fmt's %s and %v.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the secret from fmt's %#v.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// LogValue hides the secret from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText hides the secret from encoders (JSON, YAML).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Endpoint returns the full path of an OAuth endpoint, e.g. "/oauth/token".
func (c *Config) Endpoint(name string) string {
	return c.OAuthPrefix + c.OAuthPaths[name]
}

// EndpointURL returns the absolute URL of an OAuth endpoint.
func (c *Config) EndpointURL(name string) string {
	return c.Issuer + c.Endpoint(name)
}

// SecureCookies reports whether cookies get the Secure flag: when the
// public issuer URL is https.
func (c *Config) SecureCookies() bool {
	return strings.HasPrefix(c.Issuer, "https://") // validated: lower-case scheme
}

// raw holds values as strings before validation; empty means unset.
type raw struct {
	Addr           string `yaml:"addr"`
	Issuer         string `yaml:"issuer"`
	DatabaseURL    string `yaml:"database_url"`
	LogLevel       string `yaml:"log_level"`
	LogFormat      string `yaml:"log_format"`
	TrustedProxies string `yaml:"trusted_proxies"`
	KeySecret      string `yaml:"key_secret"`
	RedisURL       string `yaml:"redis_url"`
	MetricsAddr    string `yaml:"metrics_addr"`
	// AllowPrivateFetch comes from the environment only.
	AllowPrivateFetch string `yaml:"-"`
	OAuth             struct {
		Prefix *string           `yaml:"prefix"`
		Paths  map[string]string `yaml:"paths"`
	} `yaml:"oauth"`
}

// Flags holds the configuration flags registered on a FlagSet.
type Flags struct {
	fs             *flag.FlagSet
	configFile     *string
	addr           *string
	issuer         *string
	databaseURL    *string
	oauthPrefix    *string
	trustedProxies *string
	keySecret      *string
	redisURL       *string
	metricsAddr    *string
}

// RegisterFlags adds the configuration flags to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	return &Flags{
		fs:             fs,
		configFile:     fs.String("config", "", "YAML configuration file"),
		addr:           fs.String("addr", "", "listen address (env GATEHOUSE_ADDR, default "+DefaultAddr+")"),
		issuer:         fs.String("issuer", "", "public base URL (env GATEHOUSE_ISSUER, default "+DefaultIssuer+")"),
		databaseURL:    fs.String("database-url", "", "sqlite://path or postgres://... (env GATEHOUSE_DATABASE_URL, default "+DefaultDatabaseURL+")"),
		oauthPrefix:    fs.String("oauth-prefix", "", "path prefix of the OAuth endpoints (env GATEHOUSE_OAUTH_PREFIX, default "+DefaultOAuthPrefix+")"),
		trustedProxies: fs.String("trusted-proxies", "", "CIDRs whose X-Forwarded-For is trusted (env GATEHOUSE_TRUSTED_PROXIES)"),
		keySecret:      fs.String("key-secret", "", "secret that encrypts the signing keys in the database (env GATEHOUSE_KEY_SECRET, preferred: command lines are visible to other local users; default empty: unencrypted)"),
		redisURL:       fs.String("redis-url", "", "redis://... keeping the throttle counts (env GATEHOUSE_REDIS_URL; default empty: in the database)"),
		metricsAddr:    fs.String("metrics-addr", "", "separate host:port serving /metrics, alone (env GATEHOUSE_METRICS_ADDR; default empty: /metrics on the main address)"),
	}
}

// Load resolves the configuration from flags (already parsed), the
// environment (getenv) and the config file. Every problem found is reported,
// one line each, in the returned error.
func (f *Flags) Load(getenv func(string) string) (*Config, error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	var file raw
	configFile := *f.configFile
	if !set["config"] {
		configFile = getenv("GATEHOUSE_CONFIG")
	}
	if configFile != "" {
		data, err := os.ReadFile(configFile)
		if err != nil {
			return nil, fmt.Errorf("config file %q: %v", configFile, errors.Unwrap(err))
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&file); err != nil && err.Error() != "EOF" {
			return nil, fmt.Errorf("config file %q: %v", configFile, err)
		}
	}

	pick := func(flagName string, flagVal *string, env, fileVal, def string) string {
		if set[flagName] {
			return *flagVal
		}
		if v := getenv(env); v != "" {
			return v
		}
		if fileVal != "" {
			return fileVal
		}
		return def
	}
	prefixFromFile := ""
	if file.OAuth.Prefix != nil {
		prefixFromFile = *file.OAuth.Prefix
	}
	r := raw{
		Addr:              pick("addr", f.addr, "GATEHOUSE_ADDR", file.Addr, DefaultAddr),
		Issuer:            pick("issuer", f.issuer, "GATEHOUSE_ISSUER", file.Issuer, DefaultIssuer),
		DatabaseURL:       pick("database-url", f.databaseURL, "GATEHOUSE_DATABASE_URL", file.DatabaseURL, DefaultDatabaseURL),
		LogLevel:          pick("", nil, "GATEHOUSE_LOG_LEVEL", file.LogLevel, DefaultLogLevel),
		LogFormat:         pick("", nil, "GATEHOUSE_LOG_FORMAT", file.LogFormat, DefaultLogFormat),
		TrustedProxies:    pick("trusted-proxies", f.trustedProxies, "GATEHOUSE_TRUSTED_PROXIES", file.TrustedProxies, ""),
		KeySecret:         pick("key-secret", f.keySecret, "GATEHOUSE_KEY_SECRET", file.KeySecret, ""),
		RedisURL:          pick("redis-url", f.redisURL, "GATEHOUSE_REDIS_URL", file.RedisURL, ""),
		MetricsAddr:       pick("metrics-addr", f.metricsAddr, "GATEHOUSE_METRICS_ADDR", file.MetricsAddr, ""),
		AllowPrivateFetch: getenv("GATEHOUSE_ALLOW_PRIVATE_FETCH"),
	}
	prefix := pick("oauth-prefix", f.oauthPrefix, "GATEHOUSE_OAUTH_PREFIX", prefixFromFile, DefaultOAuthPrefix)
	if !set["oauth-prefix"] && getenv("GATEHOUSE_OAUTH_PREFIX") == "" && file.OAuth.Prefix != nil {
		prefix = *file.OAuth.Prefix // an explicit empty prefix in the file is allowed
	}
	cfg, err := validate(r, prefix, file.OAuth.Paths)
	if err != nil {
		return nil, err
	}
	cfg.ConfigFile = configFile
	return cfg, nil
}

func validate(r raw, prefix string, paths map[string]string) (*Config, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	cfg := &Config{
		Addr:        r.Addr,
		Issuer:      r.Issuer,
		DatabaseURL: r.DatabaseURL,
		OAuthPrefix: prefix,
		LogLevel:    strings.ToLower(r.LogLevel),
		LogFormat:   strings.ToLower(r.LogFormat),
		OAuthPaths:  map[string]string{},
	}

	if _, port, err := net.SplitHostPort(r.Addr); err != nil || !validPort(port) {
		add("GATEHOUSE_ADDR %q is not host:port (e.g. 127.0.0.1:8080)", r.Addr)
	}
	if r.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(r.MetricsAddr); err != nil || !validPort(port) {
			add("GATEHOUSE_METRICS_ADDR %q is not host:port (e.g. 127.0.0.1:9090)", r.MetricsAddr)
		} else if r.MetricsAddr == r.Addr && port != "0" {
			add("GATEHOUSE_METRICS_ADDR %q is the main address; choose another port, or leave it empty to serve /metrics there", r.MetricsAddr)
		}
	}
	cfg.MetricsAddr = r.MetricsAddr

	if msg := checkIssuer(r.Issuer); msg != "" {
		add("GATEHOUSE_ISSUER %q %s", r.Issuer, msg)
	}

	if target, err := database.ParseURL(r.DatabaseURL); err != nil {
		add("GATEHOUSE_DATABASE_URL: %v", err)
	} else {
		cfg.Database = target
		if err := target.CheckWritable(); err != nil {
			add("GATEHOUSE_DATABASE_URL: %v", err)
		}
	}

	if prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") || strings.ContainsAny(prefix, "?#* ")) {
		add("GATEHOUSE_OAUTH_PREFIX %q must start with / and not end with / (e.g. /oauth)", prefix)
	}
	for name, def := range DefaultPaths {
		cfg.OAuthPaths[name] = def
	}
	if prefix == "" {
		// Without a prefix, /logout is the sign-out form's own address.
		cfg.OAuthPaths["logout"] = EmptyPrefixLogoutPath
	}
	var unknown []string
	for name, p := range paths {
		if _, ok := DefaultPaths[name]; !ok {
			unknown = append(unknown, name)
			continue
		}
		if !strings.HasPrefix(p, "/") || len(p) < 2 || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#* ") {
			add("oauth.paths.%s %q must start with / and name a path (e.g. %s)", name, p, DefaultPaths[name])
			continue
		}
		cfg.OAuthPaths[name] = p
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		add("oauth.paths: unknown endpoint %q", name)
	}
	seen := map[string]string{}
	names := make([]string, 0, len(cfg.OAuthPaths))
	for n := range cfg.OAuthPaths {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if other, dup := seen[cfg.OAuthPaths[n]]; dup {
			add("oauth.paths: %s and %s share the path %q", other, n, cfg.OAuthPaths[n])
		}
		seen[cfg.OAuthPaths[n]] = n
	}

	// Endpoints must not shadow the pages or other fixed paths (matters
	// when the prefix is empty), nor sit in the registration endpoint's
	// subtree ({P}/register/{client_id}).
	for _, n := range names {
		full := prefix + cfg.OAuthPaths[n]
		if reg := prefix + cfg.OAuthPaths["register"]; n != "register" && strings.HasPrefix(full, reg+"/") {
			add("oauth endpoint %s at %q is below the registration endpoint %s, whose subtree is its clients' configuration endpoints", n, full, reg)
		}
		for _, r := range reservedPaths {
			if full == r || strings.HasPrefix(full, r+"/") {
				add("oauth endpoint %s at %q collides with Gatehouse's own %s", n, full, r)
				break
			}
		}
	}

	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("GATEHOUSE_LOG_LEVEL %q must be debug, info, warn or error", r.LogLevel)
	}
	switch cfg.LogFormat {
	case "text", "json":
	default:
		add("GATEHOUSE_LOG_FORMAT %q must be text or json", r.LogFormat)
	}

	for _, item := range strings.FieldsFunc(r.TrustedProxies, func(r rune) bool { return r == ',' || r == ' ' }) {
		if p, err := netip.ParsePrefix(item); err == nil {
			cfg.TrustedProxies = append(cfg.TrustedProxies, p.Masked())
		} else if a, err := netip.ParseAddr(item); err == nil {
			cfg.TrustedProxies = append(cfg.TrustedProxies, netip.PrefixFrom(a, a.BitLen()))
		} else {
			add("GATEHOUSE_TRUSTED_PROXIES: %q is not a CIDR (e.g. 10.0.0.0/8) or an IP address", item)
		}
	}

	// The secret itself never appears in a message.
	if r.KeySecret != "" && len(r.KeySecret) < MinKeySecretLength {
		add("GATEHOUSE_KEY_SECRET is %d characters long; use at least %d random ones (e.g. the output of `openssl rand -base64 32`), or leave it empty to store signing keys unencrypted", len(r.KeySecret), MinKeySecretLength)
	}
	cfg.KeySecret = Secret(r.KeySecret)

	// The URL may carry a password: the message never shows it.
	if r.RedisURL != "" {
		if _, err := redis.ParseURL(r.RedisURL); err != nil {
			add("GATEHOUSE_REDIS_URL is not a redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379/0)")
		}
	}
	cfg.RedisURL = Secret(r.RedisURL)

	switch r.AllowPrivateFetch {
	case "", "0":
	case "1":
		cfg.AllowPrivateFetch = true
	default:
		add("GATEHOUSE_ALLOW_PRIVATE_FETCH %q must be 1 (tests only: fetch from private and loopback addresses) or empty", r.AllowPrivateFetch)
	}

	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return cfg, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

// checkIssuer returns why issuer is unusable, or "".
func checkIssuer(issuer string) string {
	u, err := url.Parse(issuer)
	switch {
	case err != nil || u.Scheme == "" || u.Host == "":
		return "is not an absolute URL (e.g. https://auth.example.com)"
	case u.Scheme != "https" && u.Scheme != "http":
		return "must use https (or http for local testing)"
	case !strings.HasPrefix(issuer, u.Scheme+"://"):
		return "must spell its scheme in lower case (" + u.Scheme + "://), as it appears in tokens byte for byte"
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(issuer, "?") || strings.Contains(issuer, "#"):
		return "must not have a query or fragment"
	case u.User != nil:
		return "must not contain user information"
	case strings.HasSuffix(issuer, "/"):
		return "must not end with /"
	}
	return ""
}

// Error lists every configuration problem found.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

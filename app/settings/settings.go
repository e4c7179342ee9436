// Package settings defines the runtime settings of SPEC.md §4: their keys,
// defaults, validation and explanations, and a Service that reads and writes
// them through the store. Load serves the values from memory while the
// settings counter of the cache_state row (app/cache) stays the same, and
// reads them again as soon as it moves: a change takes effect on the next
// request on every instance, even one made by another process.
package settings

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/cache"
)

// Kind is the type of a setting's value.
type Kind int

// Kinds.
const (
	Bool Kind = iota
	Duration
	Enum
	// Text is free text checked and normalised by the Definition's Check.
	Text
)

// Definition describes one setting.
type Definition struct {
	Key     string
	Default string
	Kind    Kind
	Choices []string      // Enum
	Min     time.Duration // Duration
	Max     time.Duration // Duration
	Title   string
	Help    string // what it does, in plain words
	Risk    string // the security trade-off
	Group   string

	// Zero, for a Duration, allows 0 besides Min to Max and says what it
	// means (say "keep everything"); empty: 0 is refused like any value
	// under Min.
	Zero string

	// Check validates and normalises a Text value (required for Text).
	Check func(string) (string, error)
}

// Definitions lists every setting, in display order.
var Definitions = []Definition{
	{Key: "allow_implicit_grant", Default: "false", Kind: Bool, Group: "Grants",
		Title: "Allow the implicit grant",
		Help:  "Lets clients that have the implicit grant type ask for response_type=token and receive an access token in the redirect URL's fragment.",
		Risk:  "Tokens in URLs leak through browser history and referrers; OAuth 2.0 Security BCP (RFC 9700) says not to use it. Leave off unless a legacy app needs it."},
	{Key: "allow_password_grant", Default: "false", Kind: Bool, Group: "Grants",
		Title: "Allow the password grant",
		Help:  "Lets clients that have the password grant type exchange a username and password for tokens, and enables headless authorization for first-party apps.",
		Risk:  "The client sees the user's password, and multi-factor sign-in is bypassed. RFC 9700 forbids it; only for trusted first-party apps."},
	{Key: "enforce_state", Default: "true", Kind: Bool, Group: "Authorization requests",
		Title: "Require a state parameter",
		Help:  "Authorization requests without state are refused.",
		Risk:  "state protects clients against cross-site request forgery on their redirect URI. Turning this off helps only clients that use PKCE correctly."},
	{Key: "require_exact_redirect_uri", Default: "true", Kind: Bool, Group: "Authorization requests",
		Title: "Exact redirect URI match",
		Help:  "redirect_uri must equal a registered URI exactly. When off, the same scheme, host and port with a path at or below a registered path is accepted.",
		Risk:  "Loose matching has let attackers steal codes through open redirects on the client's site. Keep exact matching unless clients need path variants."},
	{Key: "require_pkce", Default: "public", Kind: Enum, Choices: []string{"public", "all", "none"}, Group: "Authorization requests",
		Title: "Require PKCE",
		Help:  "Which clients must send an S256 code_challenge: public clients only, all clients, or none.",
		Risk:  "PKCE stops stolen authorization codes from being redeemed. \"all\" is the strongest; \"none\" leaves public clients unprotected."},
	{Key: "remember_consent", Default: "true", Kind: Bool, Group: "Authorization requests",
		Title: "Remember consent",
		Help:  "Skip the consent screen when the user already granted the same scopes to the same client.",
		Risk:  "Users see fewer prompts; a client asking again gets the grant silently until the user revokes it on their account page."},
	{Key: "require_pushed_authorization_requests", Default: "false", Kind: Bool, Group: "Authorization requests",
		Title: "Require pushed authorization requests (PAR)",
		Help:  "Every authorization request must first be pushed by the client to the PAR endpoint (RFC 9126); requests sent straight to the authorization endpoint are refused. Single clients can be held to this on their own page.",
		Risk:  "Pushed requests are authenticated and never travel through the browser, so they cannot be read or altered there. Clients that cannot push stop working."},
	{Key: "access_token_lifetime", Default: "1h", Kind: Duration, Min: time.Second, Max: 24 * time.Hour, Group: "Token lifetimes",
		Title: "Access token lifetime",
		Help:  "How long an access token is valid (a duration such as 15m or 1h; at most 24h).",
		Risk:  "Longer lifetimes mean a stolen token works longer; shorter ones mean more refreshes."},
	{Key: "refresh_token_lifetime", Default: "720h", Kind: Duration, Min: time.Second, Max: 8760 * time.Hour, Group: "Token lifetimes",
		Title: "Refresh token lifetime",
		Help:  "Absolute lifetime of a refresh token family, counted from the original grant (at most 8760h, one year).",
		Risk:  "Rotation detects stolen refresh tokens, but a shorter lifetime limits how long an unnoticed theft lasts."},
	{Key: "refresh_token_reuse_interval", Default: "0s", Kind: Duration, Min: time.Second, Max: time.Minute, Zero: "turn it off, so that a second use always revokes the grant", Group: "Token lifetimes",
		Title: "Refresh token reuse interval",
		Help:  "For this long after a refresh token is rotated, the same client may present it again and gets fresh tokens of the same grant instead of having the whole grant revoked (at most 60s; 0 turns it off). Clients that refresh once per request in flight, such as oauth2-proxy with its cookie session store, need a few seconds.",
		Risk:  "Within the interval a stolen refresh token that was just used is not detected as reuse. Keep it to a few seconds."},
	{Key: "authorization_code_lifetime", Default: "5m", Kind: Duration, Min: time.Second, Max: 10 * time.Minute, Group: "Token lifetimes",
		Title: "Authorization code lifetime",
		Help:  "How long an authorization code can be redeemed (at most 10m, as RFC 6749 §4.1.2 recommends).",
		Risk:  "Codes should be short-lived: a minute or two is plenty for real clients."},
	{Key: "device_code_lifetime", Default: "10m", Kind: Duration, Min: time.Second, Max: time.Hour, Group: "Device flow",
		Title: "Device code lifetime",
		Help:  "How long a user has to enter a device's user code (at most 1h).",
		Risk:  "Longer windows give attackers more time to trick a user into approving a code they did not start."},
	{Key: "device_poll_interval", Default: "5s", Kind: Duration, Min: time.Second, Max: time.Minute, Group: "Device flow",
		Title: "Device polling interval",
		Help:  "Minimum time between two token requests of a polling device; polling faster gets slow_down, which adds 5s.",
		Risk:  "Shorter intervals mean faster sign-in on devices and more load on the token endpoint."},
	{Key: "access_token_format", Default: "opaque", Kind: Enum, Choices: []string{"opaque", "jwt"}, Group: "Tokens",
		Title: "Access token format",
		Help:  "opaque: random strings checked against the database. jwt: signed JWTs (RFC 9068) that resource servers can verify themselves.",
		Risk:  "JWTs are larger and are still accepted by resource servers that skip introspection after revocation, until they expire."},
	{Key: "allow_query_access_token", Default: "false", Kind: Bool, Group: "Tokens",
		Title: "Accept access tokens in the query string",
		Help:  "Protected resources accept ?access_token= and the access_token form field, besides the Authorization header.",
		Risk:  "Tokens in URLs end up in logs and browser history (RFC 6750 §2.3 discourages it). Turn off once your clients send the header."},
	{Key: "dpop_nonce", Default: "off", Kind: Enum, Choices: []string{"off", "token", "all"}, Group: "Tokens",
		Title: "DPoP server nonces",
		Help:  "Whether DPoP proofs (DPoP: proof of possession, tokens that only work with the client's key; RFC 9449) must carry a nonce this server handed out in the DPoP-Nonce header. Off: never. At the token endpoint: there only. At the token endpoint and the resources: also at /api, userinfo and verify. The trade-off: without nonces, an attacker who briefly had the key could make proofs for later; with them, a proof without a current nonce is answered with use_dpop_nonce and a fresh nonce, and the client retries once. Nonces last one to two minutes.",
		Risk:  "Without nonces a proof is accepted for up to 60 s after the time the client wrote in it, so a client whose device was briefly compromised may have pre-made proofs for later. Nonces cost clients one extra round trip now and then."},
	{Key: "session_lifetime", Default: "720h", Kind: Duration, Min: 5 * time.Minute, Max: 8760 * time.Hour, Group: "Sessions",
		Title: "Session lifetime",
		Help:  "A dashboard or sign-in session ends this long after the user signed in, however active it is.",
		Risk:  "A stolen or forgotten session cookie works at most this long; shorter means signing in more often."},
	{Key: "session_idle_timeout", Default: "12h", Kind: Duration, Min: time.Minute, Max: 720 * time.Hour, Group: "Sessions",
		Title: "Session idle timeout",
		Help:  "A session ends after this long without a request. Lowering it applies to open sessions at once.",
		Risk:  "A browser left signed in on a shared computer stays usable this long; shorter is safer for admins."},
	{Key: "dynamic_registration", Default: "off", Kind: Enum, Choices: []string{"off", "token", "open"}, Group: "Client registration",
		Title: "Dynamic client registration",
		Help:  "Lets applications register themselves at the registration endpoint (RFC 7591), as some MCP clients and agents do. Off: no one can. With an initial access token: only apps given a token an admin creates (gatehouse clients registration-token, or the Clients page). Open to any app: anyone can. Registered clients may only use the authorization code, refresh token and device flows, and users see them as unverified on the consent screen.",
		Risk:  "'Open to any app' lets anyone create clients whose name and logo nobody checked, to phish your users' consent. Prefer 'With an initial access token', or Client ID Metadata Documents only from known hosts."},
	{Key: "client_id_metadata_documents", Default: "off", Kind: Enum, Choices: []string{"off", "allowlist", "any"}, Group: "Client registration",
		Title: "Client ID Metadata Documents",
		Help:  "Accepts an https URL as client_id and fetches the client's metadata document from it, as MCP clients do. Off: never. Only from the hosts below: from the hosts listed in the next setting. From any host: from every host.",
		Risk:  "The app's name and logo come from its own document and are shown as unverified. 'From any host' lets every site on the internet ask your users for consent; 'Only from the hosts below' keeps it to known clients."},
	{Key: "client_id_metadata_hosts", Default: "", Kind: Text, Check: checkHostPatterns, Group: "Client registration",
		Title: "Client ID Metadata Document hosts",
		Help:  "Comma-separated hosts whose metadata documents are accepted while the setting above is 'Only from the hosts below': a host name (claude.ai) or a wildcard for its subdomains (*.example.com).",
		Risk:  "A wildcard trusts everyone who can publish a file on any subdomain."},
	{Key: "allow_signup", Default: "false", Kind: Bool, Group: "Accounts",
		Title: "Allow sign-up",
		Help:  "Visitors can create their own account with the user role.",
		Risk:  "Anyone can create accounts and approve apps for themselves; keep off for internal deployments."},
	{Key: "audit_retention", Default: "2160h", Kind: Duration, Min: time.Hour, Max: 87600 * time.Hour, Zero: "keep everything", Group: "Audit log",
		Title: "Audit log retention",
		Help:  "How long audit events are kept (2160h is 90 days); older ones are deleted in the background. 0 keeps everything.",
		Risk:  "A longer history helps investigations and audits; the log then takes more space, and it records usernames and addresses, which privacy rules may limit."},
}

var byKey = func() map[string]*Definition {
	m := make(map[string]*Definition, len(Definitions))
	for i := range Definitions {
		m[Definitions[i].Key] = &Definitions[i]
	}
	return m
}()

// Lookup returns the definition of key.
func Lookup(key string) (*Definition, bool) {
	d, ok := byKey[key]
	return d, ok
}

// Keys returns every setting key, sorted.
func Keys() []string {
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ErrUnknownKey is returned for a key that is not a setting.
var ErrUnknownKey = errors.New("unknown setting")

// Normalize validates value for key and returns its canonical form.
func Normalize(key, value string) (string, error) {
	d, ok := byKey[key]
	if !ok {
		return "", fmt.Errorf("%w %q (known: %s)", ErrUnknownKey, key, strings.Join(Keys(), ", "))
	}
	return d.Normalize(value)
}

// Normalize validates value and returns its canonical form.
func (d *Definition) Normalize(value string) (string, error) {
	v := strings.TrimSpace(value)
	switch d.Kind {
	case Bool:
		switch strings.ToLower(v) {
		case "true", "on", "yes", "1":
			return "true", nil
		case "false", "off", "no", "0":
			return "false", nil
		}
		return "", fmt.Errorf("%s must be true or false, not %q", d.Key, value)
	case Duration:
		dur, err := time.ParseDuration(v)
		if err != nil {
			return "", fmt.Errorf("%s must be a duration such as 30s, 5m or 1h, not %q", d.Key, value)
		}
		if dur == 0 && d.Zero != "" {
			// Written as the default writes it when that is 0 ("0s",
			// SPEC.md's spelling), else "0".
			if z, err := time.ParseDuration(d.Default); err == nil && z == 0 {
				return d.Default, nil
			}
			return "0", nil
		}
		if dur <= 0 {
			if d.Zero != "" {
				return "", fmt.Errorf("%s must be 0 (%s) or positive, not %q", d.Key, d.Zero, value)
			}
			return "", fmt.Errorf("%s must be positive, not %q", d.Key, value)
		}
		if dur < d.Min {
			if d.Zero != "" {
				return "", fmt.Errorf("%s must be 0 (%s) or at least %s, not %q", d.Key, d.Zero, ShortDuration(d.Min), value)
			}
			return "", fmt.Errorf("%s must be at least %s, not %q", d.Key, ShortDuration(d.Min), value)
		}
		if dur > d.Max {
			return "", fmt.Errorf("%s must be at most %s, not %q", d.Key, ShortDuration(d.Max), value)
		}
		return v, nil
	case Text:
		if d.Check == nil {
			return v, nil
		}
		n, err := d.Check(v)
		if err != nil {
			return "", fmt.Errorf("%s: %v", d.Key, err)
		}
		return n, nil
	case Enum:
		lv := strings.ToLower(v)
		for _, c := range d.Choices {
			if lv == c {
				return c, nil
			}
		}
		return "", fmt.Errorf("%s must be one of %s, not %q", d.Key, strings.Join(d.Choices, ", "), value)
	}
	return "", fmt.Errorf("%s: unsupported setting kind", d.Key)
}

// ShortDuration formats a duration without trailing zero units: "10m"
// (not "10m0s"), "1h", "8760h".
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Values are the typed settings in force.
type Values struct {
	AllowImplicitGrant      bool
	AllowPasswordGrant      bool
	EnforceState            bool
	RequireExactRedirectURI bool
	RequirePKCE             string // public | all | none
	RememberConsent         bool
	// RequirePAR: authorization requests must be pushed (RFC 9126).
	RequirePAR           bool
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	// RefreshTokenReuseInterval: a rotated refresh token presented again
	// within it is not reuse (0: off).
	RefreshTokenReuseInterval time.Duration
	AuthorizationCodeLifetime time.Duration
	DeviceCodeLifetime        time.Duration
	DevicePollInterval        time.Duration
	AccessTokenFormat         string // opaque | jwt
	AllowQueryAccessToken     bool
	AllowSignup               bool
	SessionLifetime           time.Duration
	SessionIdleTimeout        time.Duration
	// AuditRetention is how long audit events are kept; 0 keeps them all.
	AuditRetention time.Duration
	// DynamicRegistration is off, token or open (RFC 7591).
	DynamicRegistration string
	// ClientIDMetadataDocuments is off, allowlist or any.
	ClientIDMetadataDocuments string
	// ClientIDMetadataHosts are the host patterns of the allowlist.
	ClientIDMetadataHosts []string
	// DPoPNonce is off, token or all (oauth.DPoPNonceOff, ...): where
	// DPoP proofs must carry a server nonce.
	DPoPNonce string
}

// Resolve merges stored overrides over the defaults. A stored value that no
// longer validates is ignored (the default applies) and reported in bad.
func Resolve(stored map[string]string) (v Values, raw map[string]string, bad []string) {
	raw = make(map[string]string, len(Definitions))
	for _, d := range Definitions {
		val := d.Default
		if s, ok := stored[d.Key]; ok {
			if n, err := d.Normalize(s); err == nil {
				val = n
			} else {
				bad = append(bad, d.Key)
			}
		}
		raw[d.Key] = val
	}
	b := func(k string) bool { return raw[k] == "true" }
	dur := func(k string) time.Duration { x, _ := time.ParseDuration(raw[k]); return x }
	v = Values{
		AllowImplicitGrant:        b("allow_implicit_grant"),
		AllowPasswordGrant:        b("allow_password_grant"),
		EnforceState:              b("enforce_state"),
		RequireExactRedirectURI:   b("require_exact_redirect_uri"),
		RequirePKCE:               raw["require_pkce"],
		RememberConsent:           b("remember_consent"),
		RequirePAR:                b("require_pushed_authorization_requests"),
		AccessTokenLifetime:       dur("access_token_lifetime"),
		RefreshTokenLifetime:      dur("refresh_token_lifetime"),
		RefreshTokenReuseInterval: dur("refresh_token_reuse_interval"),
		AuthorizationCodeLifetime: dur("authorization_code_lifetime"),
		DeviceCodeLifetime:        dur("device_code_lifetime"),
		DevicePollInterval:        dur("device_poll_interval"),
		AccessTokenFormat:         raw["access_token_format"],
		AllowQueryAccessToken:     b("allow_query_access_token"),
		DPoPNonce:                 raw["dpop_nonce"],
		AllowSignup:               b("allow_signup"),
		SessionLifetime:           dur("session_lifetime"),
		SessionIdleTimeout:        dur("session_idle_timeout"),
		AuditRetention:            dur("audit_retention"),
		DynamicRegistration:       raw["dynamic_registration"],
		ClientIDMetadataDocuments: raw["client_id_metadata_documents"],
		ClientIDMetadataHosts:     splitList(raw["client_id_metadata_hosts"]),
	}
	return v, raw, bad
}

// Store is what the Service needs from storage.
type Store interface {
	GetSettings(ctx context.Context) (map[string]string, error)
	SetSetting(ctx context.Context, key, value string) error
}

// Service reads and writes settings.
type Service struct {
	store    Store
	versions *cache.Versions // nil: no caching
	values   cache.Value[Values]
}

// NewService returns a Service over store that reads the database on
// every Load.
func NewService(store Store) *Service {
	return &Service{store: store}
}

// NewCachedService returns a Service whose Load serves the settings from
// memory until the settings counter in versions moves.
func NewCachedService(store Store, versions *cache.Versions) *Service {
	return &Service{store: store, versions: versions}
}

// Load returns the settings in force now.
func (s *Service) Load(ctx context.Context) (Values, error) {
	if s.versions == nil {
		return s.load(ctx)
	}
	vec, err := s.versions.Current(ctx)
	if err != nil {
		return Values{}, err
	}
	if v, ok := s.values.Get(vec.Settings); ok {
		return v, nil
	}
	v, err := s.load(ctx)
	if err != nil {
		return Values{}, err
	}
	s.values.Put(vec.Settings, v)
	return v, nil
}

func (s *Service) load(ctx context.Context) (Values, error) {
	stored, err := s.store.GetSettings(ctx)
	if err != nil {
		return Values{}, err
	}
	v, _, _ := Resolve(stored)
	return v, nil
}

// Raw returns every setting's canonical string value (defaults included).
func (s *Service) Raw(ctx context.Context) (map[string]string, error) {
	stored, err := s.store.GetSettings(ctx)
	if err != nil {
		return nil, err
	}
	_, raw, _ := Resolve(stored)
	return raw, nil
}

// Get returns one setting's value.
func (s *Service) Get(ctx context.Context, key string) (string, error) {
	if _, ok := byKey[key]; !ok {
		_, err := Normalize(key, "")
		return "", err
	}
	raw, err := s.Raw(ctx)
	if err != nil {
		return "", err
	}
	return raw[key], nil
}

// Set validates and stores a value, returning the canonical value stored.
// Validation errors are *ValidationError.
func (s *Service) Set(ctx context.Context, key, value string) (string, error) {
	n, err := Normalize(key, value)
	if err != nil {
		return "", &ValidationError{Key: key, Err: err}
	}
	if err := s.store.SetSetting(ctx, key, n); err != nil {
		return "", err
	}
	// A Load later in this request sees the new value.
	cache.Forget(ctx)
	return n, nil
}

// ValidationError is a refused setting value.
type ValidationError struct {
	Key string
	Err error
}

func (e *ValidationError) Error() string { return e.Err.Error() }
func (e *ValidationError) Unwrap() error { return e.Err }

// splitList splits a comma-separated setting value.
func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// checkHostPatterns validates a comma-separated list of host names and
// *.suffix wildcards, and writes it in lower case, comma-separated.
func checkHostPatterns(v string) (string, error) {
	var out []string
	for _, h := range splitList(v) {
		h = strings.ToLower(h)
		name := strings.TrimPrefix(h, "*.")
		if !validHostName(name) || strings.Contains(name, "*") {
			return "", fmt.Errorf("%q is not a host name or a *.example.com wildcard", h)
		}
		out = append(out, h)
	}
	return strings.Join(out, ","), nil
}

// validHostName reports whether h is a DNS name of letters, digits and
// hyphens (labels of 1 to 63 characters, at most 253 in all).
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// HostAllowed reports whether host matches one of the patterns: equal
// (ignoring case), or a subdomain of a *.suffix pattern's suffix.
func HostAllowed(patterns []string, host string) bool {
	host = strings.ToLower(host)
	for _, p := range patterns {
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
)

// Token prefixes make leaked tokens recognisable (secret scanners,
// logs) and tell the kinds apart at a glance.
const (
	AccessTokenPrefix       = "gat_"
	RefreshTokenPrefix      = "grt_"
	AuthorizationCodePrefix = "gac_"
)

// RandomGenerator is the default Generator: 256 random bits each.
type RandomGenerator struct{}

// AccessToken implements Generator.
func (RandomGenerator) AccessToken() string { return secret.New(AccessTokenPrefix) }

// RefreshToken implements Generator.
func (RandomGenerator) RefreshToken() string { return secret.New(RefreshTokenPrefix) }

// AuthorizationCode implements Generator.
func (RandomGenerator) AuthorizationCode() string { return secret.New(AuthorizationCodePrefix) }

// Server is the protocol core. Build it with New.
type Server struct {
	issuer string
	model  Model
	policy PolicySource
	gen    Generator
	signer Signer
	now    func() time.Time
	log    *slog.Logger
	grants map[string]GrantHandler
	// clientThrottle counts failed client authentications; nil: none.
	clientThrottle Limiter
	// loginThrottle counts failed password checks (password grant,
	// headless authorize) like the sign-in form; nil: none.
	loginThrottle Limiter
	passwords     PasswordChecker
	// onSecurityEvent hears of replays and reuse; nil: only logged.
	onSecurityEvent func(context.Context, SecurityEvent)
	// keys gives the public keys of assertions' signers; nil: none.
	keys KeySource
	// tokenEndpoint is the token endpoint's URL, an aud every client
	// assertion may name (OIDC Core §9).
	tokenEndpoint string
	// nonceKey gives the key of DPoP server nonces (nil: a random key of
	// this process, localNonceKeyState).
	nonceKey func(context.Context) ([]byte, error)
	localNonceKeyState
}

// Options configure New.
type Options struct {
	// Issuer is the configured issuer URL, sent as "iss" (RFC 9207).
	Issuer string
	Model  Model
	// Policy gives the settings in force (required).
	Policy PolicySource
	// Generator defaults to RandomGenerator.
	Generator Generator
	// Signer signs ID tokens and JWT access tokens.
	Signer Signer
	// Now defaults to time.Now.
	Now func() time.Time
	// Log defaults to slog.Default().
	Log *slog.Logger
	// ClientThrottle and LoginThrottle limit failed client
	// authentications and failed password checks; nil disables.
	ClientThrottle Limiter
	LoginThrottle  Limiter
	// Passwords checks users' passwords (the password grant and the
	// headless authorization fail with server_error without it).
	Passwords PasswordChecker
	// OnSecurityEvent, when set, is told of every authorization code
	// replay and refresh token reuse (after the tokens concerned are
	// revoked) and of every sign-in of the password grant and the
	// headless authorization, to record it in the audit log. It runs
	// in the request.
	OnSecurityEvent func(ctx context.Context, ev SecurityEvent)
	// Keys gives the public keys that verify private_key_jwt client
	// assertions (and JWT bearer grant assertions): pasted JWK Sets and
	// jwks_uri fetched (app/jwks). Without it such assertions fail.
	Keys KeySource
	// TokenEndpoint is the absolute URL of the token endpoint: client
	// assertions may name it as aud at every client-authenticated
	// endpoint (OIDC Core §9), besides the issuer and the endpoint that
	// receives them (ClientRequest.Endpoint).
	TokenEndpoint string
	// DPoPNonceKey gives the HMAC key of DPoP server nonces (at least 32
	// bytes), the same on every instance; nil: a random key of this
	// process, which a single instance may use.
	DPoPNonceKey func(ctx context.Context) ([]byte, error)
}

// Security event kinds (SecurityEvent.Kind), also the audit log's action
// names.
const (
	// SecurityCodeReplay: an authorization code was redeemed a second
	// time; the tokens issued from it were revoked (RFC 6749 §4.1.2).
	SecurityCodeReplay = "authorization_code.replayed"
	// SecurityRefreshReuse: a rotated refresh token was presented again;
	// its whole token family was revoked (RFC 9700 §4.14.2).
	SecurityRefreshReuse = "refresh_token.reused"
	// SecuritySignIn, SecuritySignInFailed and SecuritySignInThrottled:
	// a password checked by the password grant or the headless
	// authorization (a sign-in like the form's, with the same action
	// names) succeeded, failed (wrong
	// password, unknown or disabled account) or was refused by the
	// throttle.
	SecuritySignIn          = "login.success"
	SecuritySignInFailed    = "login.failure"
	SecuritySignInThrottled = "login.throttled"
)

// SecurityEvent is a replay or reuse the token endpoint detected. It
// holds no token or code.
type SecurityEvent struct {
	Kind string // SecurityCodeReplay or SecurityRefreshReuse
	// Grant is the grant_type of the request that gave it away
	// (SignInHeadless for the headless authorization endpoint).
	Grant    string
	ClientID string
	// UserID is the user the tokens belonged to (nil for tokens without
	// a user).
	UserID *int64
	// RemoteAddr is the address of the request.
	RemoteAddr string
	// Revoked is how many tokens were revoked because of it.
	Revoked int64
	// Username is the username a sign-in tried (sign-ins only), or the
	// user a JWT bearer assertion was mapped to.
	Username string
	// Issuer, Subject and Reason describe a JWT bearer assertion: its
	// trusted issuer, its sub, and the cause of its refusal.
	Issuer, Subject, Reason string
}

// securityEvent logs ev (replays and reuse) and passes it to
// OnSecurityEvent.
func (s *Server) securityEvent(ctx context.Context, ev SecurityEvent) {
	if ev.Kind == SecurityCodeReplay || ev.Kind == SecurityRefreshReuse {
		s.log.WarnContext(ctx, "token endpoint: "+ev.Kind+"; tokens revoked", "client_id", ev.ClientID, "grant_type", ev.Grant, "revoked", ev.Revoked)
	}
	if s.onSecurityEvent != nil {
		s.onSecurityEvent(ctx, ev)
	}
}

// SignInHeadless is SecurityEvent.Grant for sign-ins at the headless
// authorization endpoint.
const SignInHeadless = "headless_authorize"

// passwordSignIn reports the outcome of a password check of the password
// grant or the headless authorization (grant: GrantPassword or
// SignInHeadless; u and e as checkPassword returned them). Requests
// refused before a password was checked (missing fields, server errors)
// are not sign-ins.
func (s *Server) passwordSignIn(ctx context.Context, grant, clientID, address, username string, u *User, err error) {
	ev := SecurityEvent{Grant: grant, ClientID: clientID, RemoteAddr: address, Username: strings.ToLower(strings.TrimSpace(username))}
	switch {
	case err == nil:
		ev.Kind, ev.UserID = SecuritySignIn, &u.ID
	case errors.Is(err, ErrInvalidGrant):
		ev.Kind = SecuritySignInFailed
	case errors.Is(err, ErrTooManyRequests):
		ev.Kind = SecuritySignInThrottled
	default:
		return
	}
	s.securityEvent(ctx, ev)
}

// New returns a Server with the built-in grants registered.
func New(o Options) *Server {
	s := &Server{
		issuer: o.Issuer, model: o.Model, policy: o.Policy, gen: o.Generator, signer: o.Signer, now: o.Now, log: o.Log,
		clientThrottle: o.ClientThrottle, loginThrottle: o.LoginThrottle, passwords: o.Passwords, onSecurityEvent: o.OnSecurityEvent,
		keys: o.Keys, tokenEndpoint: o.TokenEndpoint, nonceKey: o.DPoPNonceKey,
		grants: map[string]GrantHandler{},
	}
	if s.gen == nil {
		s.gen = RandomGenerator{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, g := range builtinGrants {
		s.RegisterGrant(g.bind(s))
	}
	return s
}

// policy loads the settings in force.
func (s *Server) loadPolicy(ctx context.Context) (Policy, error) {
	v, err := s.policy.Policy(ctx)
	if err != nil {
		return v, serverError(err)
	}
	return v, nil
}

// newFamilyID names a new token family (one per grant).
func newFamilyID() string {
	return base64.RawURLEncoding.EncodeToString(secret.Random(16))
}

// repeatable are the parameters that may be sent more than once:
// resource (RFC 8707 §2) and token exchange's audience (RFC 8693 §2.1).
var repeatable = map[string]bool{"resource": true, "audience": true}

// singleValues checks that no parameter but the repeatable ones was sent
// more than once (RFC 6749 §3.1, §3.2) and names the first one that was.
func singleValues(v url.Values) (dup string, ok bool) {
	names := make([]string, 0, len(v))
	for k, vals := range v {
		if len(vals) > 1 && !repeatable[k] {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return "", true
	}
	sort.Strings(names)
	return names[0], false
}

// maxScopes bounds the scopes of one request.
const maxScopes = 100

// ParseScope splits a scope parameter (RFC 6749 §3.3) into its distinct
// tokens, sorted. Empty input gives no scopes.
func ParseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	fields := strings.Split(s, " ")
	if len(fields) > maxScopes {
		return nil, ErrInvalidScope.WithDescription("too many scopes (at most %d)", maxScopes)
	}
	seen := make(map[string]bool, len(fields))
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if f == "" {
			continue // tolerate doubled spaces
		}
		if !validScopeToken(f) {
			return nil, ErrInvalidScope.WithDescription("malformed scope %q", truncate(f, 64))
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}

// JoinScope is the stored and returned form of a scope list.
func JoinScope(scopes []string) string { return strings.Join(scopes, " ") }

// truncate shortens s for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	set := make(map[string]bool, len(b))
	for _, x := range b {
		set[x] = true
	}
	for _, x := range a {
		if !set[x] {
			return false
		}
	}
	return true
}

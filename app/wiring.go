package app

import (
	"context"
	"crypto/x509"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/app/backchannel"
	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/cimd"
	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/jwks"
	"github.com/gatehouse/gatehouse/app/keys"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/outbound"
	"github.com/gatehouse/gatehouse/app/password"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
)

// newHandlers builds everything the handlers use, in one place: the
// cache counters, the settings, the throttles, the signing keys, the
// protocol core (with the settings mapped into its Policy and the
// throttles behind its Limiter) and the speculative token service around
// it. The clock is the handlers' Now, which tests move.
func newHandlers(cfg *config.Config, st *models.Store, log *slog.Logger) *handlers.Handlers {
	var h *handlers.Handlers
	clock := func() time.Time { return h.Now() }
	versions := cache.NewVersions(st)
	throttles := throttle.Open(cfg.RedisURL.Reveal(), st)
	settingsSvc := settings.NewCachedService(st, versions)
	login := throttle.New(throttles, "login")
	clientThrottle := throttle.New(throttles, "client")
	signingKeys := keys.New(keys.Options{Store: st, Secret: cfg.KeySecret.Reveal(), Now: clock, Log: log,
		Version: func(ctx context.Context) (int64, error) { v, err := versions.Current(ctx); return v.Keys, err }})
	// Client ID Metadata Documents: https client_ids are fetched and kept
	// as clients rows, behind the model's GetClient.
	cached := models.NewCachedOAuthModel(st, versions)
	// client_secret_jwt clients' secrets, sealed under the key secret.
	cached.Secrets = secret.NewClientSecretSealer(cfg.KeySecret.Reveal())
	// Outbound fetches of metadata documents and jwks_uri.
	outOpts := outbound.Options{AllowPrivate: cfg.AllowPrivateFetch, UserAgent: "Gatehouse/" + Version, RootCAs: outboundRootCAs}
	model := cimd.Model{Model: cached, Resolver: cimd.NewResolver(cimd.Options{
		Store: st, Settings: settingsSvc, Now: clock, Log: log,
		HTTP: cimd.NewHTTP(outOpts),
	})}
	// Public keys of private_key_jwt clients (and later trusted issuers):
	// pasted JWK Sets and jwks_uri fetched through the outbound client.
	publicKeys := jwks.New(jwks.Options{
		HTTP:      outbound.New(outOpts),
		AllowHTTP: cfg.AllowPrivateFetch, Log: log,
	})
	core := oauth.New(oauth.Options{
		Issuer: cfg.Issuer, Model: model, Policy: settingsPolicy{settingsSvc},
		Keys: publicKeys, TokenEndpoint: cfg.EndpointURL("token"),
		Now: clock, Log: log, Signer: signingKeys, Passwords: password.Checker{},
		ClientThrottle: coreLimiter{clientThrottle}, LoginThrottle: coreLimiter{login},
		OnSecurityEvent: func(ctx context.Context, ev oauth.SecurityEvent) { h.OnSecurityEvent(ctx, ev) },
		DPoPNonceKey:    (&appSecretKey{store: st, name: dpopNonceSecret}).Get,
	})
	h = handlers.New(handlers.Deps{
		Config: cfg, Store: st, Settings: settingsSvc, Versions: versions, Log: log,
		LoginThrottle:  login,
		SignupThrottle: handlers.NewEveryAttemptLimiter(throttles, "signup"),
		EmailThrottle:  handlers.NewEveryAttemptLimiter(throttles, "email_change"),
		// Dynamic client registration (RFC 7591): 10 an hour per address.
		RegisterThrottle: handlers.NewRegistrationLimiter(throttles),
		Throttles:        throttles,
		OAuth:            core,
		Tokens:           &speculativeTokens{core: core, versions: versions, clientThrottle: clientThrottle},
		Keys:             signingKeys,
		Now:              time.Now,
	})
	return h
}

// outboundRootCAs, when set (by tests only), are the certificate
// authorities the fetches of Client ID Metadata Documents trust instead of
// the system's, so that a test's TLS server on loopback can serve them. A
// separate process (the e2e tests) sets SSL_CERT_FILE instead.
var outboundRootCAs *x509.CertPool

// newLogoutDeliverer builds the back-channel logout deliverer: logout
// tokens signed with the keys and issuer of the ID tokens, POSTed through
// the outbound client (which reaches private and loopback addresses only
// with GATEHOUSE_ALLOW_PRIVATE_FETCH=1).
func newLogoutDeliverer(cfg *config.Config, st *models.Store, signer *keys.Manager, log *slog.Logger) *backchannel.Deliverer {
	return backchannel.New(backchannel.Options{
		Store: st, Signer: signer, Issuer: cfg.Issuer, Log: log,
		HTTP: outbound.New(outbound.Options{AllowPrivate: cfg.AllowPrivateFetch, UserAgent: "Gatehouse/" + Version}),
	})
}

// deliverLogouts runs the back-channel logout deliverer (woken by the
// store when a session's end queues notifications, and polling for those
// of other instances and for retries) until ctx ends or stop is called;
// stop waits until it has finished, its attempts in flight given their
// grace, so that the database can be closed after it.
func (s *Server) deliverLogouts(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Logouts.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// settingsPolicy maps the settings in force into the core's Policy.
type settingsPolicy struct{ s *settings.Service }

// Policy implements oauth.PolicySource.
func (p settingsPolicy) Policy(ctx context.Context) (oauth.Policy, error) {
	v, err := p.s.Load(ctx)
	if err != nil {
		return oauth.Policy{}, err
	}
	return oauth.Policy{
		AllowImplicitGrant:                 v.AllowImplicitGrant,
		AllowPasswordGrant:                 v.AllowPasswordGrant,
		EnforceState:                       v.EnforceState,
		RequireExactRedirectURI:            v.RequireExactRedirectURI,
		RequirePKCE:                        v.RequirePKCE,
		RememberConsent:                    v.RememberConsent,
		RequirePushedAuthorizationRequests: v.RequirePAR,
		AccessTokenFormat:                  v.AccessTokenFormat,
		AccessTokenLifetime:                v.AccessTokenLifetime,
		RefreshTokenLifetime:               v.RefreshTokenLifetime,
		RefreshTokenReuseInterval:          v.RefreshTokenReuseInterval,
		AuthorizationCodeLifetime:          v.AuthorizationCodeLifetime,
		DeviceCodeLifetime:                 v.DeviceCodeLifetime,
		DevicePollInterval:                 v.DevicePollInterval,
		DPoPNonce:                          v.DPoPNonce,
		// Advertised unless it would send most clients to a dead end:
		// MCP clients use a metadata document whenever the server says it
		// supports them, so with an allowlist and dynamic registration on,
		// clients off the list would never try registration (the draft's
		// AS metadata section). Allowlisted hosts still work either way.
		ClientIDMetadataDocuments: v.ClientIDMetadataDocuments == cimd.ModeAny ||
			v.ClientIDMetadataDocuments == cimd.ModeAllowlist && v.DynamicRegistration == "off",
	}, nil
}

// throttleLimiter is what coreLimiter adapts: a *throttle.Limiter, or a
// *throttle.Held over one.
type throttleLimiter interface {
	Begin(ctx context.Context, account, address string) (*throttle.Attempt, time.Duration, error)
	Blocked(ctx context.Context, account, address string) (time.Duration, error)
	Fail(ctx context.Context, account, address string) error
}

// coreLimiter is a throttle limiter as the core's oauth.Limiter.
type coreLimiter struct{ throttleLimiter }

// Begin implements oauth.Limiter (no Attempt when refused: a nil
// interface, never a nil *throttle.Attempt inside one).
func (l coreLimiter) Begin(ctx context.Context, account, address string) (oauth.Attempt, time.Duration, error) {
	a, wait, err := l.throttleLimiter.Begin(ctx, account, address)
	if a == nil {
		return nil, wait, err
	}
	return a, wait, err
}

// speculativeTokens serves client-credentials requests, the
// machine-to-machine hot path, speculatively: with the cache counters of
// the latest read while a fresh read runs alongside the INSERT, instead
// of before it. When the fresh read shows that a client, scope, setting
// or key changed meanwhile, the tokens are revoked unsent and the request
// runs again on the state in force, so the answer is the same as without
// speculation, one database round trip sooner. Failed client
// authentications are held back (throttle.Held) and counted only for the
// run whose answer is sent. Other grants go to the core directly, and so
// do requests authenticated by a client assertion: its jti is spent by
// the first run, so a second run would be refused as a replay.
type speculativeTokens struct {
	core           *oauth.Server
	versions       *cache.Versions
	clientThrottle *throttle.Limiter
}

// Token implements handlers.TokenService.
func (s *speculativeTokens) Token(ctx context.Context, r *oauth.ClientRequest) (*oauth.TokenResponse, error) {
	// A DPoP proof and a client assertion are single use: a second run
	// would find them used.
	if len(r.Form["grant_type"]) != 1 || r.Form.Get("grant_type") != oauth.GrantClientCredentials || r.DPoP.Present() || r.Form.Has("client_assertion") {
		return s.core.Token(ctx, r)
	}
	held := s.clientThrottle.Hold()
	spec := *r
	spec.ClientThrottle = coreLimiter{held}
	sctx := s.versions.Speculate(ctx)
	resp, err := s.core.Token(sctx, &spec)
	if ok, cerr := cache.Confirm(sctx); cerr == nil && ok {
		if rerr := held.Release(ctx); rerr != nil {
			return nil, rerr
		}
		return resp, err
	}
	if resp != nil {
		if derr := s.core.Discard(ctx, resp); derr != nil {
			return nil, derr
		}
	}
	return s.core.Token(ctx, r)
}

// dpopNonceSecret names the app secret that keys DPoP server nonces (an
// HMAC key every instance shares, so that a nonce one handed out is good
// at all).
const dpopNonceSecret = "dpop_nonce_key"

// appSecretKey is an app secret read (or made) once and then kept: a key
// that nothing rotates while the server runs.
type appSecretKey struct {
	store *models.Store
	name  string
	mu    sync.Mutex
	key   []byte
}

// Get returns the key, loading or making it on first use.
func (k *appSecretKey) Get(ctx context.Context) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	key, err := k.store.GetOrCreateSecret(ctx, k.name, func() ([]byte, error) { return secret.Random(32), nil })
	if err != nil {
		return nil, err
	}
	k.key = key
	return key, nil
}

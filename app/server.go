// Package app wires Gatehouse together: configuration, database, the fiber
// application with its middleware and route table, background jobs, the
// command line and graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/gatehouse/gatehouse/app/backchannel"
	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/static"
)

// BodyLimit caps request bodies (client icons are at most 256 KB).
const BodyLimit = 1 << 20

// tooLargeMessage answers a body over BodyLimit (413).
const tooLargeMessage = "The request is too large: Gatehouse accepts at most 1 MB."

// ReadBufferSize caps the request line and headers: authorization
// requests travel in the URL and can be long.
const ReadBufferSize = 16 << 10

// headersTooLargeMessage answers a request line and headers over
// ReadBufferSize (431).
const headersTooLargeMessage = "The address or the headers of the request are too long: Gatehouse accepts at most 16 KB."

// Server is a configured Gatehouse HTTP server.
type Server struct {
	Config    *config.Config
	Store     *models.Store
	Log       *slog.Logger
	Handlers  *handlers.Handlers
	App       *fiber.App
	sessions  *web.DBStore
	sessionMW fiber.Handler
	// Logouts delivers the queued back-channel logout notifications
	// (started by `gatehouse serve`, see deliverLogouts).
	Logouts *backchannel.Deliverer
}

// NewServer builds the fiber application. The database must be migrated.
func NewServer(ctx context.Context, cfg *config.Config, st *models.Store, log *slog.Logger, extraRoutes ...func(*Server)) (*Server, error) {
	// App secrets (session keys) are encrypted at rest under the key
	// secret, like the signing keys; plaintext ones from earlier releases
	// are encrypted on first read.
	if k := cfg.KeySecret.Reveal(); k != "" && !st.EncryptingSecrets() {
		st.SetKeySecret(k)
	}
	s := &Server{Config: cfg, Store: st, Log: log, Handlers: newHandlers(cfg, st, log)}
	s.Handlers.Metrics = newMetrics(st)
	// The first start generates the signing keys; a key that cannot be
	// decrypted (no or a wrong GATEHOUSE_KEY_SECRET) stops the start here.
	if err := s.Handlers.Keys.Ensure(ctx); err != nil {
		return nil, err
	}
	s.Logouts = newLogoutDeliverer(cfg, st, s.Handlers.Keys, log)
	if cfg.AllowPrivateFetch {
		log.WarnContext(ctx, "GATEHOUSE_ALLOW_PRIVATE_FETCH=1: requests to configured URLs (back-channel logout, metadata documents, jwks_uri) may reach private and loopback addresses; for tests only")
	}
	if !s.Handlers.Keys.Encrypting() {
		log.WarnContext(ctx, "signing keys are stored unencrypted, and so are the session keys: a copy of the database is enough to sign tokens; set GATEHOUSE_KEY_SECRET on every instance, then run `gatehouse keys rotate` and `gatehouse keys rotate --sessions`")
	}
	if st.EncryptingSecrets() {
		plain, err := st.PlaintextSecrets(ctx)
		if err != nil {
			return nil, err
		}
		if len(plain) > 0 {
			log.WarnContext(ctx, "app secrets stored in plaintext before a key secret was set are encrypted now; copies of the database taken before "+
				"(backups, and free space in the database file until it is reused) still hold them: run `gatehouse keys rotate --sessions` to replace them (everyone signs in again)",
				"secrets", strings.Join(plain, " "))
		}
	}
	versions := s.Handlers.Versions
	sessions, err := web.NewDBStore(ctx, st, web.Options{
		Secure: cfg.SecureCookies(),
		Keys: web.KeySource{
			Load:    func(ctx context.Context) ([]byte, []byte, error) { return SessionKeys(ctx, st) },
			Version: func(ctx context.Context) (int64, error) { v, err := versions.Current(ctx); return v.Keys, err },
		},
		Lifetimes: func(ctx context.Context) (web.Lifetimes, error) {
			v, err := s.Handlers.Settings.Load(ctx)
			return web.Lifetimes{Idle: v.SessionIdleTimeout, Absolute: v.SessionLifetime}, err
		},
		Log: log,
	})
	if err != nil {
		return nil, err
	}
	s.sessions = sessions
	if err := s.Handlers.LoadDeviceCookieKey(ctx); err != nil {
		return nil, err
	}
	s.sessionMW = web.SessionMiddleware(s.sessions, web.CookieName(cfg.SecureCookies()))

	s.App = fiber.New(fiber.Config{
		AppName:               "Gatehouse",
		ServerHeader:          "",
		DisableStartupMessage: true,
		BodyLimit:             BodyLimit,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           90 * time.Second,
		ReadBufferSize:        ReadBufferSize,
		// Values from c.Params/Query/FormValue stay valid after the
		// handler returns, so they can be stored safely.
		Immutable:    true,
		ErrorHandler: s.handleError,
	})
	// Cached settings, clients, scopes and users check the cache
	// counters once per request (app/cache).
	s.App.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(cache.WithRequest(c.UserContext()))
		return c.Next()
	})
	s.routes(extraRoutes...)
	return s, nil
}

// Names of the session keys in app_secrets.
const (
	sessionHashKey  = "session_hash_key"
	sessionBlockKey = "session_block_key"
)

// SessionKeys returns the session cookie keys (HMAC-SHA256 and AES-256),
// making them on the first start.
func SessionKeys(ctx context.Context, st *models.Store) (hashKey, blockKey []byte, err error) {
	hashKey, err = st.GetOrCreateSecret(ctx, sessionHashKey, func() ([]byte, error) { return secret.Random(64), nil })
	if err != nil {
		return nil, nil, err
	}
	blockKey, err = st.GetOrCreateSecret(ctx, sessionBlockKey, func() ([]byte, error) { return secret.Random(32), nil })
	if err != nil {
		return nil, nil, err
	}
	return hashKey, blockKey, nil
}

// RotateSessionKeys replaces the session cookie keys and the device
// cookie key, and ends every browser session (`gatehouse keys rotate
// --sessions`); device cookies stop counting until their owners sign in
// again. Running servers load the new keys on their next request.
func RotateSessionKeys(ctx context.Context, st *models.Store) (sessionsEnded int64, err error) {
	return st.ReplaceSecrets(ctx, map[string][]byte{sessionHashKey: secret.Random(64), sessionBlockKey: secret.Random(32),
		handlers.DeviceCookieSecret: secret.Random(32)})
}

// isAPIPath reports whether errors on path are answered as JSON: OAuth
// endpoints (except the browser-facing authorize endpoint), /api, metadata,
// health and metrics.
func (s *Server) isAPIPath(path string) bool {
	if p := s.Config.OAuthPrefix; p != "" {
		if (path == p || strings.HasPrefix(path, p+"/")) && path != s.Config.Endpoint("authorize") {
			return true
		}
	} else {
		// Without a prefix only the endpoints themselves are OAuth paths.
		for name := range s.Config.OAuthPaths {
			if name != "authorize" && path == s.Config.Endpoint(name) {
				return true
			}
		}
		// ... and the registration management URLs under {P}/register/.
		if strings.HasPrefix(path, s.Config.Endpoint("register")+"/") {
			return true
		}
	}
	for _, prefix := range []string{"/api/", "/.well-known/", "/healthz", "/readyz", "/metrics"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// handleError is the one error handler: JSON for API paths, the HTML error
// page otherwise. Only messages written for users are shown; unexpected
// errors are logged with the request ID and answered with a generic 500.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	// fasthttp answers some requests before any middleware runs (431 for
	// a request line or headers over ReadBufferSize, 413 for a declared
	// body over BodyLimit, 408, malformed requests) through this handler:
	// those answers carry the security headers too.
	s.setSecurityHeaders(c)
	status := fiber.StatusInternalServerError
	msg := ""
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
		// fasthttp's own messages (a request it could not parse, before
		// any handler) quote the raw request, cookies included: never
		// shown.
		if !isGenericMessage(fe.Message, status) && len(c.Route().Handlers) > 0 {
			msg = fe.Message
		}
	} else {
		s.Log.ErrorContext(c.UserContext(), "request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	if status >= 500 && fe == nil {
		msg = ""
	}
	switch status {
	case fiber.StatusRequestEntityTooLarge:
		msg = tooLargeMessage
	case fiber.StatusRequestHeaderFieldsTooLarge:
		msg = headersTooLargeMessage
	}
	if s.isAPIPath(c.Path()) {
		c.Set(fiber.HeaderCacheControl, "no-store")
		desc := msg
		if desc == "" {
			desc = http.StatusText(status)
		}
		return c.Status(status).JSON(fiber.Map{"error": apiErrorCode(status), "error_description": desc})
	}
	// Drop anything a failed handler may have written.
	c.Response().ResetBody()
	if rerr := s.Handlers.RenderError(c, status, "", msg); rerr != nil {
		s.Log.ErrorContext(c.UserContext(), "error page failed", "err", rerr)
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		return c.Status(status).SendString(http.StatusText(status))
	}
	return nil
}

// isGenericMessage spots fiber's own texts ("Cannot GET /x", "Not Found"),
// which are replaced by the error page's friendly default.
func isGenericMessage(msg string, status int) bool {
	return msg == "" || msg == http.StatusText(status) || strings.HasPrefix(msg, "Cannot ") || msg == "Request Entity Too Large"
}

func apiErrorCode(status int) string {
	switch status {
	case fiber.StatusBadRequest, fiber.StatusRequestEntityTooLarge, fiber.StatusUnsupportedMediaType, fiber.StatusUnprocessableEntity:
		return "invalid_request"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "access_denied"
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusTooManyRequests:
		return "too_many_requests"
	case fiber.StatusServiceUnavailable:
		return "temporarily_unavailable"
	}
	if status >= 500 {
		return "server_error"
	}
	return "invalid_request"
}

// securityHeaders sets the headers every response carries. Responses are
// not cacheable unless a handler says otherwise (static files do).
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders sets the headers of securityHeaders on c's response.
func (s *Server) setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	h.Set(fiber.HeaderContentSecurityPolicy, web.ContentSecurityPolicy)
	h.Set(fiber.HeaderXFrameOptions, "DENY")
	h.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set(fiber.HeaderPermissionsPolicy, "camera=(), microphone=(), geolocation=(), payment=()")
	h.Set(fiber.HeaderCacheControl, "no-store")
	if s.Config.SecureCookies() {
		h.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000")
	}
}

// newMetricsServer is the server of the metrics address: GET /metrics
// with the server's registry, 404 for anything else.
func (s *Server) newMetricsServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Handlers.Metrics.HTTPHandler())
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 15 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
}

// staticFiles serves the embedded assets with a one-year immutable cache:
// their URLs carry a content hash (static.URL).
func staticFiles() fiber.Handler {
	fsHandler := filesystem.New(filesystem.Config{Root: http.FS(static.FS), MaxAge: 365 * 24 * 3600})
	return func(c *fiber.Ctx) error {
		if err := fsHandler(c); err != nil {
			return err
		}
		if c.Response().StatusCode() == fiber.StatusOK {
			c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		}
		return nil
	}
}

// Listen serves on the configured address (and /metrics on the metrics
// address, when set) until ctx is cancelled, then shuts down gracefully:
// in-flight requests get up to 10 seconds.
func (s *Server) Listen(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Config.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve is Listen on an existing listener; the metrics address, when set,
// is opened here.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Config.MetricsAddr == "" {
		return s.ServeBoth(ctx, ln, nil)
	}
	mln, err := net.Listen("tcp", s.Config.MetricsAddr)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("metrics address: %w", err)
	}
	return s.ServeBoth(ctx, ln, mln)
}

// ServeBoth serves the application on ln and, when the metrics address is
// set, /metrics alone on metricsLn (the same registry), until ctx is
// cancelled or a listener fails; both then shut down gracefully together.
func (s *Server) ServeBoth(ctx context.Context, ln, metricsLn net.Listener) error {
	startPprof(s.Log)
	var metricsSrv *http.Server
	if s.Config.MetricsAddr != "" && metricsLn != nil {
		metricsSrv = s.newMetricsServer()
	}
	errc := make(chan error, 2)
	go func() { errc <- s.App.Listener(ln) }()
	s.Log.Info("listening", "addr", ln.Addr().String(), "issuer", s.Config.Issuer)
	if metricsSrv != nil {
		go func() { errc <- metricsSrv.Serve(metricsLn) }()
		s.Log.Info("serving metrics", "addr", metricsLn.Addr().String())
	}
	var failed error
	select {
	case failed = <-errc:
	case <-ctx.Done():
	}
	s.Log.Info("shutting down; draining in-flight requests")
	var mErr error
	mDone := make(chan struct{})
	go func() {
		defer close(mDone)
		if metricsSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			mErr = metricsSrv.Shutdown(sctx)
		}
	}()
	err := s.App.ShutdownWithTimeout(10 * time.Second)
	<-mDone
	err = errors.Join(failed, err, mErr)
	// The Redis throttle store's connections, once no request uses them.
	if c, ok := s.Handlers.Throttles.(io.Closer); ok {
		_ = c.Close()
	}
	return err
}

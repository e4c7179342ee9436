// Package metrics holds Gatehouse's Prometheus metrics: one registry per
// server (never the global default one, so that several servers can run in
// one process), the HTTP middleware that counts and times requests by
// route template, and the domain counters the handlers bump.
//
// Labels never carry client IDs, usernames, addresses or raw paths: routes
// are the matched templates, and every other label has a fixed, small set
// of values.
package metrics

import (
	"database/sql"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of requests no route matched (the 404
// catch-all, method mismatches): one label, whatever the path.
const Unmatched = "unmatched"

// Login failure kinds (the kind label of gatehouse_login_failures_total).
const (
	LoginForm          = "form"
	LoginPasswordGrant = "password_grant"
	LoginHeadless      = "headless_authorize"
	LoginDeviceCode    = "device_code"
)

// Metrics is the registry of one server and its collectors. A nil
// *Metrics records nothing, so code built without metrics (tests) works.
type Metrics struct {
	Registry *prometheus.Registry

	requests           *prometheus.CounterVec
	duration           *prometheus.HistogramVec
	tokens             *prometheus.CounterVec
	clientAuthFailures *prometheus.CounterVec
	loginFailures      *prometheus.CounterVec
	throttled          *prometheus.CounterVec
	handler            fiber.Handler
	httpHandler        http.Handler
}

// DurationBuckets are the request latency buckets in seconds: 0.5 ms to
// 10 s.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// New makes the registry with the Go and process collectors, the build
// information (version), the request and domain metrics, and, when db is
// not nil, the database pool statistics (go_sql_*, db_name="gatehouse").
func New(version string, db *sql.DB) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request duration by route template and method.",
			Buckets: DurationBuckets,
		}, []string{"route", "method"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokens_issued_total",
			Help: "Successful token endpoint responses by grant type.",
		}, []string{"grant_type"}),
		clientAuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_client_auth_failures_total",
			Help: "Failed client authentications (invalid_client) by endpoint.",
		}, []string{"endpoint"}),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_login_failures_total",
			Help: "Failed user sign-ins by kind (form, password_grant, headless_authorize, device_code).",
		}, []string{"kind"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_throttled_requests_total",
			Help: "Requests answered 429 Too Many Requests, by route template.",
		}, []string{"route"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "gatehouse_build_info",
		Help:        "Build information; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo, m.requests, m.duration, m.tokens, m.clientAuthFailures, m.loginFailures, m.throttled,
	)
	if db != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(db, "gatehouse"))
	}
	// At most a few scrapes at once: the page is unauthenticated.
	m.httpHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
	m.handler = adaptor.HTTPHandler(m.httpHandler)
	return m
}

// HTTPHandler is Handler for net/http (the separate metrics address).
func (m *Metrics) HTTPHandler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.httpHandler
}

// Handler serves the registry in the Prometheus exposition format
// (GET /metrics).
func (m *Metrics) Handler(c *fiber.Ctx) error {
	if m == nil {
		return fiber.ErrNotFound
	}
	return m.handler(c)
}

// Observe counts and times a finished request. route is the matched
// route template (see Route); a 429 is also counted as throttled.
func (m *Metrics) Observe(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
	if status == http.StatusTooManyRequests {
		m.throttled.WithLabelValues(route).Inc()
	}
}

// Middleware records every request: it runs the rest of the chain, which
// must already have turned a returned error into the final status (the
// access log does), then counts and times the request by route template.
func (m *Metrics) Middleware(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		// Not expected (see above); count what the error will become.
		status = fiber.StatusInternalServerError
		if fe := (*fiber.Error)(nil); errors.As(err, &fe) {
			status = fe.Code
		}
	}
	m.Observe(Route(c), c.Method(), status, time.Since(start))
	return err
}

// Route is the route label of a handled request: the template of the
// route that answered (/dashboard/clients/:client_id, not each ID). A
// request that only middleware saw gets the middleware's prefix (the
// static files under /static, CORS preflights) or, for a catch-all at /,
// Unmatched.
func Route(c *fiber.Ctx) string {
	r := c.Route()
	if len(r.Handlers) == 0 {
		// fiber's stand-in when no route matched: its Path is the raw path.
		return Unmatched
	}
	// fiber does not say whether the route was middleware (Use), but a
	// route at / only matches other paths when it is.
	if r.Path == "/" && c.Path() != "/" {
		return Unmatched
	}
	return r.Path
}

// methodLabel keeps the method label to the standard methods.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// TokenIssued counts a successful token response of grantType.
func (m *Metrics) TokenIssued(grantType string) {
	if m == nil {
		return
	}
	m.tokens.WithLabelValues(GrantLabel(grantType)).Inc()
}

// GrantLabel is the grant_type label: the grant type, with the URN
// prefix of the IETF grant types dropped (device_code, token_exchange).
func GrantLabel(grantType string) string {
	if rest, ok := strings.CutPrefix(grantType, "urn:ietf:params:oauth:grant-type:"); ok {
		return strings.ReplaceAll(rest, "-", "_")
	}
	return grantType
}

// ClientAuthFailed counts a failed client authentication at endpoint
// (token, revoke, introspect, device_code).
func (m *Metrics) ClientAuthFailed(endpoint string) {
	if m == nil {
		return
	}
	m.clientAuthFailures.WithLabelValues(endpoint).Inc()
}

// LoginFailed counts a failed user sign-in of kind (LoginForm,
// LoginPasswordGrant, LoginHeadless, LoginDeviceCode).
func (m *Metrics) LoginFailed(kind string) {
	if m == nil {
		return
	}
	m.loginFailures.WithLabelValues(kind).Inc()
}

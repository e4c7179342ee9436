package app

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/metrics"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
)

type ctxKey int

const requestIDKey ctxKey = iota

// RequestIDHeader carries the request ID in and out.
const RequestIDHeader = "X-Request-Id"

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID takes a well-formed incoming X-Request-Id (from a proxy) or
// makes one, returns it in the response and puts it in the request context
// so that every log line of the request carries it.
func requestID(c *fiber.Ctx) error {
	id := c.Get(RequestIDHeader)
	if !validRequestID.MatchString(id) {
		id = hex.EncodeToString(secret.Random(12))
	}
	c.Set(RequestIDHeader, id)
	c.SetUserContext(context.WithValue(c.UserContext(), requestIDKey, id))
	return c.Next()
}

// RequestIDFrom returns the request ID stored in ctx.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// accessLog logs one line per request: method, path (never the query
// string, which may hold codes or tokens), status, duration and client.
// Static files, health checks and metrics scrapes log at DEBUG.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Let the error handler set the final status before logging.
		if herr := s.App.ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	path := c.Path()
	if strings.HasPrefix(path, "/static/") || path == "/healthz" || path == "/readyz" || path == "/metrics" {
		level = slog.LevelDebug
	}
	s.Log.LogAttrs(c.UserContext(), level, "request",
		slog.String("method", c.Method()),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.String("ip", web.IP(c)),
		slog.Int("bytes", responseBytes(c)),
	)
	return nil
}

// logPanic records a handler's panic, with its stack, in the server log
// (never in the response: the error handler answers a plain 500).
func (s *Server) logPanic(c *fiber.Ctx, e any) {
	s.Log.LogAttrs(c.UserContext(), slog.LevelError, "panic in handler",
		slog.String("panic", fmt.Sprint(e)),
		slog.String("stack", string(debug.Stack())),
	)
}

// responseBytes is the length of the response body, or -1 when it is
// streamed (the audit export): reading a stream to measure it would hold
// all of it in memory before sending.
func responseBytes(c *fiber.Ctx) int {
	if c.Response().IsBodyStream() {
		return -1
	}
	return len(c.Response().Body())
}

// NewLogger makes the slog logger for level (debug, info, warn, error) and
// format (text, json). Every record made with a request's context carries
// its request_id.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(requestIDHandler{h})
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// newMetrics makes a server's Prometheus registry (app/metrics) with the
// build version and the statistics of the store's connection pool.
func newMetrics(st *models.Store) *metrics.Metrics {
	var db *sql.DB
	if st != nil && st.DB() != nil {
		db, _ = st.DB().DB() // none: no pool statistics
	}
	return metrics.New(Version, db)
}

package metrics

import (
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// A nil *Metrics counts nothing and does not panic, and its page is 404.
func TestNilMetrics(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.Observe("/x", "GET", 200, time.Millisecond)
	m.TokenIssued("client_credentials")
	m.ClientAuthFailed("token")
	m.LoginFailed(LoginForm)
	app := fiber.New()
	app.Use(m.Middleware)
	app.Get("/metrics", m.Handler)
	res, err := app.Test(httptest.NewRequest("GET", "/metrics", nil))
	if err != nil || res.StatusCode != fiber.StatusNotFound {
		t.Fatalf("nil metrics page: %v %v", res.StatusCode, err)
	}
}

func TestGrantLabel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"authorization_code":                              "authorization_code",
		"urn:ietf:params:oauth:grant-type:device_code":    "device_code",
		"urn:ietf:params:oauth:grant-type:token-exchange": "token_exchange",
	} {
		if got := GrantLabel(in); got != want {
			t.Errorf("GrantLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// Route labels are templates; unmatched paths share one label and
// methods outside the standard set one method label.
func TestRouteLabels(t *testing.T) {
	t.Parallel()
	m := New("v1.2.3", nil)
	app := fiber.New()
	app.Use(m.Middleware)
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("home") })
	app.Get("/items/:id", func(c *fiber.Ctx) error { return c.SendString(c.Params("id")) })
	app.Get("/slow", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusTooManyRequests) })
	app.Use(func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNotFound) })
	for _, p := range []string{"/", "/items/1", "/items/2", "/nope", "/nope/deeper", "/slow"} {
		if _, err := app.Test(httptest.NewRequest("GET", p, nil)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]float64{}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "gatehouse_http_requests") && !strings.HasPrefix(mf.GetName(), "gatehouse_throttled") {
			continue
		}
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = s.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"gatehouse_http_requests_total{method=GET,route=/,status=200}":          1,
		"gatehouse_http_requests_total{method=GET,route=/items/:id,status=200}": 2,
		"gatehouse_http_requests_total{method=GET,route=/slow,status=429}":      1,
		"gatehouse_http_requests_total{method=GET,route=unmatched,status=404}":  2,
		"gatehouse_throttled_requests_total{route=/slow}":                       1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if got := methodLabel("PROPFIND"); got != "OTHER" {
		t.Errorf("methodLabel(PROPFIND) = %q", got)
	}
}

package app

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

// scrape fetches /metrics and parses the exposition.
func scrape(t *testing.T, h *harness) map[string]*dto.MetricFamily {
	t.Helper()
	r := h.do(http.MethodGet, "/metrics", nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %.300s", r.StatusCode, r.body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("/metrics Content-Type %q, want the Prometheus text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%.2000s", err, r.body)
	}
	return mfs
}

// metricValue is the value of the counter, gauge or histogram count of
// family with exactly labels (name, value pairs), or -1 when there is no
// such series.
func metricValue(mfs map[string]*dto.MetricFamily, family string, labels ...string) float64 {
	mf := mfs[family]
	if mf == nil {
		return -1
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for _, lp := range m.GetLabel() {
			found := false
			for i := 0; i+1 < len(labels); i += 2 {
				if labels[i] == lp.GetName() && labels[i+1] == lp.GetValue() {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func wantMetric(t *testing.T, mfs map[string]*dto.MetricFamily, want float64, family string, labels ...string) {
	t.Helper()
	if got := metricValue(mfs, family, labels...); got != want {
		var have []string
		if mf := mfs[family]; mf != nil {
			for _, m := range mf.GetMetric() {
				have = append(have, m.String())
			}
		}
		t.Errorf("%s%v = %v, want %v; series:\n%s", family, labels, got, want, strings.Join(have, "\n"))
	}
}

// TestMetricsCountRequestsAndDomainEvents drives real requests and reads
// the counters back from /metrics.
func TestMetricsCountRequestsAndDomainEvents(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	f := newOAuthFixture(t, h)
	f.set("allow_password_grant", "true")

	// Route labels are templates: two client pages, one series.
	dev := h.browser(h.t)
	signInAs(t, dev, "mallory-admin", models.RoleAdmin)
	for _, id := range []string{f.confID, f.pubID} {
		if r := dev.get("/dashboard/clients/" + id); r.StatusCode != http.StatusOK {
			t.Fatalf("client page %s: %d", id, r.StatusCode)
		}
	}
	// Unmatched paths share one label, whatever the path.
	for _, p := range []string{"/no/such/page", "/oauth/nope", "/dashboard/clients/x/y/z"} {
		if r := h.get(p); r.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
	}

	// Tokens per grant type.
	f.signIn()
	code := f.code(f.authzParams())
	r, m := f.exchange(code)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %v", r.StatusCode, m)
	}
	rt, _ := m["refresh_token"].(string)
	if r, m := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true); r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", r.StatusCode, m)
	}
	for range 2 {
		if r, m := f.token(url.Values{"grant_type": {"client_credentials"}}, true); r.StatusCode != http.StatusOK {
			t.Fatalf("client_credentials: %d %v", r.StatusCode, m)
		}
	}
	if r, m := f.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}}, true); r.StatusCode != http.StatusOK {
		t.Fatalf("password: %d %v", r.StatusCode, m)
	}
	// A refused grant issues nothing.
	if r, _ := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {"gac_nope"}, "redirect_uri": {f.redirect}}, true); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad code: %d", r.StatusCode)
	}

	// Failed client authentication, at two endpoints.
	bad := []string{"Authorization", basicAuth(f.confID, "wrong-secret")}
	if r := f.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, bad...); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad secret at token: %d %s", r.StatusCode, r.body)
	}
	if r := f.do(http.MethodPost, "/oauth/introspect", url.Values{"token": {"x"}}, bad...); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad secret at introspect: %d %s", r.StatusCode, r.body)
	}

	// Failed sign-ins: the password grant once, then the form until the
	// account is throttled (10 failures, then 429).
	if r, m := f.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"nope"}}, true); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong password grant: %d %v", r.StatusCode, m)
	}
	headless := f.authzParams("username", "alice", "password", "nope", "code_challenge", f.challenge, "code_challenge_method", "S256")
	if r := f.do(http.MethodPost, "/oauth/authorize", headless, "Accept", "application/json"); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "invalid_grant") {
		t.Fatalf("wrong password at the headless authorize: %d %s", r.StatusCode, r.body)
	}
	victim := h.browser(h.t)
	h.createUser("bob", pw, models.RoleUser)
	throttled := 0
	for range 12 {
		switch r := victim.login("bob", "wrong password"); r.StatusCode {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatalf("wrong password: %d", r.StatusCode)
		}
	}
	if throttled == 0 {
		t.Fatal("no sign-in was throttled")
	}

	mfs := scrape(t, h)

	wantMetric(t, mfs, 2, "gatehouse_http_requests_total", "route", "/dashboard/clients/:client_id", "method", "GET", "status", "200")
	wantMetric(t, mfs, 2, "gatehouse_http_request_duration_seconds", "route", "/dashboard/clients/:client_id", "method", "GET")
	wantMetric(t, mfs, 3, "gatehouse_http_requests_total", "route", "unmatched", "method", "GET", "status", "404")
	wantMetric(t, mfs, 1, "gatehouse_http_requests_total", "route", "/oauth/token", "method", "POST", "status", "401")
	wantMetric(t, mfs, 8, "gatehouse_http_request_duration_seconds", "route", "/oauth/token", "method", "POST")

	wantMetric(t, mfs, 1, "gatehouse_tokens_issued_total", "grant_type", "authorization_code")
	wantMetric(t, mfs, 1, "gatehouse_tokens_issued_total", "grant_type", "refresh_token")
	wantMetric(t, mfs, 2, "gatehouse_tokens_issued_total", "grant_type", "client_credentials")
	wantMetric(t, mfs, 1, "gatehouse_tokens_issued_total", "grant_type", "password")

	wantMetric(t, mfs, 1, "gatehouse_client_auth_failures_total", "endpoint", "token")
	wantMetric(t, mfs, 1, "gatehouse_client_auth_failures_total", "endpoint", "introspect")

	wantMetric(t, mfs, float64(12-throttled), "gatehouse_login_failures_total", "kind", "form")
	wantMetric(t, mfs, 1, "gatehouse_login_failures_total", "kind", "password_grant")
	wantMetric(t, mfs, 1, "gatehouse_login_failures_total", "kind", "headless_authorize")

	wantMetric(t, mfs, float64(throttled), "gatehouse_throttled_requests_total", "route", "/login")
	wantMetric(t, mfs, float64(throttled), "gatehouse_http_requests_total", "route", "/login", "method", "POST", "status", "429")

	wantMetric(t, mfs, 1, "gatehouse_build_info", "version", Version, "goversion", runtime.Version())
	if metricValue(mfs, "go_sql_max_open_connections", "db_name", "gatehouse") < 1 {
		t.Errorf("no database pool statistics (go_sql_*): %v", mfs["go_sql_max_open_connections"])
	}
	for _, fam := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if mfs[fam] == nil {
			t.Errorf("no %s", fam)
		}
	}

	// No label carries a raw path, a client ID, a username or an address.
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				for _, bad := range []string{f.confID, f.pubID, "alice", "bob", "mallory", "192.0.2", "0.0.0.0", "/no/such", "x/y/z"} {
					if strings.Contains(v, bad) {
						t.Errorf("%s has label %s=%q (contains %q)", name, lp.GetName(), v, bad)
					}
				}
			}
		}
	}
}

// TestMetricsDeviceCodeFailures: a wrong user code on /device counts as a
// failed sign-in, and device tokens as device_code.
func TestMetricsDeviceCode(t *testing.T) {
	t.Parallel()
	f := newDeviceFixture(t, sqliteHarness(t))
	f.signIn()
	if r := f.enterCode("BCDF-GHJK"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown code: %d", r.StatusCode)
	}
	d := f.tvCode("")
	f.approve(d.UserCode)
	if r, m := f.poll(d.DeviceCode); r.StatusCode != http.StatusOK {
		t.Fatalf("poll: %d %v", r.StatusCode, m)
	}
	if r, _ := f.authorizeDevice(url.Values{"client_id": {f.tvID}, "client_secret": {"wrong"}}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad secret at device_code: %d", r.StatusCode)
	}
	mfs := scrape(t, f.harness)
	wantMetric(t, mfs, 1, "gatehouse_login_failures_total", "kind", "device_code")
	wantMetric(t, mfs, 1, "gatehouse_tokens_issued_total", "grant_type", "device_code")
	wantMetric(t, mfs, 1, "gatehouse_client_auth_failures_total", "endpoint", "device_code")
	wantMetric(t, mfs, 1, "gatehouse_http_requests_total", "route", "/oauth/device/code", "method", "POST", "status", "200")
}

// TestMetricsPerServer: every server has its own registry, so two in one
// process neither panic on registration nor share counts.
func TestMetricsPerServer(t *testing.T) {
	t.Parallel()
	a, b := sqliteHarness(t), sqliteHarness(t)
	fa := newOAuthFixture(t, a)
	if r, m := fa.token(url.Values{"grant_type": {"client_credentials"}}, true); r.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", r.StatusCode, m)
	}
	wantMetric(t, scrape(t, a), 1, "gatehouse_tokens_issued_total", "grant_type", oauth.GrantClientCredentials)
	mb := scrape(t, b)
	wantMetric(t, mb, -1, "gatehouse_tokens_issued_total", "grant_type", oauth.GrantClientCredentials)
	wantMetric(t, mb, 1, "gatehouse_build_info", "version", Version, "goversion", runtime.Version())
	// The scrape itself is counted on the next one.
	wantMetric(t, scrape(t, b), 1, "gatehouse_http_requests_total", "route", "/metrics", "method", "GET", "status", "200")
}

// basicAuth is an HTTP Basic Authorization value of client credentials
// (form-encoded, RFC 6749 §2.3.1).
func basicAuth(id, sec string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))
}

// A handler's panic is answered with a plain 500, logged at ERROR with the
// request's ID and the stack, and counted under its route like any 500.
func TestPanicIsLoggedAndCounted(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, func(s *Server) {
		s.App.Get("/api/explode", func(c *fiber.Ctx) error { panic("kaboom") })
	})
	r := h.get("/api/explode")
	if r.StatusCode != http.StatusInternalServerError || strings.Contains(r.body, "kaboom") {
		t.Fatalf("panic answered %d %s", r.StatusCode, r.body)
	}
	id := r.Header.Get("X-Request-Id")
	var panicLine, accessLine string
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, "request_id="+id) && strings.Contains(line, "panic=kaboom") {
			panicLine = line
		}
		if strings.Contains(line, "request_id="+id) && strings.Contains(line, "path=/api/explode") {
			accessLine = line
		}
	}
	if id == "" || !strings.Contains(panicLine, "level=ERROR") || !strings.Contains(panicLine, "goroutine") {
		t.Errorf("no ERROR log line with the panic, its stack and request_id %q:\n%s", id, h.logs)
	}
	if !strings.Contains(accessLine, "status=500") {
		t.Errorf("access log line of the panicking request: %q", accessLine)
	}
	wantMetric(t, scrape(t, h), 1, "gatehouse_http_requests_total", "route", "/api/explode", "method", "GET", "status", "500")
}

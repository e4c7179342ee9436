package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
)

// TestMetricsOnSeparateAddress: with GATEHOUSE_METRICS_ADDR set, /metrics
// is served only on that second listener (the same registry: it counts
// the main listener's requests), the main address answers 404 for it, the
// metrics listener serves nothing else, and both shut down together.
func TestMetricsOnSeparateAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_METRICS_ADDR": "127.0.0.1:0"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.srv.ServeBoth(ctx, ln, mln) }()
	main, metrics := "http://"+ln.Addr().String(), "http://"+mln.Addr().String()
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get(main + "/healthz"); code != http.StatusOK {
		t.Fatalf("main /healthz: %d", code)
	}
	if code, body := get(main + "/metrics"); code != http.StatusNotFound || strings.Contains(body, "gatehouse_") {
		t.Fatalf("main /metrics: %d %.200s", code, body)
	}
	code, body := get(metrics + "/metrics")
	if code != http.StatusOK || !strings.Contains(body, `gatehouse_http_requests_total{method="GET",route="/healthz",status="200"} 1`) {
		t.Fatalf("metrics listener /metrics: %d %.300s", code, body)
	}
	for _, p := range []string{"/healthz", "/login", "/oauth/token", "/"} {
		if code, _ := get(metrics + p); code != http.StatusNotFound {
			t.Errorf("metrics listener %s: %d, want 404", p, code)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeBoth: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ServeBoth did not return after shutdown")
	}
	for _, a := range []string{ln.Addr().String(), mln.Addr().String()} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after shutdown", a)
		}
	}
}

// TestMetricsOnMainAddressByDefault: without a metrics address, /metrics
// is on the main application, as before.
func TestMetricsOnMainAddressByDefault(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	if r := h.get("/metrics"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "gatehouse_build_info") {
		t.Fatalf("/metrics: %d %.200s", r.StatusCode, r.body)
	}
}

// TestMetricsAddressInUse: a metrics address that cannot be opened stops
// the start with a message naming it.
func TestMetricsAddressInUse(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	h := newHarness(t, dbtest.SQLiteURL(t), map[string]string{"GATEHOUSE_METRICS_ADDR": busy.Addr().String()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = h.srv.Serve(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "metrics address") {
		t.Fatalf("Serve with a busy metrics address: %v", err)
	}
}

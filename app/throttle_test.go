package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/models"
)

// The four throttles of SPEC.md (sign-in form, client authentication at
// token/introspect/revoke, device user-code entry, the headless authorize)
// hold per account and per address across instances: these tests run two
// servers on one database (SQLite, PostgreSQL when configured) and, when
// GATEHOUSE_TEST_REDIS_URL is set, on one Redis, spread the failures over
// both, and check that both refuse the next attempt.

// throttleEnv trusts X-Forwarded-For from anywhere, so that a test can
// choose each request's address.
func throttleEnv(redisURL string) map[string]string {
	env := map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "0.0.0.0/0,::/0"}
	if redisURL != "" {
		env["GATEHOUSE_REDIS_URL"] = redisURL
	}
	return env
}

// eachThrottleStore runs fn with instance A (an OAuth fixture) and
// instance B on every shared store.
func eachThrottleStore(t *testing.T, fn func(t *testing.T, a *oauthFixture, b *harness)) {
	for _, be := range dbtest.Backends() {
		t.Run(be.Dialect, func(t *testing.T) {
			url := be.URL(t)
			a := newOAuthFixture(t, newHarness(t, url, throttleEnv("")))
			fn(t, a, newHarness(t, url, throttleEnv("")))
		})
	}
	t.Run("redis", func(t *testing.T) {
		redisURL := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
		if redisURL == "" {
			if os.Getenv("CI") != "" {
				t.Fatal("GATEHOUSE_TEST_REDIS_URL must be set in CI")
			}
			t.Skip("GATEHOUSE_TEST_REDIS_URL not set; skipping Redis")
		}
		dbURL := dbtest.SQLiteURL(t)
		a := newOAuthFixture(t, newHarness(t, dbURL, throttleEnv(redisURL)))
		b := newHarness(t, dbURL, throttleEnv(redisURL))
		// One key prefix per test, shared by both instances.
		buf := make([]byte, 6)
		_, _ = rand.Read(buf)
		prefix := "test:" + hex.EncodeToString(buf) + ":"
		for _, h := range []*harness{a.harness, b} {
			r, ok := h.srv.Handlers.Throttles.(*throttle.Redis)
			if !ok {
				t.Fatalf("GATEHOUSE_REDIS_URL set, but the throttle store is %T", h.srv.Handlers.Throttles)
			}
			r.Prefix = prefix
			t.Cleanup(func() { r.Close() })
		}
		fn(t, a, b)
		if r := b.get("/readyz"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"redis":"ok"`) {
			t.Errorf("readyz with Redis up: %d %s", r.StatusCode, r.body)
		}
		// The counts were in Redis, not in the database.
		var n int64
		a.store.DB().Model(&models.ThrottleEvent{}).Count(&n)
		if n != 0 {
			t.Errorf("%d throttle events in the database while Redis keeps them", n)
		}
		r := a.srv.Handlers.Throttles.(*throttle.Redis)
		keys, _ := r.Client.Keys(context.Background(), prefix+"*").Result()
		if len(keys) == 0 {
			t.Error("no throttle keys in Redis")
		}
		r.Client.Del(context.Background(), keys...)
	})
}

func xff(ip string) []string { return []string{"X-Forwarded-For", ip} }

// pick alternates between the instances.
func pick(i int, a, b *harness) *harness {
	if i%2 == 0 {
		return a
	}
	return b
}

func loginFrom(h *harness, user, pw, ip string) *response {
	h.t.Helper()
	form := url.Values{"username": {user}, "password": {pw}, "csrf_token": {h.csrf("/login")}}
	return h.do(http.MethodPost, "/login", form, xff(ip)...)
}

func TestThrottleAcrossInstances(t *testing.T) {
	t.Parallel()
	eachThrottleStore(t, func(t *testing.T, a *oauthFixture, b *harness) {
		A := a.harness
		want := func(r *response, status int, what string) {
			t.Helper()
			if r.StatusCode != status {
				t.Fatalf("%s: %d, want %d: %.300s", what, r.StatusCode, status, r.body)
			}
			if status == http.StatusTooManyRequests {
				if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 600 {
					t.Fatalf("%s: Retry-After %q", what, r.Header.Get("Retry-After"))
				}
			}
		}

		t.Run("login", func(t *testing.T) {
			A.createUser("lena", alicePW, models.RoleUser)
			A.createUser("lars", alicePW, models.RoleUser)
			// Per account: 10 failures from 10 addresses over both.
			for i := range 10 {
				want(loginFrom(pick(i, A, b), "lena", "wrong password!", fmt.Sprintf("203.0.113.%d", i+1)), http.StatusUnauthorized, "failure")
			}
			want(loginFrom(A, "lena", alicePW, "203.0.113.99"), http.StatusTooManyRequests, "A after 10 failures")
			want(loginFrom(b, "lena", alicePW, "203.0.113.98"), http.StatusTooManyRequests, "B after 10 failures")
			// Per address: 30 failures for 30 accounts over both.
			for i := range 30 {
				want(loginFrom(pick(i, A, b), fmt.Sprintf("nobody%d", i), "wrong password!", "198.51.100.1"), http.StatusUnauthorized, "failure")
			}
			want(loginFrom(A, "lars", alicePW, "198.51.100.1"), http.StatusTooManyRequests, "A from the address")
			want(loginFrom(b, "lars", alicePW, "198.51.100.1"), http.StatusTooManyRequests, "B from the address")
			want(loginFrom(b, "lars", alicePW, "198.51.100.2"), http.StatusSeeOther, "B from another address")
		})

		t.Run("client authentication", func(t *testing.T) {
			basic := func(id, sec string) []string {
				return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))}
			}
			cc := url.Values{"grant_type": {"client_credentials"}}
			tok := url.Values{"token": {"x"}}
			// Per client: 10 failures at token, introspect and revoke,
			// from 10 addresses over both.
			paths := []string{"/oauth/token", "/oauth/introspect", "/oauth/revoke"}
			for i := range 10 {
				form := tok
				if i%3 == 0 {
					form = cc
				}
				r := pick(i, A, b).do(http.MethodPost, paths[i%3], form, append(basic(a.confID, "wrong"), xff(fmt.Sprintf("203.0.113.%d", i+1))...)...)
				want(r, http.StatusUnauthorized, "failure")
			}
			for i, p := range paths {
				form := tok
				if i == 0 {
					form = cc
				}
				want(pick(i, A, b).do(http.MethodPost, p, form, append(basic(a.confID, "wrong"), xff("203.0.113.77")...)...),
					http.StatusTooManyRequests, p+" after 10 failures")
			}
			// The right secret still works: 256 bits cannot be guessed.
			want(b.do(http.MethodPost, "/oauth/token", cc, append(basic(a.confID, a.confSec), xff("203.0.113.77")...)...), http.StatusOK, "right secret")
			// Per address: 30 failures for 30 client IDs over both.
			for i := range 30 {
				want(pick(i, A, b).do(http.MethodPost, "/oauth/token", cc, append(basic(fmt.Sprintf("nope%d", i), "x"), xff("198.51.100.3")...)...),
					http.StatusUnauthorized, "failure")
			}
			want(A.do(http.MethodPost, "/oauth/token", cc, append(basic("other", "x"), xff("198.51.100.3")...)...), http.StatusTooManyRequests, "A from the address")
			want(b.do(http.MethodPost, "/oauth/introspect", tok, append(basic("other", "x"), xff("198.51.100.3")...)...), http.StatusTooManyRequests, "B from the address")
			want(b.do(http.MethodPost, "/oauth/token", cc, append(basic("other", "x"), xff("198.51.100.4")...)...), http.StatusUnauthorized, "B from another address")
		})

		t.Run("device user code", func(t *testing.T) {
			enter := func(h *harness, user, ip string) *response {
				h.t.Helper()
				form := url.Values{"user_code": {"BCDF-GHJK"}, "csrf_token": {h.csrf("/device")}}
				return h.do(http.MethodPost, "/device", form, xff(ip)...)
			}
			signIn := func(h *harness, user string) {
				h.clearCookies()
				if r := h.login(user, alicePW); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("%s login: %d", user, r.StatusCode)
				}
			}
			for _, u := range []string{"dora", "dirk", "dina", "dale", "duke"} {
				A.createUser(u, alicePW, models.RoleUser)
			}
			// Per account: dora signed in on both.
			signIn(A, "dora")
			signIn(b, "dora")
			for i := range 10 {
				want(enter(pick(i, A, b), "dora", fmt.Sprintf("203.0.113.%d", i+1)), http.StatusBadRequest, "wrong code")
			}
			want(enter(A, "dora", "203.0.113.50"), http.StatusTooManyRequests, "A after 10 wrong codes")
			want(enter(b, "dora", "203.0.113.51"), http.StatusTooManyRequests, "B after 10 wrong codes")
			// Per address: 10 wrong codes each for three accounts.
			for i, u := range []string{"dirk", "dina", "dale"} {
				h := pick(i, A, b)
				signIn(h, u)
				for range 10 {
					want(enter(h, u, "198.51.100.5"), http.StatusBadRequest, "wrong code")
				}
			}
			signIn(b, "duke")
			want(enter(b, "duke", "198.51.100.5"), http.StatusTooManyRequests, "B from the address")
			want(enter(b, "duke", "198.51.100.6"), http.StatusBadRequest, "B from another address")
		})

		t.Run("headless authorize", func(t *testing.T) {
			a.set("allow_password_grant", "true")
			A.createUser("hugo", alicePW, models.RoleUser)
			A.createUser("hans", alicePW, models.RoleUser)
			post := func(h *harness, user, pw, ip string) *response {
				form := a.authzParams("username", user, "password", pw, "code_challenge", a.challenge, "code_challenge_method", "S256")
				return h.do(http.MethodPost, "/oauth/authorize", form, append([]string{"Accept", "application/json"}, xff(ip)...)...)
			}
			for i := range 10 {
				want(post(pick(i, A, b), "hugo", "wrong password!", fmt.Sprintf("203.0.113.%d", i+1)), http.StatusBadRequest, "wrong password")
			}
			r := post(b, "hugo", alicePW, "203.0.113.60")
			want(r, http.StatusTooManyRequests, "B after 10 failures")
			var m map[string]any
			if json.Unmarshal([]byte(r.body), &m); m["error"] != "too_many_requests" {
				t.Fatalf("throttled headless answer: %s", r.body)
			}
			want(post(A, "hugo", alicePW, "203.0.113.61"), http.StatusTooManyRequests, "A after 10 failures")
			for i := range 30 {
				want(post(pick(i, A, b), fmt.Sprintf("ghost%d", i), "wrong password!", "198.51.100.7"), http.StatusBadRequest, "wrong password")
			}
			want(post(A, "hans", alicePW, "198.51.100.7"), http.StatusTooManyRequests, "A from the address")
			want(post(b, "hans", alicePW, "198.51.100.8"), http.StatusOK, "B from another address")
			if !strings.Contains(A.get("/readyz").body, `"status":"ok"`) {
				t.Error("readyz not ok")
			}
		})
	})
}

// With Redis configured but unreachable, /readyz is 503 naming Redis, and
// a sign-in fails (500) rather than going through unthrottled or being
// refused as throttled; so does client authentication (server_error).
func TestThrottleRedisDown(t *testing.T) {
	t.Parallel()
	// go-redis logs every failed dial on its own; not this test's news.
	redis.SetLogger(quietRedis{})
	h := newHarness(t, dbtest.SQLiteURL(t), throttleEnv("redis://127.0.0.1:1/0"))
	t.Cleanup(func() { h.srv.Handlers.Throttles.(*throttle.Redis).Close() })
	r := h.get("/readyz")
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	if r.StatusCode != http.StatusServiceUnavailable || m["redis"] != "unreachable" || m["database"] != "ok" {
		t.Fatalf("readyz with Redis down: %d %s", r.StatusCode, r.body)
	}
	h.createUser("alice", alicePW, models.RoleUser)
	if r := h.login("alice", alicePW); r.StatusCode != http.StatusInternalServerError || strings.Contains(r.body, "127.0.0.1:1") {
		t.Fatalf("login with Redis down: %d", r.StatusCode)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("nope:x"))
	r = h.do(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", auth)
	if r.StatusCode != http.StatusInternalServerError || !strings.Contains(r.body, "server_error") {
		t.Fatalf("client authentication with Redis down: %d %s", r.StatusCode, r.body)
	}
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// Shutting down closes the Redis throttle store's client once the last
// request is done, so its connections do not outlive the server.
func TestShutdownClosesRedisClient(t *testing.T) {
	t.Parallel()
	redis.SetLogger(quietRedis{})
	h := newHarness(t, dbtest.SQLiteURL(t), throttleEnv("redis://127.0.0.1:1/0"))
	rs := h.srv.Handlers.Throttles.(*throttle.Redis)
	_, cancel, done := h.serve()
	if err := rs.Client.Ping(context.Background()).Err(); errors.Is(err, redis.ErrClosed) {
		t.Fatal("client closed while serving")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := rs.Client.Ping(context.Background()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("after shutdown the Redis client answers %v, want %v", err, redis.ErrClosed)
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func find(rows []row, backend, prefix string) (row, bool) {
	for _, r := range rows {
		if r.Backend == backend && strings.HasPrefix(r.Endpoint, prefix) {
			return r, true
		}
	}
	return row{}, false
}

// checkTargets states each target of the performance issue as met or not.
func checkTargets(rows []row) []string {
	var out []string
	mark := func(ok bool, format string, args ...any) {
		m := "MET    "
		if !ok {
			m = "NOT MET"
		}
		out = append(out, m+" "+fmt.Sprintf(format, args...))
	}
	if r, ok := find(rows, "postgres", "client_credentials"); ok && r.Ratio > 0 {
		mark(r.Ratio >= 0.8, "client_credentials on PostgreSQL ≥ 80%% of the one-INSERT ceiling: %.0f/s = %.0f%%", r.Rate, r.Ratio*100)
	}
	if r, ok := find(rows, "sqlite", "client_credentials"); ok {
		mark(r.Rate >= 10000, "client_credentials on SQLite ≥ 10,000/s: %.0f/s", r.Rate)
	}
	for _, ep := range []string{"introspect (10k", "GET /api/user", "api_user (10k"} {
		if r, ok := find(rows, "postgres", ep); ok {
			mark(r.Ratio >= 0.25, "%s on PostgreSQL ≥ 25%% of the HTTP ceiling: %.0f/s = %.0f%%", strings.TrimSuffix(ep, " (10k"), r.Rate, r.Ratio*100)
		}
	}
	for _, b := range []string{"sqlite", "postgres"} {
		for _, ep := range []string{"refresh_token", "authorization_code"} {
			if r, ok := find(rows, b, ep); ok {
				mark(r.Ratio >= 0.5, "%s on %s ≥ 50%% of client_credentials: %.0f/s = %.0f%%", ep, b, r.Rate, r.Ratio*100)
			}
		}
		if r, ok := find(rows, b, "client_credentials at half"); ok {
			mark(r.P99 < 10*time.Millisecond, "p99 at half the maximum rate on %s < 10 ms: %s", b, dur(r.P99))
		}
		for _, r := range rows {
			if r.Backend == b && strings.Contains(r.Endpoint, "tokens stored)") && r.Ratio > 0 && !strings.Contains(r.Endpoint, "10k") {
				mark(r.Ratio >= 0.8, "lookups flat on %s: %s at %.0f/s = %.0f%% of the rate with 10k", b, r.Endpoint, r.Rate, r.Ratio*100)
			}
		}
	}
	var errs int64
	var rss int64
	for _, r := range rows {
		if r.Baseline == "baseline" {
			continue
		}
		errs += r.Errors
		rss = max(rss, r.MaxRSS)
	}
	mark(errs == 0, "no errors: %d", errs)
	mark(rss < 150<<20, "server RSS < 150 MB: largest %d MB", rss>>20)
	return out
}

func writeReport(o options, rows []row, targets []string, took time.Duration) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Produced by `make bench` (bench/, see README) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s, %d cores, shared by the load generator, the server and the database\n", cpuModel(), runtime.NumCPU())
	fmt.Fprintf(&b, "- %s, %s\n", runtime.Version(), pgVersion(o.pgURL))
	fmt.Fprintf(&b, "- Load: %d keep-alive connections, %s per endpoint after a %s warm-up; the Go load generator in bench/load.go (fasthttp), latencies exact (every request recorded)\n",
		o.conns, o.duration, o.warmup)
	fmt.Fprintf(&b, "- Server: the real binary (`gatehouse serve`), log level %s to a file; SQLite in WAL mode with synchronous=NORMAL; PostgreSQL with synchronous_commit on (unchanged server settings)\n", o.logLevel)
	fmt.Fprintf(&b, "- Full run: %s\n\n", took)
	b.WriteString("| endpoint | backend | req/s | p50 | p99 | errors | server RSS | ratio to baseline |\n|---|---|--:|--:|--:|--:|--:|---|\n")
	for _, r := range rows {
		ratio := ""
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f × %s", r.Ratio, r.Baseline)
		} else if r.Baseline != "baseline" {
			ratio = r.Baseline
		} else {
			ratio = "(baseline)"
		}
		if r.Note != "" {
			ratio += " — " + strings.ReplaceAll(r.Note, "|", "/")
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %d | %d MB | %s |\n", r.Endpoint, r.Backend, r.Rate, dur(r.P50), dur(r.P99), r.Errors, r.MaxRSS>>20, ratio)
	}
	b.WriteString("\n## Targets\n\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "- %s\n", t)
	}
	b.WriteString(`
## Reading the table

- Ratios are measured in the same run: the token endpoint on PostgreSQL
  against bare fiber + one pgx INSERT per request, lookups against bare
  fiber returning a fixed JSON, refresh and code exchange against
  client_credentials on the same database, the lookup with the large
  table against the same lookup with 10k tokens.
- Every request of a measured endpoint goes through the whole server:
  client authentication (SHA-256, constant-time compare), settings,
  client, scopes and user from the per-instance caches after one read of
  the cache_state counters (so that a change made on another instance is
  seen by the next request), and one INSERT per issued response, grouped
  with concurrent ones (group commit) and returned only once committed.
- The machine has 2 cores for everything: the load generator, the server
  and PostgreSQL compete for them, and other work on the machine adds
  noise of several percent between runs.

## Where the time goes, and why some targets are not met

- **One read of the cache counters per request.** Settings, clients,
  scopes, users and access tokens come from memory, but a request first
  reads the one-row cache_state table (concurrent requests share that
  read, never one that started before them). That read is what keeps
  SPEC.md's promise that a change, made on any instance or by the command
  line, applies on the next request, and that a revoked token is refused
  everywhere at once. It costs one database round trip per request (one
  per group of concurrent requests): on PostgreSQL that caps introspection
  and /api/user near 10,000/s on this machine, under the 25% of the HTTP
  ceiling asked for. PostgreSQL LISTEN/NOTIFY would remove the round trip
  but let a request that arrives within a notification's delay see the old
  state, which is why it was not taken.
- **The token endpoint on PostgreSQL** waits for that read and then for the
  commit of its INSERT (grouped with concurrent ones, two batches in
  flight). With 4 connections the rate is 4 / latency; the bare pgx INSERT
  does only the commit. A way to close the gap is to check the counters in
  the INSERT itself (insert only if they are unchanged, else reload and
  retry): one round trip per issued token.
- **SQLite client_credentials** cannot reach 10,000/s with the pure-Go
  driver here: its own bare INSERT baseline stays under 7,000/s.
- **refresh_token** does two writes (rotating the old token, inserting the
  new pair) and one tombstone check against concurrent reuse, so it lands
  near half the client_credentials rate, around the 50% line.
- **p99 at half rate** is measured open-loop from each request's scheduled
  start, so one stall of the shared machine (a PostgreSQL checkpoint, a
  noisy neighbour) delays every request queued behind it; repeated runs
  range from under 10 ms to a few tens of ms. On SQLite the background
  checkpointer restarts the WAL past about 40 MiB (a RESTART checkpoint
  holds writers back for tens of milliseconds); it used to let the WAL grow
  to gigabytes and TRUNCATE it, which stalled writers for over half a
  second.
`)
	return os.WriteFile(o.out, b.Bytes(), 0o644)
}

func pgVersion(raw string) string {
	out, err := exec.Command("psql", raw, "-tAc", "SHOW server_version").Output()
	if err != nil {
		return "PostgreSQL"
	}
	return "PostgreSQL " + strings.TrimSpace(string(out))
}

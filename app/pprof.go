package app

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
)

// PprofEnv names the environment variable that, when set to a loopback
// address (127.0.0.1:6060), serves Go's profiler there (for `go tool
// pprof` while measuring; see docs/BENCHMARKS.md). Not a configuration
// setting: it exists for performance work and refuses other addresses.
const PprofEnv = "GATEHOUSE_PPROF_ADDR"

// startPprof serves net/http/pprof on the loopback address in PprofEnv.
func startPprof(log *slog.Logger) {
	addr := os.Getenv(PprofEnv)
	if addr == "" {
		return
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") && !strings.HasPrefix(addr, "localhost:") && !strings.HasPrefix(addr, "[::1]:") {
		log.Warn("profiler not started: "+PprofEnv+" must be a loopback address", "addr", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		log.Info("profiler listening", "addr", addr)
		if err := http.ListenAndServe(addr, mux); err != nil {
			log.Warn("profiler stopped", "err", err)
		}
	}()
}

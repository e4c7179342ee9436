package app

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The layering of README.md's layout, enforced on the non-test imports of
// every package of the module (go list -deps):
//
//	main → app → handlers → services (app/clients, app/accounts, app/scopes)
//	                      → core (app/oauth) → store interfaces
//	models implements the core's interfaces; views are rendered by handlers.

// modulePath prefixes the module's own packages in the rules.
const modulePath = "github.com/gatehouse/gatehouse/"

// archRule forbids the packages matching From to depend, directly or
// through other packages, on any package matching one of Forbid. Patterns
// are import paths; "x/..." matches x and every package below it; a
// leading "@/" stands for the module path.
type archRule struct {
	From   []string
	Forbid []string
}

var archRules = []archRule{
	{ // the protocol core: no HTTP framework, no ORM, no storage, no pages
		From: []string{"@/app/oauth/..."},
		Forbid: []string{
			"github.com/gofiber/fiber/...", "github.com/valyala/fasthttp/...",
			"gorm.io/...", "github.com/redis/go-redis/...",
			"@/handlers/...", "@/models/...", "@/views/...",
			"@/app/throttle/...", "@/app/settings/...", "@/app/cache/...",
		},
	},
	{ // the store does not know who calls it
		From:   []string{"@/models/..."},
		Forbid: []string{"@/handlers/...", "@/views/..."},
	},
	{ // pages get their data from handlers
		From:   []string{"@/views/..."},
		Forbid: []string{"@/handlers/...", "@/models/..."},
	},
	{ // services serve handlers, the CLI and apply alike
		From:   []string{"@/app/clients/...", "@/app/accounts/...", "@/app/scopes/..."},
		Forbid: []string{"github.com/gofiber/fiber/...", "github.com/valyala/fasthttp/...", "@/handlers/...", "@/views/..."},
	},
}

// archPending are rules (From pattern → forbidden pattern) known to be
// broken today and being worked on (issue 15). A pending rule that holds
// fails the test, so that it is removed from this list and enforced.
var archPending = map[string]bool{}

// goPackage is what the test reads of `go list -json`.
type goPackage struct {
	ImportPath string
	Imports    []string
}

// listPackages returns the module's packages and all their dependencies,
// by import path.
func listPackages(t *testing.T) map[string]goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports", modulePath+"...")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// matchPattern reports whether the import path matches pattern (see
// archRule).
func matchPattern(pattern, path string) bool {
	pattern = expandPattern(pattern)
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return path == pattern
}

func expandPattern(pattern string) string {
	if rest, ok := strings.CutPrefix(pattern, "@/"); ok {
		return modulePath + rest
	}
	return pattern
}

// importChain returns the shortest chain of imports from the package from
// to a package matching forbid (breadth-first over Imports), or nil.
func importChain(pkgs map[string]goPackage, from, forbid string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur != from && matchPattern(forbid, cur) {
			var chain []string
			for p := cur; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, imp := range pkgs[cur].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// shortChain drops the module path from a chain, for reading.
func shortChain(chain []string) string {
	short := make([]string, len(chain))
	for i, p := range chain {
		short[i] = strings.TrimPrefix(p, modulePath)
	}
	return strings.Join(short, " → ")
}

// TestArchitecture fails when a package imports, directly or not, what
// its layer must not (archRules), naming the chain of imports; and when a
// rule listed in archPending holds (so that the list does not go stale).
func TestArchitecture(t *testing.T) {
	pkgs := listPackages(t)
	var own []string
	for path := range pkgs {
		if strings.HasPrefix(path, modulePath) {
			own = append(own, path)
		}
	}
	slices.Sort(own)

	known := map[string]bool{}
	for _, r := range archRules {
		var from []string
		for _, path := range own {
			if slices.ContainsFunc(r.From, func(p string) bool { return matchPattern(p, path) }) {
				from = append(from, path)
			}
		}
		if len(from) == 0 {
			t.Errorf("rule for %v matches no package of the module", r.From)
		}
		for _, fromPattern := range r.From {
			for _, forbid := range r.Forbid {
				key := fromPattern + " → " + forbid
				known[key] = true
				var violations []string
				for _, path := range from {
					if !matchPattern(fromPattern, path) {
						continue
					}
					if chain := importChain(pkgs, path, forbid); chain != nil {
						violations = append(violations, shortChain(chain))
					}
				}
				switch {
				case archPending[key] && len(violations) == 0:
					t.Errorf("pending rule %q holds now: remove it from archPending", key)
				case archPending[key]:
					t.Logf("pending rule %q (issue 15), still broken: %s", key, strings.Join(violations, "; "))
				default:
					for _, v := range violations {
						t.Errorf("%s must not depend on %s: %s", strings.TrimPrefix(fromPattern, "@/"), strings.TrimPrefix(forbid, "@/"), v)
					}
				}
			}
		}
	}
	for key := range archPending {
		if !known[key] {
			t.Errorf("archPending names %q, which is not a rule", key)
		}
	}
}

// TestArchitectureFindsChains checks the test's own machinery on a made-up
// import graph.
func TestArchitectureFindsChains(t *testing.T) {
	pkgs := map[string]goPackage{
		modulePath + "app/oauth":       {Imports: []string{"fmt", modulePath + "app/store", modulePath + "app/settings"}},
		modulePath + "app/settings":    {Imports: []string{modulePath + "app/cache"}},
		modulePath + "app/cache":       {Imports: []string{"github.com/redis/go-redis/v9"}},
		"github.com/redis/go-redis/v9": {Imports: []string{"github.com/redis/go-redis/v9/internal"}},
	}
	chain := importChain(pkgs, modulePath+"app/oauth", "github.com/redis/go-redis/...")
	if got, want := shortChain(chain), "app/oauth → app/settings → app/cache → github.com/redis/go-redis/v9"; got != want {
		t.Errorf("chain = %q, want %q", got, want)
	}
	if chain := importChain(pkgs, modulePath+"app/oauth", "gorm.io/..."); chain != nil {
		t.Errorf("chain to an absent package: %v", chain)
	}
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"@/app/oauth/...", modulePath + "app/oauth", true},
		{"@/app/oauth/...", modulePath + "app/oauth/oauthtest", true},
		{"@/app/oauth/...", modulePath + "app/oauthx", false},
		{"gorm.io/...", "gorm.io/driver/postgres", true},
		{"@/models", modulePath + "models/storetest", false},
	} {
		if got := matchPattern(c.pattern, c.path); got != c.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

// Package suitecheck checks that a conformance suite's hand-written test
// list (storetest.Tests, oauthtest.Tests) names every test function of
// its package, so that a test written but not listed cannot silently
// never run.
package suitecheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// Complete fails t unless fns (the functions of the list) are exactly the
// top-level functions named test... declared in the non-test Go files of
// dir, each listed once.
func Complete(t *testing.T, dir string, fns []any) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "test") {
				declared[fd.Name.Name] = true
			}
		}
	}
	listed := map[string]int{}
	for _, fn := range fns {
		name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
		listed[name[strings.LastIndexByte(name, '.')+1:]]++
	}
	var missing, twice []string
	for name := range declared {
		if listed[name] == 0 {
			missing = append(missing, name)
		}
	}
	for name, n := range listed {
		if n > 1 {
			twice = append(twice, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(twice)
	if len(missing) > 0 {
		t.Errorf("test functions not in the list (they never run): %s", strings.Join(missing, ", "))
	}
	if len(twice) > 0 {
		t.Errorf("listed more than once: %s", strings.Join(twice, ", "))
	}
	if len(declared) == 0 {
		t.Errorf("no test functions found in %s", dir)
	}
}

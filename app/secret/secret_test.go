package secret

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	t.Parallel()
	a, b := New("gha_"), New("gha_")
	if a == b || !strings.HasPrefix(a, "gha_") || len(a) != 4+43 {
		t.Fatalf("New gave %q and %q", a, b)
	}
	if !Equal(Digest(a), Digest(a)) || Equal(Digest(a), Digest(b)) || len(Digest(a)) != 32 {
		t.Fatal("Digest/Equal broken")
	}
	if !EqualString("x", "x") || EqualString("x", "y") || EqualString("x", "xx") {
		t.Fatal("EqualString broken")
	}
}

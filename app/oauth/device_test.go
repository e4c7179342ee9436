package oauth

import (
	"math"
	"strings"
	"testing"
)

func TestUserCodeAlphabetIsUnambiguous(t *testing.T) {
	t.Parallel()
	seen := map[rune]bool{}
	for _, r := range UserCodeAlphabet {
		if seen[r] {
			t.Errorf("%q appears twice", r)
		}
		seen[r] = true
		if r < 'A' || r > 'Z' {
			t.Errorf("%q is not an upper-case letter", r)
		}
	}
	// No vowels (no words), no digits, no O or I (read as 0 and 1).
	for _, bad := range "AEIOUY0123456789" {
		if seen[bad] {
			t.Errorf("%q in the alphabet", bad)
		}
	}
	bits := float64(UserCodeLength) * math.Log2(float64(len(UserCodeAlphabet)))
	if bits < 34 {
		t.Errorf("user codes carry %.1f bits, want at least 34", bits)
	}
}

func TestNewUserCode(t *testing.T) {
	t.Parallel()
	const n = 4000
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range n {
		c := NewUserCode()
		if len(c) != UserCodeLength {
			t.Fatalf("code %q has length %d", c, len(c))
		}
		for _, r := range c {
			if !strings.ContainsRune(UserCodeAlphabet, r) {
				t.Fatalf("code %q has %q, not in the alphabet", c, r)
			}
			counts[r]++
		}
		if seen[c] {
			t.Fatalf("code %q generated twice in %d", c, n)
		}
		seen[c] = true
		if got, ok := NormalizeUserCode(FormatUserCode(c)); !ok || got != c {
			t.Fatalf("NormalizeUserCode(FormatUserCode(%q)) = %q %v", c, got, ok)
		}
	}
	// Every character is used, roughly equally (expected 1600 each; a
	// biased draw, e.g. byte % 20 without rejection, skews the first 16
	// characters by 6%; this only catches gross bias).
	want := float64(n*UserCodeLength) / float64(len(UserCodeAlphabet))
	for _, r := range UserCodeAlphabet {
		if got := float64(counts[r]); math.Abs(got-want) > want*0.2 {
			t.Errorf("%q drawn %v times, want about %v", r, got, want)
		}
	}
}

func TestFormatUserCode(t *testing.T) {
	t.Parallel()
	if got := FormatUserCode("BCDFGHJK"); got != "BCDF-GHJK" {
		t.Errorf("FormatUserCode = %q", got)
	}
	if got := FormatUserCode("BCD"); got != "BCD" {
		t.Errorf("FormatUserCode of a short code = %q", got)
	}
}

func TestNormalizeUserCode(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"BCDF-GHJK", "bcdf-ghjk", "BcDf GhJk", " bcdfghjk ", "BCDF–GHJK", "BC-DF-GH-JK", "bcdf.ghjk", "BCDF\u00a0GHJK", "\tBCDF-GHJK\n",
	} {
		if got, ok := NormalizeUserCode(in); !ok || got != "BCDFGHJK" {
			t.Errorf("NormalizeUserCode(%q) = %q %v, want BCDFGHJK", in, got, ok)
		}
	}
	for _, in := range []string{
		"", "BCDF", "BCDF-GHJ", "BCDF-GHJKL", "BCDF-GHJA", // wrong length, vowel
		"BCDF-GHJ0", "BCDF-GHJ1", "BCDF/GHJK", "ВCDF-GHJK", // digit, slash, Cyrillic В
		"BCDF-GHJK'--", strings.Repeat("B", 100), strings.Repeat("-", 70) + "BCDFGHJK",
	} {
		if got, ok := NormalizeUserCode(in); ok {
			t.Errorf("NormalizeUserCode(%q) accepted as %q", in, got)
		}
	}
}

func TestUserCodeDigest(t *testing.T) {
	t.Parallel()
	a, b := UserCodeDigest("BCDFGHJK"), UserCodeDigest("BCDFGHJL")
	if len(a) != 64 || a == b || strings.Contains(a, "BCDF") {
		t.Fatalf("digests %q %q", a, b)
	}
	if UserCodeDigest("BCDFGHJK") != a {
		t.Fatal("digest not deterministic")
	}
}

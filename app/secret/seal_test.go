package secret

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealer(t *testing.T) {
	t.Parallel()
	s := NewSealer("correct horse battery staple, thirty-two+", "app-secret")
	plain := []byte("session key material")
	sealed := s.Seal(plain, []byte("name a"))
	if bytes.Contains(sealed, plain) {
		t.Fatal("the sealed value contains the plaintext")
	}
	if again := s.Seal(plain, []byte("name a")); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	got, err := s.Open(sealed, []byte("name a"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for name, c := range map[string]struct {
		s      *Sealer
		sealed []byte
		ad     string
	}{
		"other row":     {s, sealed, "name b"},
		"other secret":  {NewSealer("another secret, also thirty-two bytes long", "app-secret"), sealed, "name a"},
		"other purpose": {NewSealer("correct horse battery staple, thirty-two+", "signing-key"), sealed, "name a"},
		"plaintext":     {s, plain, "name a"},
		"truncated":     {s, sealed[:10], "name a"},
		"tampered":      {s, append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "name a"},
	} {
		if _, err := c.s.Open(c.sealed, []byte(c.ad)); !errors.Is(err, ErrUnsealable) {
			t.Errorf("%s: Open err = %v, want ErrUnsealable", name, err)
		}
	}
}

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

// A client secret is sealed with purpose "client-secret" and the client
// ID as additional data (the form the clients service writes and the
// model reads): it opens for its client only, under its key secret only.
func TestClientSecretSealer(t *testing.T) {
	t.Parallel()
	c := NewClientSecretSealer("key secret")
	sealed := c.Seal("client-a", "s3cret")
	if got, err := c.Open("client-a", sealed); err != nil || string(got) != "s3cret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := c.Open("client-b", sealed); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("another client: %v", err)
	}
	if _, err := NewClientSecretSealer("other").Open("client-a", sealed); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("another key secret: %v", err)
	}
	// The same as NewSealer(keySecret, "client-secret") with the client ID.
	if got, err := NewSealer("key secret", "client-secret").Open(sealed, []byte("client-a")); err != nil || string(got) != "s3cret" {
		t.Fatalf("generic sealer: %q %v", got, err)
	}
}

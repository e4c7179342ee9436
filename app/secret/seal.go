package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// Sealer encrypts values kept at rest in the database (signing keys'
// private parts, session keys) with AES-256-GCM under a key derived from
// the operator's key secret (GATEHOUSE_KEY_SECRET) by HKDF-SHA256. Each
// purpose derives its own key. A sealed value is
// version || nonce || ciphertext, and callers bind it to its row with
// additional data (a key ID, a secret's name) so that it cannot be moved
// to another row. A Sealer is safe for concurrent use.
type Sealer struct{ aead cipher.AEAD }

// sealVersion is the first byte of a sealed value.
const sealVersion = 1

// NewSealer derives the key for purpose (e.g. "signing-key") from
// keySecret: HKDF-SHA256 with salt "gatehouse" and info
// "gatehouse <purpose> encryption v1".
func NewSealer(keySecret, purpose string) *Sealer {
	key, err := hkdf.Key(sha256.New, []byte(keySecret), []byte("gatehouse"), "gatehouse "+purpose+" encryption v1", 32)
	if err != nil {
		panic("secret: hkdf: " + err.Error()) // only for lengths hkdf cannot give
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("secret: aes: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("secret: gcm: " + err.Error())
	}
	return &Sealer{aead: aead}
}

// Seal encrypts plain, bound to additionalData.
func (s *Sealer) Seal(plain, additionalData []byte) []byte {
	n := s.aead.NonceSize()
	out := make([]byte, 1+n, 1+n+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:]) // crypto/rand.Read never fails
	return s.aead.Seal(out, out[1:], plain, additionalData)
}

// ErrUnsealable is returned by Open for a value that was not sealed with
// this key secret and additional data, or is not a sealed value at all.
var ErrUnsealable = errors.New("not sealed with this key secret")

// Open decrypts a value made by Seal with the same additional data.
func (s *Sealer) Open(sealed, additionalData []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrUnsealable
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], additionalData)
	if err != nil {
		return nil, ErrUnsealable
	}
	return plain, nil
}

// ClientSecretSealer seals the client secrets that must be kept usable as
// keys (client_secret_jwt: the secret is the HMAC key of the client's
// assertions), in clients.secret_sealed: purpose "client-secret",
// additional data the client ID, so that a sealed secret cannot be moved
// to another client.
type ClientSecretSealer struct{ s *Sealer }

// NewClientSecretSealer derives the client secret key from keySecret
// (GATEHOUSE_KEY_SECRET).
func NewClientSecretSealer(keySecret string) *ClientSecretSealer {
	return &ClientSecretSealer{s: NewSealer(keySecret, "client-secret")}
}

// Seal encrypts the secret of clientID.
func (c *ClientSecretSealer) Seal(clientID, plain string) []byte {
	return c.s.Seal([]byte(plain), []byte(clientID))
}

// Open decrypts the sealed secret of clientID (ErrUnsealable when it was
// sealed under another key secret or for another client).
func (c *ClientSecretSealer) Open(clientID string, sealed []byte) ([]byte, error) {
	return c.s.Open(sealed, []byte(clientID))
}

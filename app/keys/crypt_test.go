package keys

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/database/dbtest"
	"github.com/gatehouse/gatehouse/models"
)

// TestEncryptedAtRest: with a secret, the stored bytes are not the DER
// key; without the secret, or with another, start-up fails with a clear
// error; Rotate still replaces such keys.
func TestEncryptedAtRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, st *models.Store) {
		ctx := context.Background()
		c := newClock()
		m := newManager(st, c, secretA)
		mustEnsure(t, m)
		tok := sign(t, m, map[string]string{"sub": "1"}, "JWT")
		rows, err := st.ListSigningKeys(ctx)
		if err != nil || len(rows) != 2 {
			t.Fatalf("rows: %v %v", rows, err)
		}
		for _, r := range rows {
			if !r.Encrypted {
				t.Fatalf("key %s stored unencrypted", r.KID)
			}
			if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKey); err == nil {
				t.Fatalf("key %s: the stored bytes are a PKCS#8 key", r.KID)
			}
			der, err := m.decrypt(r.KID, r.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(r.PrivateKey, der[len(der)-64:]) {
				t.Fatalf("key %s: the stored bytes contain the DER key", r.KID)
			}
			if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
				t.Fatalf("key %s: decrypted bytes are not PKCS#8: %v", r.KID, err)
			}
			if strings.Contains(r.PublicJWK, `"d"`) {
				t.Fatalf("public JWK holds the private exponent")
			}
		}

		// The same secret on another instance works.
		m2 := newManager(st, c, secretA)
		mustEnsure(t, m2)
		if _, err := m2.Verify(ctx, tok, "JWT"); err != nil {
			t.Fatal(err)
		}
		if h := header(t, sign(t, m2, map[string]string{}, "JWT")); h["kid"] != header(t, tok)["kid"] {
			t.Fatal("another instance signs with another key")
		}

		// No secret: a clear error, no panic.
		err = newManager(st, c, "").Ensure(ctx)
		if !errors.Is(err, ErrSecretRequired) || !strings.Contains(err.Error(), "GATEHOUSE_KEY_SECRET") || !strings.Contains(err.Error(), rows[0].KID) {
			t.Fatalf("Ensure without the secret: %v", err)
		}
		// A wrong secret: a clear error naming the way out.
		err = newManager(st, c, secretB).Ensure(ctx)
		if !errors.Is(err, ErrWrongSecret) || !strings.Contains(err.Error(), "gatehouse keys rotate") {
			t.Fatalf("Ensure with a wrong secret: %v", err)
		}
		if strings.Contains(err.Error(), secretB) || strings.Contains(err.Error(), secretA) {
			t.Fatal("the error shows a secret")
		}

		// The lost-secret recovery: rotate with the new secret, then
		// start. Old tokens stay valid (public parts need no secret).
		mb := newManager(st, c, secretB)
		if _, err := mb.Rotate(ctx); err != nil {
			t.Fatalf("Rotate with another secret: %v", err)
		}
		mustEnsure(t, mb)
		if _, err := mb.Verify(ctx, tok, "JWT"); err != nil {
			t.Fatalf("old token after recovery: %v", err)
		}
		if _, err := mb.Sign(ctx, map[string]string{}, "JWT"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEncryptionBindsRow: a ciphertext moved to another key's row, or
// altered, does not decrypt.
func TestEncryptionBindsRow(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	c := newClock()
	m := newManager(st, c, secretA)
	mustEnsure(t, m)
	rows, _ := st.ListSigningKeys(ctx)
	if _, err := m.decrypt(rows[1].KID, rows[0].PrivateKey); err == nil {
		t.Fatal("a ciphertext decrypts under another key ID")
	}
	cur := rows[0]
	if cur.Alg != RS256 {
		cur = rows[1]
	}
	if err := st.UpdateSigningKey(ctx, cur.KID, func(k *models.SigningKey) error {
		k.PrivateKey[len(k.PrivateKey)-1] ^= 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := newManager(st, c, secretA).Ensure(ctx); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("altered ciphertext: %v", err)
	}
}

// TestPlaintextKeyWithSecret: keys stored before a secret was configured
// keep working; keys made afterwards are encrypted.
func TestPlaintextKeyWithSecret(t *testing.T) {
	st := models.New(dbtest.SQLite(t))
	ctx := context.Background()
	c := newClock()
	plain := newManager(st, c, "")
	mustEnsure(t, plain)
	tok := sign(t, plain, map[string]string{}, "JWT")
	rows, _ := st.ListSigningKeys(ctx)
	for _, r := range rows {
		if r.Encrypted {
			t.Fatal("key encrypted without a secret")
		}
		if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKey); err != nil {
			t.Fatalf("unencrypted key is not PKCS#8: %v", err)
		}
	}
	enc := newManager(st, c, secretA)
	mustEnsure(t, enc)
	if h := header(t, sign(t, enc, map[string]string{}, "JWT")); h["kid"] != header(t, tok)["kid"] {
		t.Fatal("plaintext key not used once a secret is set")
	}
	if _, err := enc.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ := enc.List(ctx)
	if !list[0].Encrypted || !list[1].Encrypted || list[2].Encrypted {
		t.Fatalf("after rotation: %+v", list)
	}
	if _, err := enc.Verify(ctx, tok, "JWT"); err != nil {
		t.Fatal(err)
	}
}

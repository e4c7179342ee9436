package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/models"
)

func testSecret(t *testing.T, s *models.Store) {
	ctx := t.Context()
	calls := 0
	gen := func() ([]byte, error) { calls++; return []byte(fmt.Sprint("value-", calls)), nil }
	v1, err := s.GetOrCreateSecret(ctx, "session", gen)
	ok(t, err)
	v2, err := s.GetOrCreateSecret(ctx, "session", gen)
	ok(t, err)
	eq(t, "value", v2, v1)
	eq(t, "generate calls", calls, 1)
	v3, err := s.GetOrCreateSecret(ctx, "csrf", gen)
	ok(t, err)
	eq(t, "other secret", string(v3), "value-2")

	boom := errors.New("boom")
	_, err = s.GetOrCreateSecret(ctx, "broken", func() ([]byte, error) { return nil, boom })
	isErr(t, err, boom)
	if _, err := s.GetOrCreateSecret(ctx, "empty", func() ([]byte, error) { return nil, nil }); err == nil {
		t.Error("an empty secret was accepted")
	}
	eq(t, "secrets stored", count(t, s, "app_secrets", ""), int64(2))
}

func testSecretConcurrent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	const n = 20
	values := make([][]byte, n)
	errs := oauthtest.Concurrently(n, func(i int) error {
		var err error
		values[i], err = s.GetOrCreateSecret(ctx, "session", func() ([]byte, error) {
			return []byte(fmt.Sprintf("value of instance %d", i)), nil
		})
		return err
	})
	for i, err := range errs {
		ok(t, err)
		eq(t, fmt.Sprintf("value of caller %d", i), values[i], values[0])
	}
}

// storedSecret reads an app secret's row as it is in the database.
func storedSecret(t *testing.T, s *models.Store, name string) (value []byte, encrypted bool) {
	t.Helper()
	var row models.AppSecret
	ok(t, s.DB().WithContext(t.Context()).Where("name = ?", name).Take(&row).Error)
	return row.Value, row.Encrypted
}

func testSecretEncrypted(t *testing.T, s *models.Store) {
	ctx := t.Context()
	const keySecret = "a key secret of at least thirty-two bytes"
	// Stored before a key secret was configured: plaintext.
	plain, err := s.GetOrCreateSecret(ctx, "old", func() ([]byte, error) { return []byte("old plaintext value"), nil })
	ok(t, err)
	if v, enc := storedSecret(t, s, "old"); enc || string(v) != "old plaintext value" {
		t.Fatalf("without a key secret: stored %q (encrypted %v)", v, enc)
	}

	s.SetKeySecret(keySecret)
	if !s.EncryptingSecrets() {
		t.Fatal("EncryptingSecrets is false with a key secret")
	}
	// A new secret is stored sealed; the caller gets the plaintext.
	fresh, err := s.GetOrCreateSecret(ctx, "new", func() ([]byte, error) { return []byte("new value"), nil })
	ok(t, err)
	eq(t, "new secret", string(fresh), "new value")
	if v, enc := storedSecret(t, s, "new"); !enc || bytes.Contains(v, []byte("new value")) {
		t.Errorf("new secret stored as %q (encrypted %v), want sealed", v, enc)
	}
	// The old plaintext one is encrypted in place on first read, same value.
	again, err := s.GetOrCreateSecret(ctx, "old", nil)
	ok(t, err)
	eq(t, "old secret after encryption", again, plain)
	if v, enc := storedSecret(t, s, "old"); !enc || bytes.Contains(v, plain) {
		t.Errorf("old secret stored as %q (encrypted %v) after a read with a key secret", v, enc)
	}
	again, err = s.GetOrCreateSecret(ctx, "old", nil)
	ok(t, err)
	eq(t, "old secret read again", again, plain)

	// A sealed row cannot be moved to another name.
	sealedNew, _ := storedSecret(t, s, "new")
	ok(t, s.DB().WithContext(ctx).Model(&models.AppSecret{}).Where("name = ?", "old").Update("value", sealedNew).Error)
	if _, err := s.GetOrCreateSecret(ctx, "old", nil); err == nil {
		t.Error("a sealed value moved to another row was accepted")
	}

	// Without the key secret, or with another one, it cannot be read.
	s.SetKeySecret("")
	if _, err := s.GetOrCreateSecret(ctx, "new", nil); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_KEY_SECRET") {
		t.Errorf("encrypted secret without a key secret: err = %v", err)
	}
	s.SetKeySecret("another key secret, also thirty-two bytes")
	if _, err := s.GetOrCreateSecret(ctx, "new", nil); err == nil || !strings.Contains(err.Error(), "cannot be decrypted") {
		t.Errorf("encrypted secret with another key secret: err = %v", err)
	}
}

func testSecretReplace(t *testing.T, s *models.Store) {
	ctx := t.Context()
	s.SetKeySecret("a key secret of at least thirty-two bytes")
	old, err := s.GetOrCreateSecret(ctx, "session_hash_key", func() ([]byte, error) { return []byte("old key"), nil })
	ok(t, err)
	u := newUser(t, s, "alice")
	for _, id := range []string{"s1", "s2"} {
		ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha(id), SID: "sid-" + id, UserID: &u.ID, Data: []byte("x"), ExpiresAt: now().Add(time.Hour)}))
	}
	// s1's client is told, and its grant revoked, as on any other end.
	newClient(t, s, "rp-rot", nil, func(c *models.Client) { c.BackchannelLogoutURI = "https://rp.example/bc" })
	tk := newToken("rot-at", models.TokenAccess, "rp-rot", &u.ID, "f-rot", now().Add(time.Hour))
	tk.SID = "sid-s1"
	ok(t, s.CreateTokens(ctx, tk))
	ok(t, s.RecordSessionClient(ctx, "sid-s1", "rp-rot"))
	n, err := s.ReplaceSecrets(ctx, map[string][]byte{"session_hash_key": []byte("new key"), "session_block_key": []byte("new block")})
	ok(t, err)
	eq(t, "sessions ended", n, int64(2))
	eq(t, "web sessions left", count(t, s, "web_sessions", ""), int64(0))
	eq(t, "back-channel logouts queued", count(t, s, "logout_deliveries", "client_id = 'rp-rot' AND sid = 'sid-s1'"), int64(1))
	eq(t, "session clients left", count(t, s, "session_clients", ""), int64(0))
	revoked, err := s.FamilyRevoked(ctx, "f-rot")
	ok(t, err)
	eq(t, "the session's grant revoked", revoked, true)
	got, err := s.GetOrCreateSecret(ctx, "session_hash_key", nil)
	ok(t, err)
	if string(got) == string(old) || string(got) != "new key" {
		t.Errorf("after ReplaceSecrets: %q", got)
	}
	got, err = s.GetOrCreateSecret(ctx, "session_block_key", nil)
	ok(t, err)
	eq(t, "created by ReplaceSecrets", string(got), "new block")
	for _, name := range []string{"session_hash_key", "session_block_key"} {
		if v, enc := storedSecret(t, s, name); !enc || bytes.Contains(v, []byte("new")) {
			t.Errorf("%s stored as %q (encrypted %v)", name, v, enc)
		}
	}
	if _, err := s.ReplaceSecrets(ctx, map[string][]byte{"x": nil}); err == nil {
		t.Error("an empty replacement was accepted")
	}
}

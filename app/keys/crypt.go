package keys

import (
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/gatehouse/gatehouse/models"
)

// Stored encrypted keys are sealed (app/secret.Sealer, purpose
// "signing-key": version || nonce || AES-256-GCM(PKCS#8 DER)), with the key
// ID as additional data so that a ciphertext cannot be moved to another row.

// Encrypting reports whether new keys are stored encrypted (a key secret
// is configured).
func (m *Manager) Encrypting() bool { return m.sealer != nil }

func additionalData(kid string) []byte { return []byte("gatehouse signing key " + kid) }

func (m *Manager) encrypt(kid string, der []byte) []byte {
	return m.sealer.Seal(der, additionalData(kid))
}

func (m *Manager) decrypt(kid string, stored []byte) ([]byte, error) {
	return m.sealer.Open(stored, additionalData(kid))
}

// parsePrivate decrypts and parses a current key, reusing prev's parse of
// the same stored bytes.
func (m *Manager) parsePrivate(r *models.SigningKey, prev *keySet) (*privateKey, error) {
	if prev != nil {
		if pk := prev.current[r.Alg]; pk != nil && pk.kid == r.KID && string(pk.stored) == string(r.PrivateKey) {
			return pk, nil
		}
	}
	der := r.PrivateKey
	if r.Encrypted {
		if m.sealer == nil {
			return nil, &keyError{ErrSecretRequired, fmt.Sprintf("signing key %s (%s) is stored encrypted, but no key secret is configured: "+
				"set GATEHOUSE_KEY_SECRET (or --key-secret, or key_secret in the config file) to the secret it was stored with", r.KID, r.Alg)}
		}
		var err error
		if der, err = m.decrypt(r.KID, r.PrivateKey); err != nil {
			return nil, &keyError{ErrWrongSecret, fmt.Sprintf("signing key %s (%s) cannot be decrypted with the configured key secret (GATEHOUSE_KEY_SECRET): "+
				"it was stored with another one. Configure that secret, or run \"gatehouse keys rotate\" to make new keys (tokens signed with the old ones stay valid)", r.KID, r.Alg)}
		}
		defer clear(der)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: private key: %w", r.KID, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s: private key of type %T", r.KID, k)
	}
	if err := checkKeyAlg(signer.Public(), r.Alg); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.KID, err)
	}
	if kid, err := thumbprint(signer.Public()); err != nil || kid != r.KID {
		return nil, fmt.Errorf("signing key %s: the private key does not match the key ID", r.KID)
	}
	return &privateKey{kid: r.KID, alg: r.Alg, key: signer, stored: r.PrivateKey}, nil
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/database"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/models"
)

// fixture is what the seeding stored: one confidential client, one
// private_key_jwt client (and its private key), one user, and plaintexts
// of tokens and codes stored through the store.
type fixture struct {
	clientID, secret string
	// pkjID is a client_credentials client that authenticates with
	// private_key_jwt (ES256, key pkjKey with kid "bench").
	pkjID   string
	pkjKey  *ecdsa.PrivateKey
	userID  int64
	access  []string   // user access tokens with user.read
	refresh [][]string // per worker: unused refresh tokens
	codes   []string   // unredeemed authorization codes
	db      *gorm.DB
	st      *models.Store
}

func openStore(dbURL string) (*gorm.DB, *models.Store, error) {
	target, err := database.ParseURL(dbURL)
	if err != nil {
		return nil, nil, err
	}
	db, err := database.Open(target, database.Options{MaxOpenConns: 4})
	if err != nil {
		return nil, nil, err
	}
	return db, models.New(db), nil
}

// seed creates the client and user and stores nAccess access tokens,
// refresh tokens for conns workers and nCodes codes.
func seed(ctx context.Context, dbURL string, nAccess, conns, nCodes int) (*fixture, error) {
	db, st, err := openStore(dbURL)
	if err != nil {
		return nil, err
	}
	f := &fixture{db: db, st: st}
	u, errs, err := accounts.Create(ctx, st, accounts.Input{Username: "bench", Password: "bench password 12345", Role: models.RoleUser})
	if err != nil {
		return nil, fmt.Errorf("user: %v %v", err, errs)
	}
	f.userID = u.ID
	c, sec, cerrs, err := clients.Create(ctx, st, clients.Input{Name: "Bench", RedirectURIs: []string{"http://127.0.0.1:9/cb"},
		GrantTypes: []string{oauth.GrantClientCredentials, oauth.GrantRefreshToken, oauth.GrantAuthorizationCode}}, nil)
	if err != nil {
		return nil, fmt.Errorf("client: %v %v", err, cerrs)
	}
	f.clientID, f.secret = c.ClientID, sec
	if f.pkjKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: f.pkjKey.Public(), KeyID: "bench", Use: "sig"}}})
	if err != nil {
		return nil, err
	}
	pkj, _, perrs, err := clients.Create(ctx, st, clients.Input{Name: "Bench private_key_jwt", GrantTypes: []string{oauth.GrantClientCredentials},
		TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKS: string(jwks)}, nil)
	if err != nil {
		return nil, fmt.Errorf("private_key_jwt client: %v %v", err, perrs)
	}
	f.pkjID = pkj.ClientID
	if err := f.addAccess(ctx, nAccess); err != nil {
		return nil, err
	}
	f.refresh = make([][]string, conns)
	var rows []*models.Token
	now := time.Now().UTC()
	gen := oauth.RandomGenerator{}
	for w := range f.refresh {
		for i := 0; i < 64; i++ {
			p := gen.RefreshToken()
			f.refresh[w] = append(f.refresh[w], p)
			rows = append(rows, f.tokenRow(p, models.TokenRefresh, now))
		}
	}
	if err := insertBatches(db, rows); err != nil {
		return nil, err
	}
	return f, f.addCodes(ctx, nCodes)
}

func (f *fixture) tokenRow(plain, kind string, now time.Time) *models.Token {
	uid := f.userID
	return &models.Token{TokenHash: secret.Digest(plain), Kind: kind, ClientID: f.clientID, UserID: &uid, Scope: "user.read",
		FamilyID: "seed-" + plain[4:14], AuthTime: &now, ExpiresAt: now.Add(24 * time.Hour), CreatedAt: now}
}

func (f *fixture) addAccess(ctx context.Context, n int) error {
	now := time.Now().UTC()
	gen := oauth.RandomGenerator{}
	rows := make([]*models.Token, 0, n)
	for i := 0; i < n; i++ {
		p := gen.AccessToken()
		f.access = append(f.access, p)
		rows = append(rows, f.tokenRow(p, models.TokenAccess, now))
	}
	return insertBatches(f.db, rows)
}

// addCodes stores n fresh codes (valid for an hour: the bench redeems
// them within minutes).
func (f *fixture) addCodes(ctx context.Context, n int) error {
	now := time.Now().UTC()
	gen := oauth.RandomGenerator{}
	f.codes = f.codes[:0]
	rows := make([]*models.AuthorizationCode, 0, n)
	for i := 0; i < n; i++ {
		p := gen.AuthorizationCode()
		f.codes = append(f.codes, p)
		rows = append(rows, &models.AuthorizationCode{CodeHash: secret.Digest(p), ClientID: f.clientID, UserID: f.userID, Scope: "user.read",
			FamilyID: "code-" + p[4:16], AuthTime: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now})
	}
	return insertBatches(f.db, rows)
}

func insertBatches[T any](db *gorm.DB, rows []*T) error {
	if len(rows) == 0 {
		return nil
	}
	return db.Transaction(func(tx *gorm.DB) error { return tx.CreateInBatches(rows, 1000).Error })
}

// topUp adds filler tokens (random hashes nobody knows, same client and
// user, valid for a day) until the tokens table holds total rows. The rows
// are made by the database itself in one statement.
func (f *fixture) topUp(ctx context.Context, total int64) (int64, error) {
	var n int64
	if err := f.db.WithContext(ctx).Model(&models.Token{}).Count(&n).Error; err != nil {
		return 0, err
	}
	missing := total - n
	if missing <= 0 {
		return n, nil
	}
	now := time.Now().UTC()
	exp := now.Add(24 * time.Hour)
	var q string
	if f.st.Dialect() == models.DialectPostgres {
		q = `INSERT INTO tokens (token_hash, kind, client_id, user_id, scope, family_id, expires_at, created_at)
			SELECT sha256(convert_to(gen_random_uuid()::text || g::text, 'UTF8')), 'access', ?, ?, 'user.read', 'filler-' || (g % 100000), ?, ?
			FROM generate_series(1, ?) g`
	} else {
		q = `WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < ?)
			INSERT INTO tokens (token_hash, kind, client_id, user_id, scope, family_id, expires_at, created_at)
			SELECT randomblob(32), 'access', ?, ?, 'user.read', 'filler-' || (g % 100000), ?, ? FROM c`
	}
	var err error
	if f.st.Dialect() == models.DialectPostgres {
		err = f.db.WithContext(ctx).Exec(q, f.clientID, f.userID, exp, now, missing).Error
	} else {
		err = f.db.WithContext(ctx).Exec(q, missing, f.clientID, f.userID, exp, now).Error
	}
	if err != nil {
		return 0, err
	}
	if f.st.Dialect() == models.DialectPostgres {
		f.db.Exec("ANALYZE tokens")
	} else {
		f.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	return total, nil
}

func (f *fixture) close() {
	if sqlDB, err := f.db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

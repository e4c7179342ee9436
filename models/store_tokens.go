package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm/clause"

	"github.com/gatehouse/gatehouse/app/store"
)

func (c *AuthorizationCode) normalize() {
	c.AuthTime = ts(c.AuthTime)
	c.ExpiresAt = ts(c.ExpiresAt)
	c.RedeemedAt = tsp(c.RedeemedAt)
	c.CreatedAt = ts(c.CreatedAt)
}

// CreateAuthorizationCode inserts c and sets its ID; CreatedAt is set to
// now when zero. A code hash that exists gives ErrAlreadyExists.
func (s *Store) CreateAuthorizationCode(ctx context.Context, c *AuthorizationCode) error {
	c.CreatedAt = s.orNow(c.CreatedAt)
	c.normalize()
	if c.SID == "" {
		return wrapErr(s.conn(ctx).Create(c).Error, "authorization code")
	}
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.conn(ctx).Create(c).Error; err != nil {
			return wrapErr(err, "authorization code")
		}
		return tx.RecordSessionClient(ctx, c.SID, c.ClientID)
	})
}

// RecordSessionClient records that browser session sid issued a code or
// tokens to clientID (once; again is a no-op).
func (s *Store) RecordSessionClient(ctx context.Context, sid, clientID string) error {
	err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&SessionClient{SID: sid, ClientID: clientID, CreatedAt: s.now()}).Error
	return wrapErr(err, "session client")
}

// DeleteOrphanSessionClients deletes the records of sessions that no
// longer exist (expired and swept), made before before, and returns how
// many it deleted.
func (s *Store) DeleteOrphanSessionClients(ctx context.Context, before time.Time) (int64, error) {
	res := s.conn(ctx).Where("created_at < ? AND NOT EXISTS (SELECT 1 FROM web_sessions w WHERE w.sid = session_clients.sid)", ts(before)).
		Delete(&SessionClient{})
	return res.RowsAffected, wrapErr(res.Error, "delete orphan session clients")
}

// GetAuthorizationCode returns the code with that hash, redeemed or not,
// or ErrNotFound.
func (s *Store) GetAuthorizationCode(ctx context.Context, hash []byte) (*AuthorizationCode, error) {
	var c AuthorizationCode
	if err := s.conn(ctx).Where("code_hash = ?", hash).Take(&c).Error; err != nil {
		return nil, wrapErr(err, "authorization code")
	}
	c.normalize()
	return &c, nil
}

// RedeemAuthorizationCode marks the code redeemed at now, atomically: of
// several concurrent calls exactly one succeeds. It returns ErrNotFound for
// an unknown code, and the code together with ErrConflict when it was
// redeemed before (the caller then revokes the tokens of its family).
// Expiry is not checked.
func (s *Store) RedeemAuthorizationCode(ctx context.Context, hash []byte, now time.Time) (*AuthorizationCode, error) {
	var c AuthorizationCode
	res := s.conn(ctx).Model(&c).Clauses(clause.Returning{}).
		Where("code_hash = ? AND redeemed_at IS NULL", hash).
		Update("redeemed_at", ts(now))
	if res.Error != nil {
		return nil, wrapErr(res.Error, "redeem authorization code")
	}
	if res.RowsAffected == 1 {
		c.normalize()
		return &c, nil
	}
	got, err := s.GetAuthorizationCode(ctx, hash)
	if err != nil {
		return nil, err
	}
	return got, fmt.Errorf("authorization code already redeemed: %w", store.ErrConflict)
}

func (t *Token) normalize() {
	t.AuthTime = tsp(t.AuthTime)
	t.ExpiresAt = ts(t.ExpiresAt)
	t.RotatedAt = tsp(t.RotatedAt)
	t.RevokedAt = tsp(t.RevokedAt)
	t.CreatedAt = ts(t.CreatedAt)
}

// CreateTokens inserts all the tokens in one statement and sets their IDs;
// CreatedAt is set to now when zero. A token hash that exists gives
// ErrAlreadyExists and inserts none of them. It returns once the rows are
// committed.
//
// Outside a transaction, concurrent calls are grouped (group commit): the
// tokens of every call waiting while an INSERT runs go into the next
// INSERT together, one statement and one commit for all of them. Each call
// still returns only after its own rows are durably stored; when a grouped
// INSERT fails, the calls are retried one by one so that each gets its own
// error.
func (s *Store) CreateTokens(ctx context.Context, tokens ...*Token) error {
	if len(tokens) == 0 {
		return nil
	}
	now := s.now()
	for _, t := range tokens {
		if t.CreatedAt.IsZero() {
			t.CreatedAt = now
		}
		t.normalize()
	}
	if s.tokens == nil {
		return s.insertTokens(ctx, tokens)
	}
	return s.tokens.insert(ctx, tokens)
}

// insertTokens is one INSERT of rows.
func (s *Store) insertTokens(ctx context.Context, rows []*Token) error {
	return wrapErr(s.conn(ctx).Create(rows).Error, "token")
}

// maxTokenBatch bounds the rows of one grouped INSERT (13 bound values
// each; SQLite allows 32766, PostgreSQL 65535).
const maxTokenBatch = 512

// tokenBatcher groups concurrent token inserts. It needs no goroutine of
// its own: the first caller to find it idle becomes the leader and
// inserts what is queued (its own rows and everyone's who came meanwhile);
// when it is done and more calls are waiting, the first of them leads
// the next INSERT. So a caller rarely runs more than one INSERT, an idle server
// inserts at once (no timer, no added latency), and a busy one puts many
// requests' tokens in one statement.
//
// On PostgreSQL up to two INSERTs run at once (leaders), so that one
// batch's commit (the WAL flush) overlaps the next batch's statement; on
// SQLite writes take turns anyway, so one.
type tokenBatcher struct {
	s          *Store
	mu         sync.Mutex
	leaders    int // INSERTs in flight
	maxLeaders int
	queue      []*tokenRequest
}

// newTokenBatcher returns the batcher for the store's database.
func newTokenBatcher(s *Store) *tokenBatcher {
	b := &tokenBatcher{s: s, maxLeaders: 1}
	if s.dialect == "postgres" {
		b.maxLeaders = 2
	}
	return b
}

type tokenRequest struct {
	rows []*Token
	done chan error // the result, or errLead
	// handed: told to lead (errLead sent); it may still be taken into
	// another leader's batch before it runs.
	handed bool
}

// errLead tells a waiting caller to lead the next INSERT.
var errLead = errors.New("lead the next batch")

// batchTimeout bounds one grouped INSERT: it runs for several callers, so
// it does not use any one caller's context.
const batchTimeout = 30 * time.Second

func (b *tokenBatcher) insert(ctx context.Context, rows []*Token) error {
	r := &tokenRequest{rows: rows, done: make(chan error, 2)}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	lead := b.leaders < b.maxLeaders
	if lead {
		b.leaders++
	}
	b.mu.Unlock()
	if lead {
		b.lead(ctx)
	}
	for {
		err := <-r.done
		if !errors.Is(err, errLead) {
			return err
		}
		b.lead(ctx)
	}
}

// lead inserts what is queued, then hands its turn over to the next
// waiting caller or gives it up.
func (b *tokenBatcher) lead(ctx context.Context) {
	b.mu.Lock()
	n, count := 0, 0
	for n < len(b.queue) && (n == 0 || count+len(b.queue[n].rows) <= maxTokenBatch) {
		count += len(b.queue[n].rows)
		n++
	}
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	if len(batch) > 0 {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
		b.flush(ictx, batch, count)
		cancel()
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, next := range b.queue {
		if !next.handed {
			// Still queued, so nothing was sent to it yet: this send does
			// not block (done holds two: errLead, then its result).
			next.handed = true
			next.done <- errLead
			return
		}
	}
	b.leaders--
	if len(b.queue) == 0 {
		b.queue = nil
	}
}

// flush inserts the rows of batch in one statement and tells each caller
// the result; a failed group is retried call by call.
func (b *tokenBatcher) flush(ctx context.Context, batch []*tokenRequest, count int) {
	if len(batch) == 1 {
		batch[0].done <- b.s.insertTokens(ctx, batch[0].rows)
		return
	}
	rows := make([]*Token, 0, count)
	for _, r := range batch {
		rows = append(rows, r.rows...)
	}
	if err := b.s.insertTokens(ctx, rows); err == nil {
		for _, r := range batch {
			r.done <- nil
		}
		return
	}
	for _, r := range batch {
		for _, t := range r.rows {
			t.ID = 0
		}
		r.done <- b.s.insertTokens(ctx, r.rows)
	}
}

// GetToken returns the token with that hash, whatever its state, or
// ErrNotFound.
func (s *Store) GetToken(ctx context.Context, hash []byte) (*Token, error) {
	var t Token
	if err := s.conn(ctx).Where("token_hash = ?", hash).Take(&t).Error; err != nil {
		return nil, wrapErr(err, "token")
	}
	t.normalize()
	return &t, nil
}

// RotateRefreshToken marks the refresh token rotated (used) at now,
// atomically: of several concurrent calls exactly one succeeds. It returns
// ErrNotFound when there is no refresh token with that hash, and the token
// together with ErrConflict when it was rotated or revoked before (reuse:
// the caller revokes its family). Expiry is not checked.
func (s *Store) RotateRefreshToken(ctx context.Context, hash []byte, now time.Time) (*Token, error) {
	var t Token
	res := s.conn(ctx).Model(&t).Clauses(clause.Returning{}).
		Where("token_hash = ? AND kind = ? AND rotated_at IS NULL AND revoked_at IS NULL", hash, TokenRefresh).
		Update("rotated_at", ts(now))
	if res.Error != nil {
		return nil, wrapErr(res.Error, "rotate refresh token")
	}
	if res.RowsAffected == 1 {
		t.normalize()
		return &t, nil
	}
	got, err := s.GetToken(ctx, hash)
	if err != nil {
		return nil, err
	}
	if got.Kind != TokenRefresh {
		return nil, notFound("refresh token")
	}
	return got, fmt.Errorf("refresh token already used or revoked: %w", store.ErrConflict)
}

// RevokeToken marks the token revoked at now. Revoking a revoked token is
// not an error; an unknown hash gives ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, hash []byte, now time.Time) error {
	res := s.conn(ctx).Model(&Token{}).Where("token_hash = ? AND revoked_at IS NULL", hash).Update("revoked_at", ts(now))
	if res.Error != nil {
		return wrapErr(res.Error, "revoke token")
	}
	if res.RowsAffected == 0 {
		var n int64
		if err := s.conn(ctx).Model(&Token{}).Where("token_hash = ?", hash).Count(&n).Error; err != nil {
			return wrapErr(err, "revoke token")
		}
		if n == 0 {
			return notFound("token")
		}
	}
	return nil
}

// RevokeFamily revokes every token of the family not revoked yet and
// returns how many it revoked. It first leaves a tombstone (see
// FamilyRevoked), so that tokens of the family stored concurrently can be
// caught by their writer.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) (int64, error) {
	return s.revokeFamilies(ctx, []string{familyID}, now)
}

// maxFamilyBatch bounds the families of one statement of revokeFamilies.
const maxFamilyBatch = 500

// revokeFamilies is RevokeFamily for several families: tombstones first,
// each batch committed before its tokens are revoked (so it must not run
// inside a transaction that a concurrent writer cannot see yet).
func (s *Store) revokeFamilies(ctx context.Context, familyIDs []string, now time.Time) (int64, error) {
	var revoked int64
	for len(familyIDs) > 0 {
		batch := familyIDs[:min(len(familyIDs), maxFamilyBatch)]
		familyIDs = familyIDs[len(batch):]
		stones := make([]RevokedFamily, len(batch))
		for i, id := range batch {
			stones[i] = RevokedFamily{FamilyID: id, RevokedAt: ts(now)}
		}
		if err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&stones).Error; err != nil {
			return revoked, wrapErr(err, "revoke token family")
		}
		res := s.conn(ctx).Model(&Token{}).Where("family_id IN ? AND revoked_at IS NULL", batch).Update("revoked_at", ts(now))
		if res.Error != nil {
			return revoked, wrapErr(res.Error, "revoke token family")
		}
		revoked += res.RowsAffected
	}
	return revoked, nil
}

// RevokeUserFamilies signs the user out of every app: it revokes, as
// RevokeFamily does, every token family of the user that has a live token
// (neither revoked nor expired) or an unexpired authorization code, and
// cancels what the user approved and no client has exchanged yet
// (CancelUserClientGrants, for every client). Families of codes redeemed
// just now get their tombstone too, so that the tokens their redemption
// is storing are revoked by its writer. Consents stay: apps ask the user
// again only if the consent screen would. It returns how many families
// (grants with live tokens or pending codes) it revoked.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID int64, now time.Time) (int64, error) {
	var live, fromCodes []string
	err := s.conn(ctx).Model(&Token{}).Distinct("family_id").
		Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, ts(now)).Pluck("family_id", &live).Error
	if err != nil {
		return 0, wrapErr(err, "token families of the user")
	}
	var codes []AuthorizationCode
	err = s.conn(ctx).Select("family_id", "redeemed_at").Where("user_id = ? AND expires_at > ?", userID, ts(now)).Find(&codes).Error
	if err != nil {
		return 0, wrapErr(err, "authorization codes of the user")
	}
	seen := make(map[string]bool, len(live)+len(codes))
	for _, f := range live {
		seen[f] = true
	}
	n := int64(len(live))
	for _, c := range codes {
		if seen[c.FamilyID] {
			continue
		}
		seen[c.FamilyID] = true
		if c.RedeemedAt == nil {
			n++
		}
		fromCodes = append(fromCodes, c.FamilyID)
	}
	if _, err := s.revokeFamilies(ctx, append(live, fromCodes...), now); err != nil {
		return 0, err
	}
	if _, err := s.cancelUserGrants(ctx, userID, nil); err != nil {
		return 0, err
	}
	return n, nil
}

// FamilyRevoked reports whether RevokeFamily was called for the family.
// Whoever stores tokens of a family that may be revoked concurrently (code
// redemption, refresh) checks it after storing them.
func (s *Store) FamilyRevoked(ctx context.Context, familyID string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&RevokedFamily{}).Where("family_id = ?", familyID).Limit(1).Count(&n).Error
	return n > 0, wrapErr(err, "token family")
}

// RevokeUserClientTokens revokes every token the client holds for the user
// and returns how many it revoked.
func (s *Store) RevokeUserClientTokens(ctx context.Context, userID int64, clientID string, now time.Time) (int64, error) {
	res := s.conn(ctx).Model(&Token{}).
		Where("user_id = ? AND client_id = ? AND revoked_at IS NULL", userID, clientID).
		Update("revoked_at", ts(now))
	return res.RowsAffected, wrapErr(res.Error, fmt.Sprintf("revoke tokens of client %q", clientID))
}

// DeleteExpiredTokens deletes up to batch tokens, up to batch authorization
// codes and up to batch device codes that expired before `before`, and
// returns how many rows it deleted in all. A batch of zero or less means
// 1000. Call it again while it returns a positive count to purge a
// backlog.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var total int64
	// Tombstones only matter while a concurrent writer may still check
	// them: an hour is plenty.
	res := s.conn(ctx).Where("revoked_at < ?", ts(before.Add(-time.Hour))).Delete(&RevokedFamily{})
	if res.Error != nil {
		return 0, wrapErr(res.Error, "delete revoked families")
	}
	total += res.RowsAffected
	for _, table := range []string{"tokens", "authorization_codes", "device_codes"} {
		// PostgreSQL has no DELETE ... LIMIT: select the ids instead.
		res := s.conn(ctx).Exec("DELETE FROM "+table+" WHERE id IN (SELECT id FROM "+table+" WHERE expires_at < ? LIMIT ?)",
			ts(before), batch)
		if res.Error != nil {
			return total, wrapErr(res.Error, "delete expired "+table)
		}
		total += res.RowsAffected
	}
	return total, nil
}

func (c *Consent) normalize() {
	c.CreatedAt = ts(c.CreatedAt)
	c.UpdatedAt = ts(c.UpdatedAt)
}

// UpsertConsent records that the user granted scope to the client,
// replacing the scope of an earlier consent.
func (s *Store) UpsertConsent(ctx context.Context, userID int64, clientID, scope string) error {
	now := s.now()
	c := Consent{UserID: userID, ClientID: clientID, Scope: scope, CreatedAt: now, UpdatedAt: now}
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scope", "updated_at"}),
	}).Create(&c).Error
	return wrapErr(err, fmt.Sprintf("consent to client %q", clientID))
}

// GetConsent returns the user's consent to the client, or ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, userID int64, clientID string) (*Consent, error) {
	var c Consent
	if err := s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&c).Error; err != nil {
		return nil, wrapErr(err, fmt.Sprintf("consent to client %q", clientID))
	}
	c.normalize()
	return &c, nil
}

// ListConsents returns the user's consents, most recently granted first.
func (s *Store) ListConsents(ctx context.Context, userID int64) ([]Consent, error) {
	consents := []Consent{}
	if err := s.conn(ctx).Where("user_id = ?", userID).Order("updated_at DESC").Order("id DESC").Find(&consents).Error; err != nil {
		return nil, wrapErr(err, "list consents")
	}
	for i := range consents {
		consents[i].normalize()
	}
	return consents, nil
}

// DeleteConsent deletes the user's consent to the client, or returns
// ErrNotFound when there is none.
func (s *Store) DeleteConsent(ctx context.Context, userID int64, clientID string) error {
	entity := fmt.Sprintf("consent to client %q", clientID)
	res := s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&Consent{})
	if res.Error != nil {
		return wrapErr(res.Error, entity)
	}
	if res.RowsAffected == 0 {
		return notFound(entity)
	}
	return nil
}

// Expirable names a table the sweeper purges and the time column that
// says when a row may go.
type Expirable struct {
	Table  string
	Column string
}

// Tables the sweeper purges (see DeleteExpiredBatch).
var (
	ExpireTokens          = Expirable{"tokens", "expires_at"}
	ExpireCodes           = Expirable{"authorization_codes", "expires_at"}
	ExpireDeviceCodes     = Expirable{"device_codes", "expires_at"}
	ExpireWebSessions     = Expirable{"web_sessions", "expires_at"}
	ExpireOneTimeTokens   = Expirable{"one_time_tokens", "expires_at"}
	ExpireThrottleEvents  = Expirable{"throttle_events", "created_at"}
	ExpireRevokedFamilies = Expirable{"revoked_families", "revoked_at"}
	ExpireUsedJTIs        = Expirable{"used_jtis", "expires_at"}
	ExpirePushedRequests  = Expirable{"pushed_requests", "expires_at"}
	// ExpireAuditEvents: events older than the audit_retention setting.
	ExpireAuditEvents = Expirable{"audit_events", "created_at"}
)

var expirables = map[Expirable]bool{ExpireTokens: true, ExpireCodes: true, ExpireDeviceCodes: true, ExpireWebSessions: true,
	ExpireOneTimeTokens: true, ExpireThrottleEvents: true, ExpireRevokedFamilies: true, ExpireAuditEvents: true,
	ExpireUsedJTIs: true, ExpirePushedRequests: true}

// DeleteExpiredBatch deletes at most batch rows of e whose time column is
// before `before` and returns how many it deleted: one short statement
// on an indexed column, so that the live traffic never waits long for
// it. On PostgreSQL rows another sweeper (another instance) is deleting
// at the same moment are skipped rather than waited for.
func (s *Store) DeleteExpiredBatch(ctx context.Context, e Expirable, before time.Time, batch int) (int64, error) {
	if !expirables[e] {
		return 0, fmt.Errorf("delete expired rows: unknown table %q", e.Table)
	}
	if batch <= 0 {
		batch = 1000
	}
	var q string
	if s.dialect == DialectPostgres {
		q = "DELETE FROM " + e.Table + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " + e.Table + " WHERE " + e.Column +
			" < ? LIMIT ? FOR UPDATE SKIP LOCKED))"
	} else {
		q = "DELETE FROM " + e.Table + " WHERE rowid IN (SELECT rowid FROM " + e.Table + " WHERE " + e.Column + " < ? LIMIT ?)"
	}
	res := s.conn(ctx).Exec(q, ts(before), batch)
	return res.RowsAffected, wrapErr(res.Error, "delete expired "+e.Table)
}

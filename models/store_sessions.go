package models

import (
	"context"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

func (ws *WebSession) normalize() {
	if ws.Data == nil {
		ws.Data = []byte{}
	}
	ws.ExpiresAt = ts(ws.ExpiresAt)
	ws.CreatedAt = ts(ws.CreatedAt)
	ws.UpdatedAt = ts(ws.UpdatedAt)
}

// SaveWebSession inserts the session or, when one with its IDHash exists,
// replaces its data, user and expiry. UpdatedAt is set to now, CreatedAt
// too when zero.
func (s *Store) SaveWebSession(ctx context.Context, ws *WebSession) error {
	ws.CreatedAt = s.orNow(ws.CreatedAt)
	ws.UpdatedAt = s.now()
	ws.normalize()
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id_hash"}},
		DoUpdates: clause.AssignmentColumns([]string{"data", "user_id", "expires_at", "updated_at"}),
	}).Create(ws).Error
	return wrapErr(err, "web session")
}

// UpdateWebSession replaces the data, user and expiry of an existing
// session. It never recreates a deleted one: when the row is gone (the
// user signed out meanwhile) it returns ErrNotFound.
func (s *Store) UpdateWebSession(ctx context.Context, ws *WebSession) error {
	ws.UpdatedAt = s.now()
	ws.normalize()
	res := s.conn(ctx).Model(&WebSession{}).Where("id_hash = ?", ws.IDHash).
		Updates(map[string]any{"data": ws.Data, "user_id": ws.UserID, "expires_at": ws.ExpiresAt, "updated_at": ws.UpdatedAt})
	if res.Error != nil {
		return wrapErr(res.Error, "web session")
	}
	if res.RowsAffected == 0 {
		return notFound("web session")
	}
	return nil
}

// GetWebSession returns the session with that ID hash, or ErrNotFound when
// there is none or it expired at or before now.
func (s *Store) GetWebSession(ctx context.Context, idHash []byte, now time.Time) (*WebSession, error) {
	var ws WebSession
	err := s.conn(ctx).Where("id_hash = ? AND expires_at > ?", idHash, ts(now)).Take(&ws).Error
	if err != nil {
		return nil, wrapErr(err, "web session")
	}
	ws.normalize()
	return &ws, nil
}

// DeleteWebSession deletes the session with that ID hash, if any.
func (s *Store) DeleteWebSession(ctx context.Context, idHash []byte) error {
	return wrapErr(s.conn(ctx).Where("id_hash = ?", idHash).Delete(&WebSession{}).Error, "web session")
}

// EndedSession names a browser session that ended.
type EndedSession struct {
	SID    string
	UserID int64
}

// EndWebSession ends the session with that ID hash (sign-out), as
// endSessions does, and returns it (nil when there was none).
func (s *Store) EndWebSession(ctx context.Context, idHash []byte) (*EndedSession, error) {
	ended, err := s.endSessions(ctx, func(db *gorm.DB) *gorm.DB { return db.Where("id_hash = ?", idHash) })
	if err != nil || len(ended) == 0 {
		return nil, err
	}
	return &ended[0], nil
}

// EndUserWebSessions ends every session of the user except the one whose
// ID hash is keep (none when keep is nil), as endSessions does, and
// returns them: signing a user out everywhere (else).
func (s *Store) EndUserWebSessions(ctx context.Context, userID int64, keep []byte) ([]EndedSession, error) {
	return s.endSessions(ctx, func(db *gorm.DB) *gorm.DB {
		db = db.Where("user_id = ?", userID)
		if keep != nil {
			db = db.Where("id_hash <> ?", keep)
		}
		return db
	})
}

// EndUserWebSessionBySID ends the user's session with that public ID, as
// endSessions does. It reports false when the user has no such session.
func (s *Store) EndUserWebSessionBySID(ctx context.Context, userID int64, sid string) (bool, error) {
	if sid == "" {
		return false, nil
	}
	ended, err := s.endSessions(ctx, func(db *gorm.DB) *gorm.DB { return db.Where("user_id = ? AND sid = ?", userID, sid) })
	return len(ended) > 0, err
}

// endSessions ends the sessions where selects (OpenID Connect
// Back-Channel Logout 1.0): the token families their grants started are
// revoked, except offline_access grants, which outlive the session by
// design (§2.7), and so are the families of codes approved in them that
// no client has exchanged yet; then, in one transaction, each row is
// deleted and a back-channel logout delivery is queued for every client
// with a backchannel_logout_uri that it issued codes or tokens to
// (session_clients, sessionEnded): an outbox, so that the session ends and
// its notifications are queued together and a crash or a second instance
// loses none. Revoking comes first so that a
// failure leaves the session in place to be ended again.
func (s *Store) endSessions(ctx context.Context, selects func(*gorm.DB) *gorm.DB) ([]EndedSession, error) {
	var rows []WebSession
	if err := selects(s.conn(ctx).Select("id_hash", "sid", "user_id")).Find(&rows).Error; err != nil {
		return nil, wrapErr(err, "web sessions")
	}
	if len(rows) == 0 {
		return nil, nil
	}
	now := s.now()
	var sids []string
	for _, r := range rows {
		if r.SID != "" {
			sids = append(sids, r.SID)
		}
	}
	if err := s.revokeSessionGrants(ctx, sids, now); err != nil {
		return nil, err
	}
	var ended []EndedSession
	queued := false
	err := s.Tx(ctx, func(tx *Store) error {
		ended = ended[:0]
		for _, r := range rows {
			res := tx.conn(ctx).Where("id_hash = ?", r.IDHash).Delete(&WebSession{})
			if res.Error != nil {
				return wrapErr(res.Error, "web session")
			}
			if res.RowsAffected == 0 || r.UserID == nil {
				continue // ended concurrently by someone else, who notifies
			}
			ended = append(ended, EndedSession{SID: r.SID, UserID: *r.UserID})
			if r.SID == "" {
				continue
			}
			q, err := tx.sessionEnded(ctx, r.SID, *r.UserID, now)
			if err != nil {
				return err
			}
			queued = queued || q
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if queued {
		s.notifyLogoutQueued()
	}
	return ended, nil
}

// revokeSessionGrants revokes the grants that end with the sessions sids
// (sessionFamilies), in batches; it must run outside a transaction, as
// revokeFamilies does.
func (s *Store) revokeSessionGrants(ctx context.Context, sids []string, now time.Time) error {
	for len(sids) > 0 {
		batch := sids[:min(len(sids), maxFamilyBatch)]
		sids = sids[len(batch):]
		families, err := s.sessionFamilies(ctx, batch, now)
		if err != nil {
			return err
		}
		if _, err := s.revokeFamilies(ctx, families, now); err != nil {
			return err
		}
	}
	return nil
}

// sessionEnded, inside the transaction that deletes session sid's row,
// queues its back-channel logouts and forgets its clients. It reports
// whether it queued any.
func (s *Store) sessionEnded(ctx context.Context, sid string, userID int64, now time.Time) (bool, error) {
	n, err := s.queueBackchannelLogout(ctx, sid, userID, now)
	if err != nil {
		return false, err
	}
	if err := s.conn(ctx).Where("sid = ?", sid).Delete(&SessionClient{}).Error; err != nil {
		return false, wrapErr(err, "session clients")
	}
	return n > 0, nil
}

// sessionFamilies returns the token families the sessions started that
// end with them: those with a live token and no offline_access refresh
// token, and those of unexpired codes not exchanged yet.
func (s *Store) sessionFamilies(ctx context.Context, sids []string, now time.Time) ([]string, error) {
	var toks []Token
	if err := s.conn(ctx).Select("family_id", "kind", "scope").
		Where("sid IN ? AND revoked_at IS NULL AND expires_at > ?", sids, ts(now)).Find(&toks).Error; err != nil {
		return nil, wrapErr(err, "session tokens")
	}
	offline := map[string]bool{}
	for _, t := range toks {
		if t.Kind == TokenRefresh && slices.Contains(strings.Fields(t.Scope), "offline_access") {
			offline[t.FamilyID] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if !seen[f] && !offline[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, t := range toks {
		add(t.FamilyID)
	}
	var codes []string
	if err := s.conn(ctx).Model(&AuthorizationCode{}).Where("sid IN ? AND redeemed_at IS NULL AND expires_at > ?", sids, ts(now)).
		Pluck("family_id", &codes).Error; err != nil {
		return nil, wrapErr(err, "session codes")
	}
	for _, f := range codes {
		add(f)
	}
	return out, nil
}

// queueBackchannelLogout queues a logout delivery of session sid to every
// client with a backchannel_logout_uri that was issued codes or tokens in it (session_clients), and
// returns how many it queued.
func (s *Store) queueBackchannelLogout(ctx context.Context, sid string, userID int64, now time.Time) (int, error) {
	var clientIDs []string
	if err := s.conn(ctx).Model(&Client{}).
		Where("backchannel_logout_uri <> '' AND client_id IN (?)", s.conn(ctx).Model(&SessionClient{}).Select("client_id").Where("sid = ?", sid)).
		Order("client_id").Pluck("client_id", &clientIDs).Error; err != nil {
		return 0, wrapErr(err, "back-channel logout clients")
	}
	if len(clientIDs) == 0 {
		return 0, nil
	}
	var subject string
	if err := s.conn(ctx).Model(&User{}).Where("id = ?", userID).Pluck("subject", &subject).Error; err != nil {
		return 0, wrapErr(err, "user")
	}
	rows := make([]LogoutDelivery, len(clientIDs))
	for i, id := range clientIDs {
		rows[i] = LogoutDelivery{ClientID: id, Subject: subject, SID: sid, NextAttemptAt: ts(now), CreatedAt: ts(now)}
	}
	if err := s.conn(ctx).Create(&rows).Error; err != nil {
		return 0, wrapErr(err, "queue back-channel logout")
	}
	return len(rows), nil
}

// SessionClients returns the clients that were issued codes or tokens in the browser
// session sid, ordered by client ID (front-channel logout).
func (s *Store) SessionClients(ctx context.Context, sid string) ([]Client, error) {
	var out []Client
	if sid == "" {
		return nil, nil
	}
	err := s.conn(ctx).Where("client_id IN (?)", s.conn(ctx).Model(&SessionClient{}).Select("client_id").Where("sid = ?", sid)).
		Order("client_id").Find(&out).Error
	for i := range out {
		out[i].normalize()
	}
	return out, wrapErr(err, "session clients")
}

// SetLogoutQueued sets fn to be called after back-channel logout
// deliveries were queued (to wake the deliverer at once; it also polls).
func (s *Store) SetLogoutQueued(fn func()) { s.hooks.logoutQueued.Store(&fn) }

func (s *Store) notifyLogoutQueued() {
	if fn := s.hooks.logoutQueued.Load(); fn != nil && *fn != nil {
		(*fn)()
	}
}

// DeleteExpiredWebSessions deletes the sessions that expired at or before
// now and returns how many it deleted.
func (s *Store) DeleteExpiredWebSessions(ctx context.Context, now time.Time) (int64, error) {
	res := s.conn(ctx).Where("expires_at <= ?", ts(now)).Delete(&WebSession{})
	return res.RowsAffected, wrapErr(res.Error, "delete expired web sessions")
}

// ListUserWebSessions returns the user's sessions that have not expired
// at now, the most recently used first (UpdatedAt, then CreatedAt), at
// most limit of them (0: all). Their Data is left out: the sessions
// pages show where and when, never what a session holds.
func (s *Store) ListUserWebSessions(ctx context.Context, userID int64, now time.Time, limit int) ([]WebSession, error) {
	var out []WebSession
	q := s.conn(ctx).Select("id_hash", "sid", "user_id", "user_agent", "remote_addr", "expires_at", "created_at", "updated_at").
		Where("user_id = ? AND expires_at > ?", userID, ts(now)).
		Order("updated_at DESC").Order("created_at DESC").Order("sid")
	if limit > 0 {
		q = q.Limit(limit)
	}
	if err := q.Find(&out).Error; err != nil {
		return nil, wrapErr(err, "web sessions")
	}
	for i := range out {
		out[i].normalize()
	}
	return out, nil
}

package models

import (
	"context"
	"time"

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

// DeleteUserWebSessions deletes every session of the user except the one
// whose ID hash is keep (none when keep is nil) and returns how many it
// deleted: used to sign a user out everywhere else.
func (s *Store) DeleteUserWebSessions(ctx context.Context, userID int64, keep []byte) (int64, error) {
	db := s.conn(ctx).Where("user_id = ?", userID)
	if keep != nil {
		db = db.Where("id_hash <> ?", keep)
	}
	res := db.Delete(&WebSession{})
	return res.RowsAffected, wrapErr(res.Error, "delete user web sessions")
}

// DeleteExpiredWebSessions deletes the sessions that expired at or before
// now and returns how many it deleted.
func (s *Store) DeleteExpiredWebSessions(ctx context.Context, now time.Time) (int64, error) {
	res := s.conn(ctx).Where("expires_at <= ?", ts(now)).Delete(&WebSession{})
	return res.RowsAffected, wrapErr(res.Error, "delete expired web sessions")
}

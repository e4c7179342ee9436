package models

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// PushedRequest is a pushed authorization request (RFC 9126): the
// SHA-256 of its request_uri, the client and the parameters, usable once
// until ExpiresAt.
type PushedRequest struct {
	ID          int64 `gorm:"primaryKey"`
	RequestHash []byte
	ClientID    string
	Params      string
	DPoPJkt     string `gorm:"column:dpop_jkt"`
	ExpiresAt   time.Time
	UsedAt      *time.Time
	CreatedAt   time.Time
}

// TableName names the table.
func (PushedRequest) TableName() string { return "pushed_requests" }

// CreatePushedRequest stores a pushed request; a hash taken gives
// store.ErrAlreadyExists.
func (s *Store) CreatePushedRequest(ctx context.Context, r *PushedRequest) error {
	r.CreatedAt = s.orNow(r.CreatedAt)
	r.ExpiresAt, r.UsedAt = ts(r.ExpiresAt), tsp(r.UsedAt)
	return wrapErr(s.conn(ctx).Create(r).Error, "pushed authorization request")
}

// UsePushedRequest marks the unused, unexpired request of clientID with
// that hash used at now and returns it, in one statement: of concurrent
// calls one wins, on every instance. Anything else is store.ErrNotFound.
func (s *Store) UsePushedRequest(ctx context.Context, hash []byte, clientID string, now time.Time) (*PushedRequest, error) {
	var r PushedRequest
	res := s.conn(ctx).Model(&r).Clauses(clause.Returning{}).
		Where("request_hash = ? AND client_id = ? AND used_at IS NULL AND expires_at > ?", hash, clientID, ts(now)).
		Update("used_at", ts(now))
	if res.Error != nil {
		return nil, wrapErr(res.Error, "use pushed authorization request")
	}
	if res.RowsAffected != 1 {
		return nil, notFound("pushed authorization request")
	}
	r.ExpiresAt, r.UsedAt, r.CreatedAt = ts(r.ExpiresAt), tsp(r.UsedAt), ts(r.CreatedAt)
	return &r, nil
}

// SavePushedRequest implements oauth.PARModel.
func (m OAuthModel) SavePushedRequest(ctx context.Context, r *oauth.PushedRequest) error {
	return m.S.CreatePushedRequest(ctx, &PushedRequest{RequestHash: r.Hash, ClientID: r.ClientID, Params: r.Params,
		DPoPJkt: r.DPoPJkt, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt, CreatedAt: r.CreatedAt})
}

// UsePushedRequest implements oauth.PARModel.
func (m OAuthModel) UsePushedRequest(ctx context.Context, hash []byte, clientID string, now time.Time) (*oauth.PushedRequest, error) {
	r, err := m.S.UsePushedRequest(ctx, hash, clientID, now)
	if err != nil {
		return nil, err
	}
	return &oauth.PushedRequest{Hash: r.RequestHash, ClientID: r.ClientID, Params: r.Params, DPoPJkt: r.DPoPJkt,
		ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt, CreatedAt: r.CreatedAt}, nil
}

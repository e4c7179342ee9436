package oauthtest

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth"
)

func copyPushed(r *oauth.PushedRequest) *oauth.PushedRequest {
	c := *r
	c.Hash = append([]byte(nil), r.Hash...)
	c.ExpiresAt, c.CreatedAt, c.UsedAt = ts(r.ExpiresAt), ts(r.CreatedAt), tsp(r.UsedAt)
	return &c
}

// SavePushedRequest implements oauth.PARModel.
func (m *MemModel) SavePushedRequest(_ context.Context, r *oauth.PushedRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pushed == nil {
		m.pushed = map[string]*oauth.PushedRequest{}
	}
	k := hex.EncodeToString(r.Hash)
	if _, ok := m.pushed[k]; ok {
		return alreadyExists("pushed authorization request")
	}
	m.pushed[k] = copyPushed(r)
	return nil
}

// UsePushedRequest implements oauth.PARModel.
func (m *MemModel) UsePushedRequest(_ context.Context, hash []byte, clientID string, now time.Time) (*oauth.PushedRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.pushed[hex.EncodeToString(hash)]
	if !ok || r.ClientID != clientID || r.UsedAt != nil || !now.Before(r.ExpiresAt) {
		return nil, notFound("pushed authorization request")
	}
	r.UsedAt = tsp(&now)
	return copyPushed(r), nil
}

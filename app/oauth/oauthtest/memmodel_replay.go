package oauthtest

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
)

// UseOnce implements oauth.ReplayModel.
func (m *MemModel) UseOnce(_ context.Context, key string, expiresAt, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.used[key]; ok && !exp.Before(now) {
		return fmt.Errorf("single-use identifier: %w", store.ErrAlreadyExists)
	}
	m.used[key] = expiresAt
	return nil
}

package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testWebSession(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	t0 := now()
	ws := &models.WebSession{IDHash: sha("s1"), Data: []byte("first"), ExpiresAt: t0.Add(time.Hour)}
	ok(t, s.SaveWebSession(ctx, ws))
	got, err := s.GetWebSession(ctx, sha("s1"), t0)
	ok(t, err)
	eq(t, "session", *got, *ws)

	// upsert: data, user and expiry replaced, CreatedAt kept
	time.Sleep(2 * time.Millisecond)
	ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha("s1"), UserID: &u.ID, Data: []byte{}, ExpiresAt: t0.Add(2 * time.Hour)}))
	got, err = s.GetWebSession(ctx, sha("s1"), t0)
	ok(t, err)
	eq(t, "UserID", got.UserID, &u.ID)
	eq(t, "Data", len(got.Data), 0)
	sameTime(t, "ExpiresAt", got.ExpiresAt, t0.Add(2*time.Hour))
	sameTime(t, "CreatedAt", got.CreatedAt, ws.CreatedAt)
	if !got.UpdatedAt.After(ws.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, ws.UpdatedAt)
	}
	// user back to none, through UpdateWebSession
	ok(t, s.UpdateWebSession(ctx, &models.WebSession{IDHash: sha("s1"), Data: []byte("x"), ExpiresAt: t0.Add(2 * time.Hour)}))
	got, err = s.GetWebSession(ctx, sha("s1"), t0)
	ok(t, err)
	eq(t, "UserID", got.UserID, (*int64)(nil))

	// expiry
	_, err = s.GetWebSession(ctx, sha("s1"), t0.Add(2*time.Hour))
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetWebSession(ctx, sha("nope"), t0)
	isErr(t, err, store.ErrNotFound)

	ok(t, s.DeleteWebSession(ctx, sha("s1")))
	ok(t, s.DeleteWebSession(ctx, sha("s1")))
	// an update never brings a deleted session back (sign-out must stick)
	isErr(t, s.UpdateWebSession(ctx, &models.WebSession{IDHash: sha("s1"), UserID: &u.ID, Data: []byte("y"), ExpiresAt: t0.Add(time.Hour)}), store.ErrNotFound)
	_, err = s.GetWebSession(ctx, sha("s1"), t0)
	isErr(t, err, store.ErrNotFound)

	save := func(name string, user *int64, exp time.Time) {
		ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha(name), UserID: user, Data: []byte(name), ExpiresAt: exp}))
	}
	save("a1", &u.ID, t0.Add(time.Hour))
	save("a2", &u.ID, t0.Add(time.Hour))
	save("a3", &u.ID, t0.Add(time.Hour))
	save("b1", &v.ID, t0.Add(time.Hour))
	save("anon", nil, t0.Add(time.Hour))
	ended, err := s.EndUserWebSessions(ctx, u.ID, sha("a2"))
	ok(t, err)
	eq(t, "ended (keep a2)", len(ended), 2)
	_, err = s.GetWebSession(ctx, sha("a2"), t0)
	ok(t, err)
	ended, err = s.EndUserWebSessions(ctx, u.ID, nil)
	ok(t, err)
	eq(t, "ended (keep none)", len(ended), 1)
	_, err = s.GetWebSession(ctx, sha("b1"), t0)
	ok(t, err)

	save("old1", nil, t0.Add(-time.Minute))
	save("old2", &v.ID, t0)
	n, err := s.DeleteExpiredWebSessions(ctx, t0.In(zone))
	ok(t, err)
	eq(t, "expired deleted", n, int64(2))
	eq(t, "sessions left", count(t, s, "web_sessions", ""), int64(2))
}

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

// testListUserWebSessions: a user's unexpired sessions, the most recently
// used first, with where and when but not their data; ended sessions and
// other users' are not listed.
func testListUserWebSessions(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	t0 := now()
	save := func(name string, user *int64, created, lastUsed, exp time.Time) {
		t.Helper()
		ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha(name), SID: "sid-" + name, UserID: user,
			UserAgent: "UA of " + name, RemoteAddr: "192.0.2." + name[len(name)-1:], Data: []byte("secret " + name),
			CreatedAt: created, ExpiresAt: exp}))
		ok(t, s.DB().WithContext(ctx).Model(&models.WebSession{}).Where("id_hash = ?", sha(name)).
			Update("updated_at", lastUsed.In(zone)).Error)
	}
	save("a1", &u.ID, t0.Add(-3*time.Hour), t0.Add(-2*time.Hour), t0.Add(time.Hour))
	save("a2", &u.ID, t0.Add(-time.Hour), t0.Add(-time.Minute), t0.Add(time.Hour))
	save("a3", &u.ID, t0.Add(-4*time.Hour), t0.Add(-3*time.Hour), t0.Add(2*time.Hour))
	save("a4", &u.ID, t0.Add(-5*time.Hour), t0.Add(-time.Hour), t0) // expired at now
	save("b1", &v.ID, t0.Add(-time.Hour), t0, t0.Add(time.Hour))
	save("n5", nil, t0.Add(-time.Hour), t0, t0.Add(time.Hour))

	got, err := s.ListUserWebSessions(ctx, u.ID, t0.In(zone), 0)
	ok(t, err)
	eq(t, "sessions", pluck(got, func(w models.WebSession) string { return w.SID }), []string{"sid-a2", "sid-a1", "sid-a3"})
	if len(got) == 3 {
		w := got[0]
		eq(t, "IDHash", w.IDHash, sha("a2"))
		eq(t, "UserID", w.UserID, &u.ID)
		eq(t, "UserAgent", w.UserAgent, "UA of a2")
		eq(t, "RemoteAddr", w.RemoteAddr, "192.0.2.2")
		eq(t, "Data", len(w.Data), 0)
		sameTime(t, "CreatedAt", w.CreatedAt, t0.Add(-time.Hour))
		sameTime(t, "UpdatedAt", w.UpdatedAt, t0.Add(-time.Minute))
		sameTime(t, "ExpiresAt", w.ExpiresAt, t0.Add(time.Hour))
	}
	got, err = s.ListUserWebSessions(ctx, u.ID, t0, 2)
	ok(t, err)
	eq(t, "limited", pluck(got, func(w models.WebSession) string { return w.SID }), []string{"sid-a2", "sid-a1"})
	got, err = s.ListUserWebSessions(ctx, v.ID, t0, 0)
	ok(t, err)
	eq(t, "bob's", pluck(got, func(w models.WebSession) string { return w.SID }), []string{"sid-b1"})
	got, err = s.ListUserWebSessions(ctx, v.ID+u.ID+100, t0, 0)
	ok(t, err)
	eq(t, "nobody's", len(got), 0)

	// Another user's session ID ends nothing.
	ended, err := s.EndUserWebSessionBySID(ctx, v.ID, "sid-a1")
	ok(t, err)
	eq(t, "ended by bob", ended, false)
	// The user's own does, and it leaves the list.
	ended, err = s.EndUserWebSessionBySID(ctx, u.ID, "sid-a1")
	ok(t, err)
	eq(t, "ended by alice", ended, true)
	got, err = s.ListUserWebSessions(ctx, u.ID, t0, 0)
	ok(t, err)
	eq(t, "after ending a1", pluck(got, func(w models.WebSession) string { return w.SID }), []string{"sid-a2", "sid-a3"})
	ends, err := s.EndUserWebSessions(ctx, u.ID, sha("a2"))
	ok(t, err)
	eq(t, "ended but a2", len(ends), 2) // a3, and a4, which had expired
	got, err = s.ListUserWebSessions(ctx, u.ID, t0, 0)
	ok(t, err)
	eq(t, "after ending the others", pluck(got, func(w models.WebSession) string { return w.SID }), []string{"sid-a2"})
	got, err = s.ListUserWebSessions(ctx, v.ID, t0, 0)
	ok(t, err)
	eq(t, "bob's, untouched", len(got), 1)
}

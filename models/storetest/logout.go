package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/models"
)

// The back-channel logout queue (models/store_logout.go) and what queues
// into it: ending browser sessions (models/store_sessions.go).

// queueDelivery inserts a delivery as endSessions would, due at next and
// leased until lockedUntil (nil: free).
func queueDelivery(t *testing.T, s *models.Store, clientID, sid string, next time.Time, lockedUntil *time.Time) *models.LogoutDelivery {
	t.Helper()
	d := &models.LogoutDelivery{ClientID: clientID, Subject: "sub-" + sid, SID: sid, NextAttemptAt: next.UTC(),
		LockedUntil: lockedUntil, CreatedAt: next.UTC()}
	ok(t, s.DB().WithContext(t.Context()).Create(d).Error)
	return d
}

func deliveryIDs(ds []models.LogoutDelivery) []int64 {
	ids := []int64{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

// deliveryByID reads a delivery back (nil when it is gone).
func deliveryByID(t *testing.T, s *models.Store, id int64) *models.LogoutDelivery {
	t.Helper()
	all, err := s.ListLogoutDeliveries(t.Context())
	ok(t, err)
	for _, d := range all {
		if d.ID == id {
			return &d
		}
	}
	return nil
}

// Claims take due, unleased rows (never leased, or whose lease has
// passed: the instance holding them died), oldest due first, up to the
// limit; a leased row is not claimed again until its lease passes.
func testLogoutClaim(t *testing.T, s *models.Store) {
	ctx := t.Context()
	newClient(t, s, "rp", nil)
	t0 := now()
	r1 := queueDelivery(t, s, "rp", "s1", t0.Add(-2*time.Minute), nil)
	r2 := queueDelivery(t, s, "rp", "s2", t0.Add(-time.Minute), nil)
	r3 := queueDelivery(t, s, "rp", "s3", t0.Add(time.Minute), nil)                            // not due
	r4 := queueDelivery(t, s, "rp", "s4", t0.Add(-3*time.Minute), ptr(t0.Add(30*time.Second))) // leased
	r5 := queueDelivery(t, s, "rp", "s5", t0.Add(-30*time.Second), ptr(t0))                    // lease just passed

	got, err := s.ClaimLogoutDeliveries(ctx, t0, t0.Add(time.Minute), 0)
	ok(t, err)
	eq(t, "claimed with limit 0", len(got), 0)

	until := t0.Add(time.Minute)
	got, err = s.ClaimLogoutDeliveries(ctx, t0.In(zone), until.In(zone), 2)
	ok(t, err)
	eq(t, "first claim (limit 2)", deliveryIDs(got), []int64{r1.ID, r2.ID})
	for _, d := range got {
		sameTimePtr(t, "LockedUntil", d.LockedUntil, &until)
	}
	eq(t, "ClientID", got[0].ClientID, "rp")
	eq(t, "Subject", got[0].Subject, "sub-s1")
	eq(t, "SID", got[0].SID, "s1")
	eq(t, "Attempts", got[0].Attempts, 0)
	sameTime(t, "NextAttemptAt", got[0].NextAttemptAt, r1.NextAttemptAt)
	sameTime(t, "CreatedAt", got[0].CreatedAt, r1.CreatedAt)

	got, err = s.ClaimLogoutDeliveries(ctx, t0, until, 10)
	ok(t, err)
	eq(t, "second claim: the one whose lease passed", deliveryIDs(got), []int64{r5.ID})
	got, err = s.ClaimLogoutDeliveries(ctx, t0.Add(time.Second), until, 10)
	ok(t, err)
	eq(t, "third claim: all leased or not due", deliveryIDs(got), []int64{})

	// A minute later every lease has passed and r3 is due: all five.
	later := t0.Add(time.Minute)
	got, err = s.ClaimLogoutDeliveries(ctx, later, later.Add(time.Minute), 10)
	ok(t, err)
	eq(t, "claim after the leases", deliveryIDs(got), []int64{r4.ID, r1.ID, r2.ID, r5.ID, r3.ID})
}

// A failed attempt is rescheduled (one more attempt, the error kept, the
// lease ended), a delivered one deleted; a caller whose lease passed and
// was claimed by another can neither reschedule, abandon nor release it.
func testLogoutComplete(t *testing.T, s *models.Store) {
	ctx := t.Context()
	newClient(t, s, "rp", nil)
	t0 := now()
	r := queueDelivery(t, s, "rp", "s1", t0, nil)
	claim := func(at time.Time) *models.LogoutDelivery {
		t.Helper()
		got, err := s.ClaimLogoutDeliveries(ctx, at, at.Add(time.Minute), 1)
		ok(t, err)
		if len(got) != 1 || got[0].ID != r.ID {
			t.Fatalf("claim at %v: %v, want row %d", at, deliveryIDs(got), r.ID)
		}
		return &got[0]
	}

	d := claim(t0)
	next := t0.Add(10 * time.Second)
	done, err := s.RetryLogoutDelivery(ctx, d, next.In(zone), "HTTP 503")
	ok(t, err)
	eq(t, "retry while leased", done, true)
	back := deliveryByID(t, s, r.ID)
	eq(t, "Attempts", back.Attempts, 1)
	sameTime(t, "NextAttemptAt", back.NextAttemptAt, next)
	eq(t, "LastError", back.LastError, "HTTP 503")
	sameTimePtr(t, "LockedUntil", back.LockedUntil, nil)
	// The same claim again: the lease is over.
	done, err = s.RetryLogoutDelivery(ctx, d, next, "again")
	ok(t, err)
	eq(t, "retry after the lease ended", done, false)
	eq(t, "Attempts after a stale retry", deliveryByID(t, s, r.ID).Attempts, 1)
	// Not due before next.
	got, err := s.ClaimLogoutDeliveries(ctx, next.Add(-time.Millisecond), next.Add(time.Minute), 1)
	ok(t, err)
	eq(t, "claimed before it is due", len(got), 0)

	// Instance A claims, its lease passes (it died, or hung), B claims:
	// A can no longer touch the row, B can.
	a := claim(next)
	b := claim(next.Add(2 * time.Minute))
	for name, f := range map[string]func() (bool, error){
		"retry":   func() (bool, error) { return s.RetryLogoutDelivery(ctx, a, next.Add(time.Hour), "late") },
		"abandon": func() (bool, error) { return s.AbandonLogoutDelivery(ctx, a) },
		"release": func() (bool, error) { return s.ReleaseLogoutDelivery(ctx, a) },
	} {
		done, err := f()
		ok(t, err)
		eq(t, name+" by the instance whose lease passed", done, false)
	}
	sameTimePtr(t, "B's lease", deliveryByID(t, s, r.ID).LockedUntil, b.LockedUntil)
	eq(t, "Attempts", deliveryByID(t, s, r.ID).Attempts, 1)

	// Release: free at once, no attempt counted.
	done, err = s.ReleaseLogoutDelivery(ctx, b)
	ok(t, err)
	eq(t, "release", done, true)
	back = deliveryByID(t, s, r.ID)
	sameTimePtr(t, "LockedUntil after release", back.LockedUntil, nil)
	eq(t, "Attempts after release", back.Attempts, 1)

	// The error kept is bounded and valid text (PostgreSQL refuses NUL
	// bytes and invalid UTF-8).
	c := claim(next.Add(3 * time.Minute))
	long := strings.Repeat("é", models.LogoutErrorMax) + "\x00\xff"
	done, err = s.RetryLogoutDelivery(ctx, c, next.Add(4*time.Minute), long)
	ok(t, err)
	eq(t, "retry with a long error", done, true)
	back = deliveryByID(t, s, r.ID)
	if len(back.LastError) > models.LogoutErrorMax || !utf8.ValidString(back.LastError) || strings.Contains(back.LastError, "\x00") {
		t.Errorf("LastError of %d bytes, valid %v", len(back.LastError), utf8.ValidString(back.LastError))
	}
	eq(t, "Attempts", back.Attempts, 2)

	// Abandon (the last attempt failed) deletes it.
	c = claim(next.Add(4 * time.Minute))
	done, err = s.AbandonLogoutDelivery(ctx, c)
	ok(t, err)
	eq(t, "abandon", done, true)
	if deliveryByID(t, s, r.ID) != nil {
		t.Fatal("abandoned delivery still queued")
	}
	// An unclaimed delivery cannot be rescheduled, abandoned or released.
	free := queueDelivery(t, s, "rp", "s2", t0, nil)
	for name, f := range map[string]func() (bool, error){
		"retry":   func() (bool, error) { return s.RetryLogoutDelivery(ctx, free, t0, "x") },
		"abandon": func() (bool, error) { return s.AbandonLogoutDelivery(ctx, free) },
		"release": func() (bool, error) { return s.ReleaseLogoutDelivery(ctx, free) },
	} {
		done, err := f()
		ok(t, err)
		eq(t, name+" of an unclaimed delivery", done, false)
	}

	// Delete (delivered) removes it whoever holds it.
	leased := queueDelivery(t, s, "rp", "s3", t0, ptr(t0.Add(time.Hour)))
	done, err = s.DeleteLogoutDelivery(ctx, leased.ID)
	ok(t, err)
	eq(t, "delete", done, true)
	done, err = s.DeleteLogoutDelivery(ctx, leased.ID)
	ok(t, err)
	eq(t, "delete again", done, false)

	// Deleting the client drops its deliveries.
	ok(t, s.DeleteClient(ctx, "rp"))
	eq(t, "deliveries of a deleted client", count(t, s, "logout_deliveries", ""), int64(0))
}

// Concurrent claims (instances polling together) never hand one row to
// two claimers, and between them take every due row.
func testLogoutConcurrentClaim(t *testing.T, s *models.Store) {
	ctx := t.Context()
	newClient(t, s, "rp", nil)
	t0 := now()
	const rows = 40
	for i := range rows {
		var lock *time.Time
		if i%4 == 0 {
			lock = ptr(t0.Add(-time.Second)) // a dead instance's lease
		}
		queueDelivery(t, s, "rp", fmt.Sprintf("s%d", i), t0.Add(-time.Duration(i)*time.Second), lock)
	}
	var (
		mu      sync.Mutex
		claimed = map[int64]int{}
		wg      sync.WaitGroup
		start   = make(chan struct{})
		fails   atomic.Int64
	)
	for i := range racers {
		wg.Go(func() {
			<-start
			got, err := s.ClaimLogoutDeliveries(ctx, t0, t0.Add(time.Minute), 1+i%3)
			if err != nil {
				fails.Add(1)
				t.Errorf("racer %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range got {
				claimed[d.ID]++
			}
		})
	}
	close(start)
	wg.Wait()
	// Whatever a racer skipped (PostgreSQL skips rows being claimed) is
	// still there for a later claim.
	rest, err := s.ClaimLogoutDeliveries(ctx, t0, t0.Add(time.Minute), rows)
	ok(t, err)
	for _, d := range rest {
		claimed[d.ID]++
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("row %d claimed %d times", id, n)
		}
	}
	eq(t, "rows claimed", len(claimed), rows)
}

// Ending a session revokes its grants but offline_access ones, and the
// families of codes approved in it and not exchanged yet, and queues one
// delivery per client with a backchannel_logout_uri that the session
// issued a code or tokens to (session_clients: recorded with the code,
// and by the OAuth model for tokens without one), even when those tokens
// expired and were swept long ago; the store's hook is called after the
// commit when it queued any.
func testEndSessionQueuesLogout(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	v := newUser(t, s, "bob")
	withBC := func(c *models.Client) { c.BackchannelLogoutURI = "https://" + c.ClientID + ".example/bc" }
	newClient(t, s, "rp-a", nil, withBC) // tokens in s1: notified
	newClient(t, s, "rp-b", nil, withBC) // tokens in s2 only
	newClient(t, s, "rp-c", nil)         // tokens in s1, no URI
	newClient(t, s, "rp-d", nil, withBC) // only a pending code in s1
	newClient(t, s, "rp-e", nil, withBC) // an implicit token in s3, expired and swept
	var hooked atomic.Int64
	s.SetLogoutQueued(func() { hooked.Add(1) })
	t.Cleanup(func() { s.SetLogoutQueued(nil) })

	t0 := now()
	session := func(name, sid string, user int64) {
		ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha(name), SID: sid, UserID: &user, Data: []byte{}, ExpiresAt: t0.Add(time.Hour)}))
	}
	session("w1", "s1", u.ID)
	session("w2", "s2", u.ID)
	session("w3", "s3", u.ID) // no tokens
	session("w4", "s4", v.ID)
	tok := func(name, kind, client, family, sid, scope string, user int64) *models.Token {
		tk := newToken(name, kind, client, &user, family, t0.Add(time.Hour))
		tk.SID, tk.Scope = sid, scope
		return tk
	}
	ok(t, s.CreateTokens(ctx,
		// rp-a in s1: an offline_access grant and an online one
		tok("a-off-at", models.TokenAccess, "rp-a", "f-off", "s1", "openid offline_access", u.ID),
		tok("a-off-rt", models.TokenRefresh, "rp-a", "f-off", "s1", "openid offline_access", u.ID),
		tok("a-on-at", models.TokenAccess, "rp-a", "f-on", "s1", "openid", u.ID),
		tok("a-on-rt", models.TokenRefresh, "rp-a", "f-on", "s1", "openid", u.ID),
		// rp-c in s1, rp-b in s2, rp-a in s4 (bob)
		tok("c-at", models.TokenAccess, "rp-c", "f-c", "s1", "openid", u.ID),
		tok("b-at", models.TokenAccess, "rp-b", "f-b", "s2", "openid", u.ID),
		tok("bob-at", models.TokenAccess, "rp-a", "f-bob", "s4", "openid", v.ID),
	))
	code := newCode("d-code", "rp-d", u.ID, t0.Add(5*time.Minute))
	code.SID, code.FamilyID = "s1", "f-code"
	ok(t, s.CreateAuthorizationCode(ctx, code)) // records s1 → rp-d
	for _, sc := range [][2]string{{"s1", "rp-a"}, {"s1", "rp-c"}, {"s2", "rp-b"}, {"s4", "rp-a"}} {
		ok(t, s.RecordSessionClient(ctx, sc[0], sc[1]))
		ok(t, s.RecordSessionClient(ctx, sc[0], sc[1])) // again: a no-op
	}
	// Tokens without a code (implicit grant, token exchange) are recorded
	// by the OAuth model; a refresh response is not (its client is).
	ok(t, models.OAuthModel{S: s}.SaveTokens(ctx, &oauth.Token{Hash: sha("e-at"), Kind: oauth.KindAccess, ClientID: "rp-e", UserID: &u.ID,
		FamilyID: "f-e", SID: "s3", IssuedAt: t0, ExpiresAt: t0.Add(-time.Minute)}))
	ok(t, models.OAuthModel{S: s}.SaveTokens(ctx,
		&oauth.Token{Hash: sha("f-at"), Kind: oauth.KindAccess, ClientID: "rp-a", UserID: &u.ID, FamilyID: "f-f", SID: "s3", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		&oauth.Token{Hash: sha("f-rt"), Kind: oauth.KindRefresh, ClientID: "rp-a", UserID: &u.ID, FamilyID: "f-f", SID: "s3", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	eq(t, "session clients of s3", count(t, s, "session_clients", "sid = 's3'"), int64(1))
	// rp-e's token expired and is swept: its session still tells it.
	_, err := s.DeleteExpiredBatch(ctx, models.ExpireTokens, t0, 100)
	ok(t, err)

	ended, err := s.EndWebSession(ctx, sha("w1"))
	ok(t, err)
	eq(t, "session clients of s1 left", count(t, s, "session_clients", "sid = 's1'"), int64(0))
	if ended == nil || ended.SID != "s1" || ended.UserID != u.ID {
		t.Fatalf("EndWebSession = %+v, want s1 of alice", ended)
	}
	rows, err := s.ListLogoutDeliveries(ctx)
	ok(t, err)
	eq(t, "queued (client/sid)", pluck(rows, func(d models.LogoutDelivery) string { return d.ClientID + "/" + d.SID }), []string{"rp-a/s1", "rp-d/s1"})
	d := rows[0]
	eq(t, "Subject", d.Subject, u.Subject)
	eq(t, "Attempts", d.Attempts, 0)
	eq(t, "LastError", d.LastError, "")
	sameTimePtr(t, "LockedUntil", d.LockedUntil, nil)
	if d.NextAttemptAt.Before(t0) || d.NextAttemptAt.After(time.Now().Add(time.Second)) {
		t.Errorf("NextAttemptAt %v, want now (due at once)", d.NextAttemptAt)
	}
	eq(t, "hook calls", hooked.Load(), int64(1))

	revoked := func(name string) bool {
		t.Helper()
		tk, err := s.GetToken(ctx, sha(name))
		ok(t, err)
		return tk.RevokedAt != nil
	}
	for name, want := range map[string]bool{
		"a-off-at": false, "a-off-rt": false, // offline_access outlives the session
		"a-on-at": true, "a-on-rt": true, "c-at": true, // the session's other grants end with it
		"b-at": false, "bob-at": false, // other sessions' grants stay
	} {
		eq(t, name+" revoked", revoked(name), want)
	}
	famRevoked, err := s.FamilyRevoked(ctx, "f-code")
	ok(t, err)
	eq(t, "family of the pending code revoked", famRevoked, true)
	famRevoked, err = s.FamilyRevoked(ctx, "f-off")
	ok(t, err)
	eq(t, "offline_access family revoked", famRevoked, false)

	// Ended again (already gone): nothing ended, nothing queued.
	ended, err = s.EndWebSession(ctx, sha("w1"))
	ok(t, err)
	if ended != nil {
		t.Fatalf("ending an ended session again: %+v", ended)
	}
	// A session whose only clients have no back-channel address queues
	// nothing and does not call the hook.
	newClient(t, s, "rp-x", nil)
	session("w5", "s5", u.ID)
	ok(t, s.RecordSessionClient(ctx, "s5", "rp-x"))
	_, err = s.EndWebSession(ctx, sha("w5"))
	ok(t, err)
	eq(t, "hook calls", hooked.Load(), int64(1))
	eq(t, "queued", count(t, s, "logout_deliveries", ""), int64(2))

	// Signing the user out everywhere, and by sid, queue too.
	all, err := s.EndUserWebSessions(ctx, u.ID, nil)
	ok(t, err)
	eq(t, "ended everywhere", pluck(slices.SortedFunc(slices.Values(all), func(a, b models.EndedSession) int { return strings.Compare(a.SID, b.SID) }),
		func(e models.EndedSession) string { return e.SID }), []string{"s2", "s3"})
	found, err := s.EndUserWebSessionBySID(ctx, v.ID, "s4")
	ok(t, err)
	eq(t, "ended by sid", found, true)
	rows, err = s.ListLogoutDeliveries(ctx)
	ok(t, err)
	eq(t, "queued (client/sid/subject)", slices.Sorted(slices.Values(pluck(rows, func(d models.LogoutDelivery) string { return d.SID + "/" + d.ClientID + "/" + d.Subject }))),
		[]string{"s1/rp-a/" + u.Subject, "s1/rp-d/" + u.Subject, "s2/rp-b/" + u.Subject, "s3/rp-e/" + u.Subject, "s4/rp-a/" + v.Subject})
	eq(t, "hook calls", hooked.Load(), int64(3))

	// The records of sessions that expired go with the sweeper; those of
	// live sessions, and recent ones, stay.
	session("w9", "s9", u.ID)
	ok(t, s.RecordSessionClient(ctx, "s9", "rp-a"))
	ok(t, s.RecordSessionClient(ctx, "s-gone", "rp-a"))
	n, err := s.DeleteOrphanSessionClients(ctx, t0.Add(-time.Hour))
	ok(t, err)
	eq(t, "orphans deleted (recent ones kept)", n, int64(0))
	n, err = s.DeleteOrphanSessionClients(ctx, time.Now().Add(time.Hour))
	ok(t, err)
	eq(t, "orphans deleted", n, int64(1))
	eq(t, "session clients left", count(t, s, "session_clients", ""), int64(1))
}

// A session ended twice at once (say sign-out in two tabs) is ended, and
// its logout queued, once.
func testEndSessionConcurrent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	u := newUser(t, s, "alice")
	newClient(t, s, "rp", nil, func(c *models.Client) { c.BackchannelLogoutURI = "https://rp.example/bc" })
	t0 := now()
	const sessions = 5
	for i := range sessions {
		sid := fmt.Sprintf("sid-%d", i)
		ok(t, s.SaveWebSession(ctx, &models.WebSession{IDHash: sha(sid), SID: sid, UserID: &u.ID, Data: []byte{}, ExpiresAt: t0.Add(time.Hour)}))
		tk := newToken("tok-"+sid, models.TokenAccess, "rp", &u.ID, "fam-"+sid, t0.Add(time.Hour))
		tk.SID = sid
		ok(t, s.CreateTokens(ctx, tk))
		ok(t, s.RecordSessionClient(ctx, sid, "rp"))
	}
	for i := range sessions {
		sid := fmt.Sprintf("sid-%d", i)
		var wg sync.WaitGroup
		var enders atomic.Int64
		for r := range 10 {
			wg.Go(func() {
				var ended bool
				var err error
				if r%2 == 0 {
					var e *models.EndedSession
					e, err = s.EndWebSession(ctx, sha(sid))
					ended = e != nil
				} else {
					ended, err = s.EndUserWebSessionBySID(ctx, u.ID, sid)
				}
				if err != nil {
					t.Errorf("%s racer %d: %v", sid, r, err)
				}
				if ended {
					enders.Add(1)
				}
			})
		}
		wg.Wait()
		eq(t, sid+" ended by", enders.Load(), int64(1))
	}
	rows, err := s.ListLogoutDeliveries(ctx)
	ok(t, err)
	sids := pluck(rows, func(d models.LogoutDelivery) string { return d.SID })
	slices.Sort(sids)
	eq(t, "queued", sids, []string{"sid-0", "sid-1", "sid-2", "sid-3", "sid-4"})
}

package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testOneTimeToken(t *testing.T, s *models.Store) {
	ctx := t.Context()
	t0 := now()
	ok(t, s.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: sha("setup"), Purpose: "setup", ExpiresAt: t0.Add(time.Hour)}))
	ok(t, s.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: sha("old"), Purpose: "setup", ExpiresAt: t0}))
	isErr(t, s.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: sha("setup"), Purpose: "x", ExpiresAt: t0}), store.ErrAlreadyExists)

	ok(t, s.CheckOneTimeToken(ctx, sha("setup"), "setup", t0))
	isErr(t, s.CheckOneTimeToken(ctx, sha("setup"), "reset", t0), store.ErrNotFound)
	isErr(t, s.CheckOneTimeToken(ctx, sha("setup"), "setup", t0.Add(time.Hour)), store.ErrNotFound)
	isErr(t, s.CheckOneTimeToken(ctx, sha("old"), "setup", t0.In(zone)), store.ErrNotFound)
	isErr(t, s.CheckOneTimeToken(ctx, sha("nope"), "setup", t0), store.ErrNotFound)

	isErr(t, s.UseOneTimeToken(ctx, sha("setup"), "reset", t0), store.ErrNotFound)
	isErr(t, s.UseOneTimeToken(ctx, sha("old"), "setup", t0), store.ErrNotFound)
	isErr(t, s.UseOneTimeToken(ctx, sha("nope"), "setup", t0), store.ErrNotFound)
	ok(t, s.UseOneTimeToken(ctx, sha("setup"), "setup", t0))
	isErr(t, s.UseOneTimeToken(ctx, sha("setup"), "setup", t0), store.ErrNotFound)
	isErr(t, s.CheckOneTimeToken(ctx, sha("setup"), "setup", t0), store.ErrNotFound)
}

func testOneTimeTokenConcurrent(t *testing.T, s *models.Store) {
	ctx := t.Context()
	ok(t, s.CreateOneTimeToken(ctx, &models.OneTimeToken{TokenHash: sha("setup"), Purpose: "setup", ExpiresAt: now().Add(time.Hour)}))
	errs := oauthtest.Concurrently(20, func(int) error { return s.UseOneTimeToken(ctx, sha("setup"), "setup", now()) })
	oneWinner(t, "successful uses", errs, store.ErrNotFound)
}

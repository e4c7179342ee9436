package storetest

import (
	"testing"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

func testImage(t *testing.T, s *models.Store) {
	ctx := t.Context()
	img := &models.Image{ID: "abc123", ContentType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0, 1, 2}}
	ok(t, s.PutImage(ctx, img))
	ok(t, s.PutImage(ctx, &models.Image{ID: "abc123", ContentType: "image/png", Data: []byte("other")}))
	got, err := s.GetImage(ctx, "abc123")
	ok(t, err)
	eq(t, "Data", got.Data, img.Data)
	eq(t, "ContentType", got.ContentType, "image/png")
	sameTime(t, "CreatedAt", got.CreatedAt, img.CreatedAt)
	_, err = s.GetImage(ctx, "nope")
	isErr(t, err, store.ErrNotFound)
}

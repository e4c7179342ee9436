package storetest

import (
	"testing"

	"github.com/gatehouse/gatehouse/models"
)

func testSettings(t *testing.T, s *models.Store) {
	ctx := t.Context()
	m, err := s.GetSettings(ctx)
	ok(t, err)
	eq(t, "settings", m, map[string]string{})
	ok(t, s.SetSetting(ctx, "site_name", "Gatehouse"))
	ok(t, s.SetSetting(ctx, "motd", ""))
	ok(t, s.SetSetting(ctx, "site_name", "Gåtehouse ✓"))
	m, err = s.GetSettings(ctx)
	ok(t, err)
	eq(t, "settings", m, map[string]string{"site_name": "Gåtehouse ✓", "motd": ""})
	ok(t, s.DeleteSetting(ctx, "motd"))
	ok(t, s.DeleteSetting(ctx, "motd"))
	m, err = s.GetSettings(ctx)
	ok(t, err)
	eq(t, "settings", m, map[string]string{"site_name": "Gåtehouse ✓"})
}

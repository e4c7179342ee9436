package app

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/app/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/app/settings"
)

// defaultSettings is a settings store with nothing stored.
type defaultSettings struct{}

func (defaultSettings) GetSettings(context.Context) (map[string]string, error) { return nil, nil }
func (defaultSettings) SetSetting(context.Context, string, string) error       { return nil }

// The core's tests run under oauthtest.DefaultPolicy: it is what the
// default settings map to.
func TestDefaultSettingsMapToDefaultPolicy(t *testing.T) {
	t.Parallel()
	pol, err := settingsPolicy{settings.NewService(defaultSettings{})}.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pol != oauthtest.DefaultPolicy {
		t.Fatalf("default settings map to %+v,\nnot oauthtest.DefaultPolicy %+v", pol, oauthtest.DefaultPolicy)
	}
}

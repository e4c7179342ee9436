package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/models"
)

func cmdSettings(args []string, stdio IO) error {
	if len(args) == 0 || (args[0] != "get" && args[0] != "set") {
		return usageErr("usage: gatehouse settings get [KEY] | gatehouse settings set KEY VALUE")
	}
	action := args[0]
	fs := newFlagSet("settings "+action, stdio)
	flags := config.RegisterFlags(fs)
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case action == "get" && len(pos) > 1:
		return usageErr("usage: gatehouse settings get [KEY]")
	case action == "set" && len(pos) != 2:
		return usageErr("usage: gatehouse settings set KEY VALUE")
	}
	if len(pos) > 0 {
		if _, ok := settings.Lookup(pos[0]); !ok {
			return usageErr("unknown setting %q (known: %s)", pos[0], strings.Join(settings.Keys(), ", "))
		}
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	svc := settings.NewService(e.store)
	if action == "set" {
		v, err := svc.Set(ctx, pos[0], pos[1])
		var ve *settings.ValidationError
		if errors.As(err, &ve) {
			return usageErr("%v", ve)
		}
		if err != nil {
			return err
		}
		_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "setting.changed", Target: pos[0], Success: true,
			Details: map[string]string{"value": v}})
		fmt.Fprintf(stdio.Stdout, "%s=%s\n", pos[0], v)
		return nil
	}
	raw, err := svc.Raw(ctx)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		fmt.Fprintln(stdio.Stdout, raw[pos[0]])
		return nil
	}
	for _, k := range settings.Keys() {
		fmt.Fprintf(stdio.Stdout, "%s=%s\n", k, raw[k])
	}
	return nil
}

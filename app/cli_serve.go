package app

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/gatehouse/gatehouse/app/config"
)

func cmdServe(args []string, stdio IO) error {
	fs := newFlagSet("serve", stdio)
	flags := config.RegisterFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("serve takes no arguments (got %q)", pos[0])
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e, err := openEnv(ctx, flags, stdio, true, true)
	if err != nil {
		return err
	}
	defer e.close()
	srv, err := NewServer(ctx, e.cfg, e.store, e.log)
	if err != nil {
		return err
	}
	setupURL, err := srv.Handlers.EnsureSetupToken(ctx)
	if err != nil {
		return err
	}
	if setupURL != "" {
		e.log.Warn("no administrator yet: open this one-time link to create one (valid 24h)", "url", setupURL)
		if e.cfg.LogFormat == "text" {
			fmt.Fprintf(stdio.Stderr, "\n  No administrator yet. Create the first one here (the link works once, for 24 hours):\n\n    %s\n\n", setupURL)
		}
	}
	go srv.sweep(ctx)
	// Stopped once the server has drained (before the store closes).
	stopLogouts := srv.deliverLogouts(ctx)
	defer stopLogouts()
	return srv.Listen(ctx)
}

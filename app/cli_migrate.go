package app

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/database"
)

func cmdMigrate(args []string, stdio IO) error {
	fs := newFlagSet("migrate", stdio)
	flags := config.RegisterFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	action := "up"
	if len(pos) > 0 {
		action = pos[0]
	}
	if len(pos) > 1 || (action != "up" && action != "down" && action != "status") {
		return usageErr("usage: gatehouse migrate [up|down|status]")
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, false, false)
	if err != nil {
		return err
	}
	defer e.close()
	m, err := database.NewMigrator(e.store.DB(), e.cfg.Database)
	if err != nil {
		return err
	}
	switch action {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		v, _ := m.Version(ctx)
		fmt.Fprintf(stdio.Stdout, "applied %d migration(s); database at version %d\n", n, v)
	case "down":
		ok, err := m.Down(ctx)
		if err != nil {
			return err
		}
		v, _ := m.Version(ctx)
		if !ok {
			fmt.Fprintln(stdio.Stdout, "nothing to roll back; database at version 0")
		} else {
			fmt.Fprintf(stdio.Stdout, "rolled back one migration; database at version %d\n", v)
		}
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(stdio.Stdout, "%05d  %-40s %s\n", s.Version, s.Name, state)
		}
	}
	return nil
}

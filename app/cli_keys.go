package app

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/keys"
	"github.com/gatehouse/gatehouse/models"
)

func cmdKeys(args []string, stdio IO) error {
	const use = "usage: gatehouse keys rotate [--withdraw-old] | gatehouse keys rotate --sessions | gatehouse keys list"
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return usageErr(use)
	}
	action := args[0]
	fs := newFlagSet("keys "+action, stdio)
	flags := config.RegisterFlags(fs)
	withdraw := fs.Bool("withdraw-old", false, "rotate: unpublish the old keys at once instead of keeping them until their tokens expire (for a key that may have leaked)")
	sessionKeys := fs.Bool("sessions", false, "rotate: replace the session cookie keys instead of the signing keys; every browser session ends (everyone signs in again)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("keys %s takes no arguments (got %q)", action, pos[0])
	}
	if *sessionKeys && (action != "rotate" || *withdraw) {
		return usageErr("--sessions goes with keys rotate alone: gatehouse keys rotate --sessions")
	}
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	if *sessionKeys {
		if _, _, err := SessionKeys(ctx, e.store); err != nil {
			fmt.Fprintf(stdio.Stderr, "warning: the stored session keys cannot be read with this configuration (%v); "+
				"servers started with another key secret will not be able to read the new keys either: run this with their GATEHOUSE_KEY_SECRET\n", err)
		}
		ended, err := RotateSessionKeys(ctx, e.store)
		if err != nil {
			return err
		}
		_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "keys.rotate_sessions", Success: true,
			Details: map[string]string{"sessions_ended": strconv.FormatInt(ended, 10)}})
		fmt.Fprintf(stdio.Stdout, "new session keys; %d signed-in sessions ended (everyone signs in again)\n", ended)
		fmt.Fprintln(stdio.Stdout, "running servers switch to the new keys on their next request")
		if !e.store.EncryptingSecrets() {
			fmt.Fprintln(stdio.Stderr, "warning: no key secret is configured (GATEHOUSE_KEY_SECRET), so the new session keys are stored unencrypted")
		}
		return nil
	}
	m := keys.New(keys.Options{Store: e.store, Secret: e.cfg.KeySecret.Reveal(), Log: e.log})
	if action == "list" {
		list, err := m.List(ctx)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(stdio.Stdout, "no signing keys yet: the server makes them on its first start")
			return nil
		}
		for _, k := range list {
			printKey(stdio.Stdout, k)
		}
		return nil
	}
	rot, err := m.Rotate(ctx)
	if err != nil {
		return err
	}
	details := rot.AuditDetails()
	var gone []string
	if *withdraw {
		if gone, err = m.WithdrawRetired(ctx); err != nil {
			return err
		}
		details["withdrawn"] = strings.Join(gone, " ")
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "keys.rotate", Target: rot.New[0].KID, Success: true,
		Details: details})
	fmt.Fprintln(stdio.Stdout, "new signing keys, used from now on:")
	for _, k := range rot.New {
		printKey(stdio.Stdout, k)
	}
	list, err := m.List(ctx)
	if err != nil {
		return err
	}
	var published []keys.Key
	for _, k := range list {
		if k.Status == keys.StatusRetired {
			published = append(published, k)
		}
	}
	switch {
	case len(gone) > 0:
		fmt.Fprintln(stdio.Stdout, "old keys withdrawn (tokens they signed no longer verify):", strings.Join(gone, " "))
	case len(published) == 0:
		fmt.Fprintln(stdio.Stdout, "there were no keys before: nothing stays published")
	default:
		fmt.Fprintln(stdio.Stdout, "retired keys, still published until every token they signed has expired:")
		for _, k := range published {
			printKey(stdio.Stdout, k)
		}
	}
	fmt.Fprintln(stdio.Stdout, "running servers switch to the new keys on their next request")
	if !m.Encrypting() {
		fmt.Fprintln(stdio.Stderr, "warning: no key secret is configured (GATEHOUSE_KEY_SECRET), so the new private keys are stored unencrypted")
	}
	return nil
}

// printKey prints one signing key as a line of `keys list`.
func printKey(w io.Writer, k keys.Key) {
	status := k.Status
	switch {
	case k.Status == keys.StatusCurrent:
		status = "current"
	case k.ExpiresAt != nil && k.Status == keys.StatusRetired:
		status = "published until " + k.ExpiresAt.UTC().Format(time.RFC3339)
	case k.ExpiresAt != nil:
		status = "expired " + k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	enc := "unencrypted"
	if k.Encrypted {
		enc = "encrypted"
	}
	fmt.Fprintf(w, "  %-5s  %-43s  created %s  %-11s  %s\n", k.Alg, k.KID, k.CreatedAt.UTC().Format(time.RFC3339), enc, status)
}

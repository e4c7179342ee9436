package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse/gatehouse/app/accounts"
	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/models"
)

func cmdUsers(args []string, stdio IO) error {
	if len(args) == 0 || args[0] != "create" {
		return usageErr("usage: gatehouse users create --username U --password-stdin [--email E [--email-verified]] [--name N] [--role admin|developer|user]")
	}
	fs := newFlagSet("users create", stdio)
	flags := config.RegisterFlags(fs)
	username := fs.String("username", "", "username (required)")
	email := fs.String("email", "", "email address")
	emailVerified := fs.Bool("email-verified", false, "the email address is known to be the user's (apps get email_verified true)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", models.RoleUser, "admin, developer or user")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input (required)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("users create takes no arguments (got %q)", pos[0])
	}
	if *username == "" {
		return usageErr("--username is required")
	}
	if !*pwStdin {
		return usageErr("--password-stdin is required: pipe the password in (passwords never go on the command line)")
	}
	data, err := io.ReadAll(io.LimitReader(stdio.Stdin, 4096))
	if err != nil {
		return usageErr("cannot read the password from stdin: %v", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	ctx := context.Background()
	e, err := openEnv(ctx, flags, stdio, true, false)
	if err != nil {
		return err
	}
	defer e.close()
	u, errs, err := accounts.Create(ctx, e.store, accounts.Input{Username: *username, Email: *email, EmailVerified: *emailVerified, Name: *name, Password: pw, Role: *role, Admin: true})
	if errors.Is(err, accounts.ErrInvalid) {
		return fieldErrors(errs)
	}
	if err != nil {
		return err
	}
	details := map[string]string{"role": u.Role}
	if u.EmailVerified {
		details["email_verified"] = "true"
	}
	_ = e.store.AddAuditEvent(ctx, &models.AuditEvent{Actor: "cli", Action: "user.created", Target: u.Username, Success: true,
		Details: details})
	fmt.Fprintf(stdio.Stdout, "created %s %q (id %d)\n", u.Role, u.Username, u.ID)
	return nil
}

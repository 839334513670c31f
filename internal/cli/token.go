package cli

import (
	"context"
	"fmt"
	"time"
)

func runToken(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: hush token create|list|revoke", ErrUsage)
	}
	fs := flagSet("token "+args[0], env)
	var c common
	c.register(fs, env)
	switch args[0] {
	case "create":
		email := fs.String("email", "", "the account's email")
		pwFile := fs.String("password-file", "", "file holding the account's password (or env HUSH_PASSWORD)")
		ttl := fs.Duration("ttl", 90*24*time.Hour, "how long the token is valid")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *ttl <= 0 || *ttl > 366*24*time.Hour {
			return fmt.Errorf("%w: --ttl must be between 1s and 366 days", ErrUsage)
		}
		pw, err := secret(env, *pwFile, "HUSH_PASSWORD", "password")
		if err != nil {
			return err
		}
		defer clear(pw)
		cl, err := c.open(ctx)
		if err != nil {
			return err
		}
		defer cl.Close()
		t, err := cl.CreateToken(ctx, *email, pw, *ttl)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, t.Secret)
		fmt.Fprintf(env.Stderr, "token %s expires %s\n", t.ID, t.ExpiresAt.Format(time.RFC3339))
		return nil
	case "list":
		email := fs.String("email", "", "the account's email")
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		ts, err := cl.Tokens(ctx, *email)
		if err != nil {
			return err
		}
		for _, t := range ts {
			state := "active"
			if !t.RevokedAt.IsZero() {
				state = "revoked " + t.RevokedAt.Format(time.RFC3339)
			} else if !t.ExpiresAt.IsZero() && time.Now().After(t.ExpiresAt) {
				state = "expired"
			}
			fmt.Fprintf(env.Stdout, "%s\tcreated %s\texpires %s\t%s\n", t.ID, t.CreatedAt.Format(time.RFC3339), t.ExpiresAt.Format(time.RFC3339), state)
		}
		return nil
	case "revoke":
		id := fs.String("id", "", "token id (hush token list shows them)")
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := cl.RevokeToken(ctx, *id); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "revoked")
		return nil
	}
	return fmt.Errorf("%w: hush token create|list|revoke", ErrUsage)
}

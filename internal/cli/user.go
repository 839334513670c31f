package cli

import (
	"context"
	"fmt"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

func runUser(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: hush user add|list|deactivate", ErrUsage)
	}
	fs := flagSet("user "+args[0], env)
	var c common
	c.register(fs, env)
	switch args[0] {
	case "add":
		email := fs.String("email", "", "email (the sign-in name)")
		name := fs.String("name", "", "full name")
		role := fs.String("role", "", "clinician, reception, admin, auditor or patient")
		patient := fs.String("patient", "", "for --role patient: the patient's id")
		pwFile := fs.String("password-file", "", "file holding the password (or env HUSH_PASSWORD)")
		showCode := fs.Bool("show-code", false, "print the enrolment code even when it could be e-mailed to the holder")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		r, err := hush.ParseRole(*role)
		if err != nil {
			return err
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
		u, err := cl.AddUser(ctx, clinic.NewUser{Email: *email, Name: *name, Role: r, Password: pw, PatientID: *patient})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s\n", u.ID)
		if r == hush.RolePatient {
			return nil
		}
		ec, err := cl.IssueEnrolmentCode(ctx, u.ID, !*showCode)
		if err != nil {
			return err
		}
		printEnrolmentCode(env, ec)
		return nil
	case "enrol-code", "reset-mfa":
		email := fs.String("email", "", "email of the staff account")
		showCode := fs.Bool("show-code", false, "print the enrolment code even when it could be e-mailed to the holder")
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		// The account's id without its integrity check: a reset repairs an
		// account whose second factor was deleted in the database.
		id, err := cl.UserIDByEmail(ctx, *email)
		if err != nil {
			return err
		}
		var ec clinic.EnrolmentCode
		if args[0] == "reset-mfa" {
			ec, err = cl.ResetMFA(ctx, id, !*showCode)
		} else {
			ec, err = cl.IssueEnrolmentCode(ctx, id, !*showCode)
		}
		if err != nil {
			return err
		}
		if args[0] == "reset-mfa" {
			fmt.Fprintln(env.Stdout, "second factors removed (authenticator, recovery codes, security keys); the account's sessions ended")
		}
		printEnrolmentCode(env, ec)
		return nil
	case "list":
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		us, err := cl.Users(ctx, "")
		if err != nil {
			return err
		}
		for _, u := range us {
			state := "active"
			if !u.Active {
				state = "deactivated"
			}
			fmt.Fprintf(env.Stdout, "%s\t%s\t%s\t%s\t%s\n", termSafe(u.ID), termSafe(string(u.Role)), state, termSafe(u.Email), termSafe(u.Name))
		}
		return nil
	case "deactivate":
		email := fs.String("email", "", "email of the account to deactivate")
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := cl.DeactivateUser(ctx, *email); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "deactivated; the account's key, tokens and grants are destroyed")
		return nil
	case "unfreeze":
		email := fs.String("email", "", "email of the account a tripwire froze")
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		u, err := cl.UserByEmail(ctx, *email)
		if err != nil {
			return err
		}
		if err := cl.Unfreeze(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "unfrozen; the account can sign in again (its old sessions stay ended)")
		return nil
	}
	return fmt.Errorf("%w: hush user add|list|deactivate|unfreeze|enrol-code|reset-mfa", ErrUsage)
}

// printEnrolmentCode tells the operator how a new enrolment code reaches
// its holder: on the second line of output, to hand over in person, or
// "emailed".
func printEnrolmentCode(env Env, ec clinic.EnrolmentCode) {
	until := ec.Expires.In(clinic.Helsinki).Format("2006-01-02 15:04")
	if ec.Emailed {
		fmt.Fprintf(env.Stdout, "enrolment code e-mailed to the account holder (valid until %s)\n", until)
		return
	}
	fmt.Fprintf(env.Stdout, "enrolment code %s (valid until %s; hand it to the holder yourself, apart from the password: the first sign-in needs both)\n", ec.Code, until)
}

// Package cli implements the hush command: one file per subcommand, stdlib
// flag sets, secrets from files or environment variables only (never from
// flags, which other users can read in the process list).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
)

// Env gives a command its outside world, so tests can run it in-process.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

var commands = map[string]command{
	"init":    {"create a clinic: database, keys, recovery shares, first admin", runInit},
	"serve":   {"serve the HTTPS API", runServe},
	"demo":    {"run a throw-away clinic with made-up data on https://127.0.0.1:8443", runDemo},
	"user":    {"add, list, deactivate or unfreeze staff accounts", runUser},
	"canary":  {"add canary records: honeytoken patients whose opening freezes the account", runCanary},
	"token":   {"create, list or revoke API tokens", runToken},
	"recover": {"use recovery shares to grant a record to a clinician", runRecover},
	"backup":  {"write a verified snapshot of the database (backup verify checks one)", runBackup},
	"audit":   {"verify the audit log, print checkpoints and proofs, show events, add witnesses", runAudit},
}

// ErrUsage marks a usage error (exit status 2).
var ErrUsage = errors.New("usage")

// Run runs the hush command with args (without the program name).
func Run(ctx context.Context, args []string, env Env) error {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return ErrUsage
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		usage(env.Stderr)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
	}
	// Every command holds a secret in memory (the KEK, a password, a token,
	// recovery shares and the key they rebuild): none may reach a core file
	// or a debugger.
	if err := disableCoreDumps(); err != nil {
		return err
	}
	return cmd.run(ctx, env, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "hush: the sealed patient record for psychotherapy clinics")
	fmt.Fprintln(w, "\nusage: hush <command> [flags]   (hush <command> -h for its flags)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
}

// flagSet returns a FlagSet that reports errors instead of exiting.
func flagSet(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet("hush "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return nil
}

// common holds the flags that locate a clinic.
type common struct {
	data, kekFile string
}

func (c *common) register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&c.data, "data", env.Getenv("HUSH_DATA"), "data directory (env HUSH_DATA)")
	fs.StringVar(&c.kekFile, "kek-file", env.Getenv("HUSH_KEK_FILE"), "key-encryption key file, kept outside the data directory (env HUSH_KEK_FILE)")
}

func (c *common) check() error {
	if c.data == "" {
		return fmt.Errorf("%w: --data is required", ErrUsage)
	}
	if c.kekFile == "" {
		return fmt.Errorf("%w: --kek-file is required", ErrUsage)
	}
	return nil
}

func (c *common) open(ctx context.Context) (*clinic.Clinic, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(c.data); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	kek, err := seal.LoadKEKFile(c.kekFile)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	return clinic.Open(ctx, c.data, kek)
}

// parseOpen parses a subcommand's flags and opens the clinic they name.
func (c *common) parseOpen(ctx context.Context, fs *flag.FlagSet, args []string) (*clinic.Clinic, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return c.open(ctx)
}

// secret reads a secret from a file (trailing newline removed) or, when
// path is empty, from the environment variable envName.
func secret(env Env, path, envName, what string) ([]byte, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s file: %w", what, err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if v := env.Getenv(envName); v != "" {
		return []byte(v), nil
	}
	return nil, fmt.Errorf("%w: give the %s with --%s-file or the %s environment variable", ErrUsage, what, what, envName)
}

// Message returns what to print for an error: the safe message of domain
// errors, the whole text of others (which come from this process's own
// files and flags, not from patients' data).
func Message(err error) string {
	var he *hush.Error
	msg := err.Error()
	if errors.As(err, &he) {
		msg = he.Message
	}
	// An error can quote a stored string (a witness's name or answer):
	// escape what could steer the terminal, line by line.
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = termSafe(l)
	}
	return strings.Join(lines, "\n")
}

package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/seal"
)

func runInit(ctx context.Context, env Env, args []string) error {
	fs := flagSet("init", env)
	var c common
	c.register(fs, env)
	name := fs.String("clinic", "", "clinic name")
	admin := fs.String("admin", "", "first admin's email")
	adminName := fs.String("admin-name", "Administrator", "first admin's name")
	pwFile := fs.String("password-file", "", "file holding the admin's password (or env HUSH_PASSWORD)")
	sharesDir := fs.String("shares-dir", "", "directory for the recovery shares, outside the data directory (give each share to a different officer, offline)")
	hosts := fs.String("tls-hosts", "localhost,127.0.0.1,::1", "comma-separated host names and addresses for the self-signed certificate")
	certFile := fs.String("tls-cert", "", "PEM certificate to store instead of making a self-signed one")
	keyFile := fs.String("tls-key", "", "PEM private key for --tls-cert (stored sealed under the KEK)")
	canaries := fs.Int("canaries", clinic.DefaultCanaries, "how many canary records (honeytoken patients) to plan, 0 to 100: the server plants them among reception's registrations")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if *name == "" || *admin == "" || *sharesDir == "" {
		return fmt.Errorf("%w: --clinic, --admin and --shares-dir are required", ErrUsage)
	}
	if *canaries < 0 || *canaries > 100 {
		return fmt.Errorf("%w: --canaries must be 0 to 100", ErrUsage)
	}
	nCanaries := *canaries
	if nCanaries == 0 {
		nCanaries = -1 // none
	}
	pw, err := secret(env, *pwFile, "HUSH_PASSWORD", "password")
	if err != nil {
		return err
	}
	defer clear(pw)
	var certPEM, keyPEM []byte
	if *certFile != "" || *keyFile != "" {
		if certPEM, err = os.ReadFile(*certFile); err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		if keyPEM, err = os.ReadFile(*keyFile); err != nil {
			return fmt.Errorf("TLS key: %w", err)
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return fmt.Errorf("TLS certificate and key do not form a pair: %w", err)
		}
	} else if certPEM, keyPEM, err = selfSignedCert(strings.Split(*hosts, ",")); err != nil {
		return err
	}
	defer clear(keyPEM)
	if in, err := seal.Inside(c.kekFile, c.data); err != nil || in {
		return errors.New("refusing to put the key file inside the data directory: a copy of the data must not carry its key")
	}
	if in, err := seal.Inside(*sharesDir, c.data); err != nil || in {
		return errors.New("refusing to put the recovery shares inside the data directory")
	}
	if _, err := os.Stat(c.kekFile); err == nil {
		return errors.New("the key file already exists; refusing to overwrite it")
	}
	if entries, err := os.ReadDir(c.data); err == nil && len(entries) > 0 {
		return errors.New("the data directory is not empty")
	}
	// MkdirAll leaves an existing empty directory's mode as it was (0755,
	// say): the data directory is made the owner's alone.
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(c.data, 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(*sharesDir, 0o700); err != nil {
		return err
	}
	sharePaths := make([]string, 3)
	for i := range sharePaths {
		sharePaths[i] = filepath.Join(*sharesDir, fmt.Sprintf("recovery-share-%d.txt", i+1))
		if _, err := os.Stat(sharePaths[i]); err == nil {
			return fmt.Errorf("share file %s already exists; refusing to overwrite it", sharePaths[i])
		}
	}
	kek, err := seal.CreateKEKFile(c.kekFile)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	defer kek.Wipe()
	cl, shares, err := clinic.Init(ctx, c.data, kek, clinic.InitOptions{Name: *name, AdminEmail: *admin, AdminName: *adminName, AdminPassword: pw, Canaries: nCanaries})
	if err != nil {
		os.Remove(c.kekFile)
		os.RemoveAll(c.data)
		return err
	}
	// Until the shares and the certificate are written, a failure undoes
	// everything: a clinic without its recovery shares must not exist.
	undo := func(err error) error {
		cl.Close()
		for _, p := range sharePaths {
			os.Remove(p)
		}
		os.Remove(c.kekFile)
		os.RemoveAll(c.data)
		return err
	}
	for i, s := range shares {
		if err := seal.WriteFileDurable(sharePaths[i], s.Encode(), 0o600); err != nil {
			return undo(fmt.Errorf("write share: %w", err))
		}
	}
	if err := cl.PutTLS(ctx, certPEM, keyPEM); err != nil {
		return undo(err)
	}
	adminUser, err := cl.UserByEmail(ctx, *admin)
	if err != nil {
		return undo(err)
	}
	ec, err := cl.IssueEnrolmentCode(ctx, adminUser.ID, false)
	if err != nil {
		return undo(err)
	}
	defer cl.Close()
	fmt.Fprintf(env.Stdout, "Created clinic %q in %s\n", cl.Name(), c.data)
	fmt.Fprintf(env.Stdout, "Key-encryption key: %s (back it up apart from the data; without it the directory cannot be opened)\n", c.kekFile)
	fmt.Fprintf(env.Stdout, "Recovery key fingerprint: %s (officers: keep it with your share; hush serve logs it at every start, and it must never change)\n", cl.RecoveryPublicKey().Fingerprint())
	fmt.Fprintf(env.Stdout, "Audit log public key (give it to your auditor for hush audit verify --vkey): %s\n", cl.AuditVerifierKey())
	fmt.Fprintf(env.Stdout, "Recovery shares (any 2 of 3 rebuild the recovery key; give each to a different officer and keep them offline):\n")
	for _, p := range sharePaths {
		fmt.Fprintf(env.Stdout, "  %s\n", p)
	}
	printEnrolmentCode(env, ec)
	return nil
}

package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/api"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/web"
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs := flagSet("serve", env)
	var c common
	c.register(fs, env)
	addr := fs.String("addr", "127.0.0.1:8443", "HTTPS listen address")
	adminAddr := fs.String("admin-addr", "127.0.0.1:8444", "HTTPS listen address of the admin pages (keep it on loopback or a management network; empty: no admin listener)")
	interval := fs.Duration("checkpoint-interval", time.Minute, "how often to sign an audit checkpoint while there is new activity")
	certFile := fs.String("tls-cert", "", "PEM certificate (default: the self-signed one made at init)")
	keyFile := fs.String("tls-key", "", "PEM private key for --tls-cert")
	publicURL := fs.String("public-url", "", "the https:// address users type to reach Hush (turns on security keys and passkeys, which are bound to it)")
	plantDelay := fs.Duration("canary-plant-delay", 20*time.Minute, "the longest wait, drawn at random, between a registration and a planned canary planted after it (0: at once, for drills)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cl, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	cl.SetCanaryPlantDelay(*plantDelay)
	var cert tls.Certificate
	if *certFile != "" || *keyFile != "" {
		cert, err = tls.LoadX509KeyPair(*certFile, *keyFile)
	} else {
		cert, err = storedCert(ctx, cl)
	}
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	return serve(ctx, env, cl, c.data, serveOptions{addr: *addr, adminAddr: *adminAddr, cert: cert, interval: *interval, publicURL: *publicURL})
}

type serveOptions struct {
	addr, adminAddr string
	cert            tls.Certificate
	interval        time.Duration // between audit checkpoints
	publicURL       string        // "" : no WebAuthn
}

// scrubber passes net/http's own error lines (TLS handshake failures and
// the like) to the log with client addresses removed: an address is personal
// data.
type scrubber struct{ log *slog.Logger }

var addrPattern = regexp.MustCompile(`(\[[0-9A-Fa-f:.%a-z]+\]|[0-9]{1,3}(\.[0-9]{1,3}){3})(:[0-9]+)?`)

func (s scrubber) Write(p []byte) (int, error) {
	s.log.Warn("http", "msg", addrPattern.ReplaceAllString(strings.TrimSpace(string(p)), "[client]"))
	return len(p), nil
}

// sweep drops unlocked token sessions that idled out or whose token was
// revoked, expired or whose account was deactivated (by the CLI, say), so
// their keys do not linger in memory until the token is next presented.
func sweep(ctx context.Context, cl *clinic.Clinic, apps ...*web.Server) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cl.SweepSessions(ctx)
			cl.CheckState(ctx) // security state changed outside Hush: alert, stop writing
			for _, a := range apps {
				if a != nil {
					a.Sweep()
				}
			}
		}
	}
}

func storedCert(ctx context.Context, cl *clinic.Clinic) (tls.Certificate, error) {
	certPEM, keyPEM, err := cl.TLS(ctx)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer clear(keyPEM)
	return tls.X509KeyPair(certPEM, keyPEM)
}

// openLog opens the server log inside the data directory: logs go nowhere
// else, and carry only ids, routes, statuses and safe messages.
func openLog(dataDir string) (*os.File, error) {
	dir := filepath.Join(dataDir, "log")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "hush.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	// A log file made by an older version, or by hand, becomes private too.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// serve runs the HTTPS server until ctx is done. It prints
// "serving https://ADDR" once it listens.
func serve(ctx context.Context, env Env, cl *clinic.Clinic, dataDir string, o serveOptions) error {
	addr, adminAddr, cert, interval := o.addr, o.adminAddr, o.cert, o.interval
	lf, err := openLog(dataDir)
	if err != nil {
		return err
	}
	defer lf.Close()
	log := slog.New(slog.NewJSONHandler(lf, nil))
	if err := cl.SetAlertLog(ctx, log); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	webApp, err := web.New(cl, log)
	if err == nil && o.publicURL != "" {
		err = webApp.EnableWebAuthn(o.publicURL)
	}
	if err != nil {
		ln.Close()
		return err
	}
	// The API answers every path that cleans to its own, in its own format:
	// a ServeMux here would answer //fhir/R4/Patient with an HTML redirect.
	apiApp := api.New(cl, log)
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api.Owns(r.URL.Path) {
			apiApp.ServeHTTP(w, r)
			return
		}
		webApp.ServeHTTP(w, r)
	})
	var adminSrv *http.Server
	var adminApp *web.Server
	if adminAddr != "" {
		if adminApp, err = web.NewAdmin(cl, log); err != nil {
			ln.Close()
			return err
		}
		aln, err := net.Listen("tcp", adminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listener: %w", err)
		}
		adminSrv = &http.Server{Handler: adminApp, TLSConfig: tlsConfig(cert), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 60 * time.Second, ErrorLog: stdlog.New(scrubber{log}, "", 0)}
		defer adminSrv.Close()
		go adminSrv.ServeTLS(aln, "", "")
		log.Info("admin pages", "addr", aln.Addr().String())
		adminAddr = aln.Addr().String()
	}
	srv := &http.Server{
		Handler:           root,
		TLSConfig:         tlsConfig(cert),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          stdlog.New(scrubber{log}, "", 0),
	}
	go sweep(ctx, cl, webApp, adminApp)
	// The audit log's alerts (audit.*, witness.*) go to this log and the
	// clinic's remote channels (clinic.auditAlert, set at Open).
	// Checkpoints every interval while there is activity, and a last one
	// after the HTTP server has drained at shutdown.
	actx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAudit()
	auditDone := make(chan struct{})
	go func() {
		cl.Audit().Run(actx, interval)
		close(auditDone)
	}()
	log.Info("serving", "addr", ln.Addr().String(), "recovery_key_fingerprint", cl.RecoveryPublicKey().Fingerprint())
	fmt.Fprintf(env.Stdout, "serving https://%s\n", ln.Addr())
	if adminAddr != "" {
		fmt.Fprintf(env.Stdout, "admin pages on https://%s\n", adminAddr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		stopAudit()
		<-auditDone
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if adminSrv != nil {
		adminSrv.Shutdown(sctx)
	}
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	// Handlers still running past the shutdown timeout can no longer
	// append (their reads are refused), so the last checkpoint covers
	// every event, the counts of throttled failures too.
	cl.FlushRejected()
	cl.Audit().Close()
	stopAudit()
	<-auditDone
	log.Info("stopped")
	return err
}

// Package clinic is Hush's record service: it joins the store (sealed bytes)
// and seal (keys) into the operations a clinic performs — register a
// patient, write and sign a note, grant and revoke a clinician, recover a
// record — and enforces who may do what.
//
// # Access is enforced twice
//
// Every method checks the actor in its context where the data is read. But
// the check is not what keeps reception, admins or a thief with the disk out
// of clinical content: the content key of a record comes only from a grant
// sealed to a principal's public key, and only a clinician's password or API
// token unseals that principal's private key. Reception and admin accounts
// hold no grant, so no code path in this process can open a note for them.
//
// # What the server holds
//
// With the KEK, the server opens the directory key (names, identity codes,
// contacts) and keeps the patient directory in memory for search. It never
// holds a grant it can open on its own.
package clinic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// meta keys
const (
	metaClinicID       = "clinic_id"
	metaClinicName     = "clinic_name"
	metaKEKCheck       = "kek_check"
	metaDirectoryKey   = "directory_key"
	metaIndexKey       = "index_key"
	metaRecoveryPublic = "recovery_public_key"
	metaRecoveryEscrow = "recovery_escrow"
	metaTLSCert        = "tls_cert"
	metaTLSKey         = "tls_key"
)

// RecoveryPrincipal is the principal id of the clinic's recovery key.
const RecoveryPrincipal = "recovery"

func userPrincipal(id string) string { return "user:" + id }

// Clinic is an open clinic: its database and the keys the KEK unwraps.
type Clinic struct {
	db          *store.DB
	dataDir     string // where the database lives (its free space is watched)
	id          string
	name        string
	dirKey      *seal.Key // seals directory data
	idxKey      *seal.Key // blind index (HMAC) of identity codes and emails
	pubMAC      *seal.Key // authenticates stored public keys
	stateMAC    *seal.Key // authenticates security state: users, record heads, the recovery key
	credWrap    *seal.Key // wraps password-sealed private keys
	credMAC     *seal.Key // keys password and token verifiers
	tokenWrap   *seal.Key // wraps token-sealed private keys
	tlsWrap     *seal.Key // wraps the TLS private key
	recoveryPub *seal.PublicKey
	recoveryBad bool        // the stored recovery public key failed its MAC: Open refuses
	digestReady atomic.Bool // the state digest exists and is kept (digest.go)
	stateBad    atomic.Bool // the state digest did not match the file: no more writes
	endedTokens sync.Map    // token id -> true: seen revoked, expired or erased by this process
	integrity   integrityAlerts
	dir         *directory
	audit       *audit.Log
	auditVKey   string
	// appendRead makes read events durable: the audit log's Append. Only
	// the benchmark that measures the cost of auditing replaces it.
	appendRead func(context.Context, ...audit.Event) error
	now        func() time.Time

	trip          *tripwires   // nil until the audit log is open
	rej           rejectedLog  // throttles unauthenticated failures' events
	webhookClient *http.Client // for alert webhooks; nil: the default

	mu     sync.Mutex
	tokens map[string]*tokenSession
	// ckptAt is when (milliseconds) the last checkpoint that completed
	// began: the sweep checkpoints again when a token ended since then
	// (revoked or expired, in this process or another).
	ckptAt atomic.Int64

	// pwSem bounds concurrent argon2id runs (19 MiB each), so a burst of
	// sign-ins cannot exhaust memory.
	pwSem chan struct{}
}

// kekKeys derives the KEK subkeys that do not live in the database.
func (c *Clinic) kekKeys(kek *seal.KEK) {
	c.pubMAC = kek.Derive("public key mac v1")
	c.stateMAC = kek.Derive("security state mac v1")
	c.credWrap = kek.Derive("credential wrap v1")
	c.credMAC = kek.Derive("credential mac v1")
	c.tlsWrap = kek.Derive("tls key wrap v1")
	c.tokenWrap = kek.Derive("token key wrap v1")
}

// DB returns the clinic's database (for tests and maintenance commands).
func (c *Clinic) DB() *store.DB { return c.db }

// ID returns the clinic's random id.
func (c *Clinic) ID() string { return c.id }

// Name returns the clinic's name.
func (c *Clinic) Name() string { return c.name }

// RecoveryPublicKey returns the recovery public key.
func (c *Clinic) RecoveryPublicKey() *seal.PublicKey { return c.recoveryPub }

// Close closes the database and wipes the keys held in memory.
func (c *Clinic) Close() error {
	if c.audit != nil {
		c.FlushRejected()
		// No more events; then sign what was appended, so that the work
		// of a command-line run is in a checkpoint too.
		c.audit.Close()
		c.audit.Sign(context.Background())
	}
	// After the last signing: an alert it raises (a cut log) still goes
	// out on the clinic's channels.
	c.closeTripwires()
	c.mu.Lock()
	for id, s := range c.tokens {
		s.wipe()
		delete(c.tokens, id)
	}
	c.mu.Unlock()
	for _, k := range []*seal.Key{c.dirKey, c.idxKey, c.pubMAC, c.stateMAC, c.credWrap, c.credMAC, c.tlsWrap, c.tokenWrap} {
		k.Wipe()
	}
	return c.db.Close()
}

// InitOptions describe a new clinic.
type InitOptions struct {
	Name          string
	AdminEmail    string
	AdminName     string
	AdminPassword []byte
	// Shares and Threshold split the recovery key (default 3 and 2).
	Shares, Threshold int
	// Canaries is how many canary patients to plan (0: DefaultCanaries;
	// negative: none, for tests that count patients).
	Canaries int
}

// Init creates a clinic in an empty data directory: the database, the
// directory and blind-index keys wrapped by the KEK, the recovery key pair
// (returned only as shares, never stored) and the first admin.
func Init(ctx context.Context, dataDir string, kek *seal.KEK, o InitOptions) (*Clinic, []seal.RecoveryShare, error) {
	if o.Shares == 0 {
		o.Shares, o.Threshold = 3, 2
	}
	if o.Name == "" || len(o.Name) > 200 {
		return nil, nil, hush.Errorf(hush.EINVALID, "clinic name must be 1 to 200 characters")
	}
	db, err := store.Open(ctx, dataDir)
	if err != nil {
		return nil, nil, err
	}
	c := &Clinic{db: db, dataDir: dataDir, now: time.Now, tokens: map[string]*tokenSession{}, pwSem: make(chan struct{}, 4)}
	c.kekKeys(kek)
	c.id = newID()
	c.name = o.Name
	c.dirKey = seal.NewKey()
	c.idxKey = seal.NewKey()
	recovery, err := seal.GeneratePrivateKey()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	c.recoveryPub = recovery.Public()
	shares, err := seal.SplitRecovery(recovery, o.Threshold, o.Shares)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	wrap := kek.Derive("clinic key wrap v1")
	defer wrap.Wipe()
	dirBytes, idxBytes := c.dirKey.KeyBytesForEscrow(), c.idxKey.KeyBytesForEscrow()
	escrow, err := seal.SealToPublic(c.recoveryPub, seal.AD("hush recovery escrow v1", c.id), append(dirBytes, idxBytes...))
	clear(dirBytes)
	clear(idxBytes)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	auditMeta, err := c.newAuditKey(kek)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	err = db.ReadWrite(ctx, func(tx *store.Tx) error {
		if _, err := tx.Meta(metaClinicID); err == nil {
			return hush.Errorf(hush.ECONFLICT, "the data directory already holds a clinic")
		}
		for _, kv := range append([]struct {
			k string
			v []byte
		}{
			{metaClinicID, []byte(c.id)},
			{metaClinicName, []byte(c.name)},
			{metaKEKCheck, wrap.Seal([]byte("hush kek check"), seal.AD("hush kek check v1", c.id))},
			{metaDirectoryKey, wrap.Wrap(c.dirKey, seal.AD("hush directory key v1", c.id))},
			{metaIndexKey, wrap.Wrap(c.idxKey, seal.AD("hush index key v1", c.id))},
			{metaRecoveryPublic, c.recoveryPub.Bytes()},
			{metaRecoveryEscrow, escrow},
		}, auditMeta...) {
			if err := tx.PutMeta(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	c.dir = newDirectory(c)
	if err := c.openAudit(ctx, kek); err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := db.ReadWrite(ctx, c.audit.InitHead); err != nil {
		c.Close()
		return nil, nil, err
	}
	if err := c.checkIntegrity(ctx); err != nil {
		c.Close()
		return nil, nil, err
	}
	if err := c.startTripwires(ctx); err != nil {
		c.Close()
		return nil, nil, err
	}
	if _, err := c.AddUser(ctx, NewUser{Email: o.AdminEmail, Name: o.AdminName, Role: hush.RoleAdmin, Password: o.AdminPassword}); err != nil {
		c.Close()
		return nil, nil, err
	}
	if o.Canaries >= 0 {
		n := o.Canaries
		if n == 0 {
			n = DefaultCanaries
		}
		if err := c.PlanCanaries(ctx, n); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return c, shares, nil
}

// Open opens an existing clinic with its KEK.
func Open(ctx context.Context, dataDir string, kek *seal.KEK) (*Clinic, error) {
	db, err := store.Open(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	c := &Clinic{db: db, dataDir: dataDir, now: time.Now, tokens: map[string]*tokenSession{}, pwSem: make(chan struct{}, 4)}
	c.kekKeys(kek)
	if err := c.loadKeys(ctx, kek); err != nil {
		db.Close()
		return nil, err
	}
	c.dir = newDirectory(c)
	if err := c.openAudit(ctx, kek); err != nil {
		db.Close()
		return nil, err
	}
	// Stamp (once) and check the security state before anything is read
	// or granted with it.
	if err := c.checkIntegrity(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.checkAnchors(ctx, c.stateBad.Load()); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.dir.refresh(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.startTripwires(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.flushIntegrity(ctx)
	if c.stateBad.Load() {
		c.Close()
		return nil, hush.Errorf(hush.EINTERNAL, "the security state in the data directory does not match its digest: rows were changed or put back outside Hush; refusing to start (the clinic was alerted; see docs/operations.md)")
	}
	if c.recoveryBad {
		// Every new record, epoch and process note is granted to the
		// recovery key: one swapped in would read them all. Refuse to run.
		c.Close()
		return nil, hush.Errorf(hush.EINTERNAL, "the stored recovery public key fails its integrity check: it was changed outside Hush; refusing to start (the clinic was alerted; see docs/operations.md)")
	}
	// Token keys sealed before the KEK wrap get it now, and the keys of
	// tokens that expired while the clinic was closed are erased, before
	// anything is served.
	if err := c.wrapTokenKeys(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.EraseTokenKeys(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.rememberEndedTokens(ctx)
	return c, nil
}

// loadKeys checks the KEK against the database and unwraps the clinic keys.
func (c *Clinic) loadKeys(ctx context.Context, kek *seal.KEK) error {
	wrap := kek.Derive("clinic key wrap v1")
	defer wrap.Wipe()
	return c.db.Read(ctx, func(tx *store.Tx) error {
		id, err := tx.Meta(metaClinicID)
		if err != nil {
			return hush.Errorf(hush.ENOTFOUND, "no clinic in this data directory (run hush init first)")
		}
		c.id = string(id)
		name, err := tx.Meta(metaClinicName)
		if err != nil {
			return err
		}
		c.name = string(name)
		check, err := tx.Meta(metaKEKCheck)
		if err != nil {
			return err
		}
		if _, err := wrap.Open(check, seal.AD("hush kek check v1", c.id)); err != nil {
			return hush.Errorf(hush.EUNAUTHORIZED, "the key file does not open this clinic (wrong --kek-file?)")
		}
		b, err := tx.Meta(metaDirectoryKey)
		if err != nil {
			return err
		}
		if c.dirKey, err = wrap.Unwrap(b, seal.AD("hush directory key v1", c.id)); err != nil {
			return hush.Wrap(hush.EINTERNAL, "the directory key does not open", err)
		}
		if b, err = tx.Meta(metaIndexKey); err != nil {
			return err
		}
		if c.idxKey, err = wrap.Unwrap(b, seal.AD("hush index key v1", c.id)); err != nil {
			return hush.Wrap(hush.EINTERNAL, "the index key does not open", err)
		}
		if b, err = tx.Meta(metaRecoveryPublic); err != nil {
			return err
		}
		c.recoveryPub, err = seal.ParsePublicKey(b)
		return err
	})
}

// Backup writes a verified snapshot of the clinic's database to path. The
// snapshot is as sealed as the live database: clinical content opens only
// with clinicians' keys or the recovery shares, directory data only with the
// KEK.
func (c *Clinic) Backup(ctx context.Context, path string, kek *seal.KEK) (BackupReport, error) {
	// An export is audited before it is written: no event, no backup.
	if err := c.audit.Append(ctx, c.event(ctx, audit.ActBackup, "", path, nil)); err != nil {
		return BackupReport{}, err
	}
	if err := c.db.Backup(ctx, path); err != nil {
		return BackupReport{}, c.logDenied(ctx, err, c.event(ctx, audit.ActBackup, "", path, err))
	}
	rep, err := VerifyBackup(ctx, path, kek)
	return rep, c.logDenied(ctx, err, c.event(ctx, audit.ActBackup, "", path, err))
}

// BackupReport says what a verified backup holds.
type BackupReport struct {
	Users, Patients, NoteVersions, Grants int
}

// VerifyBackup opens a backup read-only, runs SQLite's integrity check,
// checks that the KEK opens it and that every directory entry decrypts, and
// counts what it holds.
func VerifyBackup(ctx context.Context, path string, kek *seal.KEK) (BackupReport, error) {
	var rep BackupReport
	db, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		return rep, err
	}
	defer db.Close()
	if ok, err := db.Pragma(ctx, "integrity_check"); err != nil || ok != "ok" {
		return rep, hush.Wrap(hush.EINTERNAL, "the backup fails SQLite's integrity check", err)
	}
	c := &Clinic{db: db, now: time.Now, tokens: map[string]*tokenSession{}}
	c.kekKeys(kek)
	if err := c.loadKeys(ctx, kek); err != nil {
		return rep, err
	}
	c.dir = newDirectory(c)
	if err := c.dir.refresh(ctx); err != nil {
		return rep, err
	}
	err = db.Read(ctx, func(tx *store.Tx) error {
		us, err := tx.Users()
		if err != nil {
			return err
		}
		for _, u := range us {
			if _, err := c.userFromRow(u); err != nil {
				return err
			}
		}
		ns, err := tx.AllNotes()
		if err != nil {
			return err
		}
		gs, err := tx.Grants("")
		rep = BackupReport{Users: len(us), Patients: len(c.dir.byID), NoteVersions: len(ns), Grants: len(gs)}
		return err
	})
	return rep, err
}

// PutTLS stores the server's TLS certificate and its private key, sealed
// under a KEK-derived key.
func (c *Clinic) PutTLS(ctx context.Context, certPEM, keyPEM []byte) error {
	return c.writeTx(ctx, func(tx *store.Tx) error {
		if err := tx.PutMeta(metaTLSCert, certPEM); err != nil {
			return err
		}
		return tx.PutMeta(metaTLSKey, c.tlsWrap.Seal(keyPEM, seal.AD("hush tls key v1", c.id)))
	})
}

// TLS returns the stored certificate and private key (PEM).
func (c *Clinic) TLS(ctx context.Context) (certPEM, keyPEM []byte, err error) {
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		if certPEM, err = tx.Meta(metaTLSCert); err != nil {
			return err
		}
		sealed, err := tx.Meta(metaTLSKey)
		if err != nil {
			return err
		}
		keyPEM, err = c.tlsWrap.Open(sealed, seal.AD("hush tls key v1", c.id))
		return err
	})
	return certPEM, keyPEM, err
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *Clinic) millis() int64 { return c.now().UnixMilli() }

// actor returns the actor in ctx or EUNAUTHORIZED.
func actor(ctx context.Context) (*hush.Actor, error) {
	a := hush.ActorFrom(ctx)
	if a == nil {
		return nil, hush.Errorf(hush.EUNAUTHORIZED, "sign in first")
	}
	return a, nil
}

var errNoClinical = hush.Errorf(hush.EFORBIDDEN, "reception and admin accounts cannot open clinical content")

func isNotFound(err error) bool { return hush.ErrorCode(err) == hush.ENOTFOUND }

func internal(what string, err error) error {
	var he *hush.Error
	if errors.As(err, &he) {
		return err
	}
	return hush.Wrap(hush.EINTERNAL, what, fmt.Errorf("%w", err))
}

// SetClock replaces the clinic's clock: for tests and for replaying a
// recorded day. Production code never calls it.
func (c *Clinic) SetClock(now func() time.Time) { c.now = now }

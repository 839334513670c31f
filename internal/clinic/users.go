package clinic

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// MinPasswordLength is the shortest password Hush accepts. Staff sign in
// with a second factor too (web app), so length matters more than rules.
const MinPasswordLength = 12

// NewUser describes an account to create.
type NewUser struct {
	Email     string
	Name      string
	Role      hush.Role
	Password  []byte
	PatientID string // for a patient account: the patient's own record
}

type profile struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// NormalizeEmail lower-cases and trims an email address and checks its shape.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	at := strings.IndexByte(e, '@')
	if len(e) > 254 || at < 1 || at == len(e)-1 || strings.ContainsAny(e, " \t\r\n<>,;\"") || strings.Count(e, "@") != 1 || !utf8.ValidString(e) || hasBidiControl(e) {
		return "", hush.Errorf(hush.EINVALID, "email address is not valid")
	}
	return e, nil
}

func checkName(what, s string) error {
	if strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > 200 || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n") {
		return hush.Errorf(hush.EINVALID, "%s must be 1 to 200 characters on one line", what)
	}
	if strings.ContainsRune(s, utf8.RuneError) {
		return hush.Errorf(hush.EINVALID, "%s holds a replacement character (U+FFFD): the text was damaged on its way", what)
	}
	if hasBidiControl(s) {
		return hush.Errorf(hush.EINVALID, "%s holds a bidirectional override or isolate character", what)
	}
	return nil
}

func (c *Clinic) emailIndex(email string) []byte {
	return c.idxKey.MAC(seal.AD("hush email index v1", email))
}

// AddUser creates a staff account with a fresh key pair sealed under the
// password. It is an operator action (KEK holder), so it takes no actor.
func (c *Clinic) AddUser(ctx context.Context, nu NewUser) (hush.User, error) {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return hush.User{}, err
	}
	if err := checkName("name", nu.Name); err != nil {
		return hush.User{}, err
	}
	if _, err := hush.ParseRole(string(nu.Role)); err != nil {
		return hush.User{}, err
	}
	if (nu.Role == hush.RolePatient) != (nu.PatientID != "") {
		return hush.User{}, hush.Errorf(hush.EINVALID, "a patient account needs its patient id, and only a patient account has one")
	}
	if utf8.RuneCount(nu.Password) < MinPasswordLength {
		return hush.User{}, hush.Errorf(hush.EINVALID, "password must be at least %d characters", MinPasswordLength)
	}
	priv, err := seal.GeneratePrivateKey()
	if err != nil {
		return hush.User{}, internal("generate key", err)
	}
	u := hush.User{ID: newID(), Role: nu.Role, PatientID: nu.PatientID, Name: strings.TrimSpace(nu.Name), Email: email, Active: true, CreatedAt: c.now().UTC()}
	prof, _ := json.Marshal(profile{Name: u.Name, Email: u.Email})
	defer clear(prof)
	pub := priv.Public().Bytes()
	salt := seal.NewSalt()
	cred := seal.FromPassword(nu.Password, salt)
	defer cred.Wrap.Wipe()
	row := store.UserRow{
		ID:           u.ID,
		Role:         string(u.Role),
		PatientID:    u.PatientID,
		Active:       true,
		EmailIndex:   c.emailIndex(email),
		Profile:      c.dirKey.Seal(prof, seal.AD("hush user profile v1", u.ID)),
		PublicKey:    pub,
		PublicKeyMAC: c.pubKeyMAC(u.ID, u.Role, 1, pub),
		KeyGen:       1,
		PwSalt:       salt,
		PwVerifier:   c.credMAC.MAC(seal.AD("hush password verifier v1", u.ID, string(cred.Verifier))),
		PwKey:        c.credWrap.Seal(seal.SealPrivateKey(priv, cred.Wrap, seal.AD("hush user key password v1", u.ID)), seal.AD("hush user key kek v1", u.ID)),
		CreatedAt:    u.CreatedAt.UnixMilli(),
	}
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		if u.PatientID != "" {
			if _, err := tx.PatientByID(u.PatientID); err != nil {
				return hush.Errorf(hush.EINVALID, "no patient with this id")
			}
		}
		if err := tx.InsertUser(row); err != nil {
			return err
		}
		if err := c.stampUser(tx, row.ID); err != nil {
			return err
		}
		_, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActUserAdd, u.PatientID, u.ID, nil))
		return err
	})
	if hush.ErrorCode(err) == hush.ECONFLICT {
		return hush.User{}, hush.Errorf(hush.ECONFLICT, "an account with this email already exists")
	}
	return u, err
}

func (c *Clinic) userFromRow(r store.UserRow) (hush.User, error) {
	if err := c.checkUser(r); err != nil {
		return hush.User{}, err
	}
	b, err := c.dirKey.Open(r.Profile, seal.AD("hush user profile v1", r.ID))
	if err != nil {
		return hush.User{}, hush.Wrap(hush.EINTERNAL, "a user profile does not open", err)
	}
	var p profile
	if err := json.Unmarshal(b, &p); err != nil {
		return hush.User{}, internal("decode profile", err)
	}
	return hush.User{ID: r.ID, Role: hush.Role(r.Role), PatientID: r.PatientID, Name: p.Name, Email: p.Email, Active: r.Active, CreatedAt: time.UnixMilli(r.CreatedAt).UTC()}, nil
}

// User returns a staff account by id (the staff directory). Patient
// accounts are not staff: they are not found here, so that their names and
// emails are reached only through the audited patient directory.
func (c *Clinic) User(ctx context.Context, id string) (hush.User, error) {
	a := hush.ActorFrom(ctx)
	if a != nil && !isStaff(a.Role) {
		return hush.User{}, errStaffOnly
	}
	u, err := c.user(ctx, id)
	if err == nil && a != nil && u.Role == hush.RolePatient {
		return hush.User{}, hush.Errorf(hush.ENOTFOUND, "user not found")
	}
	return u, err
}

func (c *Clinic) user(ctx context.Context, id string) (hush.User, error) {
	var u hush.User
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		r, err := tx.UserByID(id)
		if err != nil {
			return err
		}
		u, err = c.userFromRow(r)
		return err
	})
	return u, err
}

// UserByEmail returns a staff account by email.
func (c *Clinic) UserByEmail(ctx context.Context, email string) (hush.User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return hush.User{}, err
	}
	var u hush.User
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		r, err := tx.UserByEmailIndex(c.emailIndex(e))
		if err != nil {
			return hush.Errorf(hush.ENOTFOUND, "no account with this email")
		}
		u, err = c.userFromRow(r)
		return err
	})
	return u, err
}

// UserIDByEmail returns the id of the account with an email without
// checking the row's integrity: for the operator's repairs (reset a second
// factor, deactivate) of an account whose stored state failed its check.
// Operator only (no actor in ctx).
func (c *Clinic) UserIDByEmail(ctx context.Context, email string) (string, error) {
	if hush.ActorFrom(ctx) != nil {
		return "", hush.Errorf(hush.EFORBIDDEN, "only the operator looks up accounts this way")
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	var id string
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		r, err := tx.UserByEmailIndex(c.emailIndex(e))
		if err != nil {
			return hush.Errorf(hush.ENOTFOUND, "no account with this email")
		}
		id = r.ID
		return nil
	})
	return id, err
}

// Users returns every staff account, optionally only those whose name or
// email starts with (any word of) prefix.
func (c *Clinic) Users(ctx context.Context, prefix string) ([]hush.User, error) {
	if a := hush.ActorFrom(ctx); a != nil && !isStaff(a.Role) {
		return nil, errStaffOnly
	}
	var out []hush.User
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Users()
		if err != nil {
			return err
		}
		for _, r := range rows {
			u, err := c.userFromRow(r)
			if err == errIntegrity {
				continue // alerted; not shown as if it were an account
			}
			if err != nil {
				return err
			}
			if hush.ActorFrom(ctx) != nil && u.Role == hush.RolePatient {
				continue // patient accounts are not in the staff directory
			}
			if prefix == "" || matchPrefix(prefix, u.Name, u.Email) {
				out = append(out, u)
			}
		}
		return nil
	})
	return out, err
}

// Active reports whether an account exists, is active and is not frozen.
func (c *Clinic) Active(ctx context.Context, userID string) (bool, error) {
	var ok bool
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByID(userID)
		ok = err == nil && u.Active && !u.FrozenAt.Valid && c.checkUser(u) == nil && !c.stateBad.Load()
		if isNotFound(err) {
			return nil
		}
		return err
	})
	return ok, err
}

// userPublicKey returns an active clinician's authenticated public key.
func (c *Clinic) userPublicKey(tx *store.Tx, userID string) (*seal.PublicKey, error) {
	r, err := tx.UserByID(userID)
	if err != nil {
		return nil, hush.Errorf(hush.EINVALID, "practitioner not found")
	}
	if err := c.checkUser(r); err != nil {
		return nil, err
	}
	if !r.Active || r.Role != string(hush.RoleClinician) || r.PublicKey == nil {
		return nil, hush.Errorf(hush.EINVALID, "only an active clinician can be on a care team")
	}
	return seal.ParsePublicKey(r.PublicKey)
}

// SignIn checks a password and unseals the user's private key.
func (c *Clinic) SignIn(ctx context.Context, email string, password []byte) (*hush.Actor, error) {
	if c.pwSem != nil {
		select {
		case c.pwSem <- struct{}{}:
			defer func() { <-c.pwSem }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c.stateBad.Load() {
		return nil, errIntegrity
	}
	bad := hush.Errorf(hush.EUNAUTHORIZED, "email or password is wrong")
	e, err := NormalizeEmail(email)
	if err != nil {
		return nil, bad
	}
	var r store.UserRow
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		r, err = tx.UserByEmailIndex(c.emailIndex(e))
		if err == nil {
			err = c.checkUser(r)
		}
		return err
	})
	if err != nil || !r.Active {
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		seal.FromPassword(password, make([]byte, seal.SaltSize)) // same cost either way
		ev := c.event(ctx, audit.ActLoginFailed, "", "", bad)
		ev.ActorID, ev.ActorRole, ev.Purpose = r.ID, r.Role, audit.PurposeSecurity
		if r.ID == "" {
			ev.Private.Email = e
		}
		if r.ID != "" || c.audit.HasRoomForNoise() {
			// A failure under a name no account has is a stranger's noise:
			// below the disk reserve it is not logged (rejected.go).
			c.audit.Append(ctx, ev)
		}
		return nil, bad
	}
	cred := seal.FromPassword(password, r.PwSalt)
	defer cred.Wrap.Wipe()
	ev := c.event(ctx, audit.ActLogin, "", "", nil)
	ev.ActorID, ev.ActorRole, ev.Purpose = r.ID, r.Role, audit.PurposeSecurity
	if !c.credMAC.VerifyMAC(seal.AD("hush password verifier v1", r.ID, string(cred.Verifier)), r.PwVerifier) {
		ev.Action, ev.Outcome = audit.ActLoginFailed, audit.OutcomeDenied
		c.audit.Append(ctx, ev)
		return nil, bad
	}
	if r.FrozenAt.Valid {
		ev.Action, ev.Outcome = audit.ActLoginFailed, audit.OutcomeDenied
		c.audit.Append(ctx, ev)
		return nil, errFrozen
	}
	if err := c.audit.Append(ctx, ev); err != nil {
		return nil, err
	}
	inner, err := c.credWrap.Open(r.PwKey, seal.AD("hush user key kek v1", r.ID))
	if err != nil {
		return nil, hush.Wrap(hush.EINTERNAL, "the sealed key does not open", err)
	}
	priv, err := seal.OpenPrivateKey(inner, cred.Wrap, seal.AD("hush user key password v1", r.ID))
	if err != nil {
		return nil, hush.Wrap(hush.EINTERNAL, "the sealed key does not open", err)
	}
	return &hush.Actor{UserID: r.ID, Role: hush.Role(r.Role), Key: priv, Session: &hush.SeedCache{}}, nil
}

// DeactivateUser ends an account: it stays in the record (the audit trail
// and patients' views stay attributable) but its key pair is destroyed, its
// tokens revoked, its grants deleted and its care-team memberships ended.
// Records it alone held are reachable again only through recovery.
func (c *Clinic) DeactivateUser(ctx context.Context, email string) error {
	// Deactivation only takes capability away, so it also ends an account
	// whose stored state failed its integrity check (the operator's repair).
	var u hush.User
	id, err := c.UserIDByEmail(ctx, email)
	if hush.ErrorCode(err) == hush.EFORBIDDEN {
		u, err = c.UserByEmail(ctx, email)
	}
	if err != nil {
		return err
	}
	if u.ID == "" {
		u.ID = id
	}
	now := c.millis()
	var touched []string
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		// Every record the user could open gets a new epoch without them,
		// so that a copy of their old key (an old backup and their password)
		// opens nothing written from now on.
		patients, err := tx.PatientsOf(u.ID)
		if err != nil {
			return err
		}
		for _, pid := range patients {
			team, err := tx.CareTeam(pid)
			if err != nil {
				return err
			}
			stay := team[:0:0]
			for _, id := range team {
				if id != u.ID {
					stay = append(stay, id)
				}
			}
			if err := c.rekey(tx, pid, stay, now); err != nil {
				return err
			}
		}
		touched = patients
		for _, pid := range patients {
			if _, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActRevoke, pid, u.ID, nil)); err != nil {
				return err
			}
		}
		if err := tx.DeactivateUser(u.ID, now); err != nil {
			return err
		}
		if err := c.stampUser(tx, u.ID); err != nil {
			return err
		}
		if _, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActUserDeactivate, "", u.ID, nil)); err != nil {
			return err
		}
		if err := tx.RevokeTokensOf(u.ID, now); err != nil {
			return err
		}
		if err := tx.DeleteGrants("", userPrincipal(u.ID)); err != nil {
			return err
		}
		if err := tx.RemoveFromAllCareTeams(u.ID, "operator", now); err != nil {
			return err
		}
		for _, pid := range patients {
			if err := c.teamChanged(tx, pid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.dropSessionsOf(u.ID)
	for _, pid := range touched {
		c.forgetSeeds(pid)
	}
	c.checkpointOrLog(ctx) // the revoked tokens' keys leave the disk files
	return nil
}

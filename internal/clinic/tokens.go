package clinic

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// API tokens look like hush_<id>_<secret>: a 16-byte random id (hex) to find
// the row and a 32-byte random secret (base64url) that nothing stores. The
// secret derives (HKDF) a verifier and the key that seals the user's private
// key under this token; that sealed key is wrapped again under a KEK-derived
// key (tokenWrap), as the password-sealed one is, so a token and a copy of
// the database (or a backup) open nothing without the KEK. The sealed key is
// erased when the token is revoked or expires (EraseTokenKeys), and the
// write-ahead log is checkpointed so the erased bytes leave the disk files.
const tokenPrefix = "hush_"

// tokenKeyAD binds a token-sealed private key to its user and token: the
// inner seal under the token's secret, and the outer KEK wrap.
func tokenKeyAD(userID, tokenID string) []byte {
	return seal.AD("hush user key token v1", userID, tokenID)
}

func (c *Clinic) tokenWrapAD(userID, tokenID string) []byte {
	return seal.AD("hush user key token kek v1", c.id, userID, tokenID)
}

// TokenIdle is how long an unlocked token session stays in memory unused.
const TokenIdle = 15 * time.Minute

// DefaultTokenTTL is a token's lifetime unless the operator says otherwise.
const DefaultTokenTTL = 90 * 24 * time.Hour

// Token is a created API token.
type Token struct {
	ID        string
	Secret    string // the whole bearer token; shown once
	ExpiresAt time.Time
}

type tokenSession struct {
	actor    *hush.Actor
	verifier []byte
	lastUsed time.Time
}

func (s *tokenSession) wipe() { s.actor.Session.Wipe() }

// CreateToken signs the user in with their password and creates an API token
// that unlocks their private key. ttl 0 means DefaultTokenTTL.
func (c *Clinic) CreateToken(ctx context.Context, email string, password []byte, ttl time.Duration) (Token, error) {
	a, err := c.SignIn(ctx, email, password)
	if err != nil {
		return Token{}, err
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	var idb [16]byte
	secret := make([]byte, 32)
	rand.Read(idb[:])
	rand.Read(secret)
	defer clear(secret)
	id := hex.EncodeToString(idb[:])
	cred := seal.FromToken(secret, id)
	defer cred.Wrap.Wipe()
	now := c.now()
	exp := now.Add(ttl)
	row := store.TokenRow{
		ID:         id,
		UserID:     a.UserID,
		Verifier:   c.credMAC.MAC(seal.AD("hush token verifier v1", id, string(cred.Verifier))),
		SealedKey:  c.tokenWrap.Seal(seal.SealPrivateKey(a.Key, cred.Wrap, tokenKeyAD(a.UserID, id)), c.tokenWrapAD(a.UserID, id)),
		KeyWrapped: true,
		CreatedAt:  now.UnixMilli(),
		ExpiresAt:  sql.NullInt64{Int64: exp.UnixMilli(), Valid: true},
	}
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertToken(row); err != nil {
			return err
		}
		_, err := c.audit.AppendTx(tx, c.event(hush.WithActor(ctx, a), audit.ActTokenCreate, "", id, nil))
		return err
	})
	if err != nil {
		return Token{}, err
	}
	return Token{ID: id, Secret: tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret), ExpiresAt: exp.UTC()}, nil
}

// Authenticate resolves a bearer token to an actor with an unlocked key.
// The token row is read on every call, so a revocation, an expiry or a
// deactivation takes effect at the next request; the unlocked key is cached
// for TokenIdle so that HPKE and HKDF do not run on every request.
func (c *Clinic) Authenticate(ctx context.Context, bearer string) (*hush.Actor, error) {
	a, id, err := c.authenticate(ctx, bearer)
	if err != nil && hush.ErrorCode(err) == hush.EUNAUTHORIZED {
		ev := c.event(ctx, audit.ActTokenRejected, "", id, err)
		ev.ActorID, ev.ActorRole, ev.Purpose = "", "", audit.PurposeSecurity // unauthenticated
		c.rejected(ctx, ev)                                                  // throttled per source and minute
	}
	return a, err
}

func (c *Clinic) authenticate(ctx context.Context, bearer string) (*hush.Actor, string, error) {
	a, err := c.authenticateToken(ctx, bearer)
	id := ""
	if rest, ok := strings.CutPrefix(bearer, tokenPrefix); ok {
		if tid, _, ok := strings.Cut(rest, "_"); ok && len(tid) == 32 {
			if _, herr := hex.DecodeString(tid); herr == nil {
				id = tid
			}
		}
	}
	return a, id, err
}

func (c *Clinic) authenticateToken(ctx context.Context, bearer string) (*hush.Actor, error) {
	if c.stateBad.Load() {
		// The security state in the file no longer matches its digest: no
		// credential is trusted until the clinic is restored.
		return nil, errIntegrity
	}
	bad := hush.Errorf(hush.EUNAUTHORIZED, "the token is not valid, expired or revoked")
	rest, ok := strings.CutPrefix(bearer, tokenPrefix)
	if !ok {
		return nil, bad
	}
	id, secretText, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 32 {
		return nil, bad
	}
	secret, err := base64.RawURLEncoding.DecodeString(secretText)
	if err != nil || len(secret) != 32 {
		return nil, bad
	}
	defer clear(secret)
	var tok store.TokenRow
	var user store.UserRow
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		if tok, err = tx.TokenByID(id); err != nil {
			return err
		}
		user, err = tx.UserByID(tok.UserID)
		return err
	})
	if isNotFound(err) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	now := c.now()
	if tokenEnded(tok, now) || !user.Active {
		c.endedTokens.Store(id, true)
		c.dropSession(id)
		return nil, bad
	}
	if _, ended := c.endedTokens.Load(id); ended {
		// This process saw the token end; its row says otherwise now: the
		// row was put back in the file.
		c.dropSession(id)
		c.integrityAlert("state", "")
		return nil, bad
	}
	cred := seal.FromToken(secret, id)
	defer cred.Wrap.Wipe()
	verifier := c.credMAC.MAC(seal.AD("hush token verifier v1", id, string(cred.Verifier)))
	if subtle.ConstantTimeCompare(verifier, tok.Verifier) != 1 {
		return nil, bad
	}
	// Only a holder of the token's secret learns that its account is frozen
	// (or that its stored state failed its integrity check).
	if err := c.checkUser(user); err != nil {
		c.dropSession(id)
		return nil, err
	}
	if user.FrozenAt.Valid {
		c.dropSession(id)
		return nil, errFrozen
	}
	c.mu.Lock()
	s := c.tokens[id]
	if s != nil && now.Sub(s.lastUsed) < TokenIdle && subtle.ConstantTimeCompare(s.verifier, verifier) == 1 {
		s.lastUsed = now
		c.mu.Unlock()
		return s.actor, nil
	}
	c.mu.Unlock()
	if !tok.KeyWrapped {
		// Open wraps every older row before serving; an unwrapped row now
		// was written by someone without the KEK.
		return nil, hush.Errorf(hush.EINTERNAL, "a token's sealed key is not wrapped")
	}
	inner, err := c.tokenWrap.Open(tok.SealedKey, c.tokenWrapAD(user.ID, id))
	if err != nil {
		return nil, hush.Wrap(hush.EINTERNAL, "the key sealed under the token does not open", err)
	}
	priv, err := seal.OpenPrivateKey(inner, cred.Wrap, tokenKeyAD(user.ID, id))
	clear(inner)
	if err != nil {
		return nil, hush.Wrap(hush.EINTERNAL, "the key sealed under the token does not open", err)
	}
	a := &hush.Actor{UserID: user.ID, Role: hush.Role(user.Role), Key: priv, Session: &hush.SeedCache{}, Credential: "token:" + id}
	c.mu.Lock()
	if old := c.tokens[id]; old != nil {
		old.wipe()
	}
	c.tokens[id] = &tokenSession{actor: a, verifier: verifier, lastUsed: now}
	c.expireSessionsLocked(now)
	c.mu.Unlock()
	return a, nil
}

// SweepSessions drops sessions that idled out or whose token or account no
// longer holds, and erases the sealed keys of tokens that expired
// (EraseTokenKeys). hush serve runs it every minute.
func (c *Clinic) SweepSessions(ctx context.Context) {
	if err := c.EraseTokenKeys(ctx); err != nil {
		c.logUpkeep("token key erasure failed; the next sweep tries again", err)
	}
	c.rememberEndedTokens(ctx)
	now := c.now()
	c.mu.Lock()
	c.expireSessionsLocked(now)
	ids := make([]string, 0, len(c.tokens))
	for id := range c.tokens {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		valid := false
		c.db.Read(ctx, func(tx *store.Tx) error {
			tok, err := tx.TokenByID(id)
			if err != nil {
				return err
			}
			u, err := c.verifiedUser(tx, tok.UserID)
			if err != nil {
				return err
			}
			valid = !tok.RevokedAt.Valid && u.Active && !u.FrozenAt.Valid && (!tok.ExpiresAt.Valid || now.UnixMilli() < tok.ExpiresAt.Int64)
			return nil
		})
		if !valid {
			c.dropSession(id)
		}
	}
}

func (c *Clinic) expireSessionsLocked(now time.Time) {
	for id, s := range c.tokens {
		if now.Sub(s.lastUsed) >= TokenIdle {
			s.wipe()
			delete(c.tokens, id)
		}
	}
}

func (c *Clinic) dropSession(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.tokens[id]; s != nil {
		s.wipe()
		delete(c.tokens, id)
	}
}

func (c *Clinic) dropSessionsOf(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range c.tokens {
		if s.actor.UserID == userID {
			s.wipe()
			delete(c.tokens, id)
		}
	}
}

// forgetSeeds drops cached seeds of a patient from every session (after a
// care-team change starts a new epoch).
func (c *Clinic) forgetSeeds(patientID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.tokens {
		s.actor.Session.Forget(patientID)
	}
}

// RevokeToken revokes a token: the private key sealed under it is erased
// from the database (and, by a checkpoint, from the files on disk) and its
// session dropped from memory.
func (c *Clinic) RevokeToken(ctx context.Context, id string) error {
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		if err := tx.RevokeToken(id, c.millis()); err != nil {
			return err
		}
		_, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActTokenRevoke, "", id, nil))
		return err
	})
	if err != nil {
		return err
	}
	c.endedTokens.Store(id, true)
	c.dropSession(id)
	if err := c.checkpoint(ctx); err != nil {
		return hush.Wrap(hush.EUNAVAILABLE, "the token is revoked, but its erased key leaves the disk files only at the next checkpoint", err)
	}
	return nil
}

// EraseTokenKeys erases the sealed private key of every expired (or
// revoked) token that still holds one, keeps the row for listing and audit,
// audits each erasure by token id, and checkpoints the write-ahead log so
// that the erased bytes are in neither hush.db nor hush.db-wal. Open runs it,
// and SweepSessions, so an expired token opens nothing even to someone who
// later copies the disk. What a backup taken before holds stays there
// (docs/operations.md).
func (c *Clinic) EraseTokenKeys(ctx context.Context) error {
	var ids []string
	ended := false
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		var err error
		now := c.millis()
		if ids, err = tx.EraseTokenKeys(now); err != nil {
			return err
		}
		// A revocation or erasure by another process (hush token revoke
		// beside hush serve) whose checkpoint readers held up.
		if ended, err = tx.TokensEndedSince(c.ckptAt.Load(), now); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := c.audit.AppendTx(tx, c.systemEvent(audit.ActTokenErase, id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		c.dropSession(id)
	}
	if len(ids) > 0 || ended {
		c.checkpointOrLog(ctx)
	}
	return nil
}

// wrapTokenKeys wraps, under the KEK-derived token key wrap, every token
// key sealed before that wrap existed (migration 0013). The token's secret
// is not needed: the wrap goes around the stored ciphertext.
func (c *Clinic) wrapTokenKeys(ctx context.Context) error {
	n := 0
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.UnwrappedTokens()
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := tx.WrapTokenKey(r.ID, c.tokenWrap.Seal(r.SealedKey, c.tokenWrapAD(r.UserID, r.ID))); err != nil {
				return err
			}
			if _, err := c.audit.AppendTx(tx, c.systemEvent(audit.ActTokenWrap, r.ID)); err != nil {
				return err
			}
		}
		n = len(rows)
		return nil
	})
	if err != nil || n == 0 {
		return err
	}
	c.checkpointOrLog(ctx)
	return nil
}

// systemEvent is an event of the server's own upkeep (not an operator's or
// a user's action) about one entity.
func (c *Clinic) systemEvent(action, entity string) audit.Event {
	return audit.Event{Time: c.now(), ActorID: audit.ActorSystem, ActorRole: "system", Action: action, Entity: entity,
		Purpose: audit.PurposeSecurity, Outcome: audit.OutcomeSuccess}
}

// checkpoint moves the write-ahead log into hush.db and truncates it, after
// an erasure: with secure_delete the erased bytes are then on no page of
// either file. A checkpoint that readers held up is retried by the next
// sweep; the erasure itself is already committed.
func (c *Clinic) checkpoint(ctx context.Context) error {
	start := c.millis()
	if err := c.db.Checkpoint(ctx); err != nil {
		return err
	}
	c.ckptAt.Store(start)
	return nil
}

// checkpointOrLog checkpoints after a committed erasure; a checkpoint that
// did not complete is logged for the operator and retried by the next sweep.
func (c *Clinic) checkpointOrLog(ctx context.Context) {
	if err := c.checkpoint(ctx); err != nil {
		c.logUpkeep("checkpoint after a key erasure did not complete; the next sweep tries again", err)
	}
}

// logUpkeep tells the operator's log that a step of the server's upkeep
// failed. The error carries no user input.
func (c *Clinic) logUpkeep(msg string, err error) {
	if c.trip != nil && c.trip.log != nil {
		c.trip.log.Warn(msg, "error", err)
	}
}

// TokenInfo describes a token without its secret.
type TokenInfo struct {
	ID                              string
	CreatedAt, ExpiresAt, RevokedAt time.Time
}

// Tokens lists a user's tokens.
func (c *Clinic) Tokens(ctx context.Context, email string) ([]TokenInfo, error) {
	u, err := c.UserByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	var out []TokenInfo
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.TokensOf(u.ID)
		for _, r := range rows {
			ti := TokenInfo{ID: r.ID, CreatedAt: time.UnixMilli(r.CreatedAt).UTC()}
			if r.ExpiresAt.Valid {
				ti.ExpiresAt = time.UnixMilli(r.ExpiresAt.Int64).UTC()
			}
			if r.RevokedAt.Valid {
				ti.RevokedAt = time.UnixMilli(r.RevokedAt.Int64).UTC()
			}
			out = append(out, ti)
		}
		return err
	})
	return out, err
}

// tokenEnded reports whether a token row is revoked, expired or erased.
func tokenEnded(t store.TokenRow, now time.Time) bool {
	return t.RevokedAt.Valid || (t.ExpiresAt.Valid && now.UnixMilli() >= t.ExpiresAt.Int64) || len(t.SealedKey) == 0
}

// rememberEndedTokens notes every token the file says has ended. A token
// this process has seen end stays ended for it, whatever a later row says
// (a row put back in the file while the server runs); the state digest
// catches the rest at the next sweep.
func (c *Clinic) rememberEndedTokens(ctx context.Context) {
	now := c.now()
	c.db.Read(ctx, func(tx *store.Tx) error {
		ts, err := tx.AllTokens()
		for _, t := range ts {
			if tokenEnded(t, now) {
				c.endedTokens.Store(t.ID, true)
			}
		}
		return err
	})
}

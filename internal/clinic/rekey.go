package clinic

import (
	"context"
	"sort"
	"unicode/utf8"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// MustChangePassword reports whether the user's key pair came from a
// password someone else chose and must be replaced at this sign-in.
func (c *Clinic) MustChangePassword(ctx context.Context, userID string) (bool, error) {
	var v bool
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		u, err := c.verifiedUser(tx, userID)
		v = u.MustChange
		return err
	})
	return v, err
}

// ChangePassword replaces the actor's password and key pair. A new key pair
// is made and stored; every grant the old key opens (care-team records,
// private process notes) is re-sealed to the new one, so the user keeps
// reading history; then every record the user holds a grant to starts a new
// key epoch, granted to its whole current care team and the recovery key
// (rekey), so that whoever knew the old key — the admin who chose the first
// password, holding the KEK and an earlier copy of the disk — opens nothing
// written from now on. The private key is sealed under the new password and
// every API token (sealed under the old key) is revoked. All in one
// transaction. The actor's key is swapped in place, so the session goes on
// with the new key.
func (c *Clinic) ChangePassword(ctx context.Context, newPassword []byte) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if a.Key == nil {
		return hush.Errorf(hush.EUNAUTHORIZED, "sign in first")
	}
	if utf8.RuneCount(newPassword) < MinPasswordLength {
		return hush.Errorf(hush.EINVALID, "password must be at least %d characters", MinPasswordLength)
	}
	priv, err := seal.GeneratePrivateKey()
	if err != nil {
		return internal("generate key", err)
	}
	pub := priv.Public()
	now := c.millis()
	var rekeyed []string
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		u, err := c.verifiedUser(tx, a.UserID)
		if err != nil {
			return err
		}
		if c.credMAC.VerifyMAC(seal.AD("hush password verifier v1", u.ID, string(seal.FromPassword(newPassword, u.PwSalt).Verifier)), u.PwVerifier) {
			return hush.Errorf(hush.EINVALID, "choose a password different from the one you were given")
		}
		// The new public key goes in first: the new epochs below are
		// granted to the stored, authenticated key of each team member.
		salt := seal.NewSalt()
		cred := seal.FromPassword(newPassword, salt)
		defer cred.Wrap.Wipe()
		pb := pub.Bytes()
		u.KeyGen++ // a new generation: the retired key's MAC no longer verifies
		u.PublicKey, u.PublicKeyMAC, u.PwSalt = pb, c.pubKeyMAC(u.ID, hush.Role(u.Role), u.KeyGen, pb), salt
		u.PwVerifier = c.credMAC.MAC(seal.AD("hush password verifier v1", u.ID, string(cred.Verifier)))
		u.PwKey = c.credWrap.Seal(seal.SealPrivateKey(priv, cred.Wrap, seal.AD("hush user key password v1", u.ID)), seal.AD("hush user key kek v1", u.ID))
		if err := tx.ReplaceUserKeys(u); err != nil {
			return err
		}
		if err := c.stampUser(tx, u.ID); err != nil {
			return err
		}
		grants, err := tx.GrantsOf(userPrincipal(a.UserID))
		if err != nil {
			return err
		}
		held := map[string]bool{}
		for _, g := range grants {
			gc := seal.GrantContext{Clinic: c.id, Record: g.PatientID, Epoch: g.Epoch, Principal: g.Principal}
			seed, err := a.Key.OpenGrant(gc, g.Sealed)
			if err != nil {
				return hush.Wrap(hush.EINTERNAL, "a grant does not open with the current key", err)
			}
			sealed, err := seal.SealGrant(pub, gc, seed)
			seed.Wipe()
			if err != nil {
				return internal("seal grant", err)
			}
			if err := tx.ReplaceGrant(store.GrantRow{PatientID: g.PatientID, Epoch: g.Epoch, Principal: g.Principal, Sealed: sealed, CreatedAt: now}); err != nil {
				return err
			}
			held[g.PatientID] = true
		}
		prs, err := tx.PrivateRecordsOf(a.UserID)
		if err != nil {
			return err
		}
		for _, r := range prs {
			gc := seal.GrantContext{Clinic: c.id, Record: privateRecord(r.PatientID, a.UserID), Epoch: 1, Principal: userPrincipal(a.UserID)}
			seed, err := a.Key.OpenGrant(gc, r.AuthorGrant)
			if err != nil {
				return hush.Wrap(hush.EINTERNAL, "a private grant does not open with the current key", err)
			}
			sealed, err := seal.SealGrant(pub, gc, seed)
			seed.Wipe()
			if err != nil {
				return internal("seal grant", err)
			}
			if err := tx.ReplacePrivateAuthorGrant(r.PatientID, a.UserID, sealed); err != nil {
				return err
			}
		}
		// A new epoch for every record the old key opened: the old epochs
		// keep their grants (and the user's, re-sealed above), new notes
		// go under a seed the old key never saw.
		for pid := range held {
			rekeyed = append(rekeyed, pid)
		}
		sort.Strings(rekeyed)
		for _, pid := range rekeyed {
			team, err := tx.CareTeam(pid)
			if err != nil {
				return err
			}
			if err := c.rekey(tx, pid, team, now); err != nil {
				return err
			}
			if _, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActRekey, pid, u.ID, nil)); err != nil {
				return err
			}
		}
		if err := tx.RevokeTokensOf(u.ID, now); err != nil {
			return err
		}
		ev := c.event(ctx, audit.ActUserRekey, "", u.ID, nil)
		ev.Purpose = audit.PurposeSecurity
		_, err = c.audit.AppendTx(tx, ev)
		return err
	})
	if err != nil {
		return err
	}
	c.dropSessionsOf(a.UserID) // API token sessions held the old key
	for _, pid := range rekeyed {
		c.forgetSeeds(pid) // other sessions cached the old epoch as current
	}
	a.Session.Wipe()
	a.Key = priv
	// The revoked tokens' keys and the old password-sealed key leave the
	// disk files; if readers hold the log, the next sweep checkpoints.
	c.checkpointOrLog(ctx)
	c.notifyHolder(ctx, a.UserID, alert.Notice{Kind: alert.NoticePassword})
	return nil
}

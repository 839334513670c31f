package clinic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// Security keys (WebAuthn credentials) are a second factor beside TOTP: a
// key proves the person at the browser holds the device; like TOTP it
// unseals nothing (the password still unlocks the user's private key).
// The clinic keeps each credential opaque (the web layer speaks WebAuthn),
// sealed under a KEK-derived key bound to the user and the credential id.

// SecurityKey is one registered WebAuthn credential.
type SecurityKey struct {
	ID        []byte    // the credential id
	Name      string    // the user's label for it
	Data      []byte    // the WebAuthn credential state (public key, counter), opaque here
	CreatedAt time.Time `json:"-"`
}

// MaxSecurityKeys bounds the keys one account may register.
const MaxSecurityKeys = 10

func (c *Clinic) securityKeyAD(userID string, id []byte) []byte {
	return seal.AD("hush security key v1", c.id, userID, base64.RawURLEncoding.EncodeToString(id))
}

func (c *Clinic) sealSecurityKey(userID string, k SecurityKey) []byte {
	b, _ := json.Marshal(k)
	return c.credWrap.Seal(b, c.securityKeyAD(userID, k.ID))
}

// SecurityKeys returns a user's registered keys. The web sign-in asks
// before the second factor is checked, so it takes the user id rather
// than the actor.
func (c *Clinic) SecurityKeys(ctx context.Context, userID string) ([]SecurityKey, error) {
	var out []SecurityKey
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.SecurityKeys(userID)
		if err != nil {
			return err
		}
		for _, r := range rows {
			b, err := c.credWrap.Open(r.Sealed, c.securityKeyAD(userID, r.ID))
			if err != nil {
				return hush.Wrap(hush.EINTERNAL, "a security key does not open", err)
			}
			var k SecurityKey
			if err := json.Unmarshal(b, &k); err != nil {
				return hush.Wrap(hush.EINTERNAL, "a security key does not decode", err)
			}
			k.CreatedAt = time.UnixMilli(r.CreatedAt).UTC()
			out = append(out, k)
		}
		return nil
	})
	return out, err
}

// AddSecurityKey registers a key for the signed-in user themselves.
func (c *Clinic) AddSecurityKey(ctx context.Context, k SecurityKey) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if len(k.ID) == 0 || len(k.ID) > 1023 || len(k.Data) == 0 || len(k.Data) > 16<<10 {
		return hush.Errorf(hush.EINVALID, "a security key needs a credential id and its data")
	}
	if k.Name == "" || len(k.Name) > 60 || strings.IndexFunc(k.Name, unicode.IsControl) >= 0 {
		return hush.Errorf(hush.EINVALID, "a security key's name is 1 to 60 characters")
	}
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		if _, err := c.verifiedUser(tx, a.UserID); err != nil {
			return err
		}
		have, err := tx.SecurityKeys(a.UserID)
		if err != nil {
			return err
		}
		if len(have) >= MaxSecurityKeys {
			return hush.Errorf(hush.ECONFLICT, "an account holds at most %d security keys", MaxSecurityKeys)
		}
		if err := tx.PutSecurityKey(store.SecurityKeyRow{ID: k.ID, UserID: a.UserID, Sealed: c.sealSecurityKey(a.UserID, k), CreatedAt: c.now().UnixMilli()}); err != nil {
			return err
		}
		if err := c.stampUser(tx, a.UserID); err != nil {
			return err
		}
		ev := c.event(ctx, audit.ActSecurityKeyAdd, "", a.UserID, nil)
		ev.Purpose = audit.PurposeSecurity
		_, err = c.audit.AppendTx(tx, ev)
		return err
	})
	if err == nil {
		c.notifyHolder(ctx, a.UserID, alert.Notice{Kind: alert.NoticeKeyAdded})
	}
	return err
}

// RemoveSecurityKey removes one of the signed-in user's keys.
func (c *Clinic) RemoveSecurityKey(ctx context.Context, id []byte) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		if _, err := c.verifiedUser(tx, a.UserID); err != nil {
			return err
		}
		if err := tx.DeleteSecurityKey(a.UserID, id); err != nil {
			return err
		}
		if err := c.stampUser(tx, a.UserID); err != nil {
			return err
		}
		ev := c.event(ctx, audit.ActSecurityKeyRemove, "", a.UserID, nil)
		ev.Purpose = audit.PurposeSecurity
		_, err := c.audit.AppendTx(tx, ev)
		return err
	})
	if err == nil {
		c.notifyHolder(ctx, a.UserID, alert.Notice{Kind: alert.NoticeKeyRemoved})
	}
	return err
}

// SecurityKeyUsed records a sign-in attempt with a security key: on
// success (verr == nil) the key's new state (its counter) is stored. Every
// attempt is audited like a TOTP code.
func (c *Clinic) SecurityKeyUsed(ctx context.Context, userID string, k *SecurityKey, verr error) error {
	err := verr
	if err == nil {
		err = c.writeTx(ctx, func(tx *store.Tx) error {
			if _, err := c.verifiedUser(tx, userID); err != nil {
				return err
			}
			if err := tx.UpdateSecurityKey(userID, k.ID, c.sealSecurityKey(userID, *k)); err != nil {
				return err
			}
			// The key's counter is state: an older one put back would let
			// a cloned key pass.
			return c.stampUser(tx, userID)
		})
	}
	ev := c.event(ctx, audit.ActMFA, "", "webauthn", err)
	ev.ActorID, ev.Purpose = userID, audit.PurposeSecurity
	if aerr := c.audit.Append(ctx, ev); err == nil {
		err = aerr
	}
	return err
}

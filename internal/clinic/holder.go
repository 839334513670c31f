package clinic

import (
	"context"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/store"
)

// The account holder is told (docs/web.md, "The holder is told"): when a
// security key is added or removed, the password or the second factor
// changes, an enrolment code is issued or the account is frozen, Hush
// e-mails the account's own address through the clinic's SMTP relay (the
// alert settings). The message carries the kind, the account's random id
// and the time: no patient data, no clinical word. Someone who took over
// a session or a first sign-in cannot keep the holder from hearing of it.

// notifyHolder queues n for the holder of userID and reports whether it
// was queued (false: no relay configured, no such account, or an address
// that does not parse). Best effort: the change it reports stands either
// way, and the audit log holds it.
func (c *Clinic) notifyHolder(ctx context.Context, userID string, n alert.Notice) bool {
	if c.trip == nil {
		return false
	}
	p := c.trip.postman.Load()
	if p == nil {
		return false
	}
	var email string
	err := c.db.Read(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		r, err := tx.UserByID(userID)
		if err != nil {
			return err
		}
		u, err := c.userFromRow(r)
		email = u.Email
		return err
	})
	if err != nil || email == "" {
		c.trip.log.Warn("holder notice not sent: no address", "kind", n.Kind, "account", userID)
		return false
	}
	n.Account = userID
	if n.At.IsZero() {
		n.At = c.now()
	}
	return p.Send(email, n)
}

// CanEmailHolders reports whether the clinic has an SMTP relay set, so
// that enrolment codes and notices reach account holders by e-mail.
func (c *Clinic) CanEmailHolders() bool {
	return c.trip != nil && c.trip.postman.Load() != nil
}

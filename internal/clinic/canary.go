package clinic

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// Canary records are honeytoken patients: they look like real patients in
// every listing and search, no one treats them, and any open of one is a
// critical alert that freezes the account at once. Which patients are
// canaries is sealed in the database (meta "canaries"), so neither a
// listing nor a copy of the database tells them apart from the real ones.
//
// A canary looks like a patient in every listing, which shows names and
// birth dates only (the FHIR search subsets its results; the web list
// shows no more): one or two given names matching the sex of its identity
// code, which is in the temporary range (900–999, which no permanent code
// holds). It has no phone number or email: a valid one could be a real
// person's. Its details differ from a real patient's, but reading them is
// already the trip.

const metaCanaries = "canaries"

// DefaultCanaries is how many canaries hush init makes.
const DefaultCanaries = 3

func (c *Clinic) canariesAD() []byte { return seal.AD("hush canaries v1", c.id) }

func (c *Clinic) readCanaries(tx *store.Tx) ([]string, error) {
	sealed, err := tx.Meta(metaCanaries)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := c.credWrap.Open(sealed, c.canariesAD())
	if err != nil {
		return nil, hush.Wrap(hush.EINTERNAL, "the canary list does not open", err)
	}
	var ids []string
	return ids, json.Unmarshal(b, &ids)
}

func (c *Clinic) loadCanaries(ctx context.Context) error {
	var ids []string
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		ids, err = c.readCanaries(tx)
		return err
	})
	if err != nil {
		return err
	}
	c.setCanaries(ids)
	return nil
}

func (c *Clinic) setCanaries(ids []string) {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	c.trip.canaries.Store(&m)
}

// IsCanary reports whether a patient id is a canary.
func (c *Clinic) IsCanary(patientID string) bool {
	if c.trip == nil {
		return false
	}
	m := c.trip.canaries.Load()
	return m != nil && (*m)[patientID]
}

// AddCanaries makes n canary patients and returns their ids. The operator
// (hush init, hush canary add) or an admin; audited.
func (c *Clinic) AddCanaries(ctx context.Context, n int) ([]string, error) {
	if err := c.adminOnly(ctx); err != nil {
		return nil, err
	}
	if n < 1 || n > 100 {
		return nil, hush.Errorf(hush.EINVALID, "make 1 to 100 canaries at a time")
	}
	creator, err := c.canaryCreator(ctx)
	if err != nil {
		return nil, err
	}
	var made []string
	for tries := 0; len(made) < n && tries < 10*n; tries++ {
		p, err := c.createPatient(ctx, creator, canaryPatient(), nil)
		if hush.ErrorCode(err) == hush.ECONFLICT {
			continue // a temporary code already registered: draw again
		}
		if err != nil {
			return made, err
		}
		made = append(made, p.ID)
	}
	err = c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		ids, err := c.readCanaries(tx)
		if err != nil {
			return err
		}
		ids = append(ids, made...)
		b, _ := json.Marshal(ids)
		if err := tx.SetMeta(metaCanaries, c.credWrap.Seal(b, c.canariesAD())); err != nil {
			return err
		}
		c.setCanaries(ids)
		for range made {
			// The event says a canary was made, not which patient it is.
			ev := c.event(ctx, audit.ActCanaryAdd, "", "", nil)
			ev.Purpose = audit.PurposeSecurity
			if _, err := c.audit.AppendTx(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	return made, err
}

// canaryCreator is who a canary's directory entry names as its creator:
// the admin making it, or for the operator the first admin, as for a
// patient an admin registered.
func (c *Clinic) canaryCreator(ctx context.Context) (string, error) {
	if a := hush.ActorFrom(ctx); a != nil {
		return a.UserID, nil
	}
	var id string
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		us, err := tx.Users()
		if err != nil {
			return err
		}
		for _, u := range us {
			if u.Role == string(hush.RoleAdmin) && u.Active {
				id = u.ID
				return nil
			}
		}
		return hush.Errorf(hush.ENOTFOUND, "the clinic has no admin to register canaries")
	})
	return id, err
}

// Canaries returns the canary patients' ids, to the operator only (the
// command line, holding the KEK): a stolen admin account must not learn
// which records to avoid.
func (c *Clinic) Canaries(ctx context.Context) ([]string, error) {
	if hush.ActorFrom(ctx) != nil {
		return nil, hush.Errorf(hush.EFORBIDDEN, "only the operator may list the canaries")
	}
	var ids []string
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		ids, err = c.readCanaries(tx)
		return err
	})
	return ids, err
}

// CanaryCount returns how many canaries the clinic has. Admins only.
func (c *Clinic) CanaryCount(ctx context.Context) (int, error) {
	if err := c.adminOnly(ctx); err != nil {
		return 0, err
	}
	m := c.trip.canaries.Load()
	if m == nil {
		return 0, nil
	}
	return len(*m), nil
}

var (
	canaryFamily = []string{"Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen", "Koskinen", "Järvinen",
		"Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi", "Heikkilä", "Kinnunen", "Salonen", "Turunen", "Salo", "Laitinen",
		"Tuominen", "Rantanen", "Karjalainen", "Jokinen", "Mattila", "Savolainen", "Lahtinen", "Ahonen"}
	// Given names by the sex the identity code implies.
	canaryGiven = map[string][]string{
		"female": {"Anna", "Maria", "Aino", "Helmi", "Emma", "Sofia", "Laura", "Johanna", "Kaisa", "Sari", "Elina", "Minna", "Tuula", "Päivi"},
		"male":   {"Juha", "Mikko", "Timo", "Matti", "Antti", "Jari", "Jukka", "Mika", "Markku", "Pekka", "Ville", "Eetu", "Onni", "Leo"},
	}
)

func canaryPatient() hush.Patient {
	birth := time.Date(1950+rand.IntN(55), time.Month(1+rand.IntN(12)), 1+rand.IntN(31), 0, 0, 0, 0, time.UTC)
	code, err := hetu.Make(birth, 900+rand.IntN(100))
	if err != nil {
		panic(err) // 1950–2004 always makes a code
	}
	names := canaryGiven[code.Sex()]
	given := []string{names[rand.IntN(len(names))]}
	if rand.IntN(2) == 0 {
		given = append(given, names[rand.IntN(len(names))])
	}
	// No gender element: the web registration form sets none either.
	return hush.Patient{Family: canaryFamily[rand.IntN(len(canaryFamily))], Given: given, HETU: code.String(), BirthDate: birth.Format(time.DateOnly)}
}

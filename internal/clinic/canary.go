package clinic

import (
	"context"
	crand "crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// Canary records are honeytoken patients: they look like real patients in
// every listing and search, no one treats them, and any request for one's
// record is a critical alert that freezes the account at once. Which
// patients are canaries is sealed in the database (meta "canaries"), so
// neither a listing nor a copy of the database tells them apart from the
// real ones (docs/tripwires.md says what remains visible).
//
// # Shape
//
// A canary has the clear shape of a patient that reception (or an admin)
// registered before a clinician was named: one record epoch granted to the
// recovery key alone, no care-team row, and a patient.create event by that
// staff member. It is planted, not made on the spot: hush init and hush
// canary add only plan canaries (a sealed count), and the server plants
// each one a random few minutes after a real registration by reception or
// an admin, as that same staff member, so its row, its rowid, its
// created_at and its audit event fall among theirs. (AddCanaries makes
// them at once, for drills and tests; their time and creator tell them
// apart, see the docs.)
//
// # Details
//
// Names and birth years are drawn from the clinic's own directory (family
// name, given names and birth year from three different real patients,
// never a combination a real patient has), or, while the directory holds
// fewer than minDonors patients, from a list of common Finnish names. The
// identity code is in the temporary range (900–999, which no permanent code
// holds, so it is no living person's) with the sex of the given names. An
// identifier lookup of a canary's code is a request for its record and
// trips, as does registering a patient under it, so trying the temporary
// codes of a listed birth date to find out whether a patient is a canary
// freezes the account (and every lookup, hit or miss, counts toward the
// directory limit). A canary has no phone number or email: a valid one
// could be a real person's. Reading any of this is already the trip.

const metaCanaries = "canaries"

// DefaultCanaries is how many canaries hush init plans.
const DefaultCanaries = 3

// minDonors is how many real patients the directory needs before canary
// names are drawn from it rather than from the built-in list.
const minDonors = 20

// defaultPlantDelay is the longest a canary's planting waits after the
// registration it follows.
const defaultPlantDelay = 20 * time.Minute

//go:embed finnish_names.txt
var finnishNamesText string

// canaryState is the sealed canary list: the planted canaries' ids and how
// many are still to be planted.
type canaryState struct {
	IDs     []string `json:"ids"`
	Pending int      `json:"pending,omitempty"`
}

func (c *Clinic) canariesAD() []byte { return seal.AD("hush canaries v1", c.id) }

func (c *Clinic) readCanaries(tx *store.Tx) (canaryState, error) {
	sealed, err := tx.Meta(metaCanaries)
	if isNotFound(err) {
		return canaryState{}, nil
	}
	if err != nil {
		return canaryState{}, err
	}
	b, err := c.credWrap.Open(sealed, c.canariesAD())
	if err != nil {
		return canaryState{}, hush.Wrap(hush.EINTERNAL, "the canary list does not open", err)
	}
	var st canaryState
	if len(b) > 0 && b[0] == '[' {
		// Before planting: a list of ids.
		return st, json.Unmarshal(b, &st.IDs)
	}
	return st, json.Unmarshal(b, &st)
}

func (c *Clinic) writeCanaries(tx *store.Tx, st canaryState) error {
	b, _ := json.Marshal(st)
	if err := tx.SetMeta(metaCanaries, c.credWrap.Seal(b, c.canariesAD())); err != nil {
		return err
	}
	c.setCanaries(st.IDs)
	return nil
}

func (c *Clinic) loadCanaries(ctx context.Context) error {
	var st canaryState
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		st, err = c.readCanaries(tx)
		return err
	})
	if err != nil {
		return err
	}
	c.setCanaries(st.IDs)
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

// PlanCanaries plans n more canaries, to be planted among the coming
// registrations by reception and admins. The operator (hush init, hush
// canary add) or an admin; audited (the events say canaries were planned,
// not which patients they become).
func (c *Clinic) PlanCanaries(ctx context.Context, n int) error {
	if err := c.adminOnly(ctx); err != nil {
		return err
	}
	if n < 1 || n > 100 {
		return hush.Errorf(hush.EINVALID, "plan 1 to 100 canaries at a time")
	}
	return c.writeTx(ctx, func(tx *store.Tx) error {
		st, err := c.readCanaries(tx)
		if err != nil {
			return err
		}
		st.Pending += n
		if err := c.writeCanaries(tx, st); err != nil {
			return err
		}
		return c.auditCanaryAdd(ctx, tx, n)
	})
}

func (c *Clinic) auditCanaryAdd(ctx context.Context, tx *store.Tx, n int) error {
	for range n {
		ev := c.event(ctx, audit.ActCanaryAdd, "", "", nil)
		ev.Purpose = audit.PurposeSecurity
		if _, err := c.audit.AppendTx(tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// AddCanaries makes n canary patients at once and returns their ids: for
// breach drills and tests. Their creation time, their place in the tables
// and their creator (the operator's canaries name the first admin) set
// them apart from real registrations; PlanCanaries does not. The operator
// or an admin; audited.
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
	// Each canary is marked in its registration's transaction: no server
	// ever sees it unmarked.
	o := createOptions{canary: true, then: func(tx *store.Tx, id string) error {
		st, err := c.readCanaries(tx)
		if err != nil {
			return err
		}
		st.IDs = append(st.IDs, id)
		if err := c.writeCanaries(tx, st); err != nil {
			return err
		}
		return c.auditCanaryAdd(ctx, tx, 1)
	}}
	var made []string
	for tries := 0; len(made) < n && tries < 10*n; tries++ {
		p, err := c.createPatient(ctx, creator, c.newCanaryPatient(), nil, o)
		if errors.Is(err, errHETUTaken) {
			continue // a temporary code already registered: draw again
		}
		if err != nil {
			return made, err
		}
		made = append(made, p.ID)
	}
	return made, nil
}

// SetCanaryPlantDelay sets the longest wait between a registration and the
// canary planted after it (drawn at random up to d; 0 plants at once, for
// tests).
func (c *Clinic) SetCanaryPlantDelay(d time.Duration) {
	if c.trip != nil {
		c.trip.plantDelay.Store(int64(d))
	}
}

// afterRegistration may plant a planned canary after a registration by
// reception or an admin (a clinician's registrations put the clinician on
// the care team, which a canary never has): with even odds, after a random
// delay, as the same staff member in a request of its own.
func (c *Clinic) afterRegistration(ctx context.Context, a *hush.Actor) {
	if c.trip == nil || (a.Role != hush.RoleReception && a.Role != hush.RoleAdmin) || rand.IntN(2) == 0 {
		return
	}
	pending := 0
	c.db.Read(ctx, func(tx *store.Tx) error {
		st, err := c.readCanaries(tx)
		pending = st.Pending
		return err
	})
	if pending == 0 {
		return
	}
	req := hush.RequestFrom(ctx)
	if req.ID != "" {
		req.ID = newRequestID()
	}
	// The planting needs the account's name, not its key or session: they
	// are not kept alive for it.
	who := &hush.Actor{UserID: a.UserID, Role: a.Role, Credential: a.Credential}
	pctx := hush.WithRequest(hush.WithActor(context.WithoutCancel(ctx), who), req)
	var delay time.Duration
	if max := c.trip.plantDelay.Load(); max > 0 {
		delay = time.Duration(rand.Int64N(max))
	}
	t := c.trip
	t.plants.Add(1)
	go func() {
		defer t.plants.Done()
		select {
		case <-time.After(delay):
		case <-t.closing:
			return
		}
		if err := c.plantCanary(pctx, who.UserID, strings.HasPrefix(who.Credential, "web:")); err != nil {
			t.log.Error("canary not planted", "err", err)
		}
	}()
}

var errNoPending = hush.Errorf(hush.ECONFLICT, "no canary left to plant")

// plantCanary registers a planned canary as the staff member in ctx. After
// a registration in the web app, which shows the new patient's page (a
// patient.read event), the canary's registration is followed by the same
// event; it is written directly, not passed to the tripwires, which would
// take it for a read of the canary.
func (c *Clinic) plantCanary(ctx context.Context, creator string, viaWeb bool) error {
	if !c.mayRegister(ctx, creator) {
		return nil // a frozen or deactivated account registers no one: wait for another
	}
	o := createOptions{canary: true, then: func(tx *store.Tx, id string) error {
		st, err := c.readCanaries(tx)
		if err != nil {
			return err
		}
		if st.Pending < 1 {
			return errNoPending // another server planted the last one
		}
		st.Pending--
		st.IDs = append(st.IDs, id)
		if err := c.writeCanaries(tx, st); err != nil {
			return err
		}
		if viaWeb {
			_, err = c.audit.AppendTx(tx, c.event(ctx, audit.ActPatientRead, id, "", nil))
		}
		return err
	}}
	for range 10 {
		_, err := c.createPatient(ctx, creator, c.newCanaryPatient(), nil, o)
		switch {
		case errors.Is(err, errHETUTaken):
			continue // a temporary code already registered: draw again
		case errors.Is(err, errNoPending):
			return nil
		default:
			return err
		}
	}
	return nil
}

// mayRegister reports whether an account is active and not frozen (false
// if it cannot tell).
func (c *Clinic) mayRegister(ctx context.Context, userID string) bool {
	ok := false
	c.db.Read(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByID(userID)
		ok = err == nil && u.Active && !u.FrozenAt.Valid
		return err
	})
	return ok
}

func newRequestID() string {
	var b [8]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
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

// Canaries returns the planted canary patients' ids, to the operator only
// (the command line, holding the KEK): a stolen admin account must not
// learn which records to avoid.
func (c *Clinic) Canaries(ctx context.Context) ([]string, error) {
	if hush.ActorFrom(ctx) != nil {
		return nil, hush.Errorf(hush.EFORBIDDEN, "only the operator may list the canaries")
	}
	var st canaryState
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		st, err = c.readCanaries(tx)
		return err
	})
	return st.IDs, err
}

// CanaryCount returns how many canaries the clinic has planted and how
// many are planned but not yet planted. Admins only.
func (c *Clinic) CanaryCount(ctx context.Context) (planted, pending int, err error) {
	if err := c.adminOnly(ctx); err != nil {
		return 0, 0, err
	}
	var st canaryState
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		st, err = c.readCanaries(tx)
		return err
	})
	return len(st.IDs), st.Pending, err
}

// names is the built-in name list, by section.
var names = sync.OnceValue(func() map[string][]string {
	m := map[string][]string{}
	section := ""
	for _, line := range strings.Split(finnishNamesText, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "# family" || line == "# female" || line == "# male":
			section = line[2:]
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			m[section] = append(m[section], line)
		}
	}
	return m
})

// newCanaryPatient draws a canary's directory entry: from the clinic's own
// directory when it holds minDonors real patients, else from the built-in
// list.
func (c *Clinic) newCanaryPatient() hush.Patient {
	today := c.now().UTC()
	if p, ok := c.dir.canaryFromDonors(c.IsCanary, today); ok {
		return p
	}
	sex := []string{"female", "male"}[rand.IntN(2)]
	given := names()[sex]
	g := []string{given[rand.IntN(len(given))]}
	if rand.IntN(2) == 0 {
		if second := given[rand.IntN(len(given))]; second != g[0] {
			g = append(g, second)
		}
	}
	family := names()["family"]
	// Adults of working age: the clients of a psychotherapy clinic.
	year := today.Year() - 18 - rand.IntN(58)
	return canaryEntry(family[rand.IntN(len(family))], g, randomDate(year, today), sex)
}

// canaryEntry is a canary's directory entry: its identity code is in the
// temporary range, with the given sex.
func canaryEntry(family string, given []string, birth time.Time, sex string) hush.Patient {
	individual := 900 + 2*rand.IntN(50) // even: female
	if sex == "male" {
		individual++
	}
	code, err := hetu.Make(birth, individual)
	if err != nil {
		panic(err) // birth years are 1900 to today
	}
	// No gender element: the web registration form sets none either.
	return hush.Patient{Family: family, Given: given, HETU: code.String(), BirthDate: birth.Format(time.DateOnly)}
}

// randomDate is a day of the year, not after today.
func randomDate(year int, today time.Time) time.Time {
	for {
		d := time.Date(year, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rand.IntN(366))
		if d.Year() == year && !d.After(today) {
			return d
		}
	}
}

// donor is a real patient's share of a canary: names, birth year, sex.
type donor struct {
	id     string
	family string
	given  []string
	year   int
	sex    string
}

// canaryFromDonors draws a canary from the directory: the family name of
// one real patient, the given names (and so the sex) of another, and the
// birth year of a third, born a different day; never a full name and
// birth date that a real patient has.
func (d *directory) canaryFromDonors(isCanary func(string) bool, today time.Time) (hush.Patient, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var all, sexed []donor
	for id, p := range d.byID {
		if isCanary(id) {
			continue
		}
		bd, err := time.Parse(time.DateOnly, p.BirthDate)
		if err != nil || bd.Year() < 1900 {
			continue
		}
		dn := donor{id: id, family: p.Family, given: p.Given, year: bd.Year(), sex: p.Gender}
		if code, err := hetu.Parse(p.HETU); err == nil {
			dn.sex = code.Sex()
		}
		all = append(all, dn)
		if (dn.sex == "male" || dn.sex == "female") && len(dn.given) > 0 {
			sexed = append(sexed, dn)
		}
	}
	if len(all) < minDonors || len(sexed) < minDonors/2 {
		return hush.Patient{}, false
	}
	for range 50 {
		f, g, y := all[rand.IntN(len(all))], sexed[rand.IntN(len(sexed))], all[rand.IntN(len(all))]
		if f.id == g.id || y.id == f.id || y.id == g.id || f.family == g.family {
			continue // three people, and not of one family
		}
		birth := randomDate(y.year, today)
		p := canaryEntry(f.family, append([]string(nil), g.given...), birth, g.sex)
		if !d.hasPersonLocked(p) {
			return p, true
		}
	}
	return hush.Patient{}, false
}

// hasPersonLocked reports whether a patient has p's full name and birth
// date. d.mu is held.
func (d *directory) hasPersonLocked(p hush.Patient) bool {
	for _, q := range d.byID {
		if q.Family == p.Family && q.BirthDate == p.BirthDate && slices.Equal(q.Given, p.Given) {
			return true
		}
	}
	return false
}

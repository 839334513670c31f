package clinic

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// MaxSearchResults caps one page of a patient search: lists are search-first
// and paged, so a single request cannot list the whole clinic.
const MaxSearchResults = 50

// ValidatePatient checks and normalises a patient's directory data. Names
// are refused when they are not valid UTF-8, hold a replacement character
// (U+FFFD: text broken on its way) or a bidirectional override or isolate
// (U+202A–U+202E, U+2066–U+2069: text that displays other than it reads);
// they are stored in Unicode normalisation form C, so that a name typed
// with precomposed or combining letters is one name.
func ValidatePatient(p *hush.Patient, today time.Time) error {
	var err error
	if p.Family, err = cleanName("family name", p.Family); err != nil {
		return err
	}
	if len(p.Given) > 5 {
		return hush.Errorf(hush.EINVALID, "at most 5 given names")
	}
	for i, g := range p.Given {
		if p.Given[i], err = cleanName("given name", g); err != nil {
			return err
		}
	}
	if p.HETU != "" {
		code, err := hetu.Parse(p.HETU)
		if err != nil {
			return hush.Wrap(hush.EINVALID, err.Error(), nil)
		}
		p.HETU = code.String()
		bd := code.BirthDate().Format(time.DateOnly)
		if p.BirthDate != "" && p.BirthDate != bd {
			return hush.Errorf(hush.EINVALID, "birth date does not match the identity code")
		}
		p.BirthDate = bd
	}
	if p.BirthDate == "" {
		return hush.Errorf(hush.EINVALID, "a birth date or an identity code is required")
	}
	bd, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil {
		return hush.Errorf(hush.EINVALID, "birth date must be a date as YYYY-MM-DD")
	}
	if bd.After(today) || bd.Year() < 1850 {
		return hush.Errorf(hush.EINVALID, "birth date is out of range")
	}
	switch p.Gender {
	case "", "male", "female", "other", "unknown":
	default:
		return hush.Errorf(hush.EINVALID, "gender must be male, female, other or unknown")
	}
	if err := validateTelecom(p.Telecom); err != nil {
		return err
	}
	if len(p.Guardians) > 4 {
		return hush.Errorf(hush.EINVALID, "at most 4 guardians")
	}
	for i := range p.Guardians {
		g := &p.Guardians[i]
		if g.Name, err = cleanName("guardian name", g.Name); err != nil {
			return err
		}
		if len(g.Relation) > 100 || !utf8.ValidString(g.Relation) || hasBidiControl(g.Relation) {
			return hush.Errorf(hush.EINVALID, "guardian relation is too long or not plain text")
		}
		if err := validateTelecom(g.Telecom); err != nil {
			return err
		}
	}
	return nil
}

// cleanName checks a name (checkName: one line of UTF-8, no replacement
// character, no bidirectional control) and returns it trimmed and in NFC.
func cleanName(what, s string) (string, error) {
	if err := checkName(what, s); err != nil {
		return "", err
	}
	return norm.NFC.String(strings.TrimSpace(s)), nil
}

// hasBidiControl reports whether s holds an explicit bidirectional
// embedding, override or isolate (U+202A–U+202E, U+2066–U+2069), which make
// text display in another order than it is stored ("Trojan Source").
func hasBidiControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
	})
}

func validateTelecom(ts []hush.ContactPoint) error {
	if len(ts) > 10 {
		return hush.Errorf(hush.EINVALID, "at most 10 contact points")
	}
	for i := range ts {
		t := &ts[i]
		t.Value = strings.TrimSpace(t.Value)
		if !utf8.ValidString(t.Value) {
			return hush.Errorf(hush.EINVALID, "a contact point is not valid UTF-8")
		}
		switch t.Use {
		case "", "home", "work", "mobile", "temp", "old":
		default:
			return hush.Errorf(hush.EINVALID, "contact use must be home, work, mobile, temp or old")
		}
		switch t.System {
		case "phone":
			digits := 0
			for _, r := range t.Value {
				switch {
				case r >= '0' && r <= '9':
					digits++
				case strings.ContainsRune("+-() ", r):
				default:
					return hush.Errorf(hush.EINVALID, "phone number may hold only digits, spaces and + - ( )")
				}
			}
			if digits < 5 || len(t.Value) > 30 {
				return hush.Errorf(hush.EINVALID, "phone number must have 5 to 30 characters")
			}
		case "email":
			e, err := NormalizeEmail(t.Value)
			if err != nil {
				return err
			}
			t.Value = e
		default:
			return hush.Errorf(hush.EINVALID, "contact system must be phone or email")
		}
	}
	return nil
}

func (c *Clinic) hetuIndex(code string) []byte {
	return c.idxKey.MAC(seal.AD("hush hetu index v1", code))
}

func patientAD(id string) []byte { return seal.AD("hush patient directory v1", id) }

// directoryPad is the block a sealed directory entry's length is rounded
// up to, so that its length on disk does not tell an entry with contacts
// and guardians from one without (a canary has none).
const directoryPad = 512

// directoryJSON encodes a directory entry padded with spaces (which JSON
// ignores) to a multiple of directoryPad bytes.
func directoryJSON(p hush.Patient) []byte {
	b, _ := json.Marshal(p)
	out := make([]byte, (len(b)/directoryPad+1)*directoryPad)
	copy(out, b)
	for i := len(b); i < len(out); i++ {
		out[i] = ' '
	}
	clear(b)
	return out
}

// CreatePatient registers a patient and opens their record: a fresh record
// seed for epoch 1, granted to each clinician of the care team and to the
// recovery key, then forgotten. A clinician who registers a patient is on the
// care team. Reception and admins may name no clinician yet (a patient
// waiting for one): the record is then sealed to the recovery key alone,
// and hush recover grant names the first clinician. Canaries have that
// shape too (canary.go); a registration by reception or an admin may be
// followed by the planting of a planned canary.
func (c *Clinic) CreatePatient(ctx context.Context, p hush.Patient, clinicians []string) (hush.Patient, error) {
	a, err := staff(ctx)
	if err != nil {
		return hush.Patient{}, err
	}
	if a.Role == hush.RoleAuditor {
		return hush.Patient{}, hush.Errorf(hush.EFORBIDDEN, "auditors do not register patients")
	}
	team := map[string]bool{}
	for _, id := range clinicians {
		team[id] = true
	}
	if a.Role == hush.RoleClinician {
		team[a.UserID] = true
	}
	if len(team) > 20 {
		return hush.Patient{}, hush.Errorf(hush.EINVALID, "at most 20 clinicians on a care team")
	}
	ids := make([]string, 0, len(team))
	for id := range team {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	created, err := c.createPatient(ctx, a.UserID, p, ids, createOptions{})
	if err == nil {
		c.afterRegistration(ctx, a)
	}
	return created, err
}

// createOptions are the canary's differences in createPatient.
type createOptions struct {
	// canary: the registration is not counted as a request of the
	// creator's, and an identity code already taken is refused without
	// the read of the other patient that answer is for staff.
	canary bool
	// then runs in the registration's transaction, given the new id.
	then func(tx *store.Tx, patientID string) error
}

// createPatient stores a new patient whose record is sealed to the given
// clinicians and the recovery key (to the recovery key alone for a
// patient waiting for a clinician, and for a canary).
func (c *Clinic) createPatient(ctx context.Context, creator string, p hush.Patient, ids []string, o createOptions) (hush.Patient, error) {
	now := c.now()
	if err := ValidatePatient(&p, now); err != nil {
		return hush.Patient{}, err
	}
	p.ID = newID()
	p.CreatedAt = now.UTC().Truncate(time.Millisecond)
	dir := directoryJSON(p)
	row := store.PatientRow{ID: p.ID, Directory: c.dirKey.Seal(dir, patientAD(p.ID)), CreatedAt: p.CreatedAt.UnixMilli(), CreatedBy: creator}
	clear(dir)
	if p.HETU != "" {
		row.HetuIndex = c.hetuIndex(p.HETU)
	}
	seed := seal.NewRecordSeed()
	defer seed.Wipe()
	if !o.canary {
		if err := c.guardWrite(ctx, audit.ActPatientCreate); err != nil {
			return hush.Patient{}, err
		}
	}
	taken := ""
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		if p.HETU != "" {
			if other, err := tx.PatientByHetuIndex(row.HetuIndex); err == nil {
				taken = other.ID
				return errHETUTaken
			}
		}
		if err := tx.InsertPatient(row); err != nil {
			return err
		}
		if err := c.newEpoch(tx, p.ID, 1, seed, ids, now.UnixMilli()); err != nil {
			return err
		}
		if _, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActPatientCreate, p.ID, "", nil)); err != nil {
			return err
		}
		for _, id := range ids {
			if err := tx.AddCareTeam(p.ID, id, creator, now.UnixMilli()); err != nil {
				return err
			}
			if _, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActGrant, p.ID, id, nil)); err != nil {
				return err
			}
		}
		if len(ids) > 0 {
			if err := c.teamChanged(tx, p.ID); err != nil {
				return err
			}
		}
		if o.then != nil {
			return o.then(tx, p.ID)
		}
		return nil
	})
	if taken != "" && o.canary {
		return hush.Patient{}, errHETUTaken
	}
	if taken != "" {
		return hush.Patient{}, c.hetuTaken(ctx, taken)
	}
	if err != nil {
		return hush.Patient{}, err
	}
	// The write is committed: a failed refresh is retried by the next read.
	c.dir.refresh(ctx)
	return p, nil
}

var errHETUTaken = hush.Errorf(hush.ECONFLICT, "a patient with this identity code is already registered")

// hetuTaken answers a registration or correction refused because the
// identity code is another patient's. That answer tells whether a person
// is a patient here, so it is a read of that patient's directory entry:
// audited, and counted by the tripwires (a canary's code trips them).
func (c *Clinic) hetuTaken(ctx context.Context, otherID string) error {
	if err := c.logRead(ctx, errHETUTaken, c.event(ctx, audit.ActPatientRead, otherID, "", errHETUTaken)); ErrFrozen(err) {
		return err
	}
	return errHETUTaken
}

// UpdatePatient corrects a patient's directory entry (names, identity code,
// birth date, contacts, guardians). The previous entry is kept, sealed.
func (c *Clinic) UpdatePatient(ctx context.Context, p hush.Patient) (hush.Patient, error) {
	a, err := staff(ctx)
	if err != nil {
		return hush.Patient{}, err
	}
	if a.Role == hush.RoleAuditor {
		return hush.Patient{}, hush.Errorf(hush.EFORBIDDEN, "auditors do not change patient details")
	}
	c.dir.refresh(ctx) // a canary made by another process is marked as its entry loads
	if c.IsCanary(p.ID) {
		// A correction of a canary is a request for its record: the trip.
		err := hush.Errorf(hush.ENOTFOUND, "patient not found")
		return hush.Patient{}, c.logRead(ctx, err, c.event(ctx, audit.ActPatientRead, p.ID, "", err))
	}
	if err := ValidatePatient(&p, c.now()); err != nil {
		return hush.Patient{}, err
	}
	if err := c.guardWrite(ctx, audit.ActPatientUpdate); err != nil {
		return hush.Patient{}, err
	}
	taken := ""
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		cur, err := tx.PatientByID(p.ID)
		if err != nil {
			return err
		}
		head, err := c.head(tx, p.ID)
		if err != nil {
			return err
		}
		p.CreatedAt = time.UnixMilli(cur.CreatedAt).UTC()
		var idx []byte
		if p.HETU != "" {
			idx = c.hetuIndex(p.HETU)
			if other, err := tx.PatientByHetuIndex(idx); err == nil && other.ID != p.ID {
				taken = other.ID
				return errHETUTaken
			}
		}
		dir := directoryJSON(p)
		sealed := c.dirKey.Seal(dir, patientAD(p.ID))
		clear(dir)
		if err := tx.UpdatePatientDirectory(p.ID, idx, sealed, a.UserID, c.millis()); err != nil {
			return err
		}
		if err := c.putHead(tx, p.ID, head.Epoch, nil); err != nil {
			return err
		}
		_, err = c.audit.AppendTx(tx, c.event(ctx, audit.ActPatientUpdate, p.ID, "", nil))
		return err
	})
	if taken != "" {
		c.logDenied(ctx, err, c.event(ctx, audit.ActPatientUpdate, p.ID, "", err))
		return hush.Patient{}, c.hetuTaken(ctx, taken)
	}
	if err != nil {
		return hush.Patient{}, c.logDenied(ctx, err, c.event(ctx, audit.ActPatientUpdate, p.ID, "", err))
	}
	c.dir.refresh(ctx)
	return p, nil
}

// newEpoch stores a record epoch and grants its seed to each clinician and
// to the recovery key.
func (c *Clinic) newEpoch(tx *store.Tx, patientID string, epoch int, seed *seal.RecordSeed, clinicians []string, now int64) error {
	rpub, err := seed.PublicKey()
	if err != nil {
		return internal("derive record key", err)
	}
	if err := tx.InsertEpoch(patientID, epoch, rpub.Bytes(), c.epochMAC(patientID, epoch, rpub.Bytes()), now); err != nil {
		return err
	}
	// A record made without clinicians waits for its first; any new epoch
	// after that is a care team's.
	waiting := epoch == 1 && len(clinicians) == 0
	if err := c.putHead(tx, patientID, epoch, &waiting); err != nil {
		return err
	}
	if err := c.grant(tx, patientID, epoch, seed, RecoveryPrincipal, c.recoveryPub, now); err != nil {
		return err
	}
	for _, id := range clinicians {
		pub, err := c.userPublicKey(tx, id)
		if err != nil {
			return err
		}
		if err := c.grant(tx, patientID, epoch, seed, userPrincipal(id), pub, now); err != nil {
			return err
		}
	}
	return nil
}

// epochMAC authenticates an epoch's public key under a KEK-derived key, so
// that a database writer without the KEK cannot slip in an epoch (and a seed
// of their choosing) for future notes to be sealed under.
func (c *Clinic) epochMAC(patientID string, epoch int, pub []byte) []byte {
	return c.pubMAC.MAC(seal.AD("hush record epoch v1", c.id, patientID, strconv.Itoa(epoch), string(pub)))
}

func (c *Clinic) grant(tx *store.Tx, patientID string, epoch int, seed *seal.RecordSeed, principal string, to *seal.PublicKey, now int64) error {
	g, err := seal.SealGrant(to, seal.GrantContext{Clinic: c.id, Record: patientID, Epoch: epoch, Principal: principal}, seed)
	if err != nil {
		return internal("seal grant", err)
	}
	return tx.InsertGrant(store.GrantRow{PatientID: patientID, Epoch: epoch, Principal: principal, Sealed: g, CreatedAt: now})
}

// Patient returns a patient's directory entry. Staff of every role may read
// the directory (reception books, clinicians refer); clinical content is
// elsewhere and sealed.
func (c *Clinic) Patient(ctx context.Context, id string) (hush.Patient, error) {
	a, err := actor(ctx)
	if err != nil {
		return hush.Patient{}, err
	}
	p, err := c.patient(ctx, a, id)
	if err := c.logRead(ctx, err, c.event(ctx, audit.ActPatientRead, id, "", err)); err != nil {
		return hush.Patient{}, err
	}
	return p, nil
}

func (c *Clinic) patient(ctx context.Context, a *hush.Actor, id string) (hush.Patient, error) {
	if !isStaff(a.Role) {
		if self, err := c.patientOf(ctx, a.UserID); err != nil || self != id {
			return hush.Patient{}, errStaffOnly
		}
	}
	// One cheap query: picks up entries another process added or changed.
	if err := c.dir.refresh(ctx); err != nil {
		return hush.Patient{}, err
	}
	if p, ok := c.dir.get(id); ok {
		return p, nil
	}
	return hush.Patient{}, hush.Errorf(hush.ENOTFOUND, "patient not found")
}

// PatientQuery is a directory search. Name matches the start of any word of
// the patient's names (case-insensitive and in Unicode NFC; every word of
// the query must match); Identifier matches an identity code exactly,
// through its blind index.
type PatientQuery struct {
	Name       string
	Identifier string
}

// lookupPrefix starts the Entity of an identifier lookup's event: a random
// id that the tripwires count as one directory row (tripEvent).
const lookupPrefix = "lookup:"

// SearchPatients returns at most MaxSearchResults matching patients, ordered
// by family and given name. A query needs a name or an identifier. An
// identifier query counts as one directory row toward the account's limit
// whether it finds a patient or not: a miss answers a question too, and
// trying codes one by one must meet the limit. An identifier query that
// finds a canary is a request for the canary's record, not a listing: it
// trips (a name search that lists a canary does not; a sweep learns names
// and birth dates from listings, and trying the temporary codes of a
// listed birth date to learn whether a patient is a canary is the trip).
func (c *Clinic) SearchPatients(ctx context.Context, q PatientQuery) ([]hush.Patient, error) {
	ps, err := c.searchPatients(ctx, q)
	if hush.ActorFrom(ctx) == nil {
		return nil, err
	}
	// Every patient a search lists is an access to their directory entry.
	term := q.Name
	entity := ""
	if q.Identifier != "" {
		term = "identifier " + q.Identifier
		entity = lookupPrefix + newRequestID()
	}
	if !utf8.ValidString(term) {
		term = strings.ToValidUTF8(term, "\uFFFD") // refused; the event keeps what can be shown
	}
	evs := make([]audit.Event, 0, len(ps)+1)
	for _, p := range ps {
		action := audit.ActPatientList
		if entity != "" && c.IsCanary(p.ID) {
			action = audit.ActPatientRead
		}
		ev := c.event(ctx, action, p.ID, entity, nil)
		ev.Private.Query = term
		evs = append(evs, ev)
	}
	if len(ps) == 0 {
		ev := c.event(ctx, audit.ActPatientList, "", entity, err)
		ev.Private.Query = term
		evs = append(evs, ev)
	}
	if err := c.logRead(ctx, err, evs...); err != nil {
		return nil, err
	}
	return ps, nil
}

func (c *Clinic) searchPatients(ctx context.Context, q PatientQuery) ([]hush.Patient, error) {
	if _, err := staff(ctx); err != nil {
		return nil, err
	}
	if strings.TrimSpace(q.Name) == "" && q.Identifier == "" {
		return nil, hush.Errorf(hush.EINVALID, "search by name or identifier")
	}
	if len(q.Name) > 200 {
		return nil, hush.Errorf(hush.EINVALID, "search text is too long")
	}
	if !utf8.ValidString(q.Name) || hasBidiControl(q.Name) {
		return nil, hush.Errorf(hush.EINVALID, "search text must be plain UTF-8 text")
	}
	if err := c.dir.refresh(ctx); err != nil {
		return nil, err
	}
	if q.Identifier != "" {
		code, err := hetu.Parse(q.Identifier)
		if err != nil {
			return nil, hush.Wrap(hush.EINVALID, err.Error(), nil)
		}
		var id string
		err = c.db.Read(ctx, func(tx *store.Tx) error {
			r, err := tx.PatientByHetuIndex(c.hetuIndex(code.String()))
			id = r.ID
			return err
		})
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		p, ok := c.dir.get(id)
		if !ok || (q.Name != "" && !matchPrefix(q.Name, append([]string{p.Family}, p.Given...)...)) {
			return nil, nil
		}
		return []hush.Patient{p}, nil
	}
	return c.dir.search(q.Name, MaxSearchResults), nil
}

// directory is the patient directory held in memory, decrypted at start and
// kept current from the database's rowids, so that name search (prefix and
// all) needs no name index on disk.
type directory struct {
	c    *Clinic
	mu   sync.RWMutex
	seq  int64
	byID map[string]hush.Patient
}

func newDirectory(c *Clinic) *directory { return &directory{c: c, byID: map[string]hush.Patient{}} }

func (d *directory) get(id string) (hush.Patient, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	p, ok := d.byID[id]
	return p, ok
}

// refresh loads the entries inserted or changed since the last refresh (by
// this or another process), following the numbered directory changes.
func (d *directory) refresh(ctx context.Context) error {
	d.mu.RLock()
	seq := d.seq
	d.mu.RUnlock()
	var rows []store.PatientRow
	var last int64
	err := d.c.db.Read(ctx, func(tx *store.Tx) error {
		max, err := tx.MaxDirectorySeq()
		if err != nil || max <= seq {
			return err
		}
		changes, err := tx.DirectoryChangesAfter(seq)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		var heads map[string]store.RecordHead // all of them, for a large reload
		if len(changes) > 64 {
			if heads, err = tx.RecordHeads(); err != nil {
				return err
			}
		}
		for _, ch := range changes {
			last = ch.Seq
			if seen[ch.PatientID] {
				continue
			}
			seen[ch.PatientID] = true
			r, err := tx.PatientByID(ch.PatientID)
			if err != nil {
				return err
			}
			// An entry its record head does not name (put back from the
			// history, or its identity-code index moved) is not used.
			var h store.RecordHead
			if heads != nil {
				var ok bool
				if h, ok = heads[ch.PatientID]; !ok {
					err = hush.Errorf(hush.ENOTFOUND, "no record head")
				}
			} else {
				h, err = tx.RecordHead(ch.PatientID)
			}
			if err != nil && !isNotFound(err) {
				return err
			}
			if err != nil || !d.c.checkHead(h, r) || d.c.isStale("record", ch.PatientID) {
				d.c.integrityAlert("record", ch.PatientID)
				continue
			}
			rows = append(rows, r)
		}
		return nil
	})
	if err != nil || len(rows) == 0 {
		return err
	}
	if d.c.trip != nil {
		// A canary made by another process (hush canary add --now while
		// this server runs) is marked in its registration's transaction:
		// reload the marks, from after these rows were read, before the
		// rows show.
		if err := d.c.loadCanaries(ctx); err != nil {
			return err
		}
	}
	return d.apply(rows, last)
}

// apply decrypts loaded rows into the directory, up to change last.
func (d *directory) apply(rows []store.PatientRow, last int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if last <= d.seq {
		return nil
	}
	for _, r := range rows {
		b, err := d.c.dirKey.Open(r.Directory, patientAD(r.ID))
		if err != nil {
			return hush.Wrap(hush.EINTERNAL, "a patient directory entry does not open", err)
		}
		var p hush.Patient
		if err := json.Unmarshal(b, &p); err != nil {
			return internal("decode directory entry", err)
		}
		clear(b)
		p.ID = r.ID
		p.CreatedAt = time.UnixMilli(r.CreatedAt).UTC()
		d.byID[r.ID] = p
	}
	d.seq = last
	return nil
}

func (d *directory) search(q string, limit int) []hush.Patient {
	d.mu.RLock()
	var out []hush.Patient
	for _, p := range d.byID {
		if matchPrefix(q, append([]string{p.Family}, p.Given...)...) {
			out = append(out, p)
		}
	}
	d.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Family != out[j].Family {
			return out[i].Family < out[j].Family
		}
		return strings.Join(out[i].Given, " ") < strings.Join(out[j].Given, " ")
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// matchPrefix reports whether every word of q starts some word of fields,
// ignoring case, both in NFC (entries stored before names were normalised
// may not be).
func matchPrefix(q string, fields ...string) bool {
	var words []string
	for _, f := range fields {
		words = append(words, splitWords(f)...)
	}
	qw := splitWords(q)
	if len(qw) == 0 {
		return false
	}
outer:
	for _, w := range qw {
		for _, f := range words {
			if strings.HasPrefix(f, w) {
				continue outer
			}
		}
		return false
	}
	return true
}

func splitWords(s string) []string {
	return strings.FieldsFunc(norm.NFC.String(strings.ToLower(s)), func(r rune) bool {
		return unicode.IsSpace(r) || r == '-' || r == ',' || r == '@' || r == '.'
	})
}

// MyPatients returns the patients on the actor's care teams (a clinician's
// own list), at most MaxSearchResults, ordered by name. Each listed patient
// is an audited access, as in a search.
func (c *Clinic) MyPatients(ctx context.Context) ([]hush.Patient, error) {
	a, err := staff(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		ids, err = tx.PatientsOf(a.UserID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := c.dir.refresh(ctx); err != nil {
		return nil, err
	}
	var out []hush.Patient
	for _, id := range ids {
		if p, ok := c.dir.get(id); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Family != out[j].Family {
			return out[i].Family < out[j].Family
		}
		return strings.Join(out[i].Given, " ") < strings.Join(out[j].Given, " ")
	})
	if len(out) > MaxSearchResults {
		out = out[:MaxSearchResults]
	}
	evs := make([]audit.Event, len(out))
	for i, p := range out {
		evs[i] = c.event(ctx, audit.ActPatientList, p.ID, "", nil)
	}
	if len(evs) > 0 {
		if err := c.logRead(ctx, nil, evs...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

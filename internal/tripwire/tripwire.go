// Package tripwire notices a stolen account sweeping patient records while
// the sweep happens, and stops it.
//
// In the Vastaamo breach every therapy record was copied and nobody noticed
// for two years. Hush appends an audit event for every read before it
// releases the data; the clinic service hands that read's events to
// [Detector.Admit], which says how many of them may be released and which
// alerts to raise. The detectors are fed only from audit events — live, and
// replayed from the audit log at start-up through [Detector.Observe] — never
// from a counter of their own, so whatever they decided can be proven later
// from the log: every [Alert] cites the audit indexes it counted.
//
// The package does no I/O and reads no clock: time is the events' Time, so
// tests and replays are deterministic. The caller freezes accounts in its
// own state, appends the alerts to the audit log and delivers them.
//
// # Detectors
//
// Record opens are the actions chart.read, note.read, measure.read,
// diagnosis.read, processnote.read and careteam.read. Directory rows are
// patient.list (a search showed the patient) and patient.read
// (demographics, contacts); calendar rows are appointment.list (a calendar
// showed the appointment and its patient); audit rows are audit.read (a
// page of the audit log named the patient).
//
//   - volume.charts (critical, freezes): more than ChartLimit distinct
//     patients' records opened by one account in a sliding ChartWindow.
//     The open that would be one too many is refused, so a sweep gets
//     ChartLimit records at most. Opening a counted patient again is free.
//   - volume.directory (critical, freezes): the same for directory rows
//     and DirectoryLimit; a long listing is cut at the row that exceeds it.
//   - volume.calendar (critical, freezes): the same for patients shown in
//     calendars and CalendarLimit, over the DirectoryWindow: a clinic's
//     week view shows every booked patient at once.
//   - volume.audit (critical, freezes): the same for patients revealed by
//     reads of the audit log (audit.read, one event per patient a page of
//     the log names) and AuditLimit over AuditWindow: the log links
//     patients to the clinicians who treat them. A patient reading who
//     opened their own record is not counted (role "patient").
//   - canary (critical, freezes): a record open or patient.read of a canary
//     patient. That event is refused. A canary listed in a search or a
//     calendar is not an alert: canaries look like patients in listings,
//     which is where a sweep finds them.
//   - baseline (warning): in one clock hour the account opened more
//     distinct charts than BaselineFactor × its busiest hour of the last
//     30 days and more than BaselineFloor, after BaselineDays of history.
//     At most one an hour.
//   - offhours (warning): a record open or directory row outside the
//     clinic's WorkHours, read on the clinic's wall clock. At most one per
//     account in 8 hours.
//   - credential.newaddr (warning): a session or token first used from one
//     client address is used from another. Up to 4 addresses are
//     remembered per credential and each new one alerts once; a fifth
//     alerts once more and then the credential is known to roam.
//   - credential.rate (critical, freezes): more than RateLimit requests
//     (Admit calls) with one credential in a sliding RateWindow. The
//     request over the limit is refused whole.
//
// Accounts with role "operator" (the command line, holding the KEK) and
// "patient" (the portal, a patient reading their own record) are not
// counted for volume, baseline or offhours; canaries and the credential
// checks apply to every account.
//
// Once Admit has raised an alert that freezes, it refuses every request
// of that account, raising nothing more, until [Detector.Forget].
//
// # What the detectors cannot see
//
//   - A slow sweep. The volume limits bound how fast a stolen account
//     leaks, not whether it leaks. At the defaults an account may open 30
//     records in 10 minutes; an hour over 15 distinct records and over 3 ×
//     the account's busiest hour raises a baseline warning (no freeze),
//     and only once the account has 7 days of history. A sweep of 15
//     records an hour in working hours raises nothing: about 200 records
//     a working day. Directory rows have no baseline: 199 rows every 10
//     minutes in working hours — names and contacts of some 1,200 patients
//     an hour — raise nothing either.
//   - An insider reading their own patients: access control lets a
//     clinician open only the records they have grants for, and reading
//     them at the usual pace in the usual hours looks like work.
//   - A thief on the clinician's own machine: the same session from the
//     same address raises no credential alert.
//   - Anything not in the audit log, and an attacker running code on the
//     server, who can bypass the detector; the threat model says so.
//   - Canaries catch only sweeps that reach them: the listing of a canary
//     is not an alert, only a request for its record.
//   - Memory is lost on restart; the caller rebuilds it by replaying the
//     log through Observe. Baseline counts are approximate: clock hours,
//     at most 4096 distinct patients an hour, events that arrive after
//     their hour has closed are not counted.
//
// # For the caller
//
//   - Append the events first, then call Admit with one request's events,
//     in order, and release only the first Decision.Allowed of them.
//   - Pass refused and failed reads too: a request for a canary's record
//     is the trigger whether or not access control allowed it.
//   - Freeze the account in your own state when an alert has Freeze, and
//     append every alert to the audit log.
//   - Pass writes and, at start-up, the log's last 30 days to Observe, and
//     call Forget where the log shows an account was unfrozen.
//
// # Concurrency and memory
//
// There is no lock shared by all requests: each account and each
// credential has its own mutex (an account's first, then its
// credential's), found through a sync.Map; settings are swapped
// atomically. An account holds at most ChartLimit + DirectoryLimit +
// CalendarLimit + AuditLimit patients in its windows, 30×24 hourly counts and the current hour's
// patients (at most 4096); a credential holds 4 addresses and its last
// RateLimit request times, and is dropped 30 days after its last use.
// Accounts are never dropped: there are as many as the clinic has users.
package tripwire

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event is an audit event as the detectors see it.
type Event struct {
	Time       time.Time // when it happened: the detectors' only clock
	Account    string    // user id (a random id); "" means no account: ignored
	Role       string    // "clinician", "reception", "admin", "auditor", "patient", "operator"
	Patient    string    // patient id, "" if none
	Action     string    // the audit action, such as "chart.read"
	Credential string    // id of the web session or API token used, "" if none
	Addr       string    // the client's address key (IPv4, or IPv6 /64), "" if unknown
	Index      int64     // the event's index in the audit log, which alerts cite
}

// Kind names a detector.
type Kind string

// Kinds.
const (
	KindCharts    Kind = "volume.charts"
	KindDirectory Kind = "volume.directory"
	KindCalendar  Kind = "volume.calendar"
	KindAudit     Kind = "volume.audit"
	KindBaseline  Kind = "baseline"
	KindOffHours  Kind = "offhours"
	KindNewAddr   Kind = "credential.newaddr"
	KindRate      Kind = "credential.rate"
	KindCanary    Kind = "canary"
)

// Severity says how urgently a person should look.
type Severity string

// Severities.
const (
	Warning  Severity = "warning"  // look today
	Critical Severity = "critical" // look now; the account is frozen
)

// Alert is what a detector found. It carries ids and counts, no personal
// data: the audit events named by Indexes hold the detail.
type Alert struct {
	Kind       Kind
	Severity   Severity
	Account    string
	Credential string // for the credential.* kinds: the credential's id
	Patient    string // for canary only: the canary's patient id
	// Count is what was counted (distinct patients, requests, addresses),
	// including the event that raised the alert; Limit is what it exceeded
	// and Window the time it was counted over. Offhours and canary alerts
	// count the one event, against a limit of 0.
	Count, Limit int
	Window       time.Duration
	At           time.Time // the Time of the event that raised it
	Freeze       bool      // freeze the account: set on critical alerts
	Indexes      []int64   // audit indexes of the events counted, ascending
}

// Decision is Admit's answer for one request.
type Decision struct {
	// Allowed is how many of the events, in order, may be released. Fewer
	// than all means the rest are refused: cut a listing there, or refuse
	// the request when the event it needs is among them.
	Allowed int
	Alerts  []Alert
}

// Detector holds every account's windows. Its methods are safe for
// concurrent use.
type Detector struct {
	settings atomic.Pointer[Settings]
	isCanary func(patientID string) bool
	accounts sync.Map // account id → *account
	creds    sync.Map // credential id → *credential
	newCreds atomic.Int64
	sweeping atomic.Bool
}

// New returns a Detector with settings s. isCanary reports whether a
// patient id is a canary; it is called while an account's lock is held, so
// it must be quick and must not call the Detector. A nil isCanary means the
// clinic has no canaries.
func New(s Settings, isCanary func(patientID string) bool) (*Detector, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if isCanary == nil {
		isCanary = func(string) bool { return false }
	}
	d := &Detector{isCanary: isCanary}
	d.settings.Store(&s)
	return d, nil
}

// SetSettings replaces the settings for every later call, keeping the
// windows counted so far. Settings that fail Validate are refused and the
// old ones stay.
func (d *Detector) SetSettings(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	d.settings.Store(&s)
	return nil
}

// Settings returns the settings in use.
func (d *Detector) Settings() Settings { return *d.settings.Load() }

// Admit decides how many of one request's events may be released, and
// counts those. All events must share the first one's Account and
// Credential: Admit stops at the first that does not (failing closed).
//
// The check and the count are atomic per account: two concurrent requests
// of one account cannot both slip under a limit. An event refused for a
// limit or a canary is not counted, nor is anything after it; events before
// it are released. A refusal raises a critical alert and freezes the
// account in the Detector, which then refuses all its requests, without
// further alerts, until Forget.
func (d *Detector) Admit(evs []Event) Decision {
	if len(evs) == 0 {
		return Decision{}
	}
	s := d.settings.Load()
	if s.Disabled {
		d.Observe(evs)
		return Decision{Allowed: len(evs)}
	}
	first := &evs[0]
	if first.Account == "" {
		return Decision{Allowed: sameRequest(evs)}
	}
	a := d.account(first.Account)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.frozen {
		return Decision{}
	}

	var dec Decision
	var c *credential
	if first.Credential != "" {
		t := first.Time.UnixNano()
		c = d.lockCred(first.Credential, first.Account, t)
		defer c.mu.Unlock()
		c.last = max(c.last, t)
		if !c.rate.admit(t, first.Index, s.RateLimit, s.RateWindow) {
			a.frozen = true
			dec.Alerts = append(dec.Alerts, Alert{Kind: KindRate, Severity: Critical, Account: first.Account,
				Credential: first.Credential, Count: s.RateLimit + 1, Limit: s.RateLimit, Window: s.RateWindow,
				At: first.Time, Freeze: true, Indexes: c.rate.indexes(first.Index)})
			return dec
		}
	}

	charts := false
	for i := range evs {
		e := &evs[i]
		if e.Account != first.Account || e.Credential != first.Credential {
			break
		}
		if c != nil && e.Addr != "" {
			if n, ok := c.see(e.Addr, true); ok {
				dec.Alerts = append(dec.Alerts, Alert{Kind: KindNewAddr, Severity: Warning, Account: e.Account,
					Credential: e.Credential, Count: n, Limit: 1, At: e.Time, Indexes: []int64{e.Index}})
			}
		}
		cls, refusal, refused := d.count(a, e, s)
		if refused {
			a.frozen = true
			dec.Alerts = append(dec.Alerts, refusal)
			break
		}
		dec.Allowed = i + 1
		if cls == other || e.Patient == "" || ignored(e.Role) {
			continue
		}
		charts = charts || cls == recordOpen
		if !s.WorkHours.Contains(e.Time) {
			t := e.Time.UnixNano()
			if !a.offSent || t-a.lastOff >= int64(offHoursEvery) {
				a.lastOff, a.offSent = t, true
				dec.Alerts = append(dec.Alerts, Alert{Kind: KindOffHours, Severity: Warning, Account: e.Account,
					Count: 1, At: e.Time, Indexes: []int64{e.Index}})
			}
		}
	}
	if charts && a.base != nil {
		if n, limit, ok := a.base.over(s); ok {
			a.base.alerted = a.base.hour
			last := &evs[dec.Allowed-1]
			dec.Alerts = append(dec.Alerts, Alert{Kind: KindBaseline, Severity: Warning, Account: first.Account,
				Count: n, Limit: limit, Window: time.Hour, At: last.Time, Indexes: a.base.indexes()})
		}
	}
	return dec
}

// offHoursEvery is the least time between two offhours alerts of an account.
const offHoursEvery = 8 * time.Hour

// Observe counts events that have already happened — writes, and the audit
// log replayed at start-up — as Admit would have counted them, without
// deciding: it refuses, freezes and alerts nothing. An event Admit would
// have refused (a patient beyond a full window, a canary) is not counted.
// A new client address seen here alerts at the credential's next Admit.
// Requests seen here do not count towards the rate limit.
func (d *Detector) Observe(evs []Event) {
	s := d.settings.Load()
	for i := 0; i < len(evs); {
		id := evs[i].Account
		j := i + 1
		for j < len(evs) && evs[j].Account == id {
			j++
		}
		if id != "" {
			d.observe(d.account(id), evs[i:j], s)
		}
		i = j
	}
}

// observe counts one account's events.
func (d *Detector) observe(a *account, evs []Event, s *Settings) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range evs {
		e := &evs[i]
		if e.Credential != "" {
			t := e.Time.UnixNano()
			c := d.lockCred(e.Credential, e.Account, t)
			c.last = max(c.last, t)
			if e.Addr != "" {
				c.see(e.Addr, false)
			}
			c.mu.Unlock()
		}
		d.count(a, e, s)
	}
}

// Forget drops an account's windows, its freeze and the request counts of
// its credentials, so that after an administrator unfreezes it its old
// counts do not freeze it again at once. Its baseline history stays.
func (d *Detector) Forget(id string) {
	if v, ok := d.accounts.Load(id); ok {
		a := v.(*account)
		a.mu.Lock()
		a.reset()
		a.mu.Unlock()
	}
	d.creds.Range(func(_, v any) bool {
		c := v.(*credential)
		c.mu.Lock()
		if c.account == id {
			c.rate = ring{}
		}
		c.mu.Unlock()
		return true
	})
}

type class uint8

const (
	other        class = iota
	recordOpen         // a chart or an item of it
	directoryRow       // a patient in a listing or demographics
	calendarRow        // a patient in a calendar
	auditRow           // a patient named by a page of the audit log
)

// classify returns what an action counts as, and whether it is a request
// for a patient's own record (which a canary refuses).
func classify(action string) (class, bool) {
	switch action {
	case "chart.read", "note.read", "measure.read", "diagnosis.read", "processnote.read", "careteam.read":
		return recordOpen, true
	case "patient.read":
		return directoryRow, true
	case "patient.list":
		return directoryRow, false
	case "appointment.list":
		return calendarRow, false
	case "audit.read":
		return auditRow, false
	}
	return other, false
}

// ignored reports whether a role's reads are not counted for volume,
// baseline and offhours.
func ignored(role string) bool { return role == "operator" || role == "patient" }

// count checks e against the canaries and the volume limits and counts it.
// It returns e's class, and the alert that refuses e if it is refused.
// The account's lock is held.
func (d *Detector) count(a *account, e *Event, s *Settings) (class, Alert, bool) {
	cls, request := classify(e.Action)
	if cls == other || e.Patient == "" {
		return cls, Alert{}, false
	}
	if request && d.isCanary(e.Patient) {
		return cls, Alert{Kind: KindCanary, Severity: Critical, Account: e.Account, Patient: e.Patient,
			Count: 1, At: e.Time, Freeze: true, Indexes: []int64{e.Index}}, true
	}
	if ignored(e.Role) {
		return cls, Alert{}, false
	}
	t := e.Time.UnixNano()
	w, kind, limit, span := &a.dir, KindDirectory, s.DirectoryLimit, s.DirectoryWindow
	switch cls {
	case recordOpen:
		w, kind, limit, span = &a.charts, KindCharts, s.ChartLimit, s.ChartWindow
	case calendarRow:
		w, kind, limit, span = &a.cal, KindCalendar, s.CalendarLimit, s.DirectoryWindow
	case auditRow:
		w, kind, limit, span = &a.aud, KindAudit, s.AuditLimit, s.AuditWindow
	}
	if !w.add(e.Patient, t, e.Index, limit, span) {
		return cls, Alert{Kind: kind, Severity: Critical, Account: e.Account, Count: len(w.seen) + 1, Limit: limit,
			Window: span, At: e.Time, Freeze: true, Indexes: w.indexes(e.Index)}, true
	}
	if cls == recordOpen {
		if a.base == nil {
			a.base = newBaseline(floorDiv(t, hourNS))
		}
		a.base.add(e.Patient, t, e.Index)
	}
	return cls, Alert{}, false
}

// sameRequest returns how many leading events share the first one's
// account and credential.
func sameRequest(evs []Event) int {
	for i := range evs {
		if evs[i].Account != evs[0].Account || evs[i].Credential != evs[0].Credential {
			return i
		}
	}
	return len(evs)
}

// account returns the state of account id, creating it.
func (d *Detector) account(id string) *account {
	if v, ok := d.accounts.Load(id); ok {
		return v.(*account)
	}
	v, _ := d.accounts.LoadOrStore(id, new(account))
	return v.(*account)
}

// lockCred returns the state of credential id, locked, creating it for
// account acct at t (Unix ns).
func (d *Detector) lockCred(id, acct string, t int64) *credential {
	for {
		v, ok := d.creds.Load(id)
		if !ok {
			var loaded bool
			v, loaded = d.creds.LoadOrStore(id, &credential{account: acct, last: t})
			if !loaded && d.newCreds.Add(1)%sweepEvery == 0 {
				d.sweep(t)
			}
		}
		c := v.(*credential)
		c.mu.Lock()
		if !c.dead {
			return c
		}
		c.mu.Unlock()
	}
}

// sweep drops credentials unused since credIdle before now (Unix ns) and
// frees the request times of those idle for longer than the rate window.
// It skips credentials in use, so it never waits for a lock.
func (d *Detector) sweep(now int64) {
	if !d.sweeping.CompareAndSwap(false, true) {
		return
	}
	defer d.sweeping.Store(false)
	span := d.settings.Load().RateWindow
	d.creds.Range(func(k, v any) bool {
		c := v.(*credential)
		if !c.mu.TryLock() {
			return true
		}
		switch {
		case c.last <= now-int64(credIdle):
			c.dead = true
			d.creds.CompareAndDelete(k, c)
		case c.last <= now-int64(span):
			c.rate = ring{}
		}
		c.mu.Unlock()
		return true
	})
}

// credentials returns how many credentials are remembered (for tests).
func (d *Detector) credentials() int {
	n := 0
	d.creds.Range(func(_, _ any) bool { n++; return true })
	return n
}

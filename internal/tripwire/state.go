package tripwire

import (
	"math"
	"slices"
	"sync"
	"time"
)

// account is one account's counts. Its mutex makes each Admit's
// check-and-count atomic for the account, and is the only lock an account's
// requests share.
type account struct {
	mu      sync.Mutex
	frozen  bool
	charts  window
	dir     window
	cal     window
	aud     window    // patients revealed by audit reads
	base    *baseline // nil until the account's first counted chart
	lastOff int64     // Unix ns of the last offhours alert
	offSent bool
}

// reset drops the account's windows and freeze (Forget). The baseline's
// past hours stay: they are the account's normal, not its counts.
func (a *account) reset() {
	a.frozen = false
	a.charts = window{}
	a.dir = window{}
	a.cal = window{}
	a.aud = window{}
	a.lastOff, a.offSent = 0, false
	if a.base != nil {
		clear(a.base.set)
		a.base.alerted = math.MinInt64
	}
}

// window holds the distinct patients seen in a sliding time window: a
// patient counts from the latest event naming them until that event is
// older than the window. It never holds more patients than the limit it
// is given, because it only needs to say whether one more would exceed it.
type window struct {
	seen   map[string]mark
	oldest int64 // Unix ns; at most the smallest last in seen
}

type mark struct {
	last  int64 // Unix ns of the latest event naming the patient
	index int64 // audit index of the event that started counting them
}

// add counts patient p at time t (Unix ns). It returns false, and counts
// nothing, when p is not in the window and the window already holds limit
// distinct patients. The window is (t-span, t].
func (w *window) add(p string, t, index int64, limit int, span time.Duration) bool {
	cutoff := t - int64(span)
	if m, ok := w.seen[p]; ok && m.last > cutoff {
		if t > m.last {
			m.last = t
			w.seen[p] = m
		}
		return true
	}
	if len(w.seen) >= limit && w.oldest <= cutoff {
		w.prune(cutoff)
	}
	if len(w.seen) >= limit {
		return false
	}
	if w.seen == nil {
		w.seen = make(map[string]mark, min(limit, 64))
	}
	if len(w.seen) == 0 || t < w.oldest {
		w.oldest = t
	}
	w.seen[p] = mark{last: t, index: index}
	return true
}

// prune drops the patients last seen at or before cutoff.
func (w *window) prune(cutoff int64) {
	oldest := int64(math.MaxInt64)
	for p, m := range w.seen {
		if m.last <= cutoff {
			delete(w.seen, p)
		} else if m.last < oldest {
			oldest = m.last
		}
	}
	w.oldest = oldest
}

// indexes returns the audit indexes that started each patient's count,
// with extra added, sorted.
func (w *window) indexes(extra int64) []int64 {
	ix := make([]int64, 0, len(w.seen)+1)
	for _, m := range w.seen {
		ix = append(ix, m.index)
	}
	ix = append(ix, extra)
	slices.Sort(ix)
	return ix
}

const (
	baselineHours = 30 * 24 // how far back the busiest hour is looked for
	maxHourSet    = 4096    // distinct patients counted in one hour, at most
	hourNS        = int64(time.Hour)
)

// baseline keeps an account's distinct charts per clock hour for 30 days:
// a count for each past hour and a set for the current one.
type baseline struct {
	counts  [baselineHours]uint16 // by Unix hour mod baselineHours
	hour    int64                 // the current hour (Unix hours)
	first   int64                 // the account's first counted hour
	busiest int                   // most distinct patients in one of the past hours
	set     map[string]int64      // this hour's patients → audit index of their first open
	alerted int64                 // hour of the last baseline alert
}

func newBaseline(h int64) *baseline {
	return &baseline{hour: h, first: h, set: make(map[string]int64), alerted: math.MinInt64}
}

// add counts patient p opened at t (Unix ns). Events of an hour that has
// already passed are not counted (the count is approximate there).
func (b *baseline) add(p string, t, index int64) {
	h := floorDiv(t, hourNS)
	if h < b.hour {
		return
	}
	if h > b.hour {
		b.advance(h)
	}
	if _, ok := b.set[p]; !ok && len(b.set) < maxHourSet {
		b.set[p] = index
	}
}

// advance closes the current hour and makes h current.
func (b *baseline) advance(h int64) {
	b.counts[floorMod(b.hour, baselineHours)] = uint16(len(b.set))
	if h-b.hour >= baselineHours {
		clear(b.counts[:])
	} else {
		for x := b.hour + 1; x <= h; x++ {
			b.counts[floorMod(x, baselineHours)] = 0 // hours without charts, and h itself
		}
	}
	b.hour = h
	clear(b.set)
	b.busiest = int(slices.Max(b.counts[:]))
}

// over reports whether the current hour is over the baseline and not yet
// alerted, with the count and the limit it exceeds.
func (b *baseline) over(s *Settings) (count, limit int, ok bool) {
	count = len(b.set)
	if b.alerted == b.hour || count <= s.BaselineFloor || b.hour-b.first < int64(s.BaselineDays)*24 {
		return 0, 0, false
	}
	f := s.BaselineFactor * float64(b.busiest)
	if float64(count) <= f {
		return 0, 0, false
	}
	return count, max(s.BaselineFloor, int(f)), true // count > f ⇔ count > ⌊f⌋
}

func (b *baseline) indexes() []int64 {
	ix := make([]int64, 0, len(b.set))
	for _, i := range b.set {
		ix = append(ix, i)
	}
	slices.Sort(ix)
	return ix
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

const (
	maxAddrs = 4 // addresses remembered per credential
	// credIdle is how long a credential is remembered after its last use.
	credIdle = 30 * 24 * time.Hour
	// sweepEvery: every this many new credentials, idle ones are dropped.
	sweepEvery = 1024
)

// credential is one session's or API token's state. Its mutex is taken
// after its account's, never before.
type credential struct {
	mu      sync.Mutex
	dead    bool   // dropped from the map by sweep: look it up again
	account string // the account that first used it
	last    int64  // Unix ns of its latest event
	addrs   [maxAddrs]addr
	naddrs  int
	roamed  bool // more than maxAddrs addresses; alerted once, no more
	rate    ring
}

type addr struct {
	key     string
	settled bool // first address, or already alerted
}

// see records address k and reports whether it is new enough to alert
// on, with the number of addresses the alert counts. Observe (alert false)
// records a new address unsettled, so that the next Admit from it alerts.
func (c *credential) see(k string, alert bool) (int, bool) {
	for i := range c.naddrs {
		a := &c.addrs[i]
		if a.key != k {
			continue
		}
		if alert && !a.settled {
			a.settled = true
			return i + 1, true
		}
		return 0, false
	}
	switch {
	case c.naddrs == 0:
		c.addrs[0] = addr{key: k, settled: true}
		c.naddrs = 1
	case c.naddrs < maxAddrs:
		c.addrs[c.naddrs] = addr{key: k, settled: alert}
		c.naddrs++
		return c.naddrs, alert
	case alert && !c.roamed:
		c.roamed = true
		return maxAddrs + 1, true
	}
	return 0, false
}

// ring holds the times of a credential's latest admitted batches, at most
// the rate limit of them, oldest at head once full.
type ring struct {
	s    []stamp
	head int
}

type stamp struct{ t, index int64 }

// admit counts a batch at t (Unix ns) unless limit batches already fell in
// (t-span, t].
func (r *ring) admit(t, index int64, limit int, span time.Duration) bool {
	if len(r.s) != limit && (len(r.s) > limit || r.head != 0) {
		r.resize(limit) // the limit changed
	}
	if len(r.s) < limit {
		r.s = append(r.s, stamp{t, index})
		return true
	}
	if r.s[r.head].t > t-int64(span) {
		return false
	}
	r.s[r.head] = stamp{t, index}
	r.head = (r.head + 1) % len(r.s)
	return true
}

// resize keeps the newest limit stamps, oldest first.
func (r *ring) resize(limit int) {
	s := append(slices.Clone(r.s[r.head:]), r.s[:r.head]...)
	if len(s) > limit {
		s = s[len(s)-limit:]
	}
	r.s, r.head = s, 0
}

func (r *ring) indexes(extra int64) []int64 {
	ix := make([]int64, 0, len(r.s)+1)
	for _, st := range r.s {
		ix = append(ix, st.index)
	}
	ix = append(ix, extra)
	slices.Sort(ix)
	return ix
}

package clinic

import (
	"context"
	"sync"
	"time"

	"github.com/hushepr/hush/internal/audit"
)

// Unauthenticated failures (a rejected bearer token) cost the sender
// nothing, so each one must not cost the clinic a durable audit event: one
// client sending bad tokens as fast as it could once wrote 22,634 events in
// ten seconds, a megabyte of database a second, until a full disk stopped
// every read. They are throttled per source and minute instead: the first
// failure of a source in a minute is logged as it happens, the rest are
// counted and logged as one event carrying the count (audit.Event.Count)
// when the minute closes, or at the next failure after it. At most
// maxRejectSources sources are tracked a minute; failures from further
// sources share one bucket (its first failure logged, then one count).
// Below the audit log's disk reserve none of them is logged at all
// (audit.Log.HasRoomForNoise), so that the events of real work never
// starve.

// maxRejectSources caps the sources tracked in one minute (memory: a map
// entry each).
const maxRejectSources = 1024

// rejectedLog is the per-minute count of unauthenticated failures.
type rejectedLog struct {
	mu      sync.Mutex
	minute  int64             // the minute counted (Unix minutes)
	sources map[string]*burst // address key -> this minute's burst
	other   *burst            // sources beyond maxRejectSources
	timer   *time.Timer       // flushes when the minute closes
}

// burst is one source's failures in a minute after the first.
type burst struct {
	addr    string // the first address seen (sealed in the event)
	entity  string // the token id of the latest failure
	counted int64  // failures not yet logged
}

// rejected logs an unauthenticated failure, throttled: ev is appended only
// if it is its source's first this minute. Counts of earlier minutes are
// appended with it.
func (c *Clinic) rejected(ctx context.Context, ev audit.Event) {
	now := c.now()
	m := now.Unix() / 60
	key := AddrKey(ev.Private.ClientAddr)
	r := &c.rej
	r.mu.Lock()
	var out []audit.Event
	if m != r.minute {
		out = r.drain(now)
		r.minute = m
	}
	b, seen := r.sources[key]
	switch {
	case seen:
		b.counted++
		b.entity = ev.Entity
	case len(r.sources) < maxRejectSources:
		if r.sources == nil {
			r.sources = map[string]*burst{}
		}
		r.sources[key] = &burst{addr: ev.Private.ClientAddr}
		out = append(out, ev)
	case r.other == nil:
		r.other = &burst{}
		ev.Private.ClientAddr, ev.Entity = "", "" // one bucket for many sources
		out = append(out, ev)
	default:
		r.other.counted++
	}
	if (seen || r.other != nil) && r.timer == nil {
		// Close the minute even if no failure follows it.
		wait := time.Unix((m+1)*60, 0).Sub(now) + 100*time.Millisecond
		r.timer = time.AfterFunc(wait, func() { c.flushRejected(context.Background()) })
	}
	r.mu.Unlock()
	c.appendRejected(ctx, out)
}

// flushRejected appends the counts of minutes that have closed (all of
// them when the clinic closes: then call it with the time far ahead).
func (c *Clinic) flushRejected(ctx context.Context) {
	r := &c.rej
	r.mu.Lock()
	r.timer = nil
	var out []audit.Event
	if now := c.now(); now.Unix()/60 != r.minute {
		out = r.drain(now)
		r.minute = now.Unix() / 60
	}
	r.mu.Unlock()
	c.appendRejected(ctx, out)
}

// FlushRejected appends every count of unauthenticated failures still
// held, whatever its minute. Close calls it; hush serve calls it before it
// closes the audit log at shutdown.
func (c *Clinic) FlushRejected() {
	r := &c.rej
	r.mu.Lock()
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	out := r.drain(c.now())
	r.mu.Unlock()
	c.appendRejected(context.Background(), out)
}

// drain returns one event per burst with failures not yet logged, and
// empties the minute. r.mu is held.
func (r *rejectedLog) drain(now time.Time) []audit.Event {
	var out []audit.Event
	ev := func(b *burst) audit.Event {
		return audit.Event{Time: now, Action: audit.ActTokenRejected, Entity: b.entity, Purpose: audit.PurposeSecurity,
			Outcome: audit.OutcomeDenied, Count: b.counted, Private: audit.Private{ClientAddr: b.addr}}
	}
	for _, b := range r.sources {
		if b.counted > 0 {
			out = append(out, ev(b))
		}
	}
	if r.other != nil && r.other.counted > 0 {
		out = append(out, ev(&burst{counted: r.other.counted}))
	}
	r.sources, r.other = nil, nil
	return out
}

// appendRejected appends unauthenticated failures' events if the data
// directory has room above the reserve kept for real work (best effort:
// the refusal stands either way).
func (c *Clinic) appendRejected(ctx context.Context, evs []audit.Event) {
	if len(evs) == 0 || c.audit == nil || !c.audit.HasRoomForNoise() {
		return
	}
	c.audit.Append(context.WithoutCancel(ctx), evs...)
}

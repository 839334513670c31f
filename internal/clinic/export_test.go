package clinic

import (
	"context"

	"github.com/hushepr/hush/internal/audit"
)

// DisableReadAuditForBenchmark replaces the durable append of read events
// by a no-op, so a benchmark can measure what auditing costs. It exists only
// in test builds.
func DisableReadAuditForBenchmark(c *Clinic) {
	c.appendRead = func(context.Context, ...audit.Event) error { return nil }
}

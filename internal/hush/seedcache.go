package hush

import (
	"strconv"
	"sync"

	"github.com/hushepr/hush/internal/seal"
)

// SeedCache holds the record seeds an actor's session has opened. Wipe drops
// and zeroes them when the session ends. Get hands out copies, so wiping the
// cache never pulls a seed from under a request that is using it.
type SeedCache struct {
	mu    sync.Mutex
	seeds map[string]*seal.RecordSeed
}

func seedKey(patient string, epoch int) string { return patient + "/" + strconv.Itoa(epoch) }

// Get returns a cached seed.
func (c *SeedCache) Get(patient string, epoch int) *seal.RecordSeed {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.seeds[seedKey(patient, epoch)]; s != nil {
		return s.Clone()
	}
	return nil
}

// Put caches a seed.
func (c *SeedCache) Put(patient string, epoch int, s *seal.RecordSeed) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seeds == nil {
		c.seeds = make(map[string]*seal.RecordSeed)
	}
	if old := c.seeds[seedKey(patient, epoch)]; old != nil {
		old.Wipe()
	}
	c.seeds[seedKey(patient, epoch)] = s
}

// Forget drops every cached seed of a patient (after a revocation).
func (c *SeedCache) Forget(patient string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.seeds {
		if len(k) > len(patient) && k[:len(patient)+1] == patient+"/" {
			s.Wipe()
			delete(c.seeds, k)
		}
	}
}

// Wipe zeroes and drops every seed.
func (c *SeedCache) Wipe() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.seeds {
		s.Wipe()
		delete(c.seeds, k)
	}
}

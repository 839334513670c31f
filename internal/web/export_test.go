package web

import "time"

// SetClock replaces the server's clock (tests of timeouts).
func (s *Server) SetClock(now func() time.Time) { s.now = now }

// Catalog exposes the message catalog to tests.
var Catalog = catalog

//go:build unix && !linux

package cli

// notDumpable has no portable counterpart outside Linux; RLIMIT_CORE of
// zero is what keeps core files away there.
func notDumpable() error { return nil }

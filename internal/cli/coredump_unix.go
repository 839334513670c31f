//go:build unix

package cli

import "syscall"

// disableCoreDumps sets RLIMIT_CORE to zero: a crash must not write the
// unsealed keys in memory to a core file.
func disableCoreDumps() {
	syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0})
}

//go:build unix

package cli

import (
	"fmt"
	"syscall"
)

// disableCoreDumps keeps this process's memory out of files and other
// processes: a crash must not write the unsealed keys it holds (the KEK,
// directory keys, signed-in users' private keys, a rebuilt recovery key)
// to a core file. It sets RLIMIT_CORE to zero and, where the system has
// it, marks the process not dumpable, which also stops the owner's other
// processes from attaching a debugger or reading its memory through /proc.
func disableCoreDumps() error {
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("cannot disable core dumps: %w", err)
	}
	if err := notDumpable(); err != nil {
		return fmt.Errorf("cannot mark the process not dumpable: %w", err)
	}
	return nil
}

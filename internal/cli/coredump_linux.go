package cli

import "syscall"

// notDumpable sets PR_SET_DUMPABLE to 0: no core file even if a later
// setrlimit raises the limit again, and no ptrace or /proc/PID/mem access
// by processes of the same user (root keeps CAP_SYS_PTRACE).
func notDumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

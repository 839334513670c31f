//go:build linux || darwin

package clinic

import "syscall"

// freeSpace returns a reader of the free bytes (available to the server's
// user) of the file system that holds dir.
func freeSpace(dir string) func() (uint64, error) {
	return func() (uint64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, err
		}
		return uint64(st.Bavail) * uint64(st.Bsize), nil
	}
}

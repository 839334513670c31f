//go:build !(linux || darwin)

package clinic

// freeSpace is not watched on this system.
func freeSpace(string) func() (uint64, error) { return nil }

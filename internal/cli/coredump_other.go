//go:build !unix

package cli

func disableCoreDumps() {}

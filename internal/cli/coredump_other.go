//go:build !unix

package cli

func disableCoreDumps() error { return nil }

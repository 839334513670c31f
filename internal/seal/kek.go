package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// kekHeader starts every KEK file, so a wrong file fails with a clear error.
const kekHeader = "hush-kek-v1:"

// KEK is the key-encryption key. It wraps the clinic's directory, blind-index
// and audit keys and never seals data itself: every use goes through a
// subkey derived for one purpose.
type KEK struct{ k *Key }

// String redacts the key.
func (*KEK) String() string { return "[redacted]" }

// Derive returns the subkey for one purpose.
func (kek *KEK) Derive(label string) *Key { return kek.k.Derive("kek " + label) }

// Wipe zeroes the KEK bytes.
func (kek *KEK) Wipe() { kek.k.Wipe() }

// CreateKEKFile writes a new random KEK to path (mode 0600, refusing to
// overwrite), fsyncs it and its directory, and returns it.
func CreateKEKFile(path string) (*KEK, error) {
	k := NewKey()
	body := []byte(kekHeader + base64.StdEncoding.EncodeToString(k.b[:]) + "\n")
	defer wipe(body)
	if err := WriteFileDurable(path, body, 0o600); err != nil {
		return nil, err
	}
	return &KEK{k: k}, nil
}

// LoadKEKFile reads a KEK written by CreateKEKFile.
func LoadKEKFile(path string) (*KEK, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer wipe(body)
	s := string(bytes.TrimSpace(body))
	if !strings.HasPrefix(s, kekHeader) {
		return nil, errors.New("key file is not a Hush key-encryption key (missing hush-kek-v1 header)")
	}
	raw, err := base64.StdEncoding.DecodeString(s[len(kekHeader):])
	if err != nil || len(raw) != KeySize {
		return nil, errors.New("key file is damaged: the key is not 32 base64-encoded bytes")
	}
	defer wipe(raw)
	k, err := keyFromSlice(raw)
	if err != nil {
		return nil, err
	}
	return &KEK{k: k}, nil
}

// NewTestKEK returns a random KEK held only in memory, for benchmarks and
// tests of code that takes a KEK.
func NewTestKEK() *KEK { return &KEK{k: NewKey()} }

// WriteFileDurable creates path exclusively with perm, writes data, fsyncs
// the file and then its parent directory, so that the file survives a crash
// once this returns.
func WriteFileDurable(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory so that entries created in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Inside reports whether path is dir or lies below it, after resolving
// symbolic links of the parts that exist. Hush refuses to keep the KEK or
// the recovery shares inside the data directory: a copy of the data
// directory must not carry the key that opens it.
func Inside(path, dir string) (bool, error) {
	p, err := resolve(path)
	if err != nil {
		return false, err
	}
	d, err := resolve(dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(d, p)
	if err != nil {
		return false, nil
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))), nil
}

// resolve makes path absolute and resolves symlinks in its longest existing
// prefix.
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	rest := ""
	cur := abs
	for {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest), nil
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

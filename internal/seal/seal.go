// Package seal holds every cryptographic operation Hush performs: symmetric
// sealing with bound context, principal key pairs, grants of record secrets,
// password and token key derivation, and the key-encryption key (KEK) file.
//
// # Why one package
//
// Keeping every primitive behind a handful of small types (Key, RecordSeed,
// PrivateKey, PublicKey) means the rest of Hush never touches key bytes: the
// object that holds a key does the operation and never hands the key out, and
// every key type prints as [redacted]. All primitives come from the Go
// standard library (crypto/hpke, crypto/aes, crypto/cipher, crypto/hkdf) and
// golang.org/x/crypto/argon2; nothing here invents a primitive.
//
// # Bound context
//
// Every ciphertext binds its context as associated data, built with AD from
// length-prefixed parts, so a sealed value cannot be moved to another row,
// another patient, another version or another kind of item.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// KeySize is the size in bytes of every symmetric key and record seed.
const KeySize = 32

// ErrOpen is returned when a ciphertext does not open: wrong key, wrong
// context, or tampered bytes. It deliberately does not say which.
var ErrOpen = errors.New("seal: ciphertext does not open with this key and context")

// Key is an AES-256-GCM key. Its bytes never leave the package.
type Key struct {
	b    [KeySize]byte
	aead cipher.AEAD
}

// NewKey returns a fresh random key.
func NewKey() *Key {
	var b [KeySize]byte
	rand.Read(b[:])
	return keyFrom(b)
}

func keyFrom(b [KeySize]byte) *Key {
	block, err := aes.NewCipher(b[:])
	if err != nil {
		panic(err) // impossible: fixed key size
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Key{b: b, aead: aead}
}

func keyFromSlice(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("seal: key must be %d bytes", KeySize)
	}
	var a [KeySize]byte
	copy(a[:], b)
	return keyFrom(a), nil
}

// String redacts the key.
func (k *Key) String() string { return "[redacted]" }

// GoString redacts the key.
func (k *Key) GoString() string { return "[redacted]" }

// Seal encrypts plaintext with a random nonce and binds ad. The result is
// nonce || ciphertext || tag.
func (k *Key) Seal(plaintext, ad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, ad)
}

// Open decrypts a value made by Seal with the same ad.
func (k *Key) Open(sealed, ad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, ErrOpen
	}
	pt, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Derive returns a subkey for one purpose, named by label (HKDF-SHA256).
func (k *Key) Derive(label string) *Key {
	out, err := hkdf.Key(sha256.New, k.b[:], nil, "hush "+label, KeySize)
	if err != nil {
		panic(err)
	}
	defer wipe(out)
	var a [KeySize]byte
	copy(a[:], out)
	return keyFrom(a)
}

// MAC returns HMAC-SHA256 of data under the key. Use a key derived for
// MACs only (Derive with its own label).
func (k *Key) MAC(data []byte) []byte {
	m := hmac.New(sha256.New, k.b[:])
	m.Write(data)
	return m.Sum(nil)
}

// VerifyMAC reports whether mac is the MAC of data, in constant time.
func (k *Key) VerifyMAC(data, mac []byte) bool {
	return hmac.Equal(k.MAC(data), mac)
}

// Wrap seals another key under k with context ad.
func (k *Key) Wrap(inner *Key, ad []byte) []byte { return k.Seal(inner.b[:], ad) }

// Unwrap opens a key sealed by Wrap.
func (k *Key) Unwrap(sealed, ad []byte) (*Key, error) {
	b, err := k.Open(sealed, ad)
	if err != nil {
		return nil, err
	}
	defer wipe(b)
	return keyFromSlice(b)
}

// Wipe zeroes the key bytes Hush owns. Best effort: the AES key schedule
// inside crypto/aes is not reachable and is left to the garbage collector.
func (k *Key) Wipe() {
	if k == nil {
		return
	}
	wipe(k.b[:])
}

func wipe(b []byte) { clear(b) }

// AD builds associated data from parts, each length-prefixed so that no two
// different lists of parts encode the same bytes.
func AD(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += 4 + len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out
}

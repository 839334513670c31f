package seal

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id parameters for passwords: OWASP's Password
// Storage Cheat Sheet (2025) first recommended configuration, m=19 MiB,
// t=2, p=1 (≈ 55 ms on the reference 2-core machine). Sign-in runs it once;
// no request path does.
var Argon2Params = struct {
	Time, MemoryKiB uint32
	Threads         uint8
}{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

// SaltSize is the size of a password salt.
const SaltSize = 16

// NewSalt returns a random password salt.
func NewSalt() []byte {
	b := make([]byte, SaltSize)
	rand.Read(b)
	return b
}

// Credential is what a password or an API token yields: a verifier to
// compare with the stored one and a key that unwraps the principal's private
// key. The two come from one KDF output through HKDF with distinct labels,
// never the same bytes.
type Credential struct {
	Verifier []byte
	Wrap     *Key
}

// FromPassword runs argon2id over password and salt.
func FromPassword(password, salt []byte) Credential {
	ikm := argon2.IDKey(password, salt, Argon2Params.Time, Argon2Params.MemoryKiB, Argon2Params.Threads, KeySize)
	defer wipe(ikm)
	return credentialFrom(ikm, "password")
}

// FromToken derives a credential from an API token's 256-bit secret. The
// secret is random, so HKDF alone is enough; no slow KDF is needed.
func FromToken(secret []byte, tokenID string) Credential {
	ikm, err := hkdf.Key(sha256.New, secret, []byte(tokenID), "hush token ikm v1", KeySize)
	if err != nil {
		panic(err)
	}
	defer wipe(ikm)
	return credentialFrom(ikm, "token")
}

func credentialFrom(ikm []byte, kind string) Credential {
	v, err := hkdf.Key(sha256.New, ikm, nil, "hush "+kind+" verifier v1", KeySize)
	if err != nil {
		panic(err)
	}
	w, err := hkdf.Key(sha256.New, ikm, nil, "hush "+kind+" wrap v1", KeySize)
	if err != nil {
		panic(err)
	}
	defer wipe(w)
	k, _ := keyFromSlice(w)
	return Credential{Verifier: v, Wrap: k}
}

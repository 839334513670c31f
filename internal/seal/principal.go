package seal

import (
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// Grants and principal keys use HPKE (RFC 9180) with the post-quantum hybrid
// KEM ML-KEM-768+X25519: therapy notes must stay secret for decades, so a
// ciphertext recorded today must resist a quantum computer later.
var (
	kem  = hpke.MLKEM768X25519()
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES256GCM()
)

// PrivateKey is a principal's (clinician's, patient's or the recovery key's)
// HPKE private key.
type PrivateKey struct{ sk hpke.PrivateKey }

// PublicKey is a principal's HPKE public key.
type PublicKey struct{ pk hpke.PublicKey }

// GeneratePrivateKey returns a fresh principal key pair.
func GeneratePrivateKey() (*PrivateKey, error) {
	sk, err := kem.GenerateKey()
	if err != nil {
		return nil, err
	}
	return &PrivateKey{sk: sk}, nil
}

// String redacts the key.
func (*PrivateKey) String() string { return "[redacted]" }

// Public returns the public half.
func (k *PrivateKey) Public() *PublicKey { return &PublicKey{pk: k.sk.PublicKey()} }

// bytes serialises the private key (a 32-byte seed). Callers wipe the result.
func (k *PrivateKey) bytes() []byte {
	b, err := k.sk.Bytes()
	if err != nil {
		panic(err) // generated keys always serialise
	}
	return b
}

func parsePrivateKey(b []byte) (*PrivateKey, error) {
	sk, err := kem.NewPrivateKey(b)
	if err != nil {
		return nil, errors.New("seal: not a valid private key")
	}
	return &PrivateKey{sk: sk}, nil
}

// SealPrivateKey seals the private key under wrap with context ad.
func SealPrivateKey(k *PrivateKey, wrap *Key, ad []byte) []byte {
	b := k.bytes()
	defer wipe(b)
	return wrap.Seal(b, ad)
}

// OpenPrivateKey opens a private key sealed by SealPrivateKey.
func OpenPrivateKey(sealed []byte, wrap *Key, ad []byte) (*PrivateKey, error) {
	b, err := wrap.Open(sealed, ad)
	if err != nil {
		return nil, err
	}
	defer wipe(b)
	return parsePrivateKey(b)
}

// ParsePublicKey decodes a public key from Bytes.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	pk, err := kem.NewPublicKey(b)
	if err != nil {
		return nil, errors.New("seal: not a valid public key")
	}
	return &PublicKey{pk: pk}, nil
}

// Bytes encodes the public key.
func (p *PublicKey) Bytes() []byte { return p.pk.Bytes() }

// Fingerprint is a short stable name for the key: the first 16 bytes of
// SHA-256 of its encoding, in hex.
func (p *PublicKey) Fingerprint() string {
	h := sha256.Sum256(p.pk.Bytes())
	return hex.EncodeToString(h[:16])
}

// Equal reports whether two public keys are the same.
func (p *PublicKey) Equal(q *PublicKey) bool {
	return p.Fingerprint() == q.Fingerprint()
}

// GrantContext names what a grant is for. It is bound into HPKE's info, so
// a grant copied to another record, epoch or principal does not open.
type GrantContext struct {
	Clinic    string // clinic id
	Record    string // patient id
	Epoch     int    // key epoch of the record
	Principal string // recipient principal id ("user:ID" or "recovery")
}

func (c GrantContext) info() []byte {
	return AD("hush grant v1", c.Clinic, c.Record, strconv.Itoa(c.Epoch), c.Principal)
}

// GrantSize is the size of one sealed grant.
const GrantSize = 1168

// SealGrant seals a record seed to a principal's public key.
func SealGrant(to *PublicKey, c GrantContext, seed *RecordSeed) ([]byte, error) {
	return hpke.Seal(to.pk, kdf, aead, c.info(), seed.b[:])
}

// OpenGrant opens a grant addressed to k.
func (k *PrivateKey) OpenGrant(c GrantContext, grant []byte) (*RecordSeed, error) {
	pt, err := hpke.Open(k.sk, kdf, aead, c.info(), grant)
	if err != nil {
		return nil, ErrOpen
	}
	defer wipe(pt)
	if len(pt) != KeySize {
		return nil, fmt.Errorf("seal: grant holds %d bytes, want %d", len(pt), KeySize)
	}
	s := &RecordSeed{}
	copy(s.b[:], pt)
	return s, nil
}

// KeyBytesForEscrow returns a copy of the key bytes for sealing to the
// recovery key. Callers wipe the result.
func (k *Key) KeyBytesForEscrow() []byte { return append([]byte(nil), k.b[:]...) }

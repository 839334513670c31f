package seal

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
)

// RecordSeed is the random 32-byte secret of one patient record in one key
// epoch. Everything that opens the record's content derives from it; a grant
// carries it to a principal.
type RecordSeed struct{ b [KeySize]byte }

// NewRecordSeed returns a fresh random seed.
func NewRecordSeed() *RecordSeed {
	s := &RecordSeed{}
	rand.Read(s.b[:])
	return s
}

// String redacts the seed.
func (*RecordSeed) String() string { return "[redacted]" }

// ContentKey derives the AES-256-GCM key that seals the record's items.
func (s *RecordSeed) ContentKey() *Key {
	out, err := hkdf.Key(sha256.New, s.b[:], nil, "hush record content v1", KeySize)
	if err != nil {
		panic(err)
	}
	defer wipe(out)
	k, _ := keyFromSlice(out)
	return k
}

// PublicKey derives the record's HPKE public key, to which those who may add
// to a record but not read it (reception attaching a referral, an import)
// can seal content.
func (s *RecordSeed) PublicKey() (*PublicKey, error) {
	ikm, err := hkdf.Key(sha256.New, s.b[:], nil, "hush record hpke v1", KeySize)
	if err != nil {
		return nil, err
	}
	defer wipe(ikm)
	sk, err := kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, err
	}
	return &PublicKey{pk: sk.PublicKey()}, nil
}

// Clone returns a copy that the caller owns (and wipes), so that a cached
// seed can be wiped without pulling it from under a request that uses it.
func (s *RecordSeed) Clone() *RecordSeed {
	c := *s
	return &c
}

// Wipe zeroes the seed.
func (s *RecordSeed) Wipe() {
	if s != nil {
		wipe(s.b[:])
	}
}

package seal

import (
	"bytes"
	"testing"
)

func BenchmarkSealNote4KiB(b *testing.B) {
	k := NewRecordSeed().ContentKey()
	note := bytes.Repeat([]byte("a"), 4096)
	ad := AD("hush note v1", "patient", "note", "1", "1", "note", "SOAP", "final", "author")
	b.SetBytes(int64(len(note)))
	for b.Loop() {
		k.Seal(note, ad)
	}
}

func BenchmarkOpenNote4KiB(b *testing.B) {
	k := NewRecordSeed().ContentKey()
	note := bytes.Repeat([]byte("a"), 4096)
	ad := AD("hush note v1", "patient", "note", "1", "1", "note", "SOAP", "final", "author")
	ct := k.Seal(note, ad)
	b.SetBytes(int64(len(note)))
	for b.Loop() {
		if _, err := k.Open(ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealGrant(b *testing.B) {
	k, _ := GeneratePrivateKey()
	pub := k.Public()
	seed := NewRecordSeed()
	c := GrantContext{Record: "p", Epoch: 1, Principal: "user:u"}
	for b.Loop() {
		if _, err := SealGrant(pub, c, seed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenGrant(b *testing.B) {
	k, _ := GeneratePrivateKey()
	c := GrantContext{Record: "p", Epoch: 1, Principal: "user:u"}
	g, _ := SealGrant(k.Public(), c, NewRecordSeed())
	for b.Loop() {
		if _, err := k.OpenGrant(c, g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordKDF(b *testing.B) {
	salt := NewSalt()
	for b.Loop() {
		FromPassword([]byte("correct horse battery staple"), salt)
	}
}

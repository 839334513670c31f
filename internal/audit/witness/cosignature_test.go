package witness_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hushepr/hush/internal/audit/witness"
)

// Known answer produced by filippo.io/torchwood v0.6.1's CosignatureSigner
// (the signer litewitness uses) with the Ed25519 key whose seed is
// SHA-256("hush witness known-answer test"), name "witness.example/kat".
const (
	katName  = "witness.example/kat"
	katVKey  = "witness.example/kat+c4b1f39f+BAbAMEmChMp4i/27OPmaab9V+CbljxFIErL9U2eMIOYB"
	katHash  = 0xc4b1f39f
	katTime  = 1795703215
	katText  = "hush.test/audit\n7\nn7lIK5xdaT5Pbq1vFJfWJjpKyRTWWwmCd5aELdsyzrI=\n"
	katCosig = "— witness.example/kat xLHznwAAAABrCEGv4Mnp6LeGEoCS3iYMkpj7HrsUzHEGRj2qeTWI3SPHodDfYwDndpz5PLQ4xOuK2wwo9Z9aqkfCjyPGwvw4qWNyAg==\n"
)

func katKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("hush witness known-answer test"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// cosign builds a cosignature/v1 line by hand from the spec.
func cosign(key ed25519.PrivateKey, name string, keyHash uint32, t uint64, text string) string {
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, text)
	sig := binary.BigEndian.AppendUint32(nil, keyHash)
	sig = binary.BigEndian.AppendUint64(sig, t)
	sig = append(sig, ed25519.Sign(key, []byte(msg))...)
	return "— " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

// retimed changes the timestamp of a cosignature line, keeping the signature.
func retimed(t *testing.T, line string, ts uint64) string {
	prefix := "— " + katName + " "
	b, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(line, prefix), "\n"))
	if err != nil || len(b) != 4+8+64 {
		t.Fatalf("bad cosignature line %q", line)
	}
	binary.BigEndian.PutUint64(b[4:], ts)
	return prefix + base64.StdEncoding.EncodeToString(b) + "\n"
}

func TestCosignatureVerifierKnownAnswer(t *testing.T) {
	key := katKey()

	// The vkey is name+hash+base64(0x04 || public key), hash being
	// SHA-256(name || "\n" || 0x04 || public key)[:4].
	pubKey := append([]byte{0x04}, key.Public().(ed25519.PublicKey)...)
	h := sha256.Sum256(append([]byte(katName+"\n"), pubKey...))
	if got := fmt.Sprintf("%s+%08x+%s", katName, h[:4], base64.StdEncoding.EncodeToString(pubKey)); got != katVKey {
		t.Fatalf("vkey from spec = %s, want %s", got, katVKey)
	}

	v, err := witness.NewCosignatureVerifier(katVKey)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name() != katName || v.KeyHash() != katHash {
		t.Fatalf("Name, KeyHash = %q, %08x", v.Name(), v.KeyHash())
	}
	if s, ok := v.(fmt.Stringer); !ok || s.String() != katVKey {
		t.Fatalf("verifier does not print as its vkey")
	}

	// A cosignature built by hand equals torchwood's (Ed25519 is
	// deterministic).
	if got := cosign(key, katName, katHash, katTime, katText); got != katCosig {
		t.Fatalf("hand-made cosignature\n%s want\n%s", got, katCosig)
	}

	n, err := note.Open([]byte(katText+"\n"+katCosig), note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != katName || n.Sigs[0].Hash != katHash {
		t.Fatalf("Sigs = %+v", n.Sigs)
	}
	ts, err := witness.CosignatureTime(n.Sigs[0])
	if err != nil || !ts.Equal(time.Unix(katTime, 0)) {
		t.Fatalf("CosignatureTime = %v, %v", ts, err)
	}

	// Tampering with the body, the timestamp or the signature fails.
	bad := []string{
		strings.Replace(katText, "\n7\n", "\n8\n", 1) + "\n" + katCosig,
		katText + "\n" + retimed(t, katCosig, katTime+1),
		katText + "\n" + strings.Replace(katCosig, "xLHz", "xLHy", 1),
		// Extension lines are part of the signed message.
		katText + "ext\n\n" + katCosig,
	}
	for i, msg := range bad {
		if _, err := note.Open([]byte(msg), note.VerifierList(v)); err == nil {
			t.Errorf("tampered note %d verified", i)
		}
	}

	// Signed over the body only (a plain Ed25519 note signature with the
	// same key and key hash), the cosignature verifier must refuse it: the
	// "cosignature/v1\ntime" header is domain separation.
	plain := binary.BigEndian.AppendUint32(nil, katHash)
	plain = binary.BigEndian.AppendUint64(plain, katTime)
	plain = append(plain, ed25519.Sign(key, []byte(katText))...)
	line := "— " + katName + " " + base64.StdEncoding.EncodeToString(plain) + "\n"
	if _, err := note.Open([]byte(katText+"\n"+line), note.VerifierList(v)); err == nil {
		t.Errorf("signature without the cosignature/v1 header verified")
	}

	// A cosignature over something that is not a checkpoint is refused.
	notCheckpoint := "hello\nworld\n"
	line = cosign(key, katName, katHash, katTime, notCheckpoint)
	if _, err := note.Open([]byte(notCheckpoint+"\n"+line), note.VerifierList(v)); err == nil {
		t.Errorf("cosignature over a non-checkpoint verified")
	}
}

func TestNewCosignatureVerifierRejects(t *testing.T) {
	key := katKey()
	pub := key.Public().(ed25519.PublicKey)
	vkeyFor := func(name string, typ byte, k []byte) string {
		b := append([]byte{typ}, k...)
		h := sha256.Sum256(append([]byte(name+"\n"), b...))
		return fmt.Sprintf("%s+%08x+%s", name, h[:4], base64.StdEncoding.EncodeToString(b))
	}
	// A plain Ed25519 note key (type 0x01) is a different kind of key.
	ed25519VKey, err := note.NewEd25519VerifierKey(katName, pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, vkey := range []string{
		"",
		katName,
		katName + "+c4b1f39f",
		strings.Replace(katVKey, "+c4b1f39f+", "+c4b1f39e+", 1), // wrong hash
		strings.Replace(katVKey, "+c4b1f39f+", "+C4B1F39F0+", 1),
		ed25519VKey,
		vkeyFor(katName, 0x04, pub[:31]),
		vkeyFor(katName, 0x04, append(append([]byte{}, pub...), 0)),
		vkeyFor("bad name", 0x04, pub),
		vkeyFor("bad+name", 0x04, pub),
		katVKey + "!",
	} {
		if _, err := witness.NewCosignatureVerifier(vkey); err == nil {
			t.Errorf("NewCosignatureVerifier(%q) succeeded", vkey)
		}
	}
	if _, err := witness.NewCosignatureVerifier(vkeyFor("other.example/w", 0x04, pub)); err != nil {
		t.Errorf("valid vkey refused: %v", err)
	}
}

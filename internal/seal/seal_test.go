package seal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func fixedKey(b byte) *Key {
	var a [KeySize]byte
	for i := range a {
		a[i] = b + byte(i)
	}
	return keyFrom(a)
}

func TestSealOpenBindsContext(t *testing.T) {
	k := NewKey()
	ad := AD("hush note v1", "patient", "note", "1")
	ct := k.Seal([]byte("therapy note"), ad)
	pt, err := k.Open(ct, ad)
	if err != nil || string(pt) != "therapy note" {
		t.Fatalf("open: %q %v", pt, err)
	}
	for name, tc := range map[string]struct {
		key *Key
		ct  []byte
		ad  []byte
	}{
		"other key":     {NewKey(), ct, ad},
		"other row":     {k, ct, AD("hush note v1", "patient", "note", "2")},
		"other patient": {k, ct, AD("hush note v1", "patient2", "note", "1")},
		"no context":    {k, ct, nil},
		"tampered":      {k, append(append([]byte{}, ct[:len(ct)-1]...), ct[len(ct)-1]^1), ad},
		"truncated":     {k, ct[:10], ad},
		"empty":         {k, nil, ad},
	} {
		if _, err := tc.key.Open(tc.ct, tc.ad); err != ErrOpen {
			t.Errorf("%s: err %v, want ErrOpen", name, err)
		}
	}
	if bytes.Equal(k.Seal([]byte("x"), ad), k.Seal([]byte("x"), ad)) {
		t.Error("two seals of the same text are equal: nonce reuse")
	}
}

func TestADIsUnambiguous(t *testing.T) {
	if bytes.Equal(AD("ab", "c"), AD("a", "bc")) || bytes.Equal(AD("a", ""), AD("a")) {
		t.Fatal("different parts encode the same")
	}
}

func TestKeysRedact(t *testing.T) {
	k := NewKey()
	for _, s := range []string{k.String(), k.GoString(), NewRecordSeed().String(), (&KEK{}).String()} {
		if s != "[redacted]" {
			t.Errorf("a key prints as %q", s)
		}
	}
}

func TestGrantBinding(t *testing.T) {
	alice, _ := GeneratePrivateKey()
	mallory, _ := GeneratePrivateKey()
	seed := NewRecordSeed()
	c := GrantContext{Record: "p1", Epoch: 1, Principal: "user:alice"}
	g, err := SealGrant(alice.Public(), c, seed)
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != GrantSize {
		t.Errorf("grant is %d bytes, want %d", len(g), GrantSize)
	}
	got, err := alice.OpenGrant(c, g)
	if err != nil || got.b != seed.b {
		t.Fatalf("open grant: %v", err)
	}
	for name, cc := range map[string]GrantContext{
		"other clinic":    {Clinic: "c2", Record: "p1", Epoch: 1, Principal: "user:alice"},
		"other record":    {Record: "p2", Epoch: 1, Principal: "user:alice"},
		"other epoch":     {Record: "p1", Epoch: 2, Principal: "user:alice"},
		"other principal": {Record: "p1", Epoch: 1, Principal: "user:mallory"},
	} {
		if _, err := alice.OpenGrant(cc, g); err == nil {
			t.Errorf("grant moved to %s still opens", name)
		}
	}
	if _, err := mallory.OpenGrant(c, g); err == nil {
		t.Error("another principal's key opens the grant")
	}
}

func TestPrivateKeySealing(t *testing.T) {
	k, _ := GeneratePrivateKey()
	wrap := NewKey()
	blob := SealPrivateKey(k, wrap, AD("user", "u1"))
	back, err := OpenPrivateKey(blob, wrap, AD("user", "u1"))
	if err != nil || !back.Public().Equal(k.Public()) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := OpenPrivateKey(blob, wrap, AD("user", "u2")); err == nil {
		t.Error("a private key sealed for u1 opens for u2")
	}
}

func TestCredentialsSeparateVerifierAndWrap(t *testing.T) {
	saved := Argon2Params
	Argon2Params.MemoryKiB, Argon2Params.Time = 64, 1 // fast for the test
	defer func() { Argon2Params = saved }()
	salt := bytes.Repeat([]byte{1}, SaltSize)
	c1 := FromPassword([]byte("pw"), salt)
	c2 := FromPassword([]byte("pw"), salt)
	c3 := FromPassword([]byte("pw2"), salt)
	if !bytes.Equal(c1.Verifier, c2.Verifier) || bytes.Equal(c1.Verifier, c3.Verifier) {
		t.Fatal("verifier is not a function of the password")
	}
	if bytes.Equal(c1.Verifier, c1.Wrap.b[:]) {
		t.Fatal("verifier and wrapping key are the same bytes")
	}
	tc := FromToken(bytes.Repeat([]byte{2}, 32), "tok")
	if bytes.Equal(tc.Verifier, tc.Wrap.b[:]) || bytes.Equal(tc.Verifier, FromToken(bytes.Repeat([]byte{2}, 32), "tok2").Verifier) {
		t.Fatal("token credential does not bind its id or reuses bytes")
	}
}

// TestKnownAnswers pins the deterministic parts of the format (AD encoding,
// subkey derivation, MACs, record key derivation, password and token KDFs)
// to testdata/vectors.json, so a change that would make stored data
// unreadable fails here. Run with -update to rewrite after a deliberate
// format change (which then needs a migration).
func TestKnownAnswers(t *testing.T) {
	saved := Argon2Params
	defer func() { Argon2Params = saved }()
	k := fixedKey(1)
	seed := &RecordSeed{b: fixedKey(7).b}
	got := map[string]string{
		"ad":                 hex.EncodeToString(AD("hush note v1", "p", "", "12")),
		"derive_mac":         hex.EncodeToString(k.Derive("kek public key mac v1").MAC([]byte("data"))),
		"record_content_mac": hex.EncodeToString(seed.ContentKey().MAC([]byte("data"))),
		"token_verifier":     hex.EncodeToString(FromToken(bytes.Repeat([]byte{3}, 32), "0123").Verifier),
		"password_verifier":  hex.EncodeToString(FromPassword([]byte("correct horse"), bytes.Repeat([]byte{4}, SaltSize)).Verifier),
	}
	rpub, err := seed.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	got["record_public_key_fingerprint"] = rpub.Fingerprint()
	// A sealed value made by this code must keep opening.
	sealedPath := filepath.Join("testdata", "sealed.hex")
	if *update {
		os.WriteFile(sealedPath, []byte(hex.EncodeToString(k.Seal([]byte("known plaintext"), AD("kat")))+"\n"), 0o644)
	}
	sealedHex, err := os.ReadFile(sealedPath)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := hex.DecodeString(strings.TrimSpace(string(sealedHex)))
	if pt, err := k.Open(sealed, AD("kat")); err != nil || string(pt) != "known plaintext" {
		t.Errorf("stored ciphertext no longer opens: %v", err)
	}
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		os.WriteFile(path, append(b, '\n'), 0o644)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %s, want %s", name, got[name], w)
		}
	}
	if len(want) != len(got) {
		t.Errorf("vectors file has %d entries, code makes %d (run with -update)", len(want), len(got))
	}
}

func TestInside(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data", "sub"), 0o700)
	os.Symlink(filepath.Join(dir, "data"), filepath.Join(dir, "link"))
	for path, want := range map[string]bool{
		filepath.Join(dir, "data"):                  true,
		filepath.Join(dir, "data", "k.kek"):         true,
		filepath.Join(dir, "data", "sub", "x"):      true,
		filepath.Join(dir, "data", "..", "k.kek"):   false,
		filepath.Join(dir, "link", "k.kek"):         true,
		filepath.Join(dir, "data2", "k.kek"):        false,
		filepath.Join(dir, "keys", "new", "hush.k"): false,
	} {
		got, err := Inside(path, filepath.Join(dir, "data"))
		if err != nil || got != want {
			t.Errorf("Inside(%s) = %v, %v; want %v", path, got, err, want)
		}
	}
}

func TestKEKFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hush.kek")
	k, err := CreateKEKFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	if _, err := CreateKEKFile(p); err == nil {
		t.Error("CreateKEKFile overwrote a key file")
	}
	k2, err := LoadKEKFile(p)
	if err != nil || !bytes.Equal(k.Derive("x").MAC(nil), k2.Derive("x").MAC(nil)) {
		t.Fatalf("load: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte("not a key"), 0o600)
	if _, err := LoadKEKFile(filepath.Join(dir, "bad")); err == nil || !strings.Contains(err.Error(), "not a Hush") {
		t.Errorf("bad key file: %v", err)
	}
}

func TestRecoveryShares(t *testing.T) {
	k, _ := GeneratePrivateKey()
	shares, err := SplitRecovery(k, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	var parsed []RecoveryShare
	for _, s := range shares {
		p, err := ParseRecoveryShare(s.Encode())
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, p)
	}
	for _, pair := range [][2]int{{0, 1}, {1, 2}, {0, 2}, {2, 0}} {
		got, err := CombineRecovery([]RecoveryShare{parsed[pair[0]], parsed[pair[1]]}, k.Public())
		if err != nil || !got.Public().Equal(k.Public()) {
			t.Errorf("shares %v: %v", pair, err)
		}
	}
	if _, err := CombineRecovery(parsed[:1], k.Public()); err == nil {
		t.Error("one share rebuilt the key")
	}
	other, _ := GeneratePrivateKey()
	if _, err := CombineRecovery(parsed[:2], other.Public()); err == nil {
		t.Error("shares accepted for another key")
	}
	if _, err := ParseRecoveryShare([]byte("hello")); err == nil {
		t.Error("garbage parsed as a share")
	}
}

// TestRecoveryShareWipe: hush recover wipes the shares it read. Parsing
// keeps no copy of the secret part outside the share (the file's bytes are
// the caller's to clear), and a wiped share holds only zeros.
func TestRecoveryShareWipe(t *testing.T) {
	k, _ := GeneratePrivateKey()
	shares, err := SplitRecovery(k, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	var parsed []RecoveryShare
	var ys [][]byte
	for _, s := range shares[:2] {
		file := s.Encode()
		p, err := ParseRecoveryShare(file)
		clear(file)
		if err != nil {
			t.Fatal(err)
		}
		ys = append(ys, p.share.Y)
		parsed = append(parsed, p)
	}
	if _, err := CombineRecovery(parsed, k.Public()); err != nil {
		t.Fatalf("parsed from a file cleared afterwards: %v", err)
	}
	for i := range parsed {
		parsed[i].Wipe()
	}
	for i, y := range ys {
		if !bytes.Equal(y, make([]byte, len(y))) {
			t.Errorf("share %d: secret bytes survive Wipe", i)
		}
	}
	if _, err := CombineRecovery(parsed, k.Public()); err == nil {
		t.Error("wiped shares still rebuild the key")
	}
}

func FuzzParseRecoveryShare(f *testing.F) {
	k, _ := GeneratePrivateKey()
	shares, _ := SplitRecovery(k, 2, 3)
	f.Add(shares[0].Encode())
	f.Add([]byte("hush-recovery-share v1\nx: 300\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseRecoveryShare(data)
		if err != nil {
			return
		}
		if _, err := ParseRecoveryShare(s.Encode()); err != nil {
			t.Fatalf("re-encoded share does not parse: %v", err)
		}
	})
}

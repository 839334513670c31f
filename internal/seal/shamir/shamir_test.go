package shamir

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// ---- slow, table-based reference arithmetic (test-only) ----

var refExp, refLog = func() (exp [510]byte, log [256]byte) {
	// 3 generates the multiplicative group of GF(2^8)/0x11B.
	x := 1
	for i := 0; i < 255; i++ {
		exp[i] = byte(x)
		exp[i+255] = byte(x)
		log[x] = byte(i)
		// x *= 3, i.e. x*2 ^ x, reducing by 0x11B.
		x2 := x << 1
		if x2&0x100 != 0 {
			x2 ^= 0x11B
		}
		x = x2 ^ x
	}
	return
}()

func refMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return refExp[int(refLog[a])+int(refLog[b])]
}

func refInv(a byte) byte { return refExp[255-int(refLog[a])] }

// refEval evaluates sum coefs[j]*x^j.
func refEval(coefs []byte, x byte) byte {
	var r, xp byte = 0, 1
	for _, c := range coefs {
		r ^= refMul(c, xp)
		xp = refMul(xp, x)
	}
	return r
}

// ---- field arithmetic ----

func TestGFMulKnownAnswers(t *testing.T) {
	tests := []struct{ a, b, want byte }{
		{0x57, 0x83, 0xC1}, // FIPS-197 section 4.2
		{0x53, 0xCA, 0x01}, // FIPS-197 section 4.2 (inverses)
		{0x57, 0x13, 0xFE}, // FIPS-197 section 4.2.1
		{0x57, 0x02, 0xAE},
		{0x57, 0x04, 0x47},
		{0x57, 0x08, 0x8E},
		{0x57, 0x10, 0x07},
		{0x00, 0xFF, 0x00},
		{0x01, 0xFF, 0xFF},
		{0x80, 0x02, 0x1B},
	}
	for _, tt := range tests {
		if got := gfMul(tt.a, tt.b); got != tt.want {
			t.Errorf("gfMul(%#02x, %#02x) = %#02x, want %#02x", tt.a, tt.b, got, tt.want)
		}
		if got := gfMul(tt.b, tt.a); got != tt.want {
			t.Errorf("gfMul(%#02x, %#02x) = %#02x, want %#02x", tt.b, tt.a, got, tt.want)
		}
	}
	if gfInv(0x53) != 0xCA || gfInv(0xCA) != 0x53 {
		t.Errorf("gfInv(0x53) = %#02x, gfInv(0xCA) = %#02x", gfInv(0x53), gfInv(0xCA))
	}
	if gfInv(0) != 0 {
		t.Errorf("gfInv(0) = %#02x, want 0", gfInv(0))
	}
}

func TestGFMulMatchesReference(t *testing.T) {
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			if got, want := gfMul(byte(a), byte(b)), refMul(byte(a), byte(b)); got != want {
				t.Fatalf("gfMul(%#02x, %#02x) = %#02x, reference %#02x", a, b, got, want)
			}
		}
	}
}

func TestGFInv(t *testing.T) {
	for a := 1; a < 256; a++ {
		inv := gfInv(byte(a))
		if gfMul(byte(a), inv) != 1 {
			t.Errorf("a=%#02x: a*inv(a) = %#02x", a, gfMul(byte(a), inv))
		}
		if inv != refInv(byte(a)) {
			t.Errorf("gfInv(%#02x) = %#02x, reference %#02x", a, inv, refInv(byte(a)))
		}
	}
}

// ---- round trips ----

// subsets calls f with every subset of shares of size >= min.
func subsets(shares []Share, min int, f func([]Share)) {
	n := len(shares)
	for mask := 1; mask < 1<<n; mask++ {
		var sub []Share
		for i := 0; i < n; i++ {
			if mask&(1<<i) != 0 {
				sub = append(sub, shares[i])
			}
		}
		if len(sub) >= min {
			f(sub)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	for _, kn := range [][2]int{{2, 3}, {3, 5}, {2, 2}, {5, 5}, {2, 255}} {
		k, n := kn[0], kn[1]
		shares, err := Split(secret, k, n)
		if err != nil {
			t.Fatalf("Split(%d, %d): %v", k, n, err)
		}
		if len(shares) != n {
			t.Fatalf("Split(%d, %d) returned %d shares", k, n, len(shares))
		}
		for i, s := range shares {
			if s.X != byte(i+1) || len(s.Y) != len(secret) {
				t.Fatalf("share %d: X=%d len(Y)=%d", i, s.X, len(s.Y))
			}
		}
		if n > 10 {
			// Too many subsets; check a few.
			for _, sub := range [][]Share{shares[:k], shares[n-k:], shares, {shares[0], shares[254]}} {
				checkCombine(t, sub, secret)
			}
			continue
		}
		count := 0
		subsets(shares, k, func(sub []Share) {
			checkCombine(t, sub, secret)
			count++
		})
		if k == 2 && n == 3 && count != 4 { // three 2-subsets and the full set
			t.Errorf("2-of-3: tested %d subsets, want 4", count)
		}
		if k == 3 && n == 5 && count != 16 { // 10 + 5 + 1
			t.Errorf("3-of-5: tested %d subsets, want 16", count)
		}
	}
}

func checkCombine(t *testing.T, sub []Share, secret []byte) {
	t.Helper()
	got, err := Combine(sub)
	if err != nil {
		t.Fatalf("Combine(%d shares): %v", len(sub), err)
	}
	if !bytes.Equal(got, secret) {
		xs := make([]byte, len(sub))
		for i, s := range sub {
			xs[i] = s.X
		}
		t.Fatalf("Combine(X=%v) = %x, want %x", xs, got, secret)
	}
}

// TestBelowThreshold checks that k-1 shares do not recombine the secret:
// with k-1 points the interpolated value at 0 is independent of the secret,
// so with a 32-byte secret a match has probability 2^-256.
func TestBelowThreshold(t *testing.T) {
	secret := bytes.Repeat([]byte{0xA5}, 32)
	for _, kn := range [][2]int{{2, 3}, {3, 5}} {
		k, n := kn[0], kn[1]
		shares, err := Split(secret, k, n)
		if err != nil {
			t.Fatal(err)
		}
		// A single share is not the secret either.
		for _, s := range shares {
			if bytes.Equal(s.Y, secret) {
				t.Errorf("%d-of-%d: share %d equals the secret", k, n, s.X)
			}
		}
		if k-1 < 2 {
			continue
		}
		subsets(shares, 0, func(sub []Share) {
			if len(sub) != k-1 {
				return
			}
			got, err := Combine(sub)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, secret) {
				t.Errorf("%d-of-%d: %d shares recombined the secret", k, n, len(sub))
			}
		})
	}
}

// TestSingleShareUniform checks structurally that a single share byte is
// uniform whatever the secret: for a fixed secret byte, Split's map from
// the coefficient to share Y at X=x is a bijection, so every Y value occurs
// exactly once over all 256 coefficients.
func TestSingleShareUniform(t *testing.T) {
	for _, s := range []byte{0x00, 0x42, 0xFF} {
		for _, x := range []int{0, 1, 2, 254} {
			var seen [256]bool
			for c := 0; c < 256; c++ {
				shares, err := split([]byte{s}, 2, 255, bytes.NewReader([]byte{byte(c)}))
				if err != nil {
					t.Fatal(err)
				}
				seen[shares[x].Y[0]] = true
			}
			for y, ok := range seen {
				if !ok {
					t.Fatalf("secret %#02x, X=%d: Y value %#02x never occurs", s, x+1, y)
				}
			}
		}
	}
}

// ---- known answers ----

type katFile struct {
	Vectors []struct {
		Secret       string `json:"secret"`
		K            int    `json:"k"`
		N            int    `json:"n"`
		Coefficients string `json:"coefficients"`
		Shares       []struct {
			X int    `json:"x"`
			Y string `json:"y"`
		} `json:"shares"`
	} `json:"vectors"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKnownAnswer checks split against testdata/kat.json, which was computed
// independently (Python, carry-less multiplication), and against the
// table-based reference here. The first vector is checkable by hand:
// secret 53 57, k=2, coefficients ca 83, so share x is s ^ c*x:
//
//	x=1: 53^ca=99, 57^83=d4
//	x=2: 2*ca=8f, 53^8f=dc; 2*83=1d, 57^1d=4a
//	x=3: 3*ca=8f^ca=45, 53^45=16; 3*83=1d^83=9e, 57^9e=c9
func TestKnownAnswer(t *testing.T) {
	data, err := os.ReadFile("testdata/kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var kat katFile
	if err := json.Unmarshal(data, &kat); err != nil {
		t.Fatal(err)
	}
	if len(kat.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for vi, v := range kat.Vectors {
		secret := unhex(t, v.Secret)
		coef := unhex(t, v.Coefficients)
		shares, err := split(secret, v.K, v.N, bytes.NewReader(coef))
		if err != nil {
			t.Fatalf("vector %d: %v", vi, err)
		}
		if len(shares) != len(v.Shares) {
			t.Fatalf("vector %d: %d shares, want %d", vi, len(shares), len(v.Shares))
		}
		for i, want := range v.Shares {
			wantY := unhex(t, want.Y)
			if int(shares[i].X) != want.X || !bytes.Equal(shares[i].Y, wantY) {
				t.Errorf("vector %d share %d = {%d %x}, want {%d %x}", vi, i, shares[i].X, shares[i].Y, want.X, wantY)
			}
			// Independent check with the table-based reference.
			ref := make([]byte, len(secret))
			for b := range secret {
				poly := append([]byte{secret[b]}, coef[b*(v.K-1):(b+1)*(v.K-1)]...)
				ref[b] = refEval(poly, byte(want.X))
			}
			if !bytes.Equal(ref, wantY) {
				t.Errorf("vector %d share %d: reference gives %x, testdata %x", vi, i, ref, wantY)
			}
		}
		got, err := Combine(shares[len(shares)-v.K:])
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("vector %d: Combine = %x, %v; want %x", vi, got, err, secret)
		}
	}
}

// ---- errors ----

func TestSplitErrors(t *testing.T) {
	secret := []byte("secret")
	for _, kn := range [][2]int{{0, 3}, {1, 3}, {-1, 3}, {3, 2}, {2, 1}, {2, 256}, {256, 256}, {2, 0}} {
		if _, err := Split(secret, kn[0], kn[1]); err == nil {
			t.Errorf("Split(k=%d, n=%d) succeeded", kn[0], kn[1])
		}
	}
	if _, err := Split(nil, 2, 3); err == nil {
		t.Error("Split(empty secret) succeeded")
	}
	if _, err := split(secret, 2, 3, bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("split with short randomness succeeded")
	}
	if _, err := Split(secret, 255, 255); err != nil {
		t.Errorf("Split(255, 255): %v", err)
	}
}

func TestCombineErrors(t *testing.T) {
	y := []byte{1, 2, 3}
	tests := map[string][]Share{
		"nil":           nil,
		"one share":     {{X: 1, Y: y}},
		"zero X":        {{X: 0, Y: y}, {X: 1, Y: y}},
		"duplicate X":   {{X: 1, Y: y}, {X: 2, Y: y}, {X: 1, Y: y}},
		"length":        {{X: 1, Y: y}, {X: 2, Y: y[:2]}},
		"longer length": {{X: 1, Y: y[:2]}, {X: 2, Y: y}},
		"empty":         {{X: 1}, {X: 2}},
	}
	for name, shares := range tests {
		if _, err := Combine(shares); err == nil {
			t.Errorf("%s: Combine succeeded", name)
		}
	}
}

func FuzzCombine(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{4, 5, 6}, byte(1), byte(2), byte(3), uint8(3))
	f.Add([]byte{1}, []byte{1}, byte(0), byte(0), byte(0), uint8(2))
	f.Add([]byte{}, []byte{9}, byte(255), byte(254), byte(1), uint8(1))
	f.Fuzz(func(t *testing.T, y1, y2 []byte, x1, x2, x3 byte, n uint8) {
		shares := []Share{{X: x1, Y: y1}, {X: x2, Y: y2}, {X: x3, Y: append(append([]byte{}, y1...), y2...)}}
		shares = shares[:int(n)%4]
		got, err := Combine(shares)
		if err == nil && len(got) != len(shares[0].Y) {
			t.Fatalf("Combine returned %d bytes, want %d", len(got), len(shares[0].Y))
		}
		// Interpolation must not depend on the order of the shares.
		if err == nil && len(shares) == 2 {
			again, err := Combine([]Share{shares[1], shares[0]})
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("Combine is order-dependent: %x vs %x (%v)", got, again, err)
			}
		}
	})
}

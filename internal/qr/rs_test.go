package qr

import (
	"slices"
	"testing"
)

func TestGFTables(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"α^0", int(gfExp[0]), 1},
		{"α^7", int(gfExp[7]), 0x80},
		{"α^8 reduces by 0x11D", int(gfExp[8]), 0x1D},
		{"α^255 = α^0", int(gfExp[255]), 1},
		{"log 2", int(gfLog[2]), 1},
		{"log 0x1D", int(gfLog[0x1D]), 8},
		{"2·0x80", int(gfMul(2, 0x80)), 0x1D},
		{"x·0", int(gfMul(0x53, 0)), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

// TestRSGenerator checks generator polynomials against Annex A of
// ISO/IEC 18004, which lists their coefficients as exponents of α.
func TestRSGenerator(t *testing.T) {
	tests := []struct {
		n    int
		want []int // exponents of α, highest power first
	}{
		{7, []int{0, 87, 229, 146, 149, 238, 102, 21}},
		{10, []int{0, 251, 67, 46, 61, 118, 70, 64, 94, 32, 45}},
	}
	for _, tt := range tests {
		g := rsGenerator(tt.n)
		got := make([]int, len(g))
		for i, c := range g {
			got[i] = int(gfLog[c])
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("rsGenerator(%d) exponents = %v, want %v", tt.n, got, tt.want)
		}
	}
}

// TestRSEncodeHelloWorld is the worked example of ISO/IEC 18004 Annex I (and
// the thonky.com QR tutorial): "HELLO WORLD" in alphanumeric mode, version 1,
// level M. The mode is irrelevant here; what is tested is that these 16 data
// codewords give the published 10 error-correction codewords.
func TestRSEncodeHelloWorld(t *testing.T) {
	data := []byte{
		0b00100000, 0b01011011, 0b00001011, 0b01111000,
		0b11010001, 0b01110010, 0b11011100, 0b01001101,
		0b01000011, 0b01000000, 0b11101100, 0b00010001,
		0b11101100, 0b00010001, 0b11101100, 0b00010001,
	}
	want := []byte{
		0b11000100, 0b00100011, 0b00100111, 0b01110111, 0b11101011,
		0b11010111, 0b11100111, 0b11100010, 0b01011101, 0b00010111,
	}
	if got := rsEncode(data, 10); !slices.Equal(got, want) {
		t.Errorf("rsEncode(HELLO WORLD 1-M) = %v, want %v", got, want)
	}
	// The same example in decimal, as the tutorial also gives it.
	if want10 := []byte{196, 35, 39, 119, 235, 215, 231, 226, 93, 23}; !slices.Equal(want, want10) {
		t.Fatal("binary and decimal forms of the expected codewords disagree")
	}
	if got := rsSyndromes(append(slices.Clone(data), want...), 10); !allZero(got) {
		t.Errorf("syndromes of the published codeword = %v, want all zero", got)
	}
}

// rsSyndromes evaluates the codeword polynomial (highest power first) at
// α^0 … α^(n-1); a valid Reed–Solomon codeword gives all zeros. This checks
// codewords independently of rsEncode.
func rsSyndromes(codeword []byte, n int) []byte {
	s := make([]byte, n)
	for i := range n {
		var acc byte
		for _, c := range codeword {
			acc = gfMul(acc, gfExp[i]) ^ c
		}
		s[i] = acc
	}
	return s
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

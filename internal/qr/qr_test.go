package qr

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestDataStream checks the byte-mode bit stream for "A" at version 1-M,
// worked out by hand from clause 7.4: mode 0100, count 00000001, data
// 01000001, terminator 0000 → 0x40 0x14 0x10, then pad codewords.
func TestDataStream(t *testing.T) {
	want := []byte{0x40, 0x14, 0x10, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC}
	if got := dataStream(1, []byte("A")); !slices.Equal(got, want) {
		t.Errorf("dataStream(1, %q) = % x, want % x", "A", got, want)
	}

	// Version 10 uses a 16-bit count; a full symbol has no room for the
	// terminator's four bits beyond what fills the last codeword.
	data := bytes.Repeat([]byte{0xFF}, 213)
	got := dataStream(10, data)
	if len(got) != dataCodewords(10) {
		t.Fatalf("len = %d, want %d", len(got), dataCodewords(10))
	}
	if got[0] != 0x40 || got[1] != 0x0D || got[2] != 0x5F || got[len(got)-1] != 0xF0 {
		t.Errorf("dataStream(10, 213×0xFF) = % x … % x, want 40 0d 5f … f0", got[:3], got[len(got)-1:])
	}
}

func TestEncodeVersionSelection(t *testing.T) {
	for v := minVersion; v <= maxVersion; v++ {
		tests := []struct {
			n, want int
		}{
			{byteCapacityM[v], v},
			{byteCapacityM[v] + 1, v + 1},
		}
		for _, tt := range tests {
			if tt.want > maxVersion {
				continue
			}
			c, err := Encode(bytes.Repeat([]byte{'x'}, tt.n))
			if err != nil {
				t.Fatalf("Encode(%d bytes): %v", tt.n, err)
			}
			if c.version != tt.want || c.Size != 17+4*tt.want {
				t.Errorf("Encode(%d bytes): version %d size %d, want version %d size %d",
					tt.n, c.version, c.Size, tt.want, 17+4*tt.want)
			}
		}
	}
}

func TestEncodeTooLong(t *testing.T) {
	_, err := Encode(make([]byte, byteCapacityM[maxVersion]+1))
	if !errors.Is(err, ErrTooLong) {
		t.Errorf("Encode(2332 bytes) error = %v, want ErrTooLong", err)
	}
	if _, err := Encode(make([]byte, byteCapacityM[maxVersion])); err != nil {
		t.Errorf("Encode(2331 bytes) error = %v, want nil", err)
	}
}

// TestStructure checks the function patterns of symbols of several
// versions directly on the output.
func TestStructure(t *testing.T) {
	for _, n := range []int{0, 1, 20, 100, 123, 200, 300, 1000, 2331} {
		c, err := Encode(bytes.Repeat([]byte{'a'}, n))
		if err != nil {
			t.Fatal(err)
		}
		v := c.version
		t.Run(fmt.Sprintf("%d bytes version %d", n, v), func(t *testing.T) {
			if c.Size != 17+4*v {
				t.Errorf("size = %d, want %d", c.Size, 17+4*v)
			}

			// Finder patterns with separators: Chebyshev distance from the
			// centre 0, 1, 3 dark; 2 and 4 (the separator) light.
			for _, corner := range [][2]int{{3, 3}, {c.Size - 4, 3}, {3, c.Size - 4}} {
				for dy := -4; dy <= 4; dy++ {
					for dx := -4; dx <= 4; dx++ {
						x, y := corner[0]+dx, corner[1]+dy
						if x < 0 || y < 0 || x >= c.Size || y >= c.Size {
							continue
						}
						d := max(abs(dx), abs(dy))
						if want := d != 2 && d != 4; c.Black(x, y) != want {
							t.Errorf("finder at %v: module (%d,%d) dark = %v, want %v", corner, x, y, !want, want)
						}
					}
				}
			}

			// Timing patterns between the separators.
			for i := 8; i < c.Size-8; i++ {
				if c.Black(i, 6) != (i%2 == 0) || c.Black(6, i) != (i%2 == 0) {
					t.Errorf("timing pattern at %d does not alternate", i)
				}
			}

			if !c.Black(8, 4*v+9) {
				t.Errorf("dark module (8, %d) is light", 4*v+9)
			}

			// Alignment patterns: dark centre, light ring, dark border.
			pos := alignmentPositions[v]
			for _, cy := range pos {
				for _, cx := range pos {
					if cx <= 8 && cy <= 8 || cx <= 8 && cy >= c.Size-9 || cx >= c.Size-9 && cy <= 8 {
						continue // under a finder
					}
					if !c.Black(cx, cy) || c.Black(cx+1, cy) || c.Black(cx, cy-1) || !c.Black(cx+2, cy+2) || !c.Black(cx-2, cy) {
						t.Errorf("no alignment pattern at (%d,%d)", cx, cy)
					}
				}
			}

			// Both copies of the format information agree and encode the
			// chosen mask at level M.
			want := formatBits(c.mask)
			var second uint32
			for i := 0; i < 8; i++ {
				if c.Black(c.Size-1-i, 8) {
					second |= 1 << i
				}
			}
			for i := 8; i < 15; i++ {
				if c.Black(8, c.Size-15+i) {
					second |= 1 << i
				}
			}
			if second != want {
				t.Errorf("second format copy = %015b, want %015b", second, want)
			}

			// Both copies of the version information, versions ≥ 7.
			if v >= 7 {
				var tr, bl uint32
				for i := 0; i < 18; i++ {
					a, b := c.Size-11+i%3, i/3
					if c.Black(a, b) {
						tr |= 1 << i
					}
					if c.Black(b, a) {
						bl |= 1 << i
					}
				}
				if tr != versionBits(v) || bl != versionBits(v) {
					t.Errorf("version information = %018b / %018b, want %018b", tr, bl, versionBits(v))
				}
			}

			if got, err := readBack(c); err != nil || len(got) != n {
				t.Errorf("readBack: %d bytes, %v; want %d bytes", len(got), err, n)
			}
		})
	}
}

func TestBlackOutside(t *testing.T) {
	c, err := Encode([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]int{{-1, 0}, {0, -1}, {c.Size, 0}, {0, c.Size}, {-4, -4}} {
		if c.Black(p[0], p[1]) {
			t.Errorf("Black(%d, %d) = true outside the symbol", p[0], p[1])
		}
	}
}

// TestRoundTrip decodes symbols of many lengths with the test reader.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 13, 14, 15, 17, 60, 120, 200, 213, 214, 300, 700, 1500, 2331} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + n)
		}
		c, err := Encode(data)
		if err != nil {
			t.Fatalf("Encode(%d bytes): %v", n, err)
		}
		got, err := readBack(c)
		if err != nil {
			t.Errorf("%d bytes (version %d, mask %d): %v", n, c.version, c.mask, err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d different bytes", n, len(got))
		}
	}
}

// TestGolden compares complete symbols with matrices in testdata that were
// checked outside this repository: each decodes back to its input with an
// independent reader (jsQR) and is module-for-module identical to the
// output of an independent encoder (node-qrcode, byte mode, level M, its own
// mask choice). See testdata/README.
func TestGolden(t *testing.T) {
	tests := []struct {
		file    string
		data    string
		version int
	}{
		{"hello-world-1M.txt", "HELLO WORLD", 1},
		{"otpauth-7M.txt", "otpauth://totp/Hush:alice%40clinic.example?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Hush&digits=6&period=30", 7},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			want, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Encode([]byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if c.version != tt.version {
				t.Errorf("version = %d, want %d", c.version, tt.version)
			}
			got := matrixText(c)
			if got != string(want) {
				gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Errorf("row %d:\n got %s\nwant %s", i, gl[i], wl[i])
					}
				}
				if len(gl) != len(wl) {
					t.Errorf("got %d rows, want %d", len(gl)-1, len(wl)-1)
				}
			}
		})
	}
}

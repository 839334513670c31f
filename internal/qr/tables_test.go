package qr

import (
	"fmt"
	"testing"
)

// remainderBits is the number of remainder bits per version, from Table 1.
var remainderBits = [maxVersion + 1]int{
	0,
	0, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 3, // 1-20
	4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, // 21-40
}

// byteCapacityM is the data capacity in bytes at level M, from Table 7.
var byteCapacityM = [maxVersion + 1]int{
	0,
	14, 26, 42, 62, 84, 106, 122, 152, 180, 213, // 1-10
	251, 287, 331, 362, 412, 450, 504, 560, 624, 666, // 11-20
	711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370, // 21-30
	1452, 1538, 1628, 1722, 1809, 1911, 1989, 2099, 2213, 2331, // 31-40
}

// TestTablesConsistent cross-checks the tables against each other and
// against the function-pattern layout: a typo in any of them breaks one of
// these identities.
func TestTablesConsistent(t *testing.T) {
	for v := minVersion; v <= maxVersion; v++ {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			s := levelM[v]
			nblocks := s.blocks1 + s.blocks2
			if got := nblocks*s.ecPerBlock + dataCodewords(v); got != totalCodewords[v] {
				t.Errorf("Table 9 codewords = %d, Table 1 total = %d", got, totalCodewords[v])
			}

			// The modules left free by the function patterns hold exactly
			// the codewords plus the remainder bits.
			m := newMatrix(v)
			free := 0
			for _, f := range m.fn {
				if !f {
					free++
				}
			}
			if want := 8*totalCodewords[v] + remainderBits[v]; free != want {
				t.Errorf("free modules = %d, want 8·%d + %d = %d", free, totalCodewords[v], remainderBits[v], want)
			}

			if got := (8*dataCodewords(v) - 4 - charCountBits(v)) / 8; got != byteCapacityM[v] {
				t.Errorf("byte capacity = %d, Table 7 says %d", got, byteCapacityM[v])
			}

			// Alignment coordinates: start at 6, end 7 modules from the far
			// edge, v/7+2 of them, the inner ones evenly spaced (Annex E).
			pos := alignmentPositions[v]
			if v == 1 {
				if len(pos) != 0 {
					t.Errorf("version 1 has alignment positions %v", pos)
				}
				return
			}
			size := 17 + 4*v
			if len(pos) != v/7+2 || pos[0] != 6 || pos[len(pos)-1] != size-7 {
				t.Errorf("alignment positions %v: want %d positions from 6 to %d", pos, v/7+2, size-7)
			}
			for i := 2; i < len(pos); i++ {
				if pos[i]-pos[i-1] != pos[len(pos)-1]-pos[len(pos)-2] || pos[i]%2 != 0 {
					t.Errorf("alignment positions %v are not evenly spaced even coordinates", pos)
				}
			}
		})
	}
}

// TestFormatBits checks the format information for level M against the
// table of all format information strings (Annex C, Table C.1).
func TestFormatBits(t *testing.T) {
	want := []string{
		"101010000010010",
		"101000100100101",
		"101111001111100",
		"101101101001011",
		"100010111111001",
		"100000011001110",
		"100111110010111",
		"100101010100000",
	}
	for mask, w := range want {
		if got := fmt.Sprintf("%015b", formatBits(mask)); got != w {
			t.Errorf("formatBits(M, mask %d) = %s, want %s", mask, got, w)
		}
	}
}

// TestVersionBits checks the version information against Annex D, Table D.1.
func TestVersionBits(t *testing.T) {
	tests := []struct {
		version int
		want    string
	}{
		{7, "000111110010010100"},
		{8, "001000010110111100"},
		{9, "001001101010011001"},
		{10, "001010010011010011"},
		{21, "010101011010000011"},
		{40, "101000110001101001"},
	}
	for _, tt := range tests {
		if got := fmt.Sprintf("%018b", versionBits(tt.version)); got != tt.want {
			t.Errorf("versionBits(%d) = %s, want %s", tt.version, got, tt.want)
		}
	}
}

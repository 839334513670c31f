package qr

import (
	"strings"
	"testing"
)

// matrixFrom builds a bare matrix from rows of '#' (dark) and '.' (light).
func matrixFrom(rows ...string) *matrix {
	n := len(rows)
	m := &matrix{size: n, dark: make([]bool, n*n), fn: make([]bool, n*n)}
	for y, r := range rows {
		for x, ch := range r {
			m.dark[y*n+x] = ch == '#'
		}
	}
	return m
}

// checkerboard returns n rows of alternating modules, dark where x+y is
// even; it scores 0 under N1, N2 and N3.
func checkerboard(n int) []string {
	rows := make([]string, n)
	for y := range rows {
		var b strings.Builder
		for x := 0; x < n; x++ {
			if (x+y)%2 == 0 {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		rows[y] = b.String()
	}
	return rows
}

// TestPenalty checks the penalty rules of Table 11 on small hand-made
// matrices; the arithmetic is in the comments.
func TestPenalty(t *testing.T) {
	allLight := []string{".....", ".....", ".....", ".....", "....."}

	rowRun := checkerboard(6)
	rowRun[0] = "######"

	finderRow := checkerboard(11)
	finderRow[0] = "#.###.#...."

	finderCol := checkerboard(11)
	for y, ch := range "....#.###.#" {
		finderCol[y] = string(ch) + finderCol[y][1:]
	}

	tests := []struct {
		name string
		rows []string
		want int
	}{
		// N1: 5 rows + 5 columns, each a run of 5 → 10·3 = 30.
		// N2: 4·4 overlapping 2×2 blocks → 16·3 = 48.
		// N4: 0% dark, |0-50|/5 = 10 → 100.
		{"all light", allLight, 30 + 48 + 100},
		// N1: one run of 6 → 3+1 = 4. No 2×2 blocks (row 1 alternates).
		// N4: 21 of 36 dark = 58.3%, k = 1 → 10.
		{"run of six", rowRun, 4 + 10},
		// N3: one 1:1:3:1:1 pattern followed by 4 light modules → 40.
		// N4: 60 of 121 dark = 49.6% → 0.
		{"finder-like row", finderRow, 40},
		// N3: the mirrored pattern, vertically → 40.
		{"finder-like column", finderCol, 40},
		{"checkerboard", checkerboard(11), 0},
	}
	for _, tt := range tests {
		if got := matrixFrom(tt.rows...).penalty(); got != tt.want {
			t.Errorf("%s: penalty = %d, want %d", tt.name, got, tt.want)
		}
	}
}

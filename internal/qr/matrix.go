package qr

// matrix is the symbol under construction. fn marks function-pattern
// modules (finders, separators, timing, alignment, format and version
// information, dark module), which data placement and masking skip.
type matrix struct {
	size int
	dark []bool
	fn   []bool
}

func (m *matrix) set(x, y int, dark bool) {
	m.dark[y*m.size+x] = dark
	m.fn[y*m.size+x] = true
}

// newMatrix lays out all function patterns of the version (clause 6.3),
// reserving (but not yet filling) the format information areas.
func newMatrix(version int) *matrix {
	size := 17 + 4*version
	m := &matrix{size: size, dark: make([]bool, size*size), fn: make([]bool, size*size)}

	// Timing patterns: row 6 and column 6 alternate, dark on even
	// coordinates. The finders drawn next overwrite their ends.
	for i := 0; i < size; i++ {
		m.set(6, i, i%2 == 0)
		m.set(i, 6, i%2 == 0)
	}

	// Finder patterns (7×7, centred 3 modules from the corner) with their
	// one-module light separators.
	m.drawFinder(3, 3)
	m.drawFinder(size-4, 3)
	m.drawFinder(3, size-4)

	// Alignment patterns at every pair of Table E.1 coordinates, except the
	// three corners occupied by finder patterns.
	pos := alignmentPositions[version]
	last := len(pos) - 1
	for i, cy := range pos {
		for j, cx := range pos {
			if i == 0 && j == 0 || i == 0 && j == last || i == last && j == 0 {
				continue
			}
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					m.set(cx+dx, cy+dy, max(abs(dx), abs(dy)) != 1)
				}
			}
		}
	}

	m.drawFormat(0) // reserve the areas; redrawn for each mask
	m.drawVersion(version)
	return m
}

// drawFinder draws the 7×7 finder pattern centred at (cx, cy) and the light
// separator around it: the modules at Chebyshev distance 0, 1 and 3 from the
// centre are dark, 2 and 4 are light. Parts outside the symbol are clipped.
func (m *matrix) drawFinder(cx, cy int) {
	for dy := -4; dy <= 4; dy++ {
		for dx := -4; dx <= 4; dx++ {
			x, y := cx+dx, cy+dy
			if x < 0 || y < 0 || x >= m.size || y >= m.size {
				continue
			}
			d := max(abs(dx), abs(dy))
			m.set(x, y, d != 2 && d != 4)
		}
	}
}

// drawFormat writes the 15 format bits for the mask in both copies (clause
// 7.9.1, Figure 25), bit 14 being the most significant, plus the dark module
// at (8, size-8), which is always dark.
func (m *matrix) drawFormat(mask int) {
	bits := formatBits(mask)
	bit := func(i int) bool { return bits>>i&1 != 0 }

	// First copy, around the top-left finder: bits 0-7 run up column 8
	// (skipping the timing row), bits 8-14 run left along row 8 (skipping
	// the timing column).
	for i := 0; i <= 5; i++ {
		m.set(8, i, bit(i))
	}
	m.set(8, 7, bit(6))
	m.set(8, 8, bit(7))
	m.set(7, 8, bit(8))
	for i := 9; i < 15; i++ {
		m.set(14-i, 8, bit(i))
	}

	// Second copy: bits 0-7 along row 8 from the right edge leftwards, bits
	// 8-14 down column 8 next to the bottom-left finder.
	for i := 0; i < 8; i++ {
		m.set(m.size-1-i, 8, bit(i))
	}
	for i := 8; i < 15; i++ {
		m.set(8, m.size-15+i, bit(i))
	}
	m.set(8, m.size-8, true) // the dark module
}

// drawVersion writes the 18 version bits (versions 7 and up) in the 6×3
// block above the bottom-left finder and its transposed 3×6 copy left of the
// top-right finder (clause 7.10, Figure 27), least significant bit first.
func (m *matrix) drawVersion(version int) {
	if version < 7 {
		return
	}
	bits := versionBits(version)
	for i := 0; i < 18; i++ {
		dark := bits>>i&1 != 0
		a, b := m.size-11+i%3, i/3
		m.set(a, b, dark)
		m.set(b, a, dark)
	}
}

// placeCodewords fills the non-function modules with the codewords, most
// significant bit first, in the two-column zigzag of clause 7.7.3: starting
// at the bottom-right corner, going up the rightmost pair of columns, then
// down the next pair, and so on, right module before left module; column 6
// (the vertical timing pattern) is skipped entirely. Modules left over after
// the last codeword are remainder bits and stay light (0).
func (m *matrix) placeCodewords(data []byte) {
	i := 0
	for right := m.size - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		upward := (right+1)&2 == 0
		for vert := 0; vert < m.size; vert++ {
			y := vert
			if upward {
				y = m.size - 1 - vert
			}
			for j := 0; j < 2; j++ {
				x := right - j
				if m.fn[y*m.size+x] || i >= 8*len(data) {
					continue
				}
				m.dark[y*m.size+x] = data[i/8]>>(7-i%8)&1 != 0
				i++
			}
		}
	}
}

// maskBit reports whether the data mask pattern with reference mask inverts
// the module at row y, column x (Table 10; the standard writes i for the row
// and j for the column).
func maskBit(mask, x, y int) bool {
	switch mask {
	case 0:
		return (x+y)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (x+y)%3 == 0
	case 4:
		return (y/2+x/3)%2 == 0
	case 5:
		return x*y%2+x*y%3 == 0
	case 6:
		return (x*y%2+x*y%3)%2 == 0
	default: // 7
		return ((x+y)%2+x*y%3)%2 == 0
	}
}

// applyMask XORs the mask pattern into every non-function module. Applying
// the same mask twice restores the original.
func (m *matrix) applyMask(mask int) {
	for y := 0; y < m.size; y++ {
		for x := 0; x < m.size; x++ {
			if !m.fn[y*m.size+x] && maskBit(mask, x, y) {
				m.dark[y*m.size+x] = !m.dark[y*m.size+x]
			}
		}
	}
}

// Penalty weights N1-N4 of clause 7.8.3.1, Table 11.
const (
	penaltyN1 = 3
	penaltyN2 = 3
	penaltyN3 = 40
	penaltyN4 = 10
)

// penalty scores the whole symbol (including the format information for the
// mask being evaluated) by the four rules of Table 11:
//
//   - N1: each run of 5+i same-coloured modules in a row or column scores
//     3+i;
//   - N2: each 2×2 block of one colour scores 3 (blocks may overlap, so an
//     m×n block scores 3·(m-1)·(n-1));
//   - N3: each occurrence of the finder-like pattern 1:1:3:1:1
//     (dark-light-dark-dark-dark-light-dark) with four light modules on
//     either side, in a row or column, scores 40; only 11-module windows
//     lying wholly inside the symbol are counted (encoders differ here: some
//     treat the quiet zone as light, which can change which mask wins but
//     never whether the symbol is valid);
//   - N4: a proportion of dark modules deviating from 50% by k·5% or more
//     (but less than (k+1)·5%) scores 10·k.
func (m *matrix) penalty() int {
	n := m.size
	at := func(x, y int) bool { return m.dark[y*n+x] }
	total := 0

	for line := 0; line < n; line++ {
		// Rows (horizontal) and columns (vertical) alike.
		for _, get := range []func(i int) bool{
			func(i int) bool { return at(i, line) },
			func(i int) bool { return at(line, i) },
		} {
			run := 0
			var window uint16 // last 11 modules, newest in bit 0
			for i := 0; i < n; i++ {
				c := get(i)
				// N1.
				if i > 0 && c == get(i-1) {
					run++
				} else {
					if run >= 5 {
						total += penaltyN1 + run - 5
					}
					run = 1
				}
				// N3: 10111010000 or 00001011101.
				window = window<<1&0x7FF | b2u(c)
				if i >= 10 && (window == 0b10111010000 || window == 0b00001011101) {
					total += penaltyN3
				}
			}
			if run >= 5 {
				total += penaltyN1 + run - 5
			}
		}
	}

	// N2.
	for y := 0; y+1 < n; y++ {
		for x := 0; x+1 < n; x++ {
			c := at(x, y)
			if c == at(x+1, y) && c == at(x, y+1) && c == at(x+1, y+1) {
				total += penaltyN2
			}
		}
	}

	// N4: k = floor(|dark/all·100 - 50| / 5), in integers.
	darkCount := 0
	for _, d := range m.dark {
		if d {
			darkCount++
		}
	}
	k := abs(darkCount*20-n*n*10) / (n * n)
	total += penaltyN4 * k

	return total
}

func b2u(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

package qr

import (
	"bytes"
	"fmt"
)

// readBack is a minimal QR reader used by the tests: it reverses every step
// of Encode on a clean symbol (format information, unmasking, zigzag
// reading, de-interleaving, Reed–Solomon check by syndromes, byte-mode
// parsing and padding check) and returns the payload. It reports the first
// inconsistency it finds as an error.
func readBack(c *Code) ([]byte, error) {
	if (c.Size-17)%4 != 0 || c.Size < 21 || c.Size > 177 {
		return nil, fmt.Errorf("size %d is not 17+4·version", c.Size)
	}
	version := (c.Size - 17) / 4

	// Format information, first copy (bit 14 is the most significant).
	// Positions from Figure 25, as (x, y) for bit i.
	var f uint32
	for i := 0; i < 15; i++ {
		var x, y int
		switch {
		case i <= 5:
			x, y = 8, i
		case i == 6:
			x, y = 8, 7
		case i == 7:
			x, y = 8, 8
		case i == 8:
			x, y = 7, 8
		default:
			x, y = 14-i, 8
		}
		if c.Black(x, y) {
			f |= 1 << i
		}
	}
	info := (f ^ 0x5412) >> 10
	if level := info >> 3; level != 0b00 {
		return nil, fmt.Errorf("error-correction level bits %02b, want 00 (M)", level)
	}
	mask := int(info & 7)
	if f != formatBits(mask) {
		return nil, fmt.Errorf("format bits %015b are not a valid code word", f)
	}

	// Unmask and read the codewords in placement order.
	fn := newMatrix(version).fn
	var bits []bool
	for right := c.Size - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		for vert := 0; vert < c.Size; vert++ {
			y := vert
			if (right+1)&2 == 0 { // upward
				y = c.Size - 1 - vert
			}
			for _, x := range []int{right, right - 1} {
				if !fn[y*c.Size+x] {
					bits = append(bits, c.Black(x, y) != maskBit(mask, x, y))
				}
			}
		}
	}
	total := totalCodewords[version]
	if len(bits) != 8*total+remainderBits[version] {
		return nil, fmt.Errorf("%d data modules, want %d", len(bits), 8*total+remainderBits[version])
	}
	for _, b := range bits[8*total:] {
		if b {
			return nil, fmt.Errorf("remainder bit is dark")
		}
	}
	stream := make([]byte, total)
	for i := range 8 * total {
		if bits[i] {
			stream[i/8] |= 0x80 >> (i % 8)
		}
	}

	// De-interleave into blocks and check each one.
	s := levelM[version]
	nblocks := s.blocks1 + s.blocks2
	blocks := make([][]byte, nblocks)
	k := 0
	for i := 0; i <= s.data1; i++ {
		for b := range nblocks {
			if i < s.data1 || b >= s.blocks1 {
				blocks[b] = append(blocks[b], stream[k])
				k++
			}
		}
	}
	var data []byte
	for _, blk := range blocks {
		data = append(data, blk...)
	}
	for i := 0; i < s.ecPerBlock; i++ {
		for b := range nblocks {
			blocks[b] = append(blocks[b], stream[k])
			k++
		}
	}
	for b, blk := range blocks {
		if syn := rsSyndromes(blk, s.ecPerBlock); !allZero(syn) {
			return nil, fmt.Errorf("block %d has non-zero syndromes %v", b, syn)
		}
	}

	// Parse the bit stream: byte mode, count, payload, then terminator and
	// padding exactly as clause 7.4.10 prescribes.
	r := bitReader{buf: data}
	if m := r.read(4); m != 0b0100 {
		return nil, fmt.Errorf("mode indicator %04b, want 0100 (byte)", m)
	}
	n := int(r.read(charCountBits(version)))
	if 4+charCountBits(version)+8*n > 8*len(data) {
		return nil, fmt.Errorf("character count %d exceeds capacity", n)
	}
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(r.read(8))
	}
	// Up to four terminator bits, then zero bits to the byte boundary.
	padStart := (min(r.pos+4, 8*len(data)) + 7) / 8 * 8
	for r.pos < padStart {
		if r.read(1) != 0 {
			return nil, fmt.Errorf("terminator or bit padding is not zero")
		}
	}
	for i, pad := 0, byte(0xEC); r.pos < 8*len(data); i, pad = i+1, pad^0xEC^0x11 {
		if got := byte(r.read(8)); got != pad {
			return nil, fmt.Errorf("pad codeword %d = %#x, want %#x", i, got, pad)
		}
	}
	return payload, nil
}

type bitReader struct {
	buf []byte
	pos int
}

func (r *bitReader) read(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | uint32(r.buf[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

// matrixText renders the symbol as rows of '#' (dark) and '.' (light).
func matrixText(c *Code) string {
	var b bytes.Buffer
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

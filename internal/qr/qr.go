// Package qr encodes short byte strings as QR Code symbols and renders them
// as inline SVG.
//
// Why it exists: the TOTP enrolment page must show the otpauth:// URI as a
// scannable QR code. Drawing it in the browser would need JavaScript, and
// fetching an image from a third-party service would leak the shared secret;
// both are ruled out. This package builds the symbol on the server with the
// standard library only, and [Code.SVG] returns markup that the page can
// embed directly under a strict Content-Security-Policy (no scripts, no
// inline styles, no external assets).
//
// The encoder implements the part of ISO/IEC 18004:2015 (QR Code) that this
// needs: byte mode only, error-correction level M only (about 15% of the
// symbol can be damaged), versions 1 to 40 with the smallest version that
// fits chosen automatically, Reed–Solomon error correction over GF(256),
// block interleaving, all function patterns, format and version information,
// and all eight data masks scored by the penalty rules N1–N4. Numeric,
// alphanumeric, Kanji and ECI modes, Structured Append and Micro QR are not
// implemented: a byte-mode symbol is valid for any input, and the few
// percent of capacity the other modes could save does not matter for a
// URI of a couple of hundred bytes.
package qr

import (
	"errors"
	"fmt"
)

// ErrTooLong is returned by [Encode] when the data does not fit even the
// largest symbol (version 40 at level M holds 2331 bytes).
var ErrTooLong = errors.New("qr: data too long for a QR code at error-correction level M")

// Code is an encoded QR symbol. Coordinates run from the top-left module
// (0, 0): x is the column and y the row.
type Code struct {
	// Size is the width and height of the symbol in modules, 17+4·version,
	// without the quiet zone.
	Size int

	version int
	mask    int
	modules []bool // row-major, true = dark
}

// Black reports whether the module at column x, row y is dark. Coordinates
// outside the symbol (the quiet zone) are light.
func (c *Code) Black(x, y int) bool {
	if x < 0 || y < 0 || x >= c.Size || y >= c.Size {
		return false
	}
	return c.modules[y*c.Size+x]
}

// Encode returns the QR symbol for data in byte mode at error-correction
// level M, using the smallest version that fits. It returns [ErrTooLong]
// (wrapped) if no version is large enough.
func Encode(data []byte) (*Code, error) {
	version := 0
	for v := minVersion; v <= maxVersion; v++ {
		need := 4 + charCountBits(v) + 8*len(data) // mode + count + payload
		if need <= 8*dataCodewords(v) {
			version = v
			break
		}
	}
	if version == 0 {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLong, len(data))
	}

	codewords := interleave(version, dataStream(version, data))

	m := newMatrix(version)
	m.placeCodewords(codewords)

	// Try all eight masks and keep the one with the lowest penalty
	// (clause 7.8.3); on a tie the lower mask reference wins.
	best, bestPenalty := -1, 0
	for mask := 0; mask < 8; mask++ {
		m.applyMask(mask)
		m.drawFormat(mask)
		p := m.penalty()
		if best < 0 || p < bestPenalty {
			best, bestPenalty = mask, p
		}
		m.applyMask(mask) // XOR again to undo
	}
	m.applyMask(best)
	m.drawFormat(best)

	return &Code{Size: m.size, version: version, mask: best, modules: m.dark}, nil
}

// dataStream builds the data codewords of clause 7.4: the byte-mode
// indicator 0100, the character count, the data, a terminator of up to four
// zero bits, zero bits up to a byte boundary, and then the pad codewords
// 11101100 and 00010001 alternately until the capacity of the version is
// filled. The caller has checked that data fits.
func dataStream(version int, data []byte) []byte {
	var b bitBuffer
	b.write(0b0100, 4)
	b.write(uint32(len(data)), charCountBits(version))
	for _, d := range data {
		b.write(uint32(d), 8)
	}
	capBits := 8 * dataCodewords(version)
	b.write(0, min(4, capBits-b.n))
	if r := b.n % 8; r != 0 {
		b.write(0, 8-r)
	}
	for pad := byte(0xEC); len(b.buf) < capBits/8; pad ^= 0xEC ^ 0x11 {
		b.buf = append(b.buf, pad)
		b.n += 8
	}
	return b.buf
}

// bitBuffer is a big-endian bit writer.
type bitBuffer struct {
	buf []byte
	n   int // bits written
}

// write appends the low nbits bits of v, most significant first.
func (b *bitBuffer) write(v uint32, nbits int) {
	for i := nbits - 1; i >= 0; i-- {
		if b.n%8 == 0 {
			b.buf = append(b.buf, 0)
		}
		if v>>i&1 != 0 {
			b.buf[b.n/8] |= 0x80 >> (b.n % 8)
		}
		b.n++
	}
}

// interleave splits the data codewords into the blocks of Table 9, computes
// each block's error-correction codewords, and interleaves them as in
// clause 7.6: the first data codeword of every block, then the second, …
// (the longer blocks' extra codeword comes last), followed likewise by the
// error-correction codewords.
func interleave(version int, data []byte) []byte {
	spec := levelM[version]
	nblocks := spec.blocks1 + spec.blocks2
	dataBlocks := make([][]byte, nblocks)
	ecBlocks := make([][]byte, nblocks)
	off := 0
	for i := range nblocks {
		n := spec.data1
		if i >= spec.blocks1 {
			n++
		}
		dataBlocks[i] = data[off : off+n]
		ecBlocks[i] = rsEncode(dataBlocks[i], spec.ecPerBlock)
		off += n
	}

	out := make([]byte, 0, totalCodewords[version])
	for i := 0; i <= spec.data1; i++ {
		for _, blk := range dataBlocks {
			if i < len(blk) {
				out = append(out, blk[i])
			}
		}
	}
	for i := 0; i < spec.ecPerBlock; i++ {
		for _, blk := range ecBlocks {
			out = append(out, blk[i])
		}
	}
	return out
}

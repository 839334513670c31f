package qr

// This file holds the tables of ISO/IEC 18004:2015 that the encoder needs,
// restricted to error-correction level M. Each table is checked for internal
// consistency by the tests (tables_test.go), so a mistyped entry fails loudly.

const (
	minVersion = 1
	maxVersion = 40
)

// totalCodewords is the number of codewords (data plus error correction) of
// each version, from Table 1 ("Codeword capacity of all versions of QR
// Code"). Index 0 is unused.
var totalCodewords = [maxVersion + 1]int{
	0,
	26, 44, 70, 100, 134, 172, 196, 242, 292, 346, // 1-10
	404, 466, 532, 581, 655, 733, 815, 901, 991, 1085, // 11-20
	1156, 1258, 1364, 1474, 1588, 1706, 1828, 1921, 2051, 2185, // 21-30
	2323, 2465, 2611, 2761, 2876, 3034, 3196, 3362, 3532, 3706, // 31-40
}

// blockSpec describes how the codewords of one version at level M are split
// into Reed–Solomon blocks, from Table 9 ("Error correction characteristics
// for QR Code"). The symbol has blocks1 blocks with data1 data codewords each,
// followed by blocks2 blocks with data1+1 data codewords each; every block
// carries ecPerBlock error-correction codewords.
type blockSpec struct {
	ecPerBlock int
	blocks1    int
	data1      int
	blocks2    int
}

// levelM is Table 9 for error-correction level M. Index 0 is unused.
var levelM = [maxVersion + 1]blockSpec{
	{},
	{10, 1, 16, 0}, {16, 1, 28, 0}, {26, 1, 44, 0}, {18, 2, 32, 0}, // 1-4
	{24, 2, 43, 0}, {16, 4, 27, 0}, {18, 4, 31, 0}, {22, 2, 38, 2}, // 5-8
	{22, 3, 36, 2}, {26, 4, 43, 1}, {30, 1, 50, 4}, {22, 6, 36, 2}, // 9-12
	{22, 8, 37, 1}, {24, 4, 40, 5}, {24, 5, 41, 5}, {28, 7, 45, 3}, // 13-16
	{28, 10, 46, 1}, {26, 9, 43, 4}, {26, 3, 44, 11}, {26, 3, 41, 13}, // 17-20
	{26, 17, 42, 0}, {28, 17, 46, 0}, {28, 4, 47, 14}, {28, 6, 45, 14}, // 21-24
	{28, 8, 47, 13}, {28, 19, 46, 4}, {28, 22, 45, 3}, {28, 3, 45, 23}, // 25-28
	{28, 21, 45, 7}, {28, 19, 47, 10}, {28, 2, 46, 29}, {28, 10, 46, 23}, // 29-32
	{28, 14, 46, 21}, {28, 14, 46, 23}, {28, 12, 47, 26}, {28, 6, 47, 34}, // 33-36
	{28, 29, 46, 14}, {28, 13, 46, 32}, {28, 40, 47, 7}, {28, 18, 47, 31}, // 37-40
}

// dataCodewords returns the number of data codewords of version v at level M.
func dataCodewords(v int) int {
	s := levelM[v]
	return s.blocks1*s.data1 + s.blocks2*(s.data1+1)
}

// alignmentPositions lists, per version, the row/column coordinates of the
// centres of the alignment patterns, from Annex E, Table E.1. Patterns are
// placed at every combination of these coordinates except the three that
// would overlap a finder pattern.
var alignmentPositions = [maxVersion + 1][]int{
	{}, {},
	{6, 18}, {6, 22}, {6, 26}, {6, 30}, {6, 34}, // 2-6
	{6, 22, 38}, {6, 24, 42}, {6, 26, 46}, {6, 28, 50}, // 7-10
	{6, 30, 54}, {6, 32, 58}, {6, 34, 62}, // 11-13
	{6, 26, 46, 66}, {6, 26, 48, 70}, {6, 26, 50, 74}, {6, 30, 54, 78}, // 14-17
	{6, 30, 56, 82}, {6, 30, 58, 86}, {6, 34, 62, 90}, // 18-20
	{6, 28, 50, 72, 94}, {6, 26, 50, 74, 98}, {6, 30, 54, 78, 102}, // 21-23
	{6, 28, 54, 80, 106}, {6, 32, 58, 84, 110}, {6, 30, 58, 86, 114}, // 24-26
	{6, 34, 62, 90, 118},                                // 27
	{6, 26, 50, 74, 98, 122}, {6, 30, 54, 78, 102, 126}, // 28-29
	{6, 26, 52, 78, 104, 130}, {6, 30, 56, 82, 108, 134}, // 30-31
	{6, 34, 60, 86, 112, 138}, {6, 30, 58, 86, 114, 142}, // 32-33
	{6, 34, 62, 90, 118, 146},                                      // 34
	{6, 30, 54, 78, 102, 126, 150}, {6, 24, 50, 76, 102, 128, 154}, // 35-36
	{6, 28, 54, 80, 106, 132, 158}, {6, 32, 58, 84, 110, 136, 162}, // 37-38
	{6, 26, 54, 82, 110, 138, 166}, {6, 30, 58, 86, 114, 142, 170}, // 39-40
}

// charCountBits is the length of the character count indicator for byte
// mode (Table 3): 8 bits for versions 1-9, 16 bits for versions 10-40.
func charCountBits(v int) int {
	if v <= 9 {
		return 8
	}
	return 16
}

// formatBits returns the 15-bit format information for level M and the given
// mask (clause 7.9.1): the 5 data bits (level indicator 00 for M, then the
// 3-bit mask reference), followed by 10 BCH(15,5) bits computed with the
// generator polynomial x^10+x^8+x^5+x^4+x^2+x+1 (0x537), all XORed with the
// mask pattern 101010000010010 (0x5412) so that the result is never all zero.
func formatBits(mask int) uint32 {
	const levelIndicatorM = 0b00
	data := uint32(levelIndicatorM<<3 | mask)
	rem := data
	for i := 0; i < 10; i++ {
		rem = rem<<1 ^ (rem>>9)*0x537
	}
	return (data<<10 | rem&0x3FF) ^ 0x5412
}

// versionBits returns the 18-bit version information for versions 7 and up
// (clause 7.10): the 6-bit version number followed by 12 bits of the
// (18,6) Golay code with generator polynomial
// x^12+x^11+x^10+x^9+x^8+x^5+x^2+1 (0x1F25).
func versionBits(v int) uint32 {
	rem := uint32(v)
	for i := 0; i < 12; i++ {
		rem = rem<<1 ^ (rem>>11)*0x1F25
	}
	return uint32(v)<<12 | rem&0xFFF
}

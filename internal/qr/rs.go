package qr

// Reed–Solomon error correction over GF(2^8) as specified in clause 7.5.2:
// the field is built on the primitive polynomial
// x^8+x^4+x^3+x^2+1 (0x11D) with primitive element α = 2, and the generator
// polynomial for n error-correction codewords is (x-α^0)(x-α^1)…(x-α^(n-1)).

// gfExp[i] = α^i, doubled in length so that gfExp[log a + log b] needs no
// reduction modulo 255. gfLog is its inverse (gfLog[0] is unused).
var gfExp, gfLog = buildGF()

func buildGF() (exp [510]byte, log [256]byte) {
	x := 1
	for i := 0; i < 255; i++ {
		exp[i] = byte(x)
		exp[i+255] = byte(x)
		log[x] = byte(i)
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11D
		}
	}
	return exp, log
}

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

// rsGenerator returns the generator polynomial of degree n, coefficients
// from the highest power down; the leading coefficient (always 1) is
// included, so the result has n+1 entries.
func rsGenerator(n int) []byte {
	g := []byte{1}
	for i := 0; i < n; i++ {
		// g = g · (x - α^i); in GF(2^8) subtraction is XOR, so this is
		// g·x + g·α^i.
		next := make([]byte, len(g)+1)
		copy(next, g)
		for j, c := range g {
			next[j+1] ^= gfMul(c, gfExp[i])
		}
		g = next
	}
	return g
}

// rsEncode returns the n error-correction codewords for data: the remainder
// of data(x)·x^n divided by the generator polynomial of degree n.
func rsEncode(data []byte, n int) []byte {
	g := rsGenerator(n)
	rem := make([]byte, len(data)+n)
	copy(rem, data)
	for i := range data {
		c := rem[i]
		if c == 0 {
			continue
		}
		for j := 1; j <= n; j++ {
			rem[i+j] ^= gfMul(g[j], c)
		}
	}
	return rem[len(data):]
}

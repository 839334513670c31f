// Package shamir implements Shamir secret sharing over GF(2^8).
//
// Why Shamir here: Hush encrypts patient data under keys that are ultimately
// sealed by a recovery key. No single person should be able to use that key,
// yet losing one holder must not lose the clinic's records. The recovery key
// is therefore split 2-of-3 among clinic officers: any two of them can
// recover it, and one share alone reveals nothing about it (each byte of a
// single share is uniformly distributed whatever the secret is).
//
// Why constant time: shares and secrets are key material, and the
// arithmetic on them runs on shared servers. Table lookups indexed by
// secret bytes leak through cache timing and secret-dependent branches leak
// through branch timing, so the field arithmetic here uses only shifts,
// masks and XOR: multiplication is bit-serial shift-and-conditional-XOR
// with all-ones/all-zeros masks, and inversion is a^254 by a fixed
// square-and-multiply chain. Share X coordinates are public and may be
// branched on.
//
// The scheme is textbook Shamir: it has no integrity protection. Combine
// cannot tell a wrong or corrupted share from a right one; callers must
// check the recombined secret (for example against a public key).
package shamir

import (
	"crypto/rand"
	"errors"
	"io"
)

// Share is one share of a split secret. X is the evaluation point (1..255)
// and Y holds one byte per byte of the secret.
type Share struct {
	X byte
	Y []byte
}

// gfMul multiplies a and b in GF(2^8) modulo x^8+x^4+x^3+x+1 (0x11B) in
// constant time.
func gfMul(a, b byte) byte {
	var p byte
	for i := 0; i < 8; i++ {
		p ^= -(b & 1) & a          // add a if the low bit of b is set
		hi := -(a >> 7)            // 0xFF if the top bit of a is set
		a = (a << 1) ^ (hi & 0x1B) // multiply a by x, reducing
		b >>= 1
	}
	return p
}

// gfInv returns the multiplicative inverse of a (a^254), and 0 for 0, in
// constant time. The exponent is public, so the chain is fixed.
func gfInv(a byte) byte {
	// 254 = 0b11111110: a^254 = a^2 * a^4 * ... * a^128.
	sq := gfMul(a, a) // a^2
	r := sq
	for i := 0; i < 6; i++ {
		sq = gfMul(sq, sq) // a^4, a^8, ..., a^128
		r = gfMul(r, sq)
	}
	return r
}

// Split splits secret into n shares of which any k recombine it.
// 2 <= k <= n <= 255. Uses crypto/rand.
func Split(secret []byte, k, n int) ([]Share, error) {
	return split(secret, k, n, rand.Reader)
}

// split is Split with an explicit randomness source. For each secret byte
// i it reads k-1 bytes from r as the coefficients of x^1..x^(k-1) of that
// byte's polynomial; the coefficient stream is laid out byte by byte
// (coefficient j of byte i is at offset i*(k-1)+j-1).
func split(secret []byte, k, n int, r io.Reader) ([]Share, error) {
	if k < 2 {
		return nil, errors.New("shamir: threshold must be at least 2")
	}
	if n < k {
		return nil, errors.New("shamir: number of shares must be at least the threshold")
	}
	if n > 255 {
		return nil, errors.New("shamir: at most 255 shares")
	}
	if len(secret) == 0 {
		return nil, errors.New("shamir: secret is empty")
	}
	coef := make([]byte, len(secret)*(k-1))
	defer clear(coef)
	if _, err := io.ReadFull(r, coef); err != nil {
		return nil, errors.New("shamir: reading randomness: " + err.Error())
	}
	shares := make([]Share, n)
	for s := range shares {
		x := byte(s + 1)
		y := make([]byte, len(secret))
		for i, sb := range secret {
			c := coef[i*(k-1) : (i+1)*(k-1)]
			// Horner: ((c[k-2]*x + c[k-3])*x + ... + c[0])*x + secret.
			var acc byte
			for j := len(c) - 1; j >= 0; j-- {
				acc = gfMul(acc, x) ^ c[j]
			}
			y[i] = gfMul(acc, x) ^ sb
		}
		shares[s] = Share{X: x, Y: y}
	}
	return shares, nil
}

// Combine recombines the secret from k or more shares (distinct non-zero X,
// equal lengths). It cannot tell a wrong share from a right one (callers
// check the result against a public key), but it returns an error for
// duplicate or zero X, mismatched or empty Y, and fewer than 2 shares.
func Combine(shares []Share) ([]byte, error) {
	if len(shares) < 2 {
		return nil, errors.New("shamir: need at least 2 shares")
	}
	if len(shares) > 255 {
		return nil, errors.New("shamir: too many shares")
	}
	size := len(shares[0].Y)
	if size == 0 {
		return nil, errors.New("shamir: share is empty")
	}
	var seen [256]bool
	for _, s := range shares {
		if s.X == 0 {
			return nil, errors.New("shamir: share has X = 0")
		}
		if seen[s.X] {
			return nil, errors.New("shamir: duplicate share X")
		}
		seen[s.X] = true
		if len(s.Y) != size {
			return nil, errors.New("shamir: shares have different lengths")
		}
	}
	// Lagrange interpolation at 0: secret = sum_i y_i * l_i where
	// l_i = prod_{j!=i} x_j / (x_j - x_i), and subtraction is XOR.
	secret := make([]byte, size)
	for i, si := range shares {
		num, den := byte(1), byte(1)
		for j, sj := range shares {
			if i == j {
				continue
			}
			num = gfMul(num, sj.X)
			den = gfMul(den, sj.X^si.X)
		}
		l := gfMul(num, gfInv(den))
		for b, y := range si.Y {
			secret[b] ^= gfMul(y, l)
		}
	}
	return secret, nil
}

package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"crypto/hpke"

	"github.com/hushepr/hush/internal/seal/shamir"
)

// The recovery key is a principal key pair made at init whose private half is
// never stored: it is split into Shamir shares, one file per clinic officer.
// Every record seed is also granted to it, so two officers together can
// re-grant a record when its clinician leaves, and the clinic's KEK-wrapped
// keys are sealed to it so that losing the KEK loses nothing.

const shareHeader = "hush-recovery-share v1"

// RecoveryShare is one share of the recovery private key.
type RecoveryShare struct {
	Fingerprint string // of the recovery public key
	Threshold   int
	Total       int
	share       shamir.Share
}

// Wipe zeroes the share's secret bytes; the share is unusable afterwards.
// Callers that read shares (hush recover) wipe them once the key is rebuilt.
func (s *RecoveryShare) Wipe() {
	wipe(s.share.Y)
	s.share.Y = nil
}

// SplitRecovery splits k into n shares of which threshold recombine it.
func SplitRecovery(k *PrivateKey, threshold, n int) ([]RecoveryShare, error) {
	b := k.bytes()
	defer wipe(b)
	parts, err := shamir.Split(b, threshold, n)
	if err != nil {
		return nil, err
	}
	fp := k.Public().Fingerprint()
	out := make([]RecoveryShare, len(parts))
	for i, p := range parts {
		out[i] = RecoveryShare{Fingerprint: fp, Threshold: threshold, Total: n, share: p}
	}
	return out, nil
}

// Encode writes the share as a small text file.
func (s RecoveryShare) Encode() []byte {
	var b bytes.Buffer
	fmt.Fprintln(&b, shareHeader)
	fmt.Fprintf(&b, "recovery-key: %s\n", s.Fingerprint)
	fmt.Fprintf(&b, "share: %d of %d, any %d recombine\n", s.share.X, s.Total, s.Threshold)
	fmt.Fprintf(&b, "x: %d\n", s.share.X)
	fmt.Fprintf(&b, "threshold: %d\n", s.Threshold)
	fmt.Fprintf(&b, "y: %s\n", base64.StdEncoding.EncodeToString(s.share.Y))
	return b.Bytes()
}

// ParseRecoveryShare reads a share file written by Encode. It works on data
// in place, making no string copies of the secret part, so that a caller who
// clears data and wipes the share leaves no copy behind.
func ParseRecoveryShare(data []byte) (RecoveryShare, error) {
	lines := bytes.Split(data, []byte("\n"))
	if string(bytes.TrimSpace(lines[0])) != shareHeader {
		return RecoveryShare{}, errors.New("not a Hush recovery share (missing header)")
	}
	var s RecoveryShare
	fail := func(msg string) (RecoveryShare, error) {
		s.Wipe()
		return RecoveryShare{}, errors.New(msg)
	}
	var haveX, haveY bool
	for _, line := range lines[1:] {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		val = bytes.TrimSpace(val)
		switch string(bytes.TrimSpace(key)) {
		case "recovery-key":
			s.Fingerprint = string(val)
		case "x":
			x, err := strconv.Atoi(string(val))
			if err != nil || x < 1 || x > 255 {
				return fail("recovery share has a bad x")
			}
			s.share.X, haveX = byte(x), true
		case "threshold":
			t, err := strconv.Atoi(string(val))
			if err != nil || t < 2 || t > 255 {
				return fail("recovery share has a bad threshold")
			}
			s.Threshold = t
		case "y":
			y := make([]byte, base64.StdEncoding.DecodedLen(len(val)))
			n, err := base64.StdEncoding.Decode(y, val)
			if err != nil || n != KeySize {
				wipe(y)
				return fail("recovery share has a bad y")
			}
			wipe(s.share.Y)
			s.share.Y, haveY = y[:n], true
		}
	}
	if !haveX || !haveY || s.Fingerprint == "" || s.Threshold == 0 {
		return fail("recovery share is incomplete")
	}
	return s, nil
}

// CombineRecovery rebuilds the recovery private key from shares and checks it
// against the stored public key, so a wrong or damaged share fails loudly.
func CombineRecovery(shares []RecoveryShare, want *PublicKey) (*PrivateKey, error) {
	if len(shares) == 0 {
		return nil, errors.New("no recovery shares given")
	}
	fp := want.Fingerprint()
	parts := make([]shamir.Share, len(shares))
	for i, s := range shares {
		if s.Fingerprint != fp {
			return nil, errors.New("a recovery share belongs to a different recovery key")
		}
		if len(shares) < s.Threshold {
			return nil, fmt.Errorf("%d recovery shares given, %d needed", len(shares), s.Threshold)
		}
		parts[i] = s.share
	}
	b, err := shamir.Combine(parts)
	if err != nil {
		return nil, fmt.Errorf("combine recovery shares: %w", err)
	}
	defer wipe(b)
	k, err := parsePrivateKey(b)
	if err != nil || !k.Public().Equal(want) {
		return nil, errors.New("the recovery shares do not rebuild the clinic's recovery key: a share is wrong or damaged")
	}
	return k, nil
}

// SealToPublic seals data (a clinic key) to a public key with HPKE, binding
// ad as HPKE info. Used to escrow the KEK-wrapped keys to the recovery key.
func SealToPublic(to *PublicKey, ad, data []byte) ([]byte, error) {
	return hpke.Seal(to.pk, kdf, aead, ad, data)
}

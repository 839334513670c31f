// Package witness is the client side of the C2SP tlog-witness protocol: it
// submits signed audit-log checkpoints with consistency proofs to the
// witnesses the clinic configured, and verifies the cosignatures
// (c2sp.org/tlog-cosignature, cosignature/v1, Ed25519) they return.
//
// Specifications followed: c2sp.org/tlog-checkpoint, c2sp.org/signed-note,
// c2sp.org/tlog-cosignature and c2sp.org/tlog-witness. Interoperability is
// tested against litewitness (filippo.io/torchwood v0.6.1).
package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// algCosignatureV1 is the signature type byte of Ed25519 cosignature/v1
// verifier keys (c2sp.org/tlog-cosignature).
const algCosignatureV1 = 0x04

// maxProofLines is the most consistency proof lines a client may send
// (c2sp.org/tlog-witness).
const maxProofLines = 63

// maxResponse bounds how much of a witness's answer is read.
const maxResponse = 64 << 10

// Witness is one witness the clinic configured.
type Witness struct {
	URL      string        // base URL (http://127.0.0.1:port); add-checkpoint is URL + "/add-checkpoint"
	Verifier note.Verifier // cosignature/v1 verifier made from its vkey
	Client   *http.Client  // nil means http.DefaultClient
}

// ConflictError is returned when the witness answers 409 Conflict: the old
// size sent is not the latest size it cosigned for this log.
type ConflictError struct {
	Size int64 // the witness's latest cosigned size for this log
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness: conflict: the witness's latest size for this log is %d", e.Size)
}

// RefusedError is returned for any other non-200 answer of the witness.
type RefusedError struct {
	Status int    // HTTP status code
	Body   string // start of the response body, at most 200 bytes
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("witness: refused with HTTP %d: %q", e.Status, e.Body)
}

// Add sends a checkpoint (the complete signed note text) with the consistency
// proof from oldSize to the checkpoint's size. It returns the witness's
// cosignature line(s) (ready to append to the note's signature block) after
// checking them with w.Verifier: only lines from w.Verifier's key are
// returned, and at least one must verify.
//
// On 409 Conflict it returns a *ConflictError carrying the witness's size; on
// any other non-200 answer a *RefusedError.
func (w *Witness) Add(ctx context.Context, oldSize int64, proof tlog.TreeProof, checkpoint []byte) ([]byte, error) {
	if w.Verifier == nil {
		return nil, errors.New("witness: no cosignature verifier configured")
	}
	text, err := noteText(checkpoint)
	if err != nil {
		return nil, err
	}
	_, size, err := parseCheckpoint(text)
	if err != nil {
		return nil, err
	}
	switch {
	case oldSize < 0 || oldSize > size:
		return nil, fmt.Errorf("witness: old size %d is not in [0, %d]", oldSize, size)
	case len(proof) > maxProofLines:
		return nil, fmt.Errorf("witness: consistency proof has %d hashes, more than %d", len(proof), maxProofLines)
	case oldSize == 0 && len(proof) != 0:
		return nil, errors.New("witness: consistency proof must be empty when the old size is 0")
	}

	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", oldSize)
	for _, h := range proof {
		body.WriteString(h.String()) // standard base64
		body.WriteByte('\n')
	}
	body.WriteByte('\n')
	body.Write(checkpoint)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(w.URL, "/")+"/add-checkpoint", &body)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("witness: reading response: %w", err)
	}

	switch resp.StatusCode {
	case http.StatusOK:
		return w.checkCosignatures(text, respBody)
	case http.StatusConflict:
		// Body: the latest cosigned size in decimal and a newline
		// (Content-Type text/x.tlog.size).
		s, ok := strings.CutSuffix(string(respBody), "\n")
		n, err := strconv.ParseInt(s, 10, 64)
		if ok && err == nil && n >= 0 {
			return nil, &ConflictError{Size: n}
		}
	}
	return nil, &RefusedError{Status: resp.StatusCode, Body: truncate(respBody, 200)}
}

// Latest asks the witness for the latest size of this log it cosigned.
// The tlog-witness protocol has no read endpoint, so it submits
// checkpoint (a note the log signed, of size n) claiming n as the old size
// with an empty proof: a witness whose latest size is another answers 409
// Conflict with that size; one whose latest is n cosigns n again (only if
// the root is the one it holds) and its cosignature, checked, is returned.
// Any other answer is an error: a witness that refuses a checkpoint of the
// size it holds has seen another tree at that size.
//
// The size in a 409 answer is not signed: a false witness can make a log
// look cut short (verify then fails loudly), never make a cut log pass
// (it would have to cosign).
func (w *Witness) Latest(ctx context.Context, checkpoint []byte) (size int64, cosig []byte, err error) {
	text, err := noteText(checkpoint)
	if err != nil {
		return 0, nil, err
	}
	_, n, err := parseCheckpoint(text)
	if err != nil {
		return 0, nil, err
	}
	cosig, err = w.Add(ctx, n, nil, checkpoint)
	var conflict *ConflictError
	if errors.As(err, &conflict) {
		return conflict.Size, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return n, cosig, nil
}

// checkCosignatures verifies the signature lines the witness returned for the
// checkpoint body text and returns those made by w.Verifier.
func (w *Witness) checkCosignatures(text, lines []byte) ([]byte, error) {
	if len(lines) == 0 || lines[len(lines)-1] != '\n' {
		return nil, fmt.Errorf("witness: malformed cosignature response %q", truncate(lines, 200))
	}
	// As the spec suggests: append the lines to the checkpoint body and open
	// the note with only the witness's key trusted. Lines from other keys are
	// ignored; a line from this key that does not verify fails the call.
	msg := make([]byte, 0, len(text)+1+len(lines))
	msg = append(msg, text...)
	msg = append(msg, '\n')
	msg = append(msg, lines...)
	n, err := note.Open(msg, note.VerifierList(w.Verifier))
	if err != nil {
		return nil, fmt.Errorf("witness: cosignature from %s does not verify: %w", w.Verifier.Name(), err)
	}
	var out bytes.Buffer
	for _, sig := range n.Sigs {
		if sig.Name == w.Verifier.Name() && sig.Hash == w.Verifier.KeyHash() {
			fmt.Fprintf(&out, "— %s %s\n", sig.Name, sig.Base64)
		}
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("witness: no cosignature from %s in the response", w.Verifier.Name())
	}
	return out.Bytes(), nil
}

// NewCosignatureVerifier parses a witness vkey
// ("<name>+<hash>+<base64(0x04||ed25519 pubkey)>") into a note.Verifier that
// verifies cosignature/v1 signatures. Its Verify accepts only messages that
// are well-formed checkpoint bodies; the verifier's String method returns the
// vkey.
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !isValidName(name) || len(hash16) != 8 {
		return nil, fmt.Errorf("witness: malformed verifier key %q", vkey)
	}
	hash, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if err1 != nil || err2 != nil || len(key) == 0 {
		return nil, fmt.Errorf("witness: malformed verifier key %q", vkey)
	}
	if key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("witness: verifier key %q has type 0x%02x, not cosignature/v1 (0x04)", vkey, key[0])
	}
	if len(key) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("witness: verifier key %q has a %d-byte public key", vkey, len(key)-1)
	}
	if uint32(hash) != keyHash(name, key) {
		return nil, fmt.Errorf("witness: verifier key %q has the wrong key hash", vkey)
	}
	return &cosignatureVerifier{
		name: name,
		hash: uint32(hash),
		key:  ed25519.PublicKey(key[1:]),
		vkey: vkey,
	}, nil
}

type cosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	vkey string
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }
func (v *cosignatureVerifier) String() string  { return v.vkey }

// Verify checks sig (what follows the key hash in the signature: an 8-byte
// big-endian timestamp and a 64-byte Ed25519 signature) over
// "cosignature/v1\ntime <timestamp>\n" followed by msg, the checkpoint body.
func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > math.MaxInt64 {
		return false
	}
	if _, _, err := parseCheckpoint(msg); err != nil {
		return false
	}
	return ed25519.Verify(v.key, cosignedMessage(t, msg), sig[8:])
}

func cosignedMessage(t uint64, body []byte) []byte {
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n", t)
	return append(m, body...)
}

// CosignatureTime returns the time at which a cosignature/v1 signature (as
// found in a note's Sigs) was made, as claimed by the witness.
func CosignatureTime(sig note.Signature) (time.Time, error) {
	b, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(b) != 4+8+ed25519.SignatureSize {
		return time.Time{}, errors.New("witness: malformed cosignature")
	}
	t := binary.BigEndian.Uint64(b[4:])
	if t > math.MaxInt64 {
		return time.Time{}, errors.New("witness: malformed cosignature timestamp")
	}
	return time.Unix(int64(t), 0), nil
}

// keyHash is the signed-note key ID: SHA-256(name || "\n" || key)[:4], where
// key includes the signature type byte.
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// isValidName reports whether name is a valid signed-note key name: non-empty,
// valid UTF-8, without Unicode spaces or plus signs.
func isValidName(name string) bool {
	return name != "" && utf8.ValidString(name) &&
		strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// noteText returns the body of a signed note (up to and including the newline
// before the blank line that starts the signature block).
func noteText(msg []byte) ([]byte, error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 || !bytes.HasSuffix(msg, []byte("\n")) {
		return nil, errors.New("witness: checkpoint is not a signed note")
	}
	return msg[:i+1], nil
}

// parseCheckpoint parses a c2sp.org/tlog-checkpoint body: origin, decimal size
// without leading zeroes, base64 root hash, then optional non-empty extension
// lines, every line ending in a newline.
func parseCheckpoint(text []byte) (origin string, size int64, err error) {
	bad := errors.New("witness: malformed checkpoint")
	if !bytes.HasSuffix(text, []byte("\n")) {
		return "", 0, bad
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 || lines[0] == "" {
		return "", 0, bad
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return "", 0, bad
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return "", 0, bad
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return "", 0, bad
		}
	}
	return lines[0], n, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/hush"
)

// Webhook header names.
const (
	HeaderTimestamp = "Hush-Timestamp"
	HeaderSignature = "Hush-Signature"
)

// DefaultTolerance is how far a webhook's timestamp may be from the
// receiver's clock when VerifyWebhook is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// payload is the webhook body. The JSON names are a contract with the
// clinics' receivers: add fields, never rename them.
type payload struct {
	ID            string `json:"id"`
	Kind          string `json:"kind"`
	Severity      string `json:"severity"`
	Account       string `json:"account"`
	Summary       string `json:"summary"`
	Count         int    `json:"count"`
	Limit         int    `json:"limit"`
	WindowSeconds int64  `json:"window_seconds"`
	At            string `json:"at"`
	Frozen        bool   `json:"frozen"`
	AuditIndex    int64  `json:"audit_index"`
}

func newPayload(a Alert) payload {
	return payload{
		ID:            a.ID,
		Kind:          a.Kind,
		Severity:      string(a.Severity),
		Account:       a.Account,
		Summary:       a.Summary,
		Count:         a.Count,
		Limit:         a.Limit,
		WindowSeconds: int64(a.Window / time.Second),
		At:            a.At.UTC().Format(time.RFC3339),
		Frozen:        a.Frozen,
		AuditIndex:    a.AuditIndex,
	}
}

type webhook struct {
	url    string
	host   string // for errors: the URL's path may be a secret
	secret []byte
	client *http.Client
	now    func() time.Time
}

func newWebhook(cfg Config, now func() time.Time) *webhook {
	u, _ := url.Parse(cfg.WebhookURL) // Validate parsed it
	client := cfg.WebhookClient
	if client == nil {
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = DefaultTimeout
		}
		client = &http.Client{
			Timeout: timeout,
			// A redirected POST turns into a GET and would lose the
			// alert while looking delivered; count it as a failure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &webhook{
		url:    cfg.WebhookURL,
		host:   u.Host,
		secret: bytes.Clone(cfg.WebhookSecret),
		client: client,
		now:    now,
	}
}

// send makes one attempt. Each attempt is signed with the time it is made,
// so a late retry is not mistaken for a replay.
func (w *webhook) send(ctx context.Context, a Alert) error {
	body, err := json.Marshal(newPayload(a))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook to %s: cannot build request", w.host)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Hush-Alert/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, "v1="+hex.EncodeToString(mac(w.secret, ts, body)))
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, whose path may be a secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook to %s: %w", w.host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook to %s: status %d", w.host, resp.StatusCode)
	}
	return nil
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifyWebhook checks a webhook as its receiver got it: timestamp and
// signature are the values of the Hush-Timestamp and Hush-Signature headers
// and body the raw request body. It accepts the request only if the
// timestamp is within tolerance of now (DefaultTolerance if tolerance is not
// positive), which bounds replays, and a "v1=" entry of the signature is the
// HMAC-SHA256 of timestamp + "." + body under secret, compared in constant
// time. The signature may list several entries separated by spaces or
// commas, which lets a receiver accept two secrets while rotating one.
//
// It returns nil, a hush.EUNAUTHORIZED error for a request to reject, or a
// hush.EINVALID error when secret is empty. Receivers should also ignore an
// alert id they have already seen: a retry can repeat one.
func VerifyWebhook(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return invalid("alert: no webhook secret to verify with")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, ok := parseTimestamp(timestamp)
	if !ok {
		return hush.Errorf(hush.EUNAUTHORIZED, "alert: %s is missing or malformed", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return hush.Errorf(hush.EUNAUTHORIZED, "alert: %s is too far from now (replay or clock skew)", HeaderTimestamp)
	}
	want := mac(secret, timestamp, body)
	entries := strings.FieldsFunc(signature, func(r rune) bool { return r == ' ' || r == ',' })
	for _, e := range entries {
		v, ok := strings.CutPrefix(e, "v1=")
		if !ok || len(v) != 2*sha256.Size {
			continue
		}
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return hush.Errorf(hush.EUNAUTHORIZED, "alert: %s does not match", HeaderSignature)
}

// parseTimestamp accepts only what Hush sends: 1 to 19 decimal digits.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

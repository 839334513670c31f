package alert

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/hush"
)

func TestWebhookDelivers(t *testing.T) {
	log := &logRecorder{}
	rc := newReceiver()
	n := newNotifier(t, startReceiver(t, rc, log))

	n.Send(sample())
	closeNotifier(t, n)

	alerts, attempts, rejected := rc.got()
	if len(alerts) != 1 || attempts != 1 || rejected != 0 {
		t.Fatalf("got %d alerts in %d attempts, %d rejected; want 1, 1, 0", len(alerts), attempts, rejected)
	}
	got := alerts[0]
	want := map[string]any{
		"id":             "alr_7Q2M4K",
		"kind":           "volume.charts",
		"severity":       "critical",
		"account":        "acc_X9F3P1",
		"summary":        "An account opened more charts than its limit allows.",
		"count":          float64(31),
		"limit":          float64(30),
		"window_seconds": float64(600),
		"at":             "2026-03-14T07:26:53Z",
		"frozen":         true,
		"audit_index":    float64(4711),
	}
	if len(got) != len(want) {
		t.Errorf("payload has fields %v, want exactly %v", keys(got), keys(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("payload %s = %#v, want %#v", k, got[k], w)
		}
	}
	if d := log.find("alert delivered"); len(d) != 1 || d[0].attrs["channel"] != "webhook" {
		t.Errorf("delivered log = %+v, want one webhook record", d)
	}
	if strings.Contains(log.text(), "not-logged-path") || strings.Contains(log.text(), "more charts") {
		t.Errorf("operator log leaks the URL path or the summary:\n%s", log.text())
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestWebhookRetries(t *testing.T) {
	log := &logRecorder{}
	rc := newReceiver()
	rc.respond = func(attempt int) int {
		if attempt == 1 {
			return 500
		}
		return 200
	}
	n := newNotifier(t, startReceiver(t, rc, log))

	n.Send(sample())
	closeNotifier(t, n)

	alerts, attempts, rejected := rc.got()
	if len(alerts) != 1 || attempts != 2 || rejected != 0 {
		t.Fatalf("got %d alerts in %d attempts, %d rejected; want 1, 2, 0", len(alerts), attempts, rejected)
	}
	failed := log.find("alert delivery attempt failed")
	if len(failed) != 1 || !strings.Contains(failed[0].attrs["err"], "status 500") {
		t.Errorf("failed-attempt log = %+v, want one with status 500", failed)
	}
	if d := log.find("alert delivered"); len(d) != 1 || d[0].attrs["attempt"] != "2" {
		t.Errorf("delivered log = %+v, want attempt 2", d)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	log := &logRecorder{}
	rc := newReceiver()
	rc.respond = func(int) int { return 503 }
	n := newNotifier(t, startReceiver(t, rc, log))

	n.Send(sample())
	closeNotifier(t, n)

	if _, attempts, _ := rc.got(); attempts != 3 {
		t.Errorf("attempts = %d, want 3", attempts)
	}
	lost := log.find("alert not delivered")
	if len(lost) != 1 || lost[0].level != slog.LevelError || lost[0].attrs["alert_id"] != "alr_7Q2M4K" {
		t.Errorf("not-delivered log = %+v, want one error naming the alert", lost)
	}
}

func TestWebhookRefusesRedirect(t *testing.T) {
	// The default client must not follow a redirect: a followed 302 turns
	// the POST into a GET, and a followed 307 sends the alert somewhere
	// the clinic did not configure. Both servers are plain HTTP on
	// loopback, so following would succeed if it were allowed.
	log := &logRecorder{}
	rc := newReceiver()
	target := httptest.NewServer(rc)
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL+"/hook", http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)
	n := newNotifier(t, Config{
		WebhookURL:    redirector.URL + "/hook",
		WebhookSecret: []byte(testSecret),
		Logger:        log.logger(),
		Retry:         []time.Duration{0},
	})

	n.Send(sample())
	closeNotifier(t, n)

	if _, attempts, _ := rc.got(); attempts != 0 {
		t.Errorf("the redirect was followed (%d requests reached the target)", attempts)
	}
	if lost := log.find("alert not delivered"); len(lost) != 1 || !strings.Contains(lost[0].attrs["err"], "status 307") {
		t.Errorf("not-delivered log = %+v, want one with status 307", lost)
	}
}

func TestVerifyWebhook(t *testing.T) {
	secret := []byte(testSecret)
	now := time.Unix(1_773_000_000, 0)
	body := []byte(`{"id":"alr_1","kind":"canary.open"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := "v1=" + hex.EncodeToString(mac(secret, ts, body))
	old := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	oldSig := "v1=" + hex.EncodeToString(mac(secret, old, body))
	future := strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)
	futureSig := "v1=" + hex.EncodeToString(mac(secret, future, body))
	other := bytes.Repeat([]byte("z"), 32)

	tests := []struct {
		name      string
		secret    []byte
		ts, sig   string
		body      []byte
		tolerance time.Duration
		code      string // "" means accepted
	}{
		{"valid", secret, ts, sig, body, 0, ""},
		{"valid among several", secret, ts, "v1=" + strings.Repeat("00", 32) + " " + sig, body, 0, ""},
		{"valid upper-case hex", secret, ts, "v1=" + strings.ToUpper(sig[3:]), body, 0, ""},
		{"tampered body", secret, ts, sig, []byte(`{"id":"alr_1","kind":"canary.opem"}`), 0, hush.EUNAUTHORIZED},
		{"old timestamp, correctly signed", secret, old, oldSig, body, 0, hush.EUNAUTHORIZED},
		{"old timestamp within a wider tolerance", secret, old, oldSig, body, 10 * time.Minute, ""},
		{"future timestamp, correctly signed", secret, future, futureSig, body, 0, hush.EUNAUTHORIZED},
		{"timestamp swapped", secret, strconv.FormatInt(now.Unix()-1, 10), sig, body, 0, hush.EUNAUTHORIZED},
		{"wrong secret", other, ts, sig, body, 0, hush.EUNAUTHORIZED},
		{"no v1 prefix", secret, ts, sig[3:], body, 0, hush.EUNAUTHORIZED},
		{"short signature", secret, ts, sig[:20], body, 0, hush.EUNAUTHORIZED},
		{"empty signature", secret, ts, "", body, 0, hush.EUNAUTHORIZED},
		{"signed timestamp with a sign", secret, "+" + ts, "v1=" + hex.EncodeToString(mac(secret, "+"+ts, body)), body, 0, hush.EUNAUTHORIZED},
		{"non-numeric timestamp", secret, "yesterday", sig, body, 0, hush.EUNAUTHORIZED},
		{"empty timestamp", secret, "", sig, body, 0, hush.EUNAUTHORIZED},
		{"no secret", nil, ts, sig, body, 0, hush.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyWebhook(tt.secret, tt.ts, tt.sig, tt.body, now, tt.tolerance)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("VerifyWebhook = %v, want nil", err)
				}
				return
			}
			if err == nil || hush.ErrorCode(err) != tt.code {
				t.Fatalf("VerifyWebhook = %v, want code %s", err, tt.code)
			}
		})
	}
}

// FuzzVerifyWebhook checks that VerifyWebhook never panics, accepts only a
// signature that an independent HMAC computation agrees with inside the
// tolerance, and always accepts a correct one.
func FuzzVerifyWebhook(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	secret := []byte(testSecret)
	body := []byte(`{"id":"a1"}`)
	good := "v1=" + oracle(secret, "1700000000", body)
	f.Add(secret, "1700000000", good, body)
	f.Add(secret, "1700000000", "v1=00", body)
	f.Add(secret, "+1700000000", good, body)
	f.Add(secret, "1700000030", "v0=zz, "+good, body)
	f.Add([]byte{}, "", "", []byte{})
	f.Add([]byte("k"), "99999999999999999999", "v1=", []byte("x"))

	f.Fuzz(func(t *testing.T, secret []byte, ts, sig string, body []byte) {
		err := VerifyWebhook(secret, ts, sig, body, now, time.Minute)
		if err == nil {
			if len(secret) == 0 {
				t.Fatal("accepted with an empty secret")
			}
			sec, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil || strings.ContainsAny(ts, "+-") {
				t.Fatalf("accepted timestamp %q", ts)
			}
			if d := now.Unix() - sec; d > 60 || d < -60 {
				t.Fatalf("accepted timestamp %q, %ds from now", ts, d)
			}
			if !strings.Contains(strings.ToLower(sig), "v1="+oracle(secret, ts, body)) {
				t.Fatalf("accepted signature %q that is not the HMAC", sig)
			}
		}
		if len(secret) == 0 {
			return
		}
		const ts2 = "1700000010"
		right := "v1=" + oracle(secret, ts2, body)
		if err := VerifyWebhook(secret, ts2, right, body, now, time.Minute); err != nil {
			t.Fatalf("rejected a correct signature: %v", err)
		}
		if err := VerifyWebhook(secret, ts2, right, append(bytes.Clone(body), '!'), now, time.Minute); err == nil {
			t.Fatal("accepted a signature over another body")
		}
	})
}

// oracle computes the hex signature without the package's helper.
func oracle(secret []byte, ts string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts + "." + string(body)))
	return hex.EncodeToString(h.Sum(nil))
}

package cli_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInsiderNoTLSResumption: a client that kept a session ticket cannot
// resume, on TLS 1.3 or 1.2, on the public or the admin listener. With
// tickets, one ticket key taken from the server's memory would open a week
// of recorded traffic (Go keeps ticket keys for 7 days); without them,
// every connection has its own ephemeral key exchange.
func TestInsiderNoTLSResumption(t *testing.T) {
	f := newFixture(t)
	f.serve()
	base := f.client.Transport.(*http.Transport).TLSClientConfig
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS 1.3", tls.VersionTLS13}, {"TLS 1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			cfg := base.Clone()
			cfg.MinVersion, cfg.MaxVersion = v.version, v.version
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
			// A new connection for every request, as a client that comes
			// back later would make.
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
			for i := 0; i < 3; i++ {
				resp, err := c.Get(f.url + "/fhir/R4/metadata")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.TLS.Version != v.version {
					t.Fatalf("negotiated %x", resp.TLS.Version)
				}
				if resp.TLS.DidResume {
					t.Fatalf("connection %d resumed a session from a ticket", i+1)
				}
			}
		})
	}
}

// TestInsiderSurfaceAnswers: a stranger probing the server learns nothing
// from its answers' shape. /static/ lists no directory (a file is served,
// a directory is a 404 page); paths that clean to the API's get the API's
// OperationOutcome JSON, never an HTML redirect; an over-size body is a
// 413 that says so, logged as the client's error, not as an internal one.
func TestInsiderSurfaceAnswers(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	f.serve()
	noFollow := *f.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(method, path, token string, body []byte) response {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, f.url+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, body: b, header: resp.Header}
	}

	t.Run("static", func(t *testing.T) {
		if r := get("GET", "/static/style.css", "", nil); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
			t.Errorf("style.css: %d %s", r.status, r.header.Get("Content-Type"))
		}
		for _, p := range []string{"/static/", "/static", "/static/.", "/static/index.html", "/static/nothing.js"} {
			r := get("GET", p, "", nil)
			redirect := r.status/100 == 3
			if r.status != 404 && !redirect {
				t.Errorf("%s: status %d, want 404", p, r.status)
			}
			for _, name := range []string{`"style.css"`, "autosave.js", "webauthn.js"} {
				if bytes.Contains(r.body, []byte(name)) {
					t.Errorf("%s: answer names %s (a directory listing): %s", p, name, r.body)
				}
			}
			if redirect {
				// Only the web app's own path cleaning may redirect, and
				// never to a listing.
				if loc := r.header.Get("Location"); loc != "/static/" && loc != "/static" {
					t.Errorf("%s: redirect to %q", p, loc)
				} else if r2 := get("GET", loc, "", nil); r2.status != 404 || bytes.Contains(r2.body, []byte("autosave.js")) {
					t.Errorf("%s: redirect target %s answers %d", p, loc, r2.status)
				}
			}
		}
	})

	t.Run("API paths", func(t *testing.T) {
		tok := f.tokens["doc@test.hush"]
		tests := []struct {
			method, path string
			want         int
			location     string
		}{
			{"GET", "//fhir/R4/metadata", 301, "/fhir/R4/metadata"},
			{"GET", "/fhir/../fhir/R4/Patient?name=vir", 301, "/fhir/R4/Patient?name=vir"},
			{"GET", "/fhir/R4/./Practitioner", 301, "/fhir/R4/Practitioner"},
			{"GET", "/web/../fhir/R4/metadata", 301, "/fhir/R4/metadata"},
			{"POST", "//fhir/R4/Patient", 404, ""},
			{"PUT", "/fhir/R4/CareTeam/x/../y", 404, ""},
			{"GET", "/fhir", 404, ""},
			{"GET", "/fhir/", 404, ""},
			{"GET", "/fhir/R4/Patient/", 404, ""},
			{"GET", "/fhir/R4/Observation", 404, ""},
			{"DELETE", "/fhir/R4/Patient", 405, ""},
		}
		for _, tt := range tests {
			var body []byte
			if tt.method == "POST" || tt.method == "PUT" {
				body = []byte(`{"resourceType":"Patient"}`)
			}
			r := get(tt.method, tt.path, tok, body)
			if r.status != tt.want {
				t.Errorf("%s %s: status %d, want %d: %s", tt.method, tt.path, r.status, tt.want, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
				t.Errorf("%s %s: Content-Type %q, want FHIR JSON: %s", tt.method, tt.path, ct, r.body)
			}
			var oo struct{ ResourceType string }
			if json.Unmarshal(r.body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
				t.Errorf("%s %s: not an OperationOutcome: %s", tt.method, tt.path, r.body)
			}
			if got := r.header.Get("Location"); got != tt.location {
				t.Errorf("%s %s: Location %q, want %q", tt.method, tt.path, got, tt.location)
			}
		}
		// The redirect leads to the real answer.
		if r := f.do("doc@test.hush", "GET", "//fhir/R4/metadata", nil); r.status != 200 {
			t.Errorf("following the redirect: %d", r.status)
		}
	})

	t.Run("over-size body", func(t *testing.T) {
		big := []byte(`{"resourceType":"Patient","name":[{"family":"` + strings.Repeat("x", 2<<20) + `"}]}`)
		r := get("POST", "/fhir/R4/Patient", f.tokens["doc@test.hush"], big)
		if r.status != 413 || !strings.Contains(r.diagnostics(), "over the limit") {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})

	f.shutdown()
	log, err := os.Open(filepath.Join(f.data, "log", "hush.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	var tooLarge bool
	for _, line := range lines(bufio.NewScanner(log)) {
		var e struct{ Level, Msg, Code string }
		json.Unmarshal([]byte(line), &e)
		if e.Level == "ERROR" {
			t.Errorf("an ERROR line for a client's mistake: %s", line)
		}
		if e.Code == "too_large" {
			tooLarge = e.Level == "INFO" || e.Level == "WARN"
		}
	}
	if !tooLarge {
		t.Error("no client-error log line for the over-size body")
	}
}

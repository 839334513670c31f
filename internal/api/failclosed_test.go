package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hushepr/hush/internal/api"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
)

// TestReadRefusedWhenAuditCannotBeWritten: the database refuses to grow (a
// real SQLITE_FULL through max_page_count), so a chart read's audit event
// cannot be made durable: the read is refused with 503 and no note text
// leaves the server. When space returns, reads work again.
func TestReadRefusedWhenAuditCannotBeWritten(t *testing.T) {
	ctx := context.Background()
	saved := seal.Argon2Params
	seal.Argon2Params.MemoryKiB, seal.Argon2Params.Time = 1024, 1
	defer func() { seal.Argon2Params = saved }()
	c, _, err := clinic.Init(ctx, t.TempDir(), seal.NewTestKEK(), clinic.InitOptions{Name: "T", AdminEmail: "admin@x.fi", AdminName: "A", AdminPassword: []byte("correct horse battery")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AddUser(ctx, clinic.NewUser{Email: "doc@x.fi", Name: "Doc", Role: hush.RoleClinician, Password: []byte("correct horse battery")}); err != nil {
		t.Fatal(err)
	}
	a, err := c.SignIn(ctx, "doc@x.fi", []byte("correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	actx := hush.WithActor(ctx, a)
	p, err := c.CreatePatient(actx, hush.Patient{Family: "Virtanen", BirthDate: "1990-01-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateNote(actx, p.ID, clinic.NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "Secretfailclosed"}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateToken(ctx, "doc@x.fi", []byte("correct horse battery"), 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(api.New(c, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	get := func() (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/fhir/R4/DocumentReference?patient="+p.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Secret)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, _ := get(); st != 200 {
		t.Fatalf("before the fault: %d", st)
	}
	pages, err := c.DB().PageCount()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DB().SetMaxPages(pages); err != nil {
		t.Fatal(err)
	}
	refused := false
	for i := 0; i < 300 && !refused; i++ { // fill the last free page
		st, body := get()
		if strings.Contains(body, base64.StdEncoding.EncodeToString([]byte("Secretfailclosed"))) && st != 200 {
			t.Fatal("note text in a refused response")
		}
		if st == 503 {
			refused = true
			var oo map[string]any
			json.Unmarshal([]byte(body), &oo)
			if oo["resourceType"] != "OperationOutcome" || !strings.Contains(body, "audit log cannot be written") {
				t.Fatalf("refusal: %s", body)
			}
		} else if st != 200 {
			t.Fatalf("status %d: %s", st, body)
		}
	}
	if !refused {
		t.Fatal("reads went on although the audit log could not grow")
	}
	c.DB().SetMaxPages(0)
	if st, _ := get(); st != 200 {
		t.Fatalf("after space returned: %d", st)
	}
}

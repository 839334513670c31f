package cli

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/measures"
)

func runDemo(ctx context.Context, env Env, args []string) error {
	fs := flagSet("demo", env)
	addr := fs.String("addr", "127.0.0.1:8443", "HTTPS listen address")
	adminAddr := fs.String("admin-addr", "127.0.0.1:8444", "HTTPS listen address of the admin pages")
	patients := fs.Int("patients", 50, "how many made-up patients")
	keep := fs.Bool("keep", false, "keep the throw-away data directory at exit")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *patients < 1 || *patients > 10000 {
		return fmt.Errorf("%w: --patients must be 1 to 10000", ErrUsage)
	}
	tmp, err := os.MkdirTemp("", "hush-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(tmp)
	}
	d, err := buildDemo(ctx, env, tmp, *patients)
	if err != nil {
		return err
	}
	defer d.cl.Close()
	d.print(env.Stdout, *addr, *adminAddr)
	cert, err := storedCert(ctx, d.cl)
	if err != nil {
		return err
	}
	// Security keys need a host name, not an address: the demo is at localhost.
	public := ""
	if _, port, err := net.SplitHostPort(*addr); err == nil {
		public = "https://localhost:" + port
	}
	return serve(ctx, Env{Getenv: env.Getenv, Stdout: env.Stdout, Stderr: io.Discard}, d.cl, d.data,
		serveOptions{addr: *addr, adminAddr: *adminAddr, cert: cert, interval: time.Minute, publicURL: public})
}

type demoLogin struct {
	role, name, email, password, token, code string
}

type demo struct {
	cl         *clinic.Clinic
	data       string
	logins     []demoLogin
	aPatientID string
	notes      int
}

func randomPassword() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func pick[T any](xs []T) T {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(xs))))
	return xs[n.Int64()]
}

func randN(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// demoHETU returns a valid identity code in the temporary range (individual
// number 900-999), which no real person is given as a permanent code.
func demoHETU(birth time.Time) string {
	code, err := hetu.Make(birth, 900+randN(100))
	if err != nil {
		panic(err) // demo birth dates are 1930–2010
	}
	return code.String()
}

var (
	demoFamilies = []string{"Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen", "Koskinen", "Järvinen",
		"Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi", "Heikkilä", "Kinnunen", "Salonen", "Turunen"}
	demoGivens = []string{"Aino", "Eino", "Helmi", "Väinö", "Sofia", "Leo", "Olivia", "Elias", "Venla", "Oliver", "Ella", "Onni",
		"Emma", "Eetu", "Siiri", "Niilo", "Lilja", "Veeti", "Aada", "Joel"}
	demoS = []string{"Reports low mood most days for the past month.", "Describes improved sleep since last session.",
		"Worried about returning to work after sick leave.", "Panic symptoms twice this week, both on public transport.",
		"Says the breathing exercise helped during a difficult family dinner.", "Feels stuck; little energy for hobbies."}
	demoO = []string{"Calm, good eye contact, speech normal in rate.", "Tearful when discussing the relationship ending.",
		"Restless at the start, settled during the session.", "Affect congruent, thought process linear."}
	demoA = []string{"Depressive symptoms moderate, slowly easing.", "Anxiety responding to exposure work.",
		"Avoidance maintains the worry cycle.", "Good engagement; homework completed."}
	demoP = []string{"Continue behavioural activation; schedule two pleasant activities.", "Next session: graded exposure step 3.",
		"Repeat PHQ-9 in two weeks.", "Keep the thought record daily; review next week."}
)

func demoNoteText(kind hush.NoteKind) string {
	switch kind {
	case hush.KindSOAP:
		return "S: " + pick(demoS) + "\nO: " + pick(demoO) + "\nA: " + pick(demoA) + "\nP: " + pick(demoP)
	case hush.KindDAP:
		return "D: " + pick(demoS) + " " + pick(demoO) + "\nA: " + pick(demoA) + "\nP: " + pick(demoP)
	case hush.KindBIRP:
		return "B: " + pick(demoS) + "\nI: Reviewed the week; practised cognitive restructuring.\nR: " + pick(demoO) + "\nP: " + pick(demoP)
	}
	return pick(demoS) + " " + pick(demoA) + " " + pick(demoP)
}

// buildDemo makes a clinic in dir with made-up staff, patients and notes,
// all through the same code paths the API uses.
func buildDemo(ctx context.Context, env Env, dir string, nPatients int) (*demo, error) {
	data := filepath.Join(dir, "data")
	kekFile := filepath.Join(dir, "keys", "hush.kek")
	if err := os.MkdirAll(filepath.Dir(kekFile), 0o700); err != nil {
		return nil, err
	}
	adminPW := randomPassword()
	ienv := Env{Getenv: func(k string) string {
		if k == "HUSH_PASSWORD" {
			return adminPW
		}
		return ""
	}, Stdout: io.Discard, Stderr: env.Stderr}
	err := runInit(ctx, ienv, []string{"--data", data, "--kek-file", kekFile, "--clinic", "Demo Psychotherapy Clinic",
		"--admin", "admin@demo.hush", "--admin-name", "Aleksi Admin", "--shares-dir", filepath.Join(dir, "shares"), "--canaries", "0"})
	if err != nil {
		return nil, err
	}
	c := common{data: data, kekFile: kekFile}
	cl, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	d := &demo{cl: cl, data: data}
	d.logins = append(d.logins, demoLogin{role: "admin", name: "Aleksi Admin", email: "admin@demo.hush", password: adminPW})
	staff := []struct {
		role  hush.Role
		name  string
		email string
	}{
		{hush.RoleClinician, "Dr. Maria Lindqvist", "maria@demo.hush"},
		{hush.RoleClinician, "Juhani Rantanen", "juhani@demo.hush"},
		{hush.RoleClinician, "Leena Ahonen", "leena@demo.hush"},
		{hush.RoleReception, "Riikka Reception", "reception@demo.hush"},
	}
	var clinicians []*hush.Actor
	for _, s := range staff {
		pw := randomPassword()
		if _, err := cl.AddUser(ctx, clinic.NewUser{Email: s.email, Name: s.name, Role: s.role, Password: []byte(pw)}); err != nil {
			cl.Close()
			return nil, err
		}
		d.logins = append(d.logins, demoLogin{role: string(s.role), name: s.name, email: s.email, password: pw})
		if s.role == hush.RoleClinician {
			a, err := cl.SignIn(ctx, s.email, []byte(pw))
			if err != nil {
				cl.Close()
				return nil, err
			}
			clinicians = append(clinicians, a)
		}
	}
	kinds := []hush.NoteKind{hush.KindSOAP, hush.KindSOAP, hush.KindDAP, hush.KindBIRP, hush.KindFree}
	for i := 0; i < nPatients; i++ {
		a := clinicians[i%len(clinicians)]
		actx := hush.WithActor(ctx, a)
		birth := time.Date(1950+randN(58), time.Month(1+randN(12)), 1+randN(28), 0, 0, 0, 0, time.UTC)
		p := hush.Patient{Family: pick(demoFamilies), Given: []string{pick(demoGivens)}, HETU: demoHETU(birth),
			Telecom: []hush.ContactPoint{{System: "phone", Value: fmt.Sprintf("+358 40 %03d %04d", randN(1000), randN(10000)), Use: "mobile"}}}
		team := []string{}
		if i%7 == 0 {
			team = append(team, clinicians[(i+1)%len(clinicians)].UserID)
		}
		p, err := cl.CreatePatient(actx, p, team)
		if err != nil {
			cl.Close()
			return nil, err
		}
		if d.aPatientID == "" {
			d.aPatientID = p.ID
		}
		for j := 0; j < 4+randN(5); j++ {
			kind := pick(kinds)
			status := hush.StatusSigned
			if j == 0 && i%5 == 0 {
				status = hush.StatusDraft
			}
			n, err := cl.CreateNote(actx, p.ID, clinic.NoteInput{Kind: kind, Status: status, Title: "Session " + fmt.Sprint(j+1), Text: demoNoteText(kind)})
			if err != nil {
				cl.Close()
				return nil, err
			}
			d.notes++
			if status == hush.StatusSigned && randN(10) == 0 {
				if _, err := cl.UpdateNote(actx, n.ID, n.Version, clinic.NoteInput{Kind: kind, Status: hush.StatusAmended, Title: n.Title,
					Text: n.Text + "\n\nAmendment: corrected the homework plan after a call with the patient."}); err != nil {
					cl.Close()
					return nil, err
				}
			}
		}
	}
	// The demo's clinicians register every patient, so no planned canary
	// would ever be planted: make the default number now, named after the
	// demo's own directory.
	if _, err := cl.AddCanaries(ctx, clinic.DefaultCanaries); err != nil {
		cl.Close()
		return nil, err
	}
	if err := demoDay(ctx, cl, clinicians, d); err != nil {
		cl.Close()
		return nil, err
	}
	for i := range d.logins {
		t, err := cl.CreateToken(ctx, d.logins[i].email, []byte(d.logins[i].password), 24*time.Hour)
		if err != nil {
			cl.Close()
			return nil, err
		}
		d.logins[i].token = t.Secret
		// The first web sign-in needs an enrolment code beside the
		// password; a real clinic hands it over apart from the password.
		u, err := cl.UserByEmail(ctx, d.logins[i].email)
		if err == nil {
			var ec clinic.EnrolmentCode
			ec, err = cl.IssueEnrolmentCode(ctx, u.ID, false)
			d.logins[i].code = ec.Code
		}
		if err != nil {
			cl.Close()
			return nil, err
		}
	}
	return d, nil
}

func (d *demo) print(w io.Writer, addr, adminAddr string) {
	fmt.Fprintf(w, "Hush demo: a throw-away clinic with made-up people (%d notes). Nothing here is real.\n\n", d.notes)
	for _, l := range d.logins {
		fmt.Fprintf(w, "  %-9s %-22s %-20s password %s\n            enrolment code %s\n            token %s\n", l.role, l.name, l.email, l.password, l.code, l.token)
	}
	fmt.Fprintf(w, "\nIn a browser: https://%s/ (the clinic web app; the certificate is self-signed, so accept the warning).\n", strings.Replace(addr, "127.0.0.1", "localhost", 1))
	fmt.Fprintf(w, "The first sign-in asks for the enrolment code, an authenticator app and a new password; add a security key or passkey from your name at the top. Admin pages: https://%s/admin/users\n", adminAddr)
	fmt.Fprintf(w, "\nThe FHIR API (hence curl -k):\n")
	fmt.Fprintf(w, "  curl -k -H 'Authorization: Bearer %s' 'https://%s/fhir/R4/DocumentReference?patient=%s'\n", d.logins[1].token, addr, d.aPatientID)
	fmt.Fprintf(w, "  curl -k -H 'Authorization: Bearer %s' 'https://%s/fhir/R4/Patient?name=vir'\n\n", d.logins[4].token, addr)
}

var _ = flag.ErrHelp

// demoDay gives the demo a working day: appointments today and tomorrow for
// each clinician (booked by reception), a few questionnaire results and
// diagnoses, so that every page has something to show.
func demoDay(ctx context.Context, cl *clinic.Clinic, clinicians []*hush.Actor, d *demo) error {
	desk, err := cl.UserByEmail(ctx, "reception@demo.hush")
	if err != nil {
		return err
	}
	dctx := hush.WithActor(ctx, &hush.Actor{UserID: desk.ID, Role: hush.RoleReception})
	now := time.Now().In(clinic.Helsinki)
	for ci, a := range clinicians {
		actx := hush.WithActor(ctx, a)
		mine, err := cl.MyPatients(actx)
		if err != nil {
			return err
		}
		for j, p := range mine {
			if j >= 6 {
				break
			}
			day := now.AddDate(0, 0, j/3)
			start := time.Date(day.Year(), day.Month(), day.Day(), 9+(j%3)*2+ci%2, 0, 0, 0, clinic.Helsinki)
			if _, err := cl.BookAppointment(dctx, p.ID, a.UserID, start, 45*time.Minute); err != nil && hush.ErrorCode(err) != hush.ECONFLICT {
				return err
			}
			if j < 3 {
				for _, total := range []int{16 - j, 12 - j, 9 - j} {
					answers := []int{2, 2, 2, 2, 2, 2, 2, 2, 0}
					sum := 16
					for q := 0; sum > total; q = (q + 1) % 8 {
						if answers[q] > 0 {
							answers[q]--
							sum--
						}
					}
					if _, err := cl.AddMeasure(actx, p.ID, measures.PHQ9, answers); err != nil {
						return err
					}
				}
				if _, err := cl.AddDiagnosis(actx, p.ID, "F32.1", "Moderate depressive episode", false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

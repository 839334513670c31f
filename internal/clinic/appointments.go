package clinic

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
	_ "time/tzdata" // Europe/Helsinki on machines without a zone database

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// Helsinki is the clinic's time zone: appointments are stored in UTC and
// shown in Europe/Helsinki, across daylight-saving changes.
var Helsinki = func() *time.Location {
	l, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return l
}()

// Appointment statuses.
const (
	ApptBooked    = "booked"
	ApptCancelled = "cancelled"
	ApptNoShow    = "noshow"
)

// Appointment is the newest version of a booking.
type Appointment struct {
	ID          string
	Version     int
	PatientID   string
	ClinicianID string
	Start, End  time.Time // UTC
	Status      string
}

type apptTimes struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// isoWeek is the clear bucket of an appointment: its ISO week in Helsinki.
func isoWeek(t time.Time) string {
	y, w := t.In(Helsinki).ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

func apptAD(r store.AppointmentRow) []byte {
	return seal.AD("hush appointment v1", r.ID, strconv.Itoa(r.Version), r.PatientID, r.ClinicianID, r.Week, r.Status)
}

func (c *Clinic) openAppt(r store.AppointmentRow) (Appointment, error) {
	b, err := c.dirKey.Open(r.Sealed, apptAD(r))
	if err != nil {
		return Appointment{}, hush.Wrap(hush.EINTERNAL, "an appointment does not open", err)
	}
	var at apptTimes
	if err := json.Unmarshal(b, &at); err != nil {
		return Appointment{}, internal("decode appointment", err)
	}
	return Appointment{ID: r.ID, Version: r.Version, PatientID: r.PatientID, ClinicianID: r.ClinicianID,
		Start: time.UnixMilli(at.Start).UTC(), End: time.UnixMilli(at.End).UTC(), Status: r.Status}, nil
}

// booker returns the actor if it may manage the calendar.
func booker(ctx context.Context) (*hush.Actor, error) {
	a, err := staff(ctx)
	if err != nil {
		return nil, err
	}
	if a.Role == hush.RoleAuditor {
		return nil, hush.Errorf(hush.EFORBIDDEN, "auditors do not book appointments")
	}
	return a, nil
}

func (c *Clinic) checkSlot(start time.Time, dur time.Duration) error {
	if dur < 5*time.Minute || dur > 8*time.Hour {
		return hush.Errorf(hush.EINVALID, "an appointment lasts 5 minutes to 8 hours")
	}
	now := c.now()
	if start.Before(now.AddDate(-1, 0, 0)) || start.After(now.AddDate(2, 0, 0)) {
		return hush.Errorf(hush.EINVALID, "the appointment time is out of range")
	}
	return nil
}

// weeksBetween lists the ISO weeks that [from, to) touches.
func weeksBetween(from, to time.Time) []string {
	seen := map[string]bool{}
	var out []string
	for d := from.In(Helsinki); d.Before(to); d = d.AddDate(0, 0, 1) {
		if w := isoWeek(d); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	if w := isoWeek(to.Add(-time.Nanosecond)); !seen[w] {
		out = append(out, w)
	}
	return out
}

// busy reports whether the clinician has another booked appointment that
// overlaps [start, end).
func (c *Clinic) busy(tx *store.Tx, clinicianID, exceptID string, start, end time.Time) (bool, error) {
	rows, err := tx.AppointmentsInWeeks(weeksBetween(start.Add(-8*time.Hour), end.Add(8*time.Hour)))
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if r.ClinicianID != clinicianID || r.ID == exceptID || r.Status != ApptBooked {
			continue
		}
		a, err := c.openAppt(r)
		if err != nil {
			return false, err
		}
		if a.Start.Before(end) && start.Before(a.End) {
			return true, nil
		}
	}
	return false, nil
}

func (c *Clinic) writeAppt(tx *store.Tx, a Appointment, by string) (store.AppointmentRow, error) {
	r := store.AppointmentRow{ID: a.ID, Version: a.Version, PatientID: a.PatientID, ClinicianID: a.ClinicianID,
		Week: isoWeek(a.Start), Status: a.Status, CreatedAt: c.millis(), CreatedBy: by}
	b, _ := json.Marshal(apptTimes{Start: a.Start.UnixMilli(), End: a.End.UnixMilli()})
	r.Sealed = c.dirKey.Seal(b, apptAD(r))
	return r, tx.InsertAppointment(r)
}

var errBusy = hush.Errorf(hush.ECONFLICT, "the clinician already has an appointment at that time")

// BookAppointment books a patient with a clinician.
func (c *Clinic) BookAppointment(ctx context.Context, patientID, clinicianID string, start time.Time, dur time.Duration) (Appointment, error) {
	a, err := booker(ctx)
	if err != nil {
		return Appointment{}, err
	}
	if err := c.checkSlot(start, dur); err != nil {
		return Appointment{}, err
	}
	ap := Appointment{ID: newID(), Version: 1, PatientID: patientID, ClinicianID: clinicianID, Start: start.UTC().Truncate(time.Minute), Status: ApptBooked}
	ap.End = ap.Start.Add(dur)
	err = c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		if _, err := tx.PatientByID(patientID); err != nil {
			return err
		}
		if _, err := c.userPublicKey(tx, clinicianID); err != nil {
			return err
		}
		if b, err := c.busy(tx, clinicianID, "", ap.Start, ap.End); err != nil || b {
			if b {
				return errBusy
			}
			return err
		}
		if _, err := c.writeAppt(tx, ap, a.UserID); err != nil {
			return err
		}
		_, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActAppointmentBook, patientID, ap.ID, nil))
		return err
	})
	return ap, c.logDenied(ctx, err, c.event(ctx, audit.ActAppointmentBook, patientID, "", err))
}

// ChangeAppointment moves an appointment (new start and duration; status
// booked) or sets its status (cancelled, noshow), adding a version.
func (c *Clinic) ChangeAppointment(ctx context.Context, id, status string, start time.Time, dur time.Duration) (Appointment, error) {
	a, err := booker(ctx)
	if err != nil {
		return Appointment{}, err
	}
	switch status {
	case ApptBooked:
		if err := c.checkSlot(start, dur); err != nil {
			return Appointment{}, err
		}
	case ApptCancelled, ApptNoShow:
	default:
		return Appointment{}, hush.Errorf(hush.EINVALID, "status must be booked, cancelled or noshow")
	}
	var ap Appointment
	err = c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		r, err := tx.Appointment(id)
		if err != nil {
			return err
		}
		if ap, err = c.openAppt(r); err != nil {
			return err
		}
		if ap.Status != ApptBooked {
			return hush.Errorf(hush.ECONFLICT, "the appointment is already cancelled or marked as a no-show")
		}
		action := audit.ActAppointmentCancel
		if status == ApptBooked {
			ap.Start = start.UTC().Truncate(time.Minute)
			ap.End = ap.Start.Add(dur)
			action = audit.ActAppointmentMove
			if b, err := c.busy(tx, ap.ClinicianID, ap.ID, ap.Start, ap.End); err != nil || b {
				if b {
					return errBusy
				}
				return err
			}
		} else if status == ApptNoShow {
			action = audit.ActAppointmentNoShow
		}
		ap.Status, ap.Version = status, ap.Version+1
		if _, err := c.writeAppt(tx, ap, a.UserID); err != nil {
			return err
		}
		_, err = c.audit.AppendTx(tx, c.event(ctx, action, ap.PatientID, ap.ID, nil))
		return err
	})
	return ap, c.logDenied(ctx, err, c.event(ctx, audit.ActAppointmentMove, ap.PatientID, id, err))
}

// Appointments returns the appointments in [from, to), optionally for one
// clinician, ordered by start. Every listed patient is an audited access.
func (c *Clinic) Appointments(ctx context.Context, from, to time.Time, clinicianID string) ([]Appointment, error) {
	if _, err := staff(ctx); err != nil {
		return nil, err
	}
	if !to.After(from) || to.Sub(from) > 42*24*time.Hour {
		return nil, hush.Errorf(hush.EINVALID, "a calendar range is at most six weeks")
	}
	var out []Appointment
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.AppointmentsInWeeks(weeksBetween(from, to))
		if err != nil {
			return err
		}
		for _, r := range rows {
			if clinicianID != "" && r.ClinicianID != clinicianID {
				continue
			}
			a, err := c.openAppt(r)
			if err != nil {
				return err
			}
			if a.Start.Before(to) && !a.Start.Before(from) {
				out = append(out, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	evs := make([]audit.Event, 0, len(out))
	for _, a := range out {
		evs = append(evs, c.event(ctx, audit.ActAppointmentList, a.PatientID, a.ID, nil))
	}
	if len(evs) > 0 {
		if err := c.logRead(ctx, nil, evs...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Appointment returns one appointment (audited as a read of its patient).
func (c *Clinic) Appointment(ctx context.Context, id string) (Appointment, error) {
	if _, err := staff(ctx); err != nil {
		return Appointment{}, err
	}
	var ap Appointment
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		r, err := tx.Appointment(id)
		if err != nil {
			return err
		}
		ap, err = c.openAppt(r)
		return err
	})
	if err := c.logRead(ctx, err, c.event(ctx, audit.ActAppointmentList, ap.PatientID, id, err)); err != nil {
		return Appointment{}, err
	}
	return ap, nil
}

package store

// AppointmentRow is one version of an appointment.
type AppointmentRow struct {
	ID          string
	Version     int
	PatientID   string
	ClinicianID string
	Week        string // ISO week, e.g. 2026-W48
	Status      string
	Sealed      []byte // start and end, sealed under the directory key
	CreatedAt   int64
	CreatedBy   string
}

const apptCols = `id, version, patient_id, clinician_id, week, status, sealed, created_at, created_by`

func scanAppt(s scanner) (AppointmentRow, error) {
	var a AppointmentRow
	err := s.Scan(&a.ID, &a.Version, &a.PatientID, &a.ClinicianID, &a.Week, &a.Status, &a.Sealed, &a.CreatedAt, &a.CreatedBy)
	return a, err
}

// InsertAppointment adds an appointment version. ECONFLICT if it exists.
func (t *Tx) InsertAppointment(a AppointmentRow) error {
	return t.exec(`INSERT INTO appointments (`+apptCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		a.ID, a.Version, a.PatientID, a.ClinicianID, a.Week, a.Status, a.Sealed, a.CreatedAt, a.CreatedBy)
}

// Appointment returns the newest version of an appointment.
func (t *Tx) Appointment(id string) (AppointmentRow, error) {
	a, err := scanAppt(t.tx.QueryRow(`SELECT `+apptCols+` FROM appointments WHERE id = ? ORDER BY version DESC LIMIT 1`, id))
	return a, one(err, "appointment")
}

// AppointmentsInWeeks returns the newest version of every appointment whose
// newest version is in one of weeks.
func (t *Tx) AppointmentsInWeeks(weeks []string) ([]AppointmentRow, error) {
	var out []AppointmentRow
	for _, w := range weeks {
		rows, err := queryAll(t, scanAppt, `SELECT `+apptCols+` FROM appointments a WHERE week = ?
			AND version = (SELECT max(version) FROM appointments WHERE id = a.id)`, w)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

package clinic

import (
	"context"
	"slices"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// CareTeamRequest asks a record's holders to grant it to a clinician. An
// admin files it (they hold no key and cannot grant); a clinician on the
// care team fulfils it (their key opens the record and seals it to the
// newcomer) or declines it.
type CareTeamRequest struct {
	ID, PatientID, ClinicianID, RequestedBy string
	CreatedAt                               time.Time
}

// RequestCareTeam files a request to add a clinician to a care team.
func (c *Clinic) RequestCareTeam(ctx context.Context, patientID, clinicianID string) (CareTeamRequest, error) {
	a, err := staff(ctx)
	if err != nil {
		return CareTeamRequest{}, err
	}
	if a.Role != hush.RoleAdmin {
		return CareTeamRequest{}, hush.Errorf(hush.EFORBIDDEN, "only admins file care-team requests")
	}
	r := store.RequestRow{ID: newID(), PatientID: patientID, ClinicianID: clinicianID, RequestedBy: a.UserID, CreatedAt: c.millis()}
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.PatientByID(patientID); err != nil {
			return err
		}
		if _, err := c.userPublicKey(tx, clinicianID); err != nil {
			return err
		}
		if on, err := tx.OnCareTeam(patientID, clinicianID); err != nil || on {
			if on {
				return hush.Errorf(hush.ECONFLICT, "the clinician is already on the care team")
			}
			return err
		}
		if err := tx.InsertRequest(r); err != nil {
			return err
		}
		_, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActCareTeamRequest, patientID, clinicianID, nil))
		return err
	})
	if err != nil {
		return CareTeamRequest{}, c.logDenied(ctx, err, c.event(ctx, audit.ActCareTeamRequest, patientID, clinicianID, err))
	}
	return CareTeamRequest{ID: r.ID, PatientID: patientID, ClinicianID: clinicianID, RequestedBy: a.UserID, CreatedAt: time.UnixMilli(r.CreatedAt).UTC()}, nil
}

// CareTeamRequests lists open requests (of one patient, or all).
func (c *Clinic) CareTeamRequests(ctx context.Context, patientID string) ([]CareTeamRequest, error) {
	if _, err := staff(ctx); err != nil {
		return nil, err
	}
	var out []CareTeamRequest
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.OpenRequests(patientID)
		for _, r := range rows {
			out = append(out, CareTeamRequest{ID: r.ID, PatientID: r.PatientID, ClinicianID: r.ClinicianID, RequestedBy: r.RequestedBy, CreatedAt: time.UnixMilli(r.CreatedAt).UTC()})
		}
		return err
	})
	return out, err
}

// AnswerCareTeamRequest grants (grant true) or declines a request. Only a
// clinician on the care team may answer; granting opens the record with
// their key. The grant and the request's closing are one transaction: a
// failure leaves neither a grant without the closed request nor a closed
// request without the grant, and of two answers to the same request one
// wins while the other finds it closed.
func (c *Clinic) AnswerCareTeamRequest(ctx context.Context, id string, grant bool) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	outcome := "declined"
	if grant {
		outcome = "granted"
	}
	var req store.RequestRow
	added := false
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.OpenRequests("")
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.ID == id {
				req = r
			}
		}
		if req.ID == "" {
			return hush.Errorf(hush.ENOTFOUND, "no such open request")
		}
		if err := c.clinician(tx, a, req.PatientID); err != nil {
			return err
		}
		now := c.millis()
		if grant {
			team, err := tx.CareTeam(req.PatientID)
			if err != nil {
				return err
			}
			if !slices.Contains(team, req.ClinicianID) {
				if len(team) >= maxCareTeam {
					return errTeamFull
				}
				if err := c.addToCareTeam(ctx, tx, a, req.PatientID, []string{req.ClinicianID}, now); err != nil {
					return err
				}
				added = true
			}
		}
		return tx.CloseRequest(id, a.UserID, outcome, now)
	})
	if err != nil {
		if grant && req.PatientID != "" {
			return c.logDenied(ctx, err, c.event(ctx, audit.ActGrant, req.PatientID, req.ClinicianID, err))
		}
		return err
	}
	if added {
		c.forgetSeeds(req.PatientID)
	}
	return nil
}

package clinic

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
	"github.com/hushepr/hush/internal/tripwire"
)

const metaSettings = "settings"

// Settings are the clinic's own choices, edited by an admin on the
// settings page: working hours, the tripwires' limits and where alerts
// go. They are sealed in the database (the webhook secret and the relay
// password are secrets), and every change is an audit event.
type Settings struct {
	// Hours are the working hours per weekday, Sunday first, each
	// "HH:MM-HH:MM" or "" for closed, on the clinic's wall clock
	// (Europe/Helsinki).
	Hours [7]string `json:"hours"`

	ChartLimit         int     `json:"chart_limit"`          // distinct records one account may open ...
	ChartWindowMin     int     `json:"chart_window_min"`     // ... in this many minutes
	DirectoryLimit     int     `json:"directory_limit"`      // distinct patients listed or looked up ...
	DirectoryWindowMin int     `json:"directory_window_min"` // ... in this many minutes
	CalendarLimit      int     `json:"calendar_limit"`       // distinct patients shown in calendars in that window
	AuditLimit         int     `json:"audit_limit"`          // distinct patients named by audit log reads ...
	AuditWindowMin     int     `json:"audit_window_min"`     // ... in this many minutes (0: the defaults)
	BaselineFactor     float64 `json:"baseline_factor"`      // × the account's busiest hour of 30 days
	RateLimit          int     `json:"rate_limit"`           // requests per minute with one session or token
	TripwiresOff       bool    `json:"tripwires_off"`        // the kill switch (alerts and freezes stop)

	WebhookURL     string   `json:"webhook_url,omitempty"`
	WebhookSecret  string   `json:"webhook_secret,omitempty"` // HMAC-SHA256 key, at least 32 characters
	SMTPAddr       string   `json:"smtp_addr,omitempty"`      // the clinic's relay, host:port
	SMTPFrom       string   `json:"smtp_from,omitempty"`
	SMTPTo         []string `json:"smtp_to,omitempty"`
	SMTPUsername   string   `json:"smtp_username,omitempty"`
	SMTPPassword   string   `json:"smtp_password,omitempty"`
	SMTPRequireTLS bool     `json:"smtp_require_tls,omitempty"` // refuse a relay without STARTTLS
	Syslog         bool     `json:"syslog,omitempty"`           // also to the local syslog/journald
}

// DefaultSettings are the settings of a new clinic: the tripwires' defaults
// (tripwire.DefaultSettings) and no alert channel but the operator log.
func DefaultSettings() Settings {
	d := tripwire.DefaultSettings()
	s := Settings{
		ChartLimit: d.ChartLimit, ChartWindowMin: int(d.ChartWindow / time.Minute),
		DirectoryLimit: d.DirectoryLimit, DirectoryWindowMin: int(d.DirectoryWindow / time.Minute), CalendarLimit: d.CalendarLimit,
		AuditLimit: d.AuditLimit, AuditWindowMin: int(d.AuditWindow / time.Minute),
		BaselineFactor: d.BaselineFactor, RateLimit: int(float64(d.RateLimit) * float64(time.Minute) / float64(d.RateWindow)),
	}
	for day, span := range d.WorkHours.Days {
		s.Hours[day] = formatSpan(span)
	}
	return s
}

func formatSpan(sp tripwire.Span) string {
	if sp == (tripwire.Span{}) {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", sp.Start/60, sp.Start%60, sp.End/60, sp.End%60)
}

const spanRule = "working hours are written like 08:00-17:00 (start before end), or left empty for a closed day"

// parseSpan reads "HH:MM-HH:MM" ("" is a closed day; "24:00" ends a day).
func parseSpan(s string) (tripwire.Span, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return tripwire.Span{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	start, err1 := parseClock(from)
	end, err2 := parseClock(to)
	if !ok || err1 != nil || err2 != nil || start >= end {
		return tripwire.Span{}, hush.Errorf(hush.EINVALID, "%s", spanRule)
	}
	return tripwire.Span{Start: start, End: end}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("bad clock")
	}
	return hh*60 + mm, nil
}

// tripwire returns the detectors' settings, or EINVALID naming the field.
func (s Settings) tripwire() (tripwire.Settings, error) {
	t := tripwire.DefaultSettings()
	for day, text := range s.Hours {
		sp, err := parseSpan(text)
		if err != nil {
			return t, err
		}
		t.WorkHours.Days[day] = sp
	}
	t.ChartLimit, t.ChartWindow = s.ChartLimit, time.Duration(s.ChartWindowMin)*time.Minute
	t.DirectoryLimit, t.DirectoryWindow = s.DirectoryLimit, time.Duration(s.DirectoryWindowMin)*time.Minute
	t.CalendarLimit = s.CalendarLimit
	if s.AuditLimit != 0 { // settings stored, or a form sent, before audit reads had a limit keep its default
		t.AuditLimit = s.AuditLimit
	}
	if s.AuditWindowMin != 0 {
		t.AuditWindow = time.Duration(s.AuditWindowMin) * time.Minute
	}
	t.BaselineFactor = s.BaselineFactor
	t.RateLimit, t.RateWindow = s.RateLimit, time.Minute
	t.Disabled = s.TripwiresOff
	if err := t.Validate(); err != nil {
		return t, hush.Wrap(hush.EINVALID, "the tripwire settings are out of range: "+err.Error(), err)
	}
	return t, nil
}

// alertConfig returns the alert channels' configuration.
func (s Settings) alertConfig() alert.Config {
	cfg := alert.Config{WebhookURL: s.WebhookURL, SMTPAddr: s.SMTPAddr, SMTPFrom: s.SMTPFrom, SMTPTo: s.SMTPTo,
		SMTPUsername: s.SMTPUsername, SMTPPassword: s.SMTPPassword, SMTPRequireTLS: s.SMTPRequireTLS, Syslog: s.Syslog}
	if s.WebhookSecret != "" {
		cfg.WebhookSecret = []byte(s.WebhookSecret)
	}
	return cfg
}

// Validate checks every field; the error names the field, never a value.
func (s Settings) Validate() error {
	if _, err := s.tripwire(); err != nil {
		return err
	}
	if err := s.alertConfig().Validate(); err != nil {
		return hush.Wrap(hush.EINVALID, "the alert settings: "+hush.ErrorMessage(err), err)
	}
	return nil
}

// Redacted returns s with its secrets replaced by a mark, for display.
func (s Settings) Redacted() Settings {
	if s.WebhookSecret != "" {
		s.WebhookSecret = secretKept
	}
	if s.SMTPPassword != "" {
		s.SMTPPassword = secretKept
	}
	s.SMTPTo = append([]string(nil), s.SMTPTo...)
	return s
}

// secretKept in a submitted form means "keep the stored secret".
const secretKept = "(kept)"

func (c *Clinic) settingsAD() []byte { return seal.AD("hush settings v1", c.id) }

// loadSettings reads the stored settings (DefaultSettings if none).
func (c *Clinic) loadSettings(ctx context.Context) (Settings, error) {
	s := DefaultSettings()
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		sealed, err := tx.Meta(metaSettings)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := c.credWrap.Open(sealed, c.settingsAD())
		if err != nil {
			return hush.Wrap(hush.EINTERNAL, "the clinic settings do not open", err)
		}
		defer clear(b)
		return json.Unmarshal(b, &s)
	})
	if s.CalendarLimit == 0 { // stored before calendars had a limit of their own
		s.CalendarLimit = DefaultSettings().CalendarLimit
	}
	return s, err
}

// Settings returns the clinic's settings with secrets redacted. Admins only.
func (c *Clinic) Settings(ctx context.Context) (Settings, error) {
	if err := c.adminOnly(ctx); err != nil {
		return Settings{}, err
	}
	s, err := c.loadSettings(ctx)
	return s.Redacted(), err
}

// UpdateSettings validates and stores new settings and applies them at
// once. A secret left as the redaction mark keeps the stored one. Admins
// only (or the operator at the command line); audited.
func (c *Clinic) UpdateSettings(ctx context.Context, s Settings) error {
	if err := c.adminOnly(ctx); err != nil {
		return err
	}
	old, err := c.loadSettings(ctx)
	if err != nil {
		return err
	}
	// A kept secret goes only to the destination it was given for.
	if s.WebhookSecret == secretKept {
		if s.WebhookURL != old.WebhookURL {
			return hush.Errorf(hush.EINVALID, "enter the webhook secret again for a new webhook address")
		}
		s.WebhookSecret = old.WebhookSecret
	}
	if s.SMTPPassword == secretKept {
		if s.SMTPAddr != old.SMTPAddr || s.SMTPUsername != old.SMTPUsername {
			return hush.Errorf(hush.EINVALID, "enter the relay password again for a new relay or user name")
		}
		s.SMTPPassword = old.SMTPPassword
	}
	if err := s.Validate(); err != nil {
		return err
	}
	tw, _ := s.tripwire()
	b, _ := json.Marshal(s)
	defer clear(b)
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetMeta(metaSettings, c.credWrap.Seal(b, c.settingsAD())); err != nil {
			return err
		}
		ev := c.event(ctx, audit.ActSettingsUpdate, "", "", nil)
		_, err := c.audit.AppendTx(tx, ev)
		return err
	})
	if err != nil {
		return err
	}
	// Tell the channels that were in force: whoever turns the tripwires
	// off or sends the alerts elsewhere is announced where the clinic
	// was already listening.
	c.settingsChanged(ctx)
	return c.applySettings(s, tw)
}

// adminOnly refuses all but admins and the operator.
func (c *Clinic) adminOnly(ctx context.Context) error {
	a := hush.ActorFrom(ctx)
	if a != nil && a.Role != hush.RoleAdmin {
		return hush.Errorf(hush.EFORBIDDEN, "only an admin may do this")
	}
	return nil
}

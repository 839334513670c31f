package tripwire_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/tripwire"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*tripwire.Settings)
		want []string // substrings of the error, none for valid
	}{
		{"defaults", func(*tripwire.Settings) {}, nil},
		{"smallest", func(s *tripwire.Settings) {
			s.ChartLimit, s.DirectoryLimit, s.RateLimit, s.BaselineFloor = 1, 1, 1, 1
			s.ChartWindow, s.DirectoryWindow, s.RateWindow = time.Minute, time.Minute, time.Minute
			s.BaselineFactor, s.BaselineDays = 1, 1
		}, nil},
		{"largest", func(s *tripwire.Settings) {
			s.ChartLimit, s.DirectoryLimit, s.RateLimit, s.BaselineFloor = 100000, 100000, 100000, 100000
			s.ChartWindow, s.DirectoryWindow, s.RateWindow = 24*time.Hour, 24*time.Hour, 24*time.Hour
			s.BaselineDays = 30
		}, nil},
		{"whole days and closed days", func(s *tripwire.Settings) {
			s.WorkHours.Days = [7]tripwire.Span{time.Sunday: {Start: 0, End: 1440}}
		}, nil},
		{"disabled", func(s *tripwire.Settings) { s.Disabled = true }, nil},
		{"chart limit 0", func(s *tripwire.Settings) { s.ChartLimit = 0 }, []string{"the chart limit is 0; it must be from 1 to 100000"}},
		{"directory limit too big", func(s *tripwire.Settings) { s.DirectoryLimit = 100001 }, []string{"the directory limit is 100001"}},
		{"rate limit negative", func(s *tripwire.Settings) { s.RateLimit = -1 }, []string{"the request rate limit is -1"}},
		{"floor 0", func(s *tripwire.Settings) { s.BaselineFloor = 0 }, []string{"the baseline floor is 0"}},
		{"chart window 59s", func(s *tripwire.Settings) { s.ChartWindow = 59 * time.Second },
			[]string{"the chart window is 59s; it must be from 1m0s to 24h0m0s"}},
		{"directory window 25h", func(s *tripwire.Settings) { s.DirectoryWindow = 25 * time.Hour }, []string{"the directory window is 25h0m0s"}},
		{"rate window 0", func(s *tripwire.Settings) { s.RateWindow = 0 }, []string{"the request rate window is 0s"}},
		{"factor 0.5", func(s *tripwire.Settings) { s.BaselineFactor = 0.5 }, []string{"the baseline factor is 0.5; it must be a number of at least 1"}},
		{"factor NaN", func(s *tripwire.Settings) { s.BaselineFactor = math.NaN() }, []string{"the baseline factor is NaN"}},
		{"factor +Inf", func(s *tripwire.Settings) { s.BaselineFactor = math.Inf(1) }, []string{"the baseline factor is +Inf"}},
		{"baseline days 0", func(s *tripwire.Settings) { s.BaselineDays = 0 }, []string{"the baseline history is 0 days; it must be from 1 to 30"}},
		{"baseline days 31", func(s *tripwire.Settings) { s.BaselineDays = 31 }, []string{"the baseline history is 31 days"}},
		{"no time zone", func(s *tripwire.Settings) { s.WorkHours.Location = nil }, []string{"the working hours have no time zone"}},
		{"start after end", func(s *tripwire.Settings) { s.WorkHours.Days[time.Monday] = tripwire.Span{Start: 20 * 60, End: 7 * 60} },
			[]string{"the working hours on Monday start at 20:00 and end at 07:00; the start must come before the end"}},
		{"start equals end", func(s *tripwire.Settings) { s.WorkHours.Days[time.Tuesday] = tripwire.Span{Start: 600, End: 600} },
			[]string{"on Tuesday start at 10:00 and end at 10:00"}},
		{"past midnight", func(s *tripwire.Settings) { s.WorkHours.Days[time.Friday] = tripwire.Span{Start: 600, End: 1441} },
			[]string{"the working hours on Friday (minutes 600 to 1441) must lie within 0 to 1440"}},
		{"negative start", func(s *tripwire.Settings) { s.WorkHours.Days[time.Saturday] = tripwire.Span{Start: -1, End: 60} },
			[]string{"on Saturday (minutes -1 to 60)"}},
		{"several at once", func(s *tripwire.Settings) { s.ChartLimit, s.RateWindow = 0, 0 },
			[]string{"the chart limit is 0", "the request rate window is 0s"}},
		{"zero settings", func(s *tripwire.Settings) { *s = tripwire.Settings{} },
			[]string{"chart limit", "chart window", "directory limit", "directory window", "rate limit", "rate window",
				"floor", "factor", "history", "time zone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tripwire.DefaultSettings()
			tt.edit(&s)
			err := s.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error saying %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to say %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), "tripwire: "); n < len(tt.want) && tt.name != "zero settings" {
				t.Errorf("Validate() = %q: %d problems, want %d", err, n, len(tt.want))
			}
		})
	}
}

func TestDefaultSettings(t *testing.T) {
	s := tripwire.DefaultSettings()
	if s.ChartLimit != 30 || s.ChartWindow != 10*time.Minute || s.DirectoryLimit != 200 || s.DirectoryWindow != 10*time.Minute ||
		s.BaselineFactor != 3 || s.BaselineFloor != 15 || s.BaselineDays != 7 || s.RateLimit != 120 || s.RateWindow != time.Minute ||
		s.Disabled {
		t.Errorf("DefaultSettings() = %+v", s)
	}
	if got := s.WorkHours.Location.String(); got != "Europe/Helsinki" {
		t.Errorf("location %q, want Europe/Helsinki", got)
	}
	want := [7]tripwire.Span{
		time.Monday: {420, 1200}, time.Tuesday: {420, 1200}, time.Wednesday: {420, 1200},
		time.Thursday: {420, 1200}, time.Friday: {420, 1200}, time.Saturday: {540, 900},
	}
	if s.WorkHours.Days != want {
		t.Errorf("days %v, want %v", s.WorkHours.Days, want)
	}
}

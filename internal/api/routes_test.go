package api

import "testing"

func TestOwnsAndCleanPath(t *testing.T) {
	tests := []struct {
		path, clean string
		owns        bool
	}{
		{"/fhir/R4/Patient", "/fhir/R4/Patient", true},
		{"//fhir/R4/Patient", "/fhir/R4/Patient", true},
		{"/fhir/../fhir/R4/Patient", "/fhir/R4/Patient", true},
		{"/signin/../fhir/R4/metadata", "/fhir/R4/metadata", true},
		{"/fhir/R4/Patient/", "/fhir/R4/Patient/", true},
		{"/fhir/R4/./Patient//", "/fhir/R4/Patient/", true},
		{"/fhir", "/fhir", true},
		{"/fhir/", "/fhir/", true},
		{"/fhir/..", "/", false},
		{"/fhir/../signin", "/signin", false},
		{"/fhirx", "/fhirx", false},
		{"/static/style.css", "/static/style.css", false},
		{"", "/", false},
		{"fhir/R4", "/fhir/R4", true},
	}
	for _, tt := range tests {
		if got := cleanPath(tt.path); got != tt.clean {
			t.Errorf("cleanPath(%q) = %q, want %q", tt.path, got, tt.clean)
		}
		if got := Owns(tt.path); got != tt.owns {
			t.Errorf("Owns(%q) = %v, want %v", tt.path, got, tt.owns)
		}
	}
}

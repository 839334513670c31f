package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/hush"
)

func TestConfigValidate(t *testing.T) {
	const sentinel = "SENTINEL" // in every secret: must never be echoed
	secret := []byte(strings.Repeat(sentinel, 4))
	hook := func(url string) Config { return Config{WebhookURL: url, WebhookSecret: secret} }
	smtp := func(mod func(*Config)) Config {
		c := Config{SMTPAddr: "mail.clinic.example:587", SMTPFrom: "hush@clinic.example", SMTPTo: []string{"security@clinic.example"}}
		mod(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" means valid
	}{
		{"all off", Config{}, ""},
		{"https webhook", hook("https://alerts.clinic.example/hooks/" + sentinel), ""},
		{"http to 127.0.0.1", hook("http://127.0.0.1:9000/hook"), ""},
		{"http to ::1", hook("http://[::1]:9000/hook"), ""},
		{"http to localhost", hook("http://localhost/hook"), ""},
		{"http to a remote host", hook("http://alerts.clinic.example/" + sentinel), "must use https"},
		{"http to a private address", hook("http://10.0.0.5/hook"), "must use https"},
		{"ftp scheme", hook("ftp://alerts.clinic.example/hook"), "must use https"},
		{"relative URL", hook("/hooks/" + sentinel), "not an absolute URL"},
		{"opaque URL", hook("https:alerts.clinic.example"), "not an absolute URL"},
		{"URL with a password", hook("https://user:" + sentinel + "@alerts.clinic.example/"), "user or password"},
		{"URL with CRLF", hook("https://alerts.clinic.example/\r\nX-Evil: 1"), "CR or LF"},
		{"short secret", Config{WebhookURL: "https://alerts.clinic.example/", WebhookSecret: []byte(sentinel)}, "at least 32 bytes"},
		{"no secret", Config{WebhookURL: "https://alerts.clinic.example/"}, "at least 32 bytes"},
		{"secret without URL", Config{WebhookSecret: secret}, "WebhookURL is empty"},
		{"smtp", smtp(func(*Config) {}), ""},
		{"smtp with names", smtp(func(c *Config) {
			c.SMTPFrom = "Hush <hush@clinic.example>"
			c.SMTPTo = []string{"Vastaanotto <vastaanotto@clinic.example>", "it@clinic.example"}
		}), ""},
		{"smtp no port", smtp(func(c *Config) { c.SMTPAddr = "mail.clinic.example" }), "host:port"},
		{"smtp bad port", smtp(func(c *Config) { c.SMTPAddr = "mail.clinic.example:smtp" }), "port number"},
		{"smtp bad from", smtp(func(c *Config) { c.SMTPFrom = "not an address" }), "SMTPFrom is not an e-mail address"},
		{"smtp no from", smtp(func(c *Config) { c.SMTPFrom = "" }), "SMTPFrom is not an e-mail address"},
		{"smtp CRLF in from", smtp(func(c *Config) { c.SMTPFrom = "hush@clinic.example\r\nBcc: x@evil.example" }), "SMTPFrom must not contain CR or LF"},
		{"smtp no recipients", smtp(func(c *Config) { c.SMTPTo = nil }), "at least one address"},
		{"smtp bad recipient", smtp(func(c *Config) { c.SMTPTo = append(c.SMTPTo, "it at clinic") }), "SMTPTo[1] is not an e-mail address"},
		{"smtp LF in recipient", smtp(func(c *Config) { c.SMTPTo = []string{"a@clinic.example\nBcc: x@evil.example"} }), "SMTPTo[0] must not contain CR or LF"},
		{"smtp CRLF in username", smtp(func(c *Config) {
			c.SMTPUsername, c.SMTPRequireTLS = "hush\r\nRCPT TO:<x@evil.example>", true
		}), "must not contain CR or LF"},
		{"smtp auth without TLS", smtp(func(c *Config) { c.SMTPUsername, c.SMTPPassword = "hush", sentinel }), "needs SMTPRequireTLS"},
		{"smtp auth with TLS", smtp(func(c *Config) {
			c.SMTPUsername, c.SMTPPassword, c.SMTPRequireTLS = "hush", sentinel, true
		}), ""},
		{"smtp auth on loopback", smtp(func(c *Config) {
			c.SMTPAddr, c.SMTPUsername, c.SMTPPassword = "127.0.0.1:25", "hush", sentinel
		}), ""},
		{"smtp password without username", smtp(func(c *Config) { c.SMTPPassword, c.SMTPRequireTLS = sentinel, true }), "without SMTPUsername"},
		{"smtp settings without address", Config{SMTPTo: []string{"security@clinic.example"}}, "SMTPAddr is empty"},
		{"syslog remote", Config{Syslog: true, SyslogNetwork: "udp", SyslogAddr: "127.0.0.1:514"}, ""},
		{"syslog bad network", Config{Syslog: true, SyslogNetwork: "http", SyslogAddr: "127.0.0.1:514"}, "SyslogNetwork must be"},
		{"syslog address without network", Config{Syslog: true, SyslogAddr: "127.0.0.1:514"}, "set both"},
		{"syslog address while off", Config{SyslogNetwork: "udp", SyslogAddr: "127.0.0.1:514"}, "Syslog is off"},
		{"negative queue", Config{QueueSize: -1}, "QueueSize"},
		{"negative retry", Config{Retry: []time.Duration{0, -time.Second}}, "Retry delay"},
		{"too many retries", Config{Retry: make([]time.Duration, 11)}, "at most 10"},
		{"negative timeout", Config{Timeout: -time.Second}, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want an error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || hush.ErrorCode(err) != hush.EINVALID {
				t.Errorf("Validate = %v (code %s), want EINVALID with %q", err, hush.ErrorCode(err), tt.want)
			}
			if strings.Contains(err.Error(), sentinel) {
				t.Errorf("Validate echoes a secret: %v", err)
			}
			if _, nerr := New(tt.cfg); nerr == nil {
				t.Error("New accepted a config that Validate refuses")
			}
		})
	}
}

func TestConfigString(t *testing.T) {
	c := Config{
		WebhookURL:     "https://hooks.chat.example/services/T000/B000/SECRETPATH",
		WebhookSecret:  []byte(strings.Repeat("SECRETKEY", 4)),
		SMTPAddr:       "mail.clinic.example:587",
		SMTPFrom:       "hush@clinic.example",
		SMTPTo:         []string{"security@clinic.example"},
		SMTPUsername:   "hush",
		SMTPPassword:   "SECRETPASSWORD",
		SMTPRequireTLS: true,
		Syslog:         true,
	}
	s := c.String()
	for _, secret := range []string{"SECRETPATH", "SECRETKEY", "SECRETPASSWORD"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() = %q shows %s", s, secret)
		}
	}
	for _, want := range []string{"https://hooks.chat.example", "[redacted]", "mail.clinic.example:587", "syslog=local"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, want it to mention %q", s, want)
		}
	}
}

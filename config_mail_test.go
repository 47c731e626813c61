package main

import (
	"strings"
	"testing"

	"soulbridge/mailer"
)

const cfgSMTPPass = "smtp-Pw-7Kq2-never-shown"

func TestConfigMail(t *testing.T) {
	dir := t.TempDir()
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{"DATA_DIR": dir}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // "" = accepted; else part of the error
		sec  mailer.Security
		port int
	}{
		{"unset: nothing changes", base(nil), "", 0, 0},
		{"smtp STARTTLS 587", base(map[string]string{"SMTP_URL": "smtp://u:" + cfgSMTPPass + "@mail.example.org", "MAIL_FROM": "noreply@example.org", "PUBLIC_URL": "https://c.example.org"}), "", mailer.StartTLS, 587},
		{"smtps 465", base(map[string]string{"SMTP_URL": "smtps://u:" + cfgSMTPPass + "@mail.example.org", "MAIL_FROM": "noreply@example.org", "PUBLIC_URL": "https://c.example.org"}), "", mailer.ImplicitTLS, 465},
		{"Railway public domain", base(map[string]string{"SMTP_URL": "smtps://u:" + cfgSMTPPass + "@mail.example.org:465", "MAIL_FROM": "noreply@example.org", "RAILWAY_PUBLIC_DOMAIN": "c.up.railway.app"}), "", mailer.ImplicitTLS, 465},
		{"insecure loopback", base(map[string]string{"SMTP_URL": "smtp+insecure://127.0.0.1:2525", "MAIL_FROM": "noreply@example.org", "PUBLIC_URL": "http://127.0.0.1:8080"}), "", mailer.Insecure, 2525},
		{"insecure remote refused", base(map[string]string{"SMTP_URL": "smtp+insecure://u:" + cfgSMTPPass + "@mail.example.org:25", "MAIL_FROM": "noreply@example.org", "PUBLIC_URL": "https://c.example.org"}), "loopback", 0, 0},
		{"no public address", base(map[string]string{"SMTP_URL": "smtp://u:" + cfgSMTPPass + "@mail.example.org", "MAIL_FROM": "noreply@example.org"}), "PUBLIC_URL", 0, 0},
		{"no MAIL_FROM", base(map[string]string{"SMTP_URL": "smtp://u:" + cfgSMTPPass + "@mail.example.org", "PUBLIC_URL": "https://c.example.org"}), "MAIL_FROM", 0, 0},
		{"bad scheme", base(map[string]string{"SMTP_URL": "http://u:" + cfgSMTPPass + "@mail.example.org", "MAIL_FROM": "noreply@example.org", "PUBLIC_URL": "https://c.example.org"}), "SMTP_URL", 0, 0},
		{"MAIL_FROM without SMTP_URL", base(map[string]string{"MAIL_FROM": "noreply@example.org"}), "SMTP_URL is not", 0, 0},
		{"missing CA file", base(map[string]string{"SMTP_URL": "smtp://u:" + cfgSMTPPass + "@mail.example.org", "MAIL_FROM": "noreply@example.org", "PUBLIC_URL": "https://c.example.org", "SMTP_CA_FILE": dir + "/none.pem"}), "SMTP_CA_FILE", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(cfgEnv(tt.env))
			if err != nil && strings.Contains(err.Error(), cfgSMTPPass) {
				t.Fatalf("error shows the SMTP password: %v", err)
			}
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.env["SMTP_URL"] == "" {
				if c.Mail != nil {
					t.Fatalf("Mail = %+v without SMTP_URL", c.Mail)
				}
				return
			}
			if c.Mail == nil || c.Mail.Security != tt.sec || c.Mail.Port != tt.port {
				t.Fatalf("Mail = %+v, want security %v port %d", c.Mail, tt.sec, tt.port)
			}
			if strings.Contains(c.Mail.Redacted(), cfgSMTPPass) {
				t.Fatalf("Redacted() = %s", c.Mail.Redacted())
			}
		})
	}
}

// Package mailer sends soulbridge's few e-mails (address confirmation,
// reset links) through the operator's SMTP server (SMTP_URL) with
// wneessen/go-mail. Transport security is never negotiated down: smtp://
// requires STARTTLS, smtps:// is implicit TLS, and plain text
// (smtp+insecure://) is accepted only to a loopback host, for tests and a
// local relay. Sending happens off the request path: a server that is down
// is logged (without the password or the message) and retried a few times
// in the background; the user is never told.
package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Security is how the connection to the SMTP server is protected.
type Security int

const (
	StartTLS    Security = iota // smtp://, STARTTLS required
	ImplicitTLS                 // smtps://
	Insecure                    // smtp+insecure://, loopback hosts only
)

// Settings is a parsed SMTP_URL with MAIL_FROM and SMTP_CA_FILE.
type Settings struct {
	Host     string
	Port     int
	Username string
	Password string
	Security Security
	From     string
	CAFile   string // PEM roots to trust instead of the system's ("" = system)
}

// Redacted is the URL for logs: the password is replaced by xxxxx.
func (s Settings) Redacted() string {
	scheme := map[Security]string{StartTLS: "smtp", ImplicitTLS: "smtps", Insecure: "smtp+insecure"}[s.Security]
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port))}
	if s.Username != "" {
		u.User = url.UserPassword(s.Username, "xxxxx")
	}
	return u.String()
}

// Parse reads SMTP_URL, MAIL_FROM and SMTP_CA_FILE. Its errors never
// contain the URL's password.
func Parse(rawURL, from, caFile string) (Settings, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Settings{}, errors.New("SMTP_URL: not a URL (expected smtp://user:pass@host:587 or smtps://user:pass@host:465)")
	}
	var s Settings
	defPort := 587
	switch u.Scheme {
	case "smtp":
		s.Security = StartTLS
	case "smtps":
		s.Security, defPort = ImplicitTLS, 465
	case "smtp+insecure":
		s.Security = Insecure
	default:
		return Settings{}, errors.New("SMTP_URL: must start with smtp:// (STARTTLS, port 587), smtps:// (TLS, port 465) or, to a loopback host only, smtp+insecure://")
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return Settings{}, errors.New("SMTP_URL: no host")
	}
	s.Port = defPort
	if p := u.Port(); p != "" {
		if s.Port, err = strconv.Atoi(p); err != nil || s.Port < 1 || s.Port > 65535 {
			return Settings{}, errors.New("SMTP_URL: the port must be a number 1-65535")
		}
	}
	if s.Security == Insecure && !isLoopback(s.Host) {
		return Settings{}, fmt.Errorf("SMTP_URL: smtp+insecure:// (no TLS) is allowed only to a loopback host, not %q; use smtp:// (STARTTLS) or smtps://", s.Host)
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	if from == "" {
		return Settings{}, errors.New("MAIL_FROM: required with SMTP_URL (the sender address, e.g. soulbridge@example.org)")
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return Settings{}, fmt.Errorf("MAIL_FROM=%q: not an e-mail address", from)
	}
	s.From = a.String()
	s.CAFile = caFile
	if caFile != "" {
		if s.Security == Insecure {
			return Settings{}, errors.New("SMTP_CA_FILE: has no use with smtp+insecure://")
		}
		if _, err := loadRoots(caFile); err != nil {
			return Settings{}, fmt.Errorf("SMTP_CA_FILE: %w", err)
		}
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loadRoots(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

// Message is one plain-text e-mail.
type Message struct {
	To, Subject, Body string
	// Kind names the message in logs ("confirm-address", "reset-link"); the
	// recipient and body (which holds a token) are never logged.
	Kind string
}

// Mailer sends Messages in the background.
type Mailer struct {
	s       Settings
	log     *slog.Logger
	roots   *x509.CertPool
	timeout time.Duration
	retries []time.Duration // waits before each retry
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// Option adjusts a Mailer (tests).
type Option func(*Mailer)

// WithRetryWaits sets the waits before each retry (default 10s, 1m, 5m).
func WithRetryWaits(w ...time.Duration) Option { return func(m *Mailer) { m.retries = w } }

// WithTimeout sets one attempt's time limit (default 30s).
func WithTimeout(d time.Duration) Option { return func(m *Mailer) { m.timeout = d } }

// New makes a Mailer; Close stops its retries.
func New(s Settings, log *slog.Logger, opts ...Option) (*Mailer, error) {
	m := &Mailer{s: s, log: log, timeout: 30 * time.Second,
		retries: []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute}}
	if s.CAFile != "" {
		var err error
		if m.roots, err = loadRoots(s.CAFile); err != nil {
			return nil, fmt.Errorf("mailer: SMTP_CA_FILE: %w", err)
		}
	}
	for _, o := range opts {
		o(m)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Send queues msg and returns at once; delivery and its retries run in the
// background, failures are logged.
func (m *Mailer) Send(msg Message) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for attempt := 0; ; attempt++ {
			err := m.SendNow(m.ctx, msg)
			if err == nil {
				m.log.Info("mail sent", "kind", msg.Kind, "attempt", attempt+1)
				return
			}
			if attempt >= len(m.retries) || m.ctx.Err() != nil {
				m.log.Error("mail not sent: giving up", "kind", msg.Kind, "attempts", attempt+1, "server", m.s.Redacted(), "err", m.clean(err))
				return
			}
			m.log.Warn("mail server unavailable: will retry", "kind", msg.Kind, "attempt", attempt+1,
				"retry_in", m.retries[attempt], "server", m.s.Redacted(), "err", m.clean(err))
			select {
			case <-time.After(m.retries[attempt]):
			case <-m.ctx.Done():
				m.log.Error("mail not sent: shutting down", "kind", msg.Kind, "attempts", attempt+1)
				return
			}
		}
	}()
}

// clean keeps an error loggable: never the password.
func (m *Mailer) clean(err error) string {
	s := err.Error()
	if m.s.Password != "" {
		s = strings.ReplaceAll(s, m.s.Password, "xxxxx")
	}
	return s
}

// SendNow delivers msg in one attempt, within the Mailer's timeout.
func (m *Mailer) SendNow(ctx context.Context, msg Message) error {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	em := gomail.NewMsg(gomail.WithEncoding(gomail.NoEncoding))
	if err := em.From(m.s.From); err != nil {
		return fmt.Errorf("mailer: from: %w", err)
	}
	if err := em.To(msg.To); err != nil {
		return fmt.Errorf("mailer: recipient address refused")
	}
	em.Subject(msg.Subject)
	em.SetBodyString(gomail.TypeTextPlain, msg.Body)
	tlsCfg := &tls.Config{ServerName: m.s.Host, RootCAs: m.roots, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{gomail.WithPort(m.s.Port), gomail.WithTimeout(m.timeout), gomail.WithTLSConfig(tlsCfg)}
	switch m.s.Security {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case Insecure:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if m.s.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if m.s.Security == Insecure {
			// Discovery offers nothing without TLS; PLAIN is allowed to
			// loopback, the only place Insecure may point.
			auth = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(m.s.Username), gomail.WithPassword(m.s.Password))
	}
	c, err := gomail.NewClient(m.s.Host, opts...)
	if err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, em); err != nil {
		return fmt.Errorf("mailer: send: %w", err)
	}
	return nil
}

// Close stops pending retries (after at most wait for sends in flight).
func (m *Mailer) Close(wait time.Duration) {
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
	m.cancel()
	m.wg.Wait()
}

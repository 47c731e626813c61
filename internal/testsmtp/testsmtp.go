// Package testsmtp is a real SMTP server (emersion/go-smtp) on loopback for
// tests: it records what it receives and can offer STARTTLS, implicit TLS
// or nothing, with a certificate for 127.0.0.1 whose PEM file tests pass as
// SMTP_CA_FILE.
package testsmtp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mode is what transport security the server offers.
type Mode int

const (
	Plain    Mode = iota // no TLS at all
	StartTLS             // STARTTLS offered
	TLS                  // implicit TLS
)

// Mail is one received message.
type Mail struct {
	From string
	To   []string
	Data string
	// TLS reports whether the message came over an encrypted connection.
	TLS bool
}

// Server is a running test SMTP server.
type Server struct {
	Addr   string // 127.0.0.1:port
	Port   int
	CAFile string // PEM of the server's certificate ("" in Plain mode)
	User   string // required AUTH PLAIN user ("" = no auth)
	Pass   string

	mu    sync.Mutex
	mails []Mail
	ch    chan Mail
}

// Start runs a server until the test ends. user/pass "" = no AUTH.
func Start(t testing.TB, mode Mode, user, pass string) *Server {
	t.Helper()
	return StartOn(t, mode, user, pass, "127.0.0.1:0")
}

// StartOn is Start on a given loopback address.
func StartOn(t testing.TB, mode Mode, user, pass, addr string) *Server {
	t.Helper()
	s := &Server{User: user, Pass: pass, ch: make(chan Mail, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = mode == Plain
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	if mode != Plain {
		cfg, caFile := selfSigned(t)
		s.CAFile = caFile
		srv.TLSConfig = cfg
	}
	if mode == TLS {
		l, err = tls.Listen("tcp", addr, srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	s.Port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Mails is what was received so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait returns the next received message, failing the test after d.
func (s *Server) Wait(t testing.TB, d time.Duration) Mail {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(d):
		t.Fatalf("testsmtp: no mail within %v", d)
		return Mail{}
	}
}

type session struct {
	s      *Server
	tls    bool
	c      *smtp.Conn
	authed bool
	m      Mail
}

func (x *session) AuthMechanisms() []string {
	if x.s.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.User || password != x.s.Pass {
			return errors.New("invalid credentials")
		}
		x.authed = true
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.User != "" && !x.authed {
		return smtp.ErrAuthRequired
	}
	x.m = Mail{From: from}
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.m.To = append(x.m.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.m.Data = string(b)
	_, x.m.TLS = x.c.TLSConnectionState()
	x.s.mu.Lock()
	x.s.mails = append(x.s.mails, x.m)
	x.s.mu.Unlock()
	x.s.ch <- x.m
	return nil
}

func (x *session) Reset()        { x.m = Mail{} }
func (x *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and writes its PEM.
func selfSigned(t testing.TB) (*tls.Config, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "testsmtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(file, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}}, file
}

package email

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// The credentials of these tests; the server refuses anything else.
const (
	user       = "klaxon@example.com"
	password   = "s3cr3t-smtp-pa55w0rd"
	cramSecret = "s3cr3t-cram-md5-k3y"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and
// its PEM file (a tls_config ca_file).
type testCert struct {
	tls    tls.Certificate
	caFile string
}

func newCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "klaxon test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return testCert{tls: pair, caFile: caFile}
}

// delivered is one message the SMTP server accepted.
type delivered struct {
	From   string
	To     []string
	Data   []byte
	TLS    bool
	Authed string // the mechanism used, "" if none
}

// smtpServer is an in-process go-smtp server.
type smtpServer struct {
	addr string
	// mechs are the AUTH mechanisms offered (after TLS).
	mechs []string
	// rcptErr, when set, refuses every recipient with it.
	rcptErr error

	mu   sync.Mutex
	msgs []delivered
}

type serverOptions struct {
	startTLS bool // offer STARTTLS
	implicit bool // TLS from the first byte
	mechs    []string
	rcptErr  error
}

func startSMTP(t *testing.T, cert testCert, o serverOptions) *smtpServer {
	t.Helper()
	s := &smtpServer{mechs: o.mechs, rcptErr: o.rcptErr}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &serverSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = discardLog{}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert.tls}}
	if o.startTLS {
		srv.TLSConfig = tlsCfg
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicit {
		l = tls.NewListener(l, tlsCfg)
	}
	s.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		// Close does not know a listener Serve has not registered yet.
		_ = l.Close()
		<-done
	})
	return s
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

func (s *smtpServer) messages() []delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivered(nil), s.msgs...)
}

type serverSession struct {
	srv    *smtpServer
	conn   *smtp.Conn
	authed string
	msg    delivered
}

func (s *serverSession) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

func (s *serverSession) AuthMechanisms() []string { return s.srv.mechs }

func (s *serverSession) Auth(mech string) (sasl.Server, error) {
	check := func(u, p string) error {
		if u != user || p != password {
			return errInvalidCredentials
		}
		s.authed = mech
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, u, p string) error { return check(u, p) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramServer{check: func(u, digest string) error {
			mac := hmac.New(md5.New, []byte(cramSecret))
			mac.Write([]byte(cramChallenge))
			if u != user || digest != hex.EncodeToString(mac.Sum(nil)) {
				return errInvalidCredentials
			}
			s.authed = mech
			return nil
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *serverSession) Mail(from string, _ *smtp.MailOptions) error {
	if len(s.srv.mechs) > 0 && s.authed == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = delivered{From: from, TLS: s.isTLS(), Authed: s.authed}
	return nil
}

func (s *serverSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.rcptErr != nil {
		return s.srv.rcptErr
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *serverSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.msg)
	s.srv.mu.Unlock()
	return nil
}

func (s *serverSession) Reset()        {}
func (s *serverSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN.
type loginServer struct {
	check    func(u, p string) error
	username string
	step     int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil {
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.username, string(response))
}

// errInvalidCredentials is a real server's answer to a wrong login.
var errInvalidCredentials = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}

const cramChallenge = "<1896.697170952@klaxon.test>"

// cramServer is the server side of AUTH CRAM-MD5.
type cramServer struct {
	check func(u, digest string) error
	sent  bool
}

func (c *cramServer) Next(response []byte) ([]byte, bool, error) {
	if !c.sent {
		c.sent = true
		return []byte(cramChallenge), false, nil
	}
	u, digest, _ := strings.Cut(string(response), " ")
	return nil, true, c.check(u, digest)
}

// emailConfig parses one email_configs entry through config.Parse.
func emailConfig(t *testing.T, entry string) *config.EmailConfig {
	t.Helper()
	yml := "route: {receiver: team}\nreceivers:\n  - name: team\n    email_configs:\n      - " +
		strings.ReplaceAll(strings.TrimSpace(entry), "\n", "\n        ") + "\n"
	cfg, err := config.Parse([]byte(yml), "")
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yml, err)
	}
	return cfg.Receiver("team").EmailConfigs[0]
}

func newNotifier(t *testing.T, cfg *config.EmailConfig) (*Notifier, *bytes.Buffer) {
	t.Helper()
	tmpl, err := template.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	n, err := New(cfg, tmpl, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	n.now = func() time.Time { return t0.Add(time.Second) }
	n.hostname = "klaxon-test"
	return n, &logs
}

func diskFull(instance, summary string, endsAt time.Time) alert.Alert {
	return alert.Alert{
		Labels:      model.LabelSet{"alertname": "DiskFull", "instance": model.LabelValue(instance)},
		Annotations: model.LabelSet{"summary": model.LabelValue(summary)},
		StartsAt:    t0.Add(-time.Hour),
		EndsAt:      endsAt,
	}
}

func testNotification(alerts ...alert.Alert) *notification.Notification {
	return &notification.Notification{
		Receiver:    "team",
		GroupKey:    `{}:{alertname="DiskFull"}`,
		GroupLabels: model.LabelSet{"alertname": "DiskFull"},
		Alerts:      alerts,
		At:          t0,
		Reason:      "first notification",
		ExternalURL: "http://klaxon.example",
	}
}

// parsed is a delivered message, decoded.
type parsed struct {
	header mail.Header
	parts  map[string]string // content type → decoded body
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, data)
	}
	p := parsed{header: m.Header, parts: map[string]string{}}
	ct, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type: %v", err)
	}
	if !strings.HasPrefix(ct, "multipart/") {
		body, _ := io.ReadAll(decode(m.Header.Get("Content-Transfer-Encoding"), m.Body))
		p.parts[ct] = string(body)
		return p
	}
	if ct != "multipart/alternative" {
		t.Fatalf("content type %s", ct)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var order []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		body, _ := io.ReadAll(decode(part.Header.Get("Content-Transfer-Encoding"), part))
		p.parts[pct] = string(body)
		order = append(order, pct)
	}
	if strings.Join(order, ",") != "text/plain,text/html" {
		t.Errorf("parts %v: want text then HTML (the preferred last)", order)
	}
	return p
}

func decode(enc string, r io.Reader) io.Reader {
	if strings.EqualFold(enc, "quoted-printable") {
		return quotedprintable.NewReader(r)
	}
	return r
}

func (p parsed) decodedHeader(t *testing.T, k string) string {
	t.Helper()
	v, err := new(mime.WordDecoder).DecodeHeader(p.header.Get(k))
	if err != nil {
		t.Fatalf("header %s: %v", k, err)
	}
	return v
}

// TestSTARTTLSAndPlain: the default set-up (STARTTLS required, verified
// against ca_file, AUTH PLAIN) delivers the MIME message Alertmanager would.
func TestSTARTTLSAndPlain(t *testing.T) {
	cert := newCert(t)
	srv := startSMTP(t, cert, serverOptions{startTLS: true, mechs: []string{sasl.Plain, sasl.Login}})
	n, logs := newNotifier(t, emailConfig(t, fmt.Sprintf(`
to: 'Ops Team <ops@example.com>, oncall@example.com'
from: 'Klaxon Alerts <klaxon@example.com>'
smarthost: %q
hello: klaxon.example.com
auth_username: %q
auth_password: %q
tls_config: {ca_file: %q, server_name: localhost}
text: '{{ template "email.default.text" . }}'
headers:
  X-Group: '{{ .GroupLabels.alertname }}'
  Subject: 'Réseau: {{ .Status }} — {{ len .Alerts }}'
`, srv.addr, user, password, cert.caFile)))
	retryable, err := n.Notify(t.Context(), testNotification(
		diskFull("db-1", "Disk <full> & more", time.Time{}),
		diskFull("db-2", "Disk was full", t0.Add(-time.Minute))))
	if err != nil || retryable {
		t.Fatalf("Notify = %v, %v", retryable, err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	d := msgs[0]
	if !d.TLS || d.Authed != sasl.Plain || d.From != "klaxon@example.com" || strings.Join(d.To, ",") != "ops@example.com,oncall@example.com" {
		t.Fatalf("envelope %+v", d)
	}
	p := parse(t, d.Data)
	for k, want := range map[string]string{
		"Subject":      "Réseau: firing — 2",
		"X-Group":      "DiskFull",
		"From":         `"Klaxon Alerts" <klaxon@example.com>`,
		"To":           `"Ops Team" <ops@example.com>, oncall@example.com`,
		"Mime-Version": "1.0",
		"Date":         "Fri, 02 Jan 2026 03:00:01 +0000",
	} {
		if got := p.decodedHeader(t, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if id := p.header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@klaxon-test>") {
		t.Errorf("Message-Id %q", id)
	}
	if p.header.Get("References") != "" {
		t.Error("References without threading")
	}
	html := p.parts["text/html"]
	if !strings.Contains(html, "Disk &lt;full&gt; &amp; more") || strings.Contains(html, "Disk <full>") {
		t.Errorf("HTML part not escaped:\n%s", html)
	}
	if !strings.Contains(html, "<title>[FIRING:1] DiskFull </title>") {
		t.Errorf("HTML part:\n%s", html)
	}
	if txt := p.parts["text/plain"]; !strings.Contains(txt, "* Disk <full> & more") || !strings.Contains(txt, "1 resolved:") {
		t.Errorf("text part:\n%s", txt)
	}
	assertNoSecret(t, "logs", logs.String())
}

// TestAuthMechanisms: the first mechanism the server offers that the
// credentials allow.
func TestAuthMechanisms(t *testing.T) {
	cert := newCert(t)
	for _, tt := range []struct {
		name   string
		offer  []string
		creds  string
		want   string
		errMsg string
	}{
		{"LOGIN only", []string{sasl.Login}, fmt.Sprintf("auth_password: %q", password), sasl.Login, ""},
		{"CRAM-MD5 with a secret", []string{"CRAM-MD5", sasl.Plain}, fmt.Sprintf("auth_secret: %q\nauth_password: %q", cramSecret, password), "CRAM-MD5", ""},
		{"CRAM-MD5 offered, no secret: PLAIN", []string{"CRAM-MD5", sasl.Plain}, fmt.Sprintf("auth_password: %q", password), sasl.Plain, ""},
		{"nothing usable", []string{"CRAM-MD5"}, fmt.Sprintf("auth_password: %q", password), "", "missing secret for CRAM-MD5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, cert, serverOptions{startTLS: true, mechs: tt.offer})
			n, logs := newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q\nauth_username: %q\n%s\ntls_config: {ca_file: %q}",
				srv.addr, user, tt.creds, cert.caFile)))
			retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "full", time.Time{})))
			if tt.errMsg != "" {
				if err == nil || retryable || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("Notify = %v, %v; want a final %q", retryable, err, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.messages()[0].Authed; got != tt.want {
				t.Errorf("authenticated with %q, want %q", got, tt.want)
			}
			assertNoSecret(t, "logs", logs.String())
		})
	}
}

// TestPasswordFile: the password is read at each send.
func TestPasswordFile(t *testing.T) {
	cert := newCert(t)
	srv := startSMTP(t, cert, serverOptions{startTLS: true, mechs: []string{sasl.Plain}})
	file := filepath.Join(t.TempDir(), "pw")
	n, _ := newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q\nauth_username: %q\nauth_password_file: %q\ntls_config: {ca_file: %q}",
		srv.addr, user, file, cert.caFile)))
	if retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "full", time.Time{}))); !retryable || err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("missing file: %v %v", retryable, err)
	}
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "full", time.Time{}))); err != nil {
		t.Fatal(err)
	}
}

// TestImplicitTLS: port 465 or force_implicit_tls speaks TLS from the
// first byte.
func TestImplicitTLS(t *testing.T) {
	cert := newCert(t)
	srv := startSMTP(t, cert, serverOptions{implicit: true, mechs: []string{sasl.Plain}})
	n, _ := newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q\nforce_implicit_tls: true\nauth_username: %q\nauth_password: %q\ntls_config: {ca_file: %q}",
		srv.addr, user, password, cert.caFile)))
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "full", time.Time{}))); err != nil {
		t.Fatal(err)
	}
	if d := srv.messages()[0]; !d.TLS || d.Authed != sasl.Plain {
		t.Fatalf("delivered %+v", d)
	}
}

// TestTLSPolicy: a server without STARTTLS is refused unless require_tls
// is false; an unverifiable certificate is refused.
func TestTLSPolicy(t *testing.T) {
	cert := newCert(t)
	plain := startSMTP(t, cert, serverOptions{})
	n, _ := newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q", plain.addr)))
	retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "full", time.Time{})))
	if !errors.Is(err, ErrNoSTARTTLS) || !retryable {
		t.Fatalf("no STARTTLS: %v %v", retryable, err)
	}
	if len(plain.messages()) != 0 {
		t.Fatal("sent in clear")
	}
	n, _ = newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q\nrequire_tls: false", plain.addr)))
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "full", time.Time{}))); err != nil {
		t.Fatal(err)
	}
	if d := plain.messages(); len(d) != 1 || d[0].TLS {
		t.Fatalf("delivered %+v", d)
	}

	tlsSrv := startSMTP(t, cert, serverOptions{startTLS: true})
	n, _ = newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q", tlsSrv.addr)))
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "full", time.Time{}))); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unverified certificate accepted: %v", err)
	}
}

// TestThreading: every notification of a group refers to one root, in
// Alertmanager's form, per day unless thread_by_date is none.
func TestThreading(t *testing.T) {
	cert := newCert(t)
	srv := startSMTP(t, cert, serverOptions{startTLS: true})
	for _, by := range []string{"daily", "none"} {
		n, _ := newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q\ntls_config: {ca_file: %q}\nthreading: {enabled: true, thread_by_date: %s}",
			srv.addr, cert.caFile, by)))
		for i := range 2 {
			nt := testNotification(diskFull("db-1", "full", time.Time{}))
			nt.At = t0.Add(time.Duration(i) * time.Hour)
			if _, err := n.Notify(t.Context(), nt); err != nil {
				t.Fatal(err)
			}
		}
	}
	// sha256(`{}:{alertname="DiskFull"}`), first 16 hex digits.
	const hash = "17c4e445d234645c"
	want := []string{"<alert-" + hash + "-2026-01-02@alertmanager>", "<alert-" + hash + "-2026-01-02@alertmanager>", "<alert-" + hash + "-@alertmanager>", "<alert-" + hash + "-@alertmanager>"}
	msgs := srv.messages()
	ids := map[string]bool{}
	for i, d := range msgs {
		p := parse(t, d.Data)
		if p.header.Get("References") != want[i] || p.header.Get("In-Reply-To") != want[i] {
			t.Errorf("message %d: References %q In-Reply-To %q, want %q", i, p.header.Get("References"), p.header.Get("In-Reply-To"), want[i])
		}
		ids[p.header.Get("Message-Id")] = true
	}
	if len(ids) != len(msgs) {
		t.Errorf("Message-Ids repeat: %v", ids)
	}
}

// TestFailures: SMTP replies and how each is classified; the password
// never shows.
func TestFailures(t *testing.T) {
	cert := newCert(t)
	login := fmt.Sprintf("auth_username: %q\nauth_password: %q", user, password)
	base := func(addr string, extra string) string {
		return fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q\ntls_config: {ca_file: %q}\n%s", addr, cert.caFile, extra)
	}
	permanent := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox " + password}
	temporary := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	for _, tt := range []struct {
		name      string
		opts      serverOptions
		extra     string
		retryable bool
		reason    string
		contains  string
	}{
		{"recipient refused (5xx) is final", serverOptions{startTLS: true, mechs: []string{sasl.Plain}, rcptErr: permanent}, login, false, notification.ReasonClientError, "550"},
		{"recipient deferred (4xx) is retried", serverOptions{startTLS: true, mechs: []string{sasl.Plain}, rcptErr: temporary}, login, true, notification.ReasonServerError, "451"},
		{"wrong password is final", serverOptions{startTLS: true, mechs: []string{sasl.Plain}},
			fmt.Sprintf("auth_username: %q\nauth_password: %q", user, password+"-wrong"), false, notification.ReasonClientError, "535"},
		{"bad from address", serverOptions{startTLS: true}, "", false, notification.ReasonConfig, "from must be exactly one address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, cert, tt.opts)
			cfg := emailConfig(t, base(srv.addr, tt.extra))
			if tt.reason == notification.ReasonConfig {
				cfg.From = "a@example.com, b@example.com"
			}
			n, logs := newNotifier(t, cfg)
			retryable, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "full", time.Time{})))
			if err == nil {
				t.Fatal("no error")
			}
			if retryable != tt.retryable {
				t.Errorf("retryable = %v, want %v: %v", retryable, tt.retryable, err)
			}
			if r, _ := notification.FailureReason(err); r != tt.reason {
				t.Errorf("reason %q, want %q: %v", r, tt.reason, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q lacks %q", err, tt.contains)
			}
			assertNoSecret(t, "error", fmt.Sprintf("%v %+v", err, err))
			assertNoSecret(t, "logs", logs.String())
		})
	}
}

// TestTimeout: a server that never answers is abandoned at the context's
// deadline.
func TestTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c // never greets
		}
	}()
	n, _ := newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q", l.Addr().String())))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	retryable, err := n.Notify(ctx, testNotification(diskFull("db-1", "full", time.Time{})))
	if !retryable || err == nil {
		t.Fatalf("Notify = %v, %v", retryable, err)
	}
	if r, _ := notification.FailureReason(err); r != notification.ReasonTimeout {
		t.Errorf("reason %q: %v", r, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	select {
	case c := <-accepted:
		c.Close()
	default:
	}
}

// TestHeaderInjection: a label value with a line break cannot add a header.
func TestHeaderInjection(t *testing.T) {
	cert := newCert(t)
	srv := startSMTP(t, cert, serverOptions{startTLS: true})
	n, _ := newNotifier(t, emailConfig(t, fmt.Sprintf("to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: %q\ntls_config: {ca_file: %q}\nheaders: {Subject: '{{ .CommonAnnotations.summary }}'}",
		srv.addr, cert.caFile)))
	if _, err := n.Notify(t.Context(), testNotification(diskFull("db-1", "x\r\nBcc: evil@example.com", time.Time{}))); err != nil {
		t.Fatal(err)
	}
	p := parse(t, srv.messages()[0].Data)
	if p.header.Get("Bcc") != "" {
		t.Fatal("header injected")
	}
	if got := p.decodedHeader(t, "Subject"); got != "x\r\nBcc: evil@example.com" {
		t.Errorf("Subject %q", got)
	}
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{password, cramSecret} {
		if strings.Contains(text, s) {
			t.Errorf("%s leaks a secret: %s", what, text)
		}
	}
}

// TestExampleConfig: the README's e-mail example (configs/examples/email.yml)
// sends, its smarthost and password file pointed at the test server.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "..", "configs", "examples", "email.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cert := newCert(t)
	srv := startSMTP(t, cert, serverOptions{startTLS: true, mechs: []string{sasl.Plain}})
	e := cfg.Receiver("ops-mail").EmailConfigs[0]
	host, port, _ := net.SplitHostPort(srv.addr)
	e.Smarthost = config.HostPort{Host: host, Port: port}
	e.AuthUsername = user
	e.AuthPasswordFile = filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(e.AuthPasswordFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	e.TLSConfig.CAFile, e.TLSConfig.ServerName = cert.caFile, "localhost"
	n, err := New(e, tmpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	nt := testNotification(diskFull("db-1", "Disk full on db-1", time.Time{}))
	if _, err := n.Notify(t.Context(), nt); err != nil {
		t.Fatal(err)
	}
	d := srv.messages()[0]
	p := parse(t, d.Data)
	if got := p.decodedHeader(t, "Subject"); got != "[FIRING:1] DiskFull" {
		t.Errorf("Subject %q", got)
	}
	if strings.Join(d.To, ",") != "ops@example.org,oncall@example.org" || p.header.Get("X-Alert-Group") != "DiskFull" ||
		!strings.HasPrefix(p.header.Get("References"), "<alert-") || p.parts["text/plain"] == "" || p.parts["text/html"] == "" {
		t.Errorf("delivered %+v, headers %v", d.To, p.header)
	}
}

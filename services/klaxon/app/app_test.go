package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/natsconn"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/testfile"
	"github.com/klaxon-alerts/klaxon/pkg/tlstest"
	"github.com/klaxon-alerts/klaxon/services/klaxon/app"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

const minimalConfig = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"

// run runs Klaxon until the test ends and returns its HTTP address. o's
// addresses and store, and the one-process config, default to test values.
func run(t *testing.T, o app.Options) string {
	t.Helper()
	if o.ConfigFile == "" && o.Embedded() {
		o.ConfigFile = testfile.Write(t, "klaxon.yml", minimalConfig)
	}
	o.ListenAddress = "127.0.0.1:0"
	if o.NATSListenAddress == "" {
		o.NATSListenAddress = "127.0.0.1:-1"
	}
	o.StoragePath = t.TempDir()
	if o.Logger == nil {
		o.Logger, _ = logtest.New()
	}
	addrc, readyc := make(chan string, 1), make(chan struct{})
	o.Listening = func(addr string) { addrc <- addr }
	o.Ready = func() { close(readyc) }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// Listening comes first; ready once NATS and the stages are.
	addr := ""
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Run ended before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not listen within 30s")
	}
	select {
	case <-readyc:
		return addr
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run not ready within 30s")
	}
	return ""
}

// amtool runs the real amtool against url with an HTTP client config.
func amtool(t *testing.T, url, httpConfig string, args ...string) (string, error) {
	t.Helper()
	bin := harness.RequireE2E(t, "amtool")
	args = append([]string{"--alertmanager.url=" + url, "--http.config.file=" + httpConfig}, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// amtool talks to Klaxon over TLS with a private CA and basic auth, as to
// an Alertmanager with the same --web.config.file; without the password it
// is refused.
func TestWebConfigFileWithAmtool(t *testing.T) {
	ca := tlstest.NewCA(t)
	srv := ca.Server("klaxon")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := testfile.Write(t, "web.yml", fmt.Sprintf(`tls_server_config:
  cert_file: %s
  key_file: %s
basic_auth_users:
  alice: %s
`, srv.CertFile, srv.KeyFile, hash))
	addr := run(t, app.Options{WebConfigFile: webConfig})
	url := "https://" + addr

	good := testfile.Write(t, "amtool-http.yml", fmt.Sprintf("tls_config:\n  ca_file: %s\nbasic_auth:\n  username: alice\n  password: s3cret\n", ca.CertFile))
	out, err := amtool(t, url, good, "config", "show")
	if err != nil {
		t.Fatalf("amtool config show: %v\n%s", err, out)
	}
	if !strings.Contains(out, "receiver: \"null\"") && !strings.Contains(out, "receiver: 'null'") && !strings.Contains(out, "receiver: null") {
		t.Errorf("amtool config show did not print the config:\n%s", out)
	}
	if out, err := amtool(t, url, good, "alert", "add", "alertname=OverTLS"); err != nil {
		t.Fatalf("amtool alert add: %v\n%s", err, out)
	}

	wrong := testfile.Write(t, "amtool-wrong.yml", fmt.Sprintf("tls_config:\n  ca_file: %s\nbasic_auth:\n  username: alice\n  password: guess\n", ca.CertFile))
	if out, err := amtool(t, url, wrong, "alert", "add", "alertname=Intruder"); err == nil {
		t.Errorf("amtool with a wrong password was served:\n%s", out)
	}
	untrusting := testfile.Write(t, "amtool-noca.yml", "basic_auth:\n  username: alice\n  password: s3cret\n")
	if out, err := amtool(t, url, untrusting, "config", "show"); err == nil {
		t.Errorf("amtool not trusting the CA was served:\n%s", out)
	}
}

// A web config file that does not validate stops Klaxon at start, before
// anything listens.
func TestInvalidWebConfigFileFailsAtStart(t *testing.T) {
	err := app.Run(t.Context(), app.Options{
		ConfigFile:    testfile.Write(t, "klaxon.yml", minimalConfig),
		WebConfigFile: testfile.Write(t, "web.yml", "basic_auth_users:\n  alice: not-a-bcrypt-hash\n"),
		StoragePath:   t.TempDir(), ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:-1",
	})
	if err == nil || !strings.Contains(err.Error(), "web config") {
		t.Fatalf("Run = %v, want a web config error", err)
	}
	if strings.Contains(err.Error(), "not-a-bcrypt-hash") {
		t.Errorf("error shows the configured hash: %v", err)
	}
}

// Named stages reach an external NATS that wants TLS from a private CA, a
// client certificate and a password: the stages provision, publish the
// config and take an alert.
func TestStagesConnectWithTLSAndPassword(t *testing.T) {
	ca := tlstest.NewCA(t)
	srvCert := ca.Server("nats")
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, CaFile: ca.CertFile, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.ServerWith(t, &server.Options{
		JetStream: true, Username: "klaxon", Password: "s3cret",
		TLS: true, TLSConfig: tc, TLSVerify: true, TLSTimeout: 5,
	})
	client := ca.Client("klaxon")
	logger, logs := logtest.New()
	addr := run(t, app.Options{
		Stages: []string{"ingest", "dedup"}, NATSURL: srv.ClientURL(), Logger: logger,
		ConfigFile: testfile.Write(t, "klaxon.yml", minimalConfig),
		NATS: natsconn.Credentials{
			User: "klaxon", PasswordFile: testfile.Write(t, "password", "s3cret\n"),
			TLSCAFile: ca.CertFile, TLSCertFile: client.CertFile, TLSKeyFile: client.KeyFile,
		},
	})
	postAlert(t, addr, "OverNATSTLS")
	if strings.Contains(logs.String(), "s3cret") {
		t.Error("the NATS password is in the logs")
	}
	for _, path := range []string{"/api/v2/status", "/metrics"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "s3cret") {
			t.Errorf("GET %s = %d, or shows the NATS password", path, resp.StatusCode)
		}
	}
}

// postAlert posts one firing alert to Klaxon's API and wants 200.
func postAlert(t *testing.T, addr, name string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/api/v2/alerts", "application/json", strings.NewReader(`[{"labels":{"alertname":"`+name+`"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts = %d", resp.StatusCode)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The one-process Klaxon: a NATS client without credentials publishes an
// alert with a JetStream acknowledgement and the pipeline takes it, but it
// cannot read the config bucket; the administrator given by --nats.user can.
func TestOneProcessAnonymousPublishOnly(t *testing.T) {
	natsAddr := freeAddr(t)
	addr := run(t, app.Options{NATSListenAddress: natsAddr, NATS: natsconn.Credentials{User: "admin", Password: "adm1n"}})
	ctx := t.Context()

	_, js := natstest.Connect(t, "nats://"+natsAddr)
	if _, err := js.Publish(ctx, contract.SubjectAlertsIn, []byte(`{"labels":{"alertname":"Anonymous"}}`)); err != nil {
		t.Fatalf("anonymous publish: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/api/v2/alerts")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `"Anonymous"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the alert published anonymously is not in the API: %s", body)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := js.KeyValue(short, contract.BucketConfig); err == nil {
		t.Error("anonymous client opened the config bucket")
	}

	_, adminJS := natstest.Connect(t, "nats://"+natsAddr, nats.UserInfo("admin", "adm1n"))
	if _, err := adminJS.KeyValue(ctx, contract.BucketConfig); err != nil {
		t.Errorf("admin cannot open the config bucket: %v", err)
	}
}

// In the one-process mode the only NATS credentials are an administrator's
// user and password; the others are refused rather than ignored, and so is
// a follower.
func TestOneProcessRefusesOtherNATSCredentials(t *testing.T) {
	for name, o := range map[string]app.Options{
		"token":    {NATS: natsconn.Credentials{Token: "t0ken"}},
		"creds":    {NATS: natsconn.Credentials{CredsFile: testfile.Write(t, "x.creds", "x")}},
		"follower": {ConfigFollow: true},
	} {
		t.Run(name, func(t *testing.T) {
			o.ConfigFile = testfile.Write(t, "klaxon.yml", minimalConfig)
			o.StoragePath, o.ListenAddress, o.NATSListenAddress = t.TempDir(), "127.0.0.1:0", "127.0.0.1:-1"
			if err := app.Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "one-process mode") {
				t.Fatalf("Run = %v, want a one-process mode error", err)
			}
		})
	}
}

// While its NATS is not there, a process is alive and says so: /-/healthy
// answers 200 at once, /-/ready 503 naming the NATS it waits for, and the
// log names it within a couple of seconds; stopped, it ends cleanly.
func TestHealthyWhileNATSIsUnreachable(t *testing.T) {
	dead := "nats://" + freeAddr(t)
	logger, logs := logtest.New()
	addrc := make(chan string, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{Stages: []string{contract.StageRouter}, NATSURL: dead,
			ConfigFile: testfile.Write(t, "klaxon.yml", minimalConfig), ListenAddress: "127.0.0.1:0",
			Logger: logger, Listening: func(a string) { addrc <- a }})
	}()
	addr := <-addrc
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy = %d while NATS is unreachable, want 200", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), dead) {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not name %s:\n%s", dead, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if code, body := get("/-/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, dead) {
		t.Errorf("/-/ready = %d %q, want 503 naming %s", code, body, dead)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run stopped = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// The matcher mode reaches the config: a group_by label name that only
// the UTF-8 rules allow starts Klaxon by default and stops it, with the
// name, in classic-mode.
func TestClassicModeRefusesUTF8LabelNames(t *testing.T) {
	cfg := testfile.Write(t, "klaxon.yml", "route:\n  receiver: r\n  group_by: [service.name]\nreceivers:\n  - name: r\n")
	run(t, app.Options{ConfigFile: cfg})
	logger, _ := logtest.New()
	err := app.Run(t.Context(), app.Options{ConfigFile: cfg, Matchers: matcher.Classic, ListenAddress: "127.0.0.1:0",
		NATSListenAddress: "127.0.0.1:-1", StoragePath: t.TempDir(), Logger: logger})
	if err == nil || !strings.Contains(err.Error(), `"service.name"`) {
		t.Fatalf("classic-mode with group_by [service.name]: %v", err)
	}
}

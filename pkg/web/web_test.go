package web_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/klaxon-alerts/klaxon/pkg/testfile"
	"github.com/klaxon-alerts/klaxon/pkg/tlstest"
	"github.com/klaxon-alerts/klaxon/pkg/web"
)

// serve runs Serve with the operational mux and configFile on a free port
// until the test ends, and returns the address.
func serve(t *testing.T, configFile string, pprof bool) string {
	t.Helper()
	if err := web.ValidateConfig(configFile); err != nil {
		t.Fatal(err)
	}
	mux := web.NewMux(prometheus.NewRegistry(), func() error { return nil })
	if pprof {
		web.HandlePprof(mux)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- web.Serve(ctx, ln, mux, configFile, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func client(tlsCfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
}

func get(t *testing.T, c *http.Client, url string, setup func(*http.Request)) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(req)
	}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func wantStatus(t *testing.T, what string, resp *http.Response, err error, want int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, want)
	}
}

func TestPlainHTTPWithoutConfigFile(t *testing.T) {
	addr := serve(t, "", false)
	resp, err := get(t, client(nil), "http://"+addr+"/-/healthy", nil)
	wantStatus(t, "GET /-/healthy", resp, err, http.StatusOK)
}

func TestTLSWithPrivateCA(t *testing.T) {
	ca := tlstest.NewCA(t)
	srv := ca.Server("klaxon")
	addr := serve(t, testfile.Write(t, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", srv.CertFile, srv.KeyFile)), false)

	resp, err := get(t, client(&tls.Config{RootCAs: ca.Pool}), "https://"+addr+"/-/healthy", nil)
	wantStatus(t, "trusting the CA", resp, err, http.StatusOK)
	if resp.TLS == nil {
		t.Fatal("answer was not over TLS")
	}

	if _, err := get(t, client(&tls.Config{}), "https://"+addr+"/-/healthy", nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("client not trusting the CA: err = %v, want a certificate error", err)
	}
	resp, err = get(t, client(nil), "http://"+addr+"/-/healthy", nil)
	if err == nil && resp.StatusCode == http.StatusOK {
		t.Error("plain HTTP on the TLS listener answered 200")
	}
}

func TestMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	srv := ca.Server("klaxon")
	addr := serve(t, testfile.Write(t, "web.yml", fmt.Sprintf(`tls_server_config:
  cert_file: %s
  key_file: %s
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: %s
`, srv.CertFile, srv.KeyFile, ca.CertFile)), false)
	url := "https://" + addr + "/-/healthy"

	cli := ca.Client("amtool")
	cert, err := tls.LoadX509KeyPair(cli.CertFile, cli.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := get(t, client(&tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{cert}}), url, nil)
	wantStatus(t, "client certificate of the CA", resp, err, http.StatusOK)

	if _, err := get(t, client(&tls.Config{RootCAs: ca.Pool}), url, nil); err == nil {
		t.Error("client without a certificate was served")
	}
	other := tlstest.NewCA(t).Client("intruder")
	otherCert, err := tls.LoadX509KeyPair(other.CertFile, other.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, client(&tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{otherCert}}), url, nil); err == nil {
		t.Error("client certificate of another CA was served")
	}
}

func TestBasicAuthAndHeaders(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, testfile.Write(t, "web.yml", fmt.Sprintf(`basic_auth_users:
  alice: %s
http_server_config:
  headers:
    X-Frame-Options: deny
`, hash)), false)
	url := "http://" + addr + "/metrics"
	c := client(nil)

	resp, err := get(t, c, url, func(r *http.Request) { r.SetBasicAuth("alice", "s3cret") })
	wantStatus(t, "right password", resp, err, http.StatusOK)
	if got := resp.Header.Get("X-Frame-Options"); got != "deny" {
		t.Errorf("X-Frame-Options = %q, want deny", got)
	}
	resp, err = get(t, c, url, func(r *http.Request) { r.SetBasicAuth("alice", "wrong") })
	wantStatus(t, "wrong password", resp, err, http.StatusUnauthorized)
	resp, err = get(t, c, url, func(r *http.Request) { r.SetBasicAuth("mallory", "s3cret") })
	wantStatus(t, "unknown user", resp, err, http.StatusUnauthorized)
	resp, err = get(t, c, url, nil)
	wantStatus(t, "no credentials", resp, err, http.StatusUnauthorized)
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	off := serve(t, "", false)
	resp, err := get(t, client(nil), "http://"+off+"/debug/pprof/", nil)
	wantStatus(t, "pprof by default", resp, err, http.StatusNotFound)
	resp, err = get(t, client(nil), "http://"+off+"/debug/pprof/cmdline", nil)
	wantStatus(t, "pprof cmdline by default", resp, err, http.StatusNotFound)

	on := serve(t, "", true)
	resp, err = get(t, client(nil), "http://"+on+"/debug/pprof/", nil)
	wantStatus(t, "pprof enabled", resp, err, http.StatusOK)
}

func TestValidateConfigRefusesBadFiles(t *testing.T) {
	for name, yaml := range map[string]string{
		"plain-text password": "basic_auth_users:\n  alice: s3cret\n",
		"missing certificate": "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
		"unknown field":       "tls_config: {}\n",
		"forbidden header":    "http_server_config:\n  headers:\n    Server: klaxon\n",
	} {
		t.Run(name, func(t *testing.T) {
			if err := web.ValidateConfig(testfile.Write(t, "web.yml", yaml)); err == nil {
				t.Error("ValidateConfig accepted it")
			}
		})
	}
	if err := web.ValidateConfig(filepath.Join(t.TempDir(), "absent.yml")); err == nil {
		t.Error("ValidateConfig accepted a missing file")
	}
}

// Package harness is test support for the suites that run Klaxon as its users
// do (test/e2e, test/conformance): the klaxon and nats-server binaries built
// once, child processes whose output reaches the test log on failure, the
// one-process Klaxon and the microservices shape (a nats-server process and
// one klaxon process per stage replica), and polling with deadlines.
package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
)

// Binaries are the programs a suite runs, built once by Build.
type Binaries struct {
	Klaxon, NATSServer string
}

// Build builds the klaxon and nats-server binaries into dir.
func Build(dir string) (Binaries, error) {
	b := Binaries{Klaxon: filepath.Join(dir, "klaxon"), NATSServer: filepath.Join(dir, "nats-server")}
	for pkg, out := range map[string]string{
		"github.com/klaxon-alerts/klaxon/services/klaxon": b.Klaxon,
		"github.com/nats-io/nats-server/v2":               b.NATSServer,
	} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	return b, nil
}

// Main builds the binaries into a temporary folder, sets *bin, runs the
// package's tests and exits with their code: a suite's TestMain.
func Main(m *testing.M, bin *Binaries) {
	dir, err := os.MkdirTemp("", "klaxon-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// RequireE2E returns the path of an external binary. With KLAXON_E2E=1 (as
// in CI) a missing binary fails the test; otherwise the test is skipped.
func RequireE2E(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KLAXON_E2E") == "1" {
			t.Fatalf("KLAXON_E2E=1 but %s is not installed: %v", name, err)
		}
		t.Skipf("%s not installed (set KLAXON_E2E=1 to require it)", name)
	}
	return path
}

// RequireFile is RequireE2E for a file an installed package brings (such as
// Debian's copy of Alertmanager's default.tmpl).
func RequireFile(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("KLAXON_E2E") == "1" {
			t.Fatalf("KLAXON_E2E=1 but %s is missing: %v", path, err)
		}
		t.Skipf("%s not installed (set KLAXON_E2E=1 to require it)", path)
	}
	return path
}

// FreeAddr returns a loopback address with a port that was free just now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not a wait for work
	}
}

// Proc is a child process whose output goes to the test log on failure.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Out  *logtest.Buffer
	done chan struct{}
}

// Start runs a process in dir ("" for the current one) until the test ends
// (or until Kill/Stop).
func Start(t testing.TB, dir, name, path string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, Cmd: exec.Command(path, args...), Out: &logtest.Buffer{}, done: make(chan struct{})}
	p.Cmd.Dir = dir
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	dieWithParent(p.Cmd)
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, Tail(p.Out.String(), 60))
		}
	})
	return p
}

// Stop ends the process gracefully (SIGTERM), or kills it if it has not
// ended 15 s later; false when it had to be killed.
func (p *Proc) Stop() (graceful bool) {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(15 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return false
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// listening matches the line a Klaxon process logs once its HTTP listener
// is bound (exporter-toolkit's).
var listening = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// StartKlaxon starts a klaxon process with args and its HTTP listener on a
// port the kernel picks (127.0.0.1:0), and returns it with the address it
// logged once ready. A free port chosen beforehand can be taken by another
// process before Klaxon binds it — and another Klaxon would then answer the
// readiness probe for a process that died — so the address comes from the
// process itself. args is called for each attempt (its own ports, such as
// the embedded NATS server's, may collide too and be chosen anew).
func StartKlaxon(t testing.TB, b Binaries, name string, args func() []string) (*Proc, string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p := Start(t, "", name, b.Klaxon, append(args(), "--web.listen-address", "127.0.0.1:0")...)
		var web string
		Eventually(t, 30*time.Second, name+" listening", func() bool {
			if m := listening.FindStringSubmatch(p.Out.String()); m != nil {
				web = m[1]
			}
			return web != "" || p.Exited()
		})
		if web != "" {
			// A port picked free can be taken before the process binds it
			// (the NATS address of KlaxonOne): then it exits, and a new
			// attempt picks again.
			Eventually(t, 30*time.Second, name+" ready", func() bool { return p.Exited() || ready(web) })
			if !p.Exited() {
				return p, web
			}
		}
		if attempt == 3 {
			t.Fatalf("%s exited before it was ready, %d times:\n%s", name, attempt, Tail(p.Out.String(), 20))
		}
		t.Logf("%s exited before it was ready; starting it again:\n%s", name, Tail(p.Out.String(), 5))
	}
}

// Kill ends the process at once (SIGKILL) and waits for it.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Tail is the last lines of s.
func Tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// WaitReady polls a Klaxon (or Alertmanager) process's /-/ready.
func WaitReady(t testing.TB, addr string) {
	t.Helper()
	Eventually(t, 30*time.Second, addr+" ready", func() bool { return ready(addr) })
}

// ready reports whether addr's /-/ready answers 200.
func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/-/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// GetJSON decodes the JSON answer of a GET that must succeed.
func GetJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

// KlaxonOne starts the one-process Klaxon on storage; it returns the process
// and its HTTP and NATS addresses. Without credentials the embedded NATS
// only takes alerts, so the NATS address carries an administrator's
// (e2e:e2e@host:port), with which tests read streams and consumers.
func KlaxonOne(t testing.TB, b Binaries, configFile, storage string) (p *Proc, web, natsAddr string) {
	t.Helper()
	p, web = StartKlaxon(t, b, "klaxon", func() []string {
		natsAddr = FreeAddr(t)
		return []string{"--config.file", configFile, "--storage.path", storage, "--nats.listen-address", natsAddr,
			"--log.level", "debug", "--nats.user", "e2e", "--nats.password", "e2e"}
	})
	return p, web, "e2e:e2e@" + natsAddr
}

// Cluster is Klaxon as docker compose runs it: a nats-server process and
// one klaxon process per stage replica.
type Cluster struct {
	t        testing.TB
	bin      Binaries
	NATSURL  string
	natsProc *Proc
	natsDir  string
	Config   string // the config file every process reads
	// Ingest is the web address of ingest replica 0.
	Ingest string
	// Webs are the web addresses by process name ("dedup-0").
	Webs   map[string]string
	Stages map[string][]*Proc
}

// NewCluster starts NATS and every stage (replicas[stage] of each, at least one).
func NewCluster(t testing.TB, b Binaries, configFile string, replicas map[string]int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: b, natsDir: t.TempDir(), Config: configFile,
		Stages: map[string][]*Proc{}, Webs: map[string]string{}}
	c.startNATS()
	for _, stage := range contract.Stages {
		for i := range max(replicas[stage], 1) {
			c.StartStage(stage, i)
		}
	}
	return c
}

// natsListening matches the line nats-server logs once it takes clients.
var natsListening = regexp.MustCompile(`Listening for client connections on (\S+)`)

// startNATS starts the server: the first time on a port the kernel picks
// (read from its log, so no other test's server can be mistaken for it),
// after a restart on the same port, where the stages reconnect.
func (c *Cluster) startNATS() {
	c.t.Helper()
	port := "-1"
	if c.NATSURL != "" {
		port = portOf(c.NATSURL)
	}
	p := Start(c.t, "", "nats-server", c.bin.NATSServer, "-js", "-sd", c.natsDir, "-a", "127.0.0.1", "-p", port)
	c.natsProc = p
	Eventually(c.t, 20*time.Second, "nats-server up", func() bool {
		m := natsListening.FindStringSubmatch(p.Out.String())
		if m == nil || p.Exited() {
			return p.Exited()
		}
		nc, err := nats.Connect("nats://" + m[1])
		if err == nil {
			nc.Close()
			c.NATSURL = "nats://" + m[1]
		}
		return err == nil
	})
	if p.Exited() {
		c.t.Fatalf("nats-server exited:\n%s", Tail(p.Out.String(), 20))
	}
}

// RestartNATS kills the NATS server and starts it again on its store.
func (c *Cluster) RestartNATS() {
	c.t.Helper()
	c.natsProc.Kill()
	c.startNATS()
}

func portOf(addr string) string {
	return addr[strings.LastIndexByte(addr, ':')+1:]
}

// StartStage starts replica i of a stage (again, after a kill).
func (c *Cluster) StartStage(stage string, i int) {
	c.t.Helper()
	p, web := StartKlaxon(c.t, c.bin, fmt.Sprintf("%s-%d", stage, i), func() []string {
		return []string{stage, "--nats.url", c.NATSURL, "--config.file", c.Config, "--log.level", "debug"}
	})
	c.Webs[fmt.Sprintf("%s-%d", stage, i)] = web
	if stage == contract.StageIngest && i == 0 {
		c.Ingest = web
	}
	if i < len(c.Stages[stage]) {
		c.Stages[stage][i] = p
	} else {
		c.Stages[stage] = append(c.Stages[stage], p)
	}
}

// Restart kills replica 0 of a stage (SIGKILL) and starts it again.
func (c *Cluster) Restart(stage string) {
	c.t.Helper()
	c.Stages[stage][0].Kill()
	c.StartStage(stage, 0)
}

// Quiet waits until every stage's consumer has nothing pending or in flight.
func (c *Cluster) Quiet(timeout time.Duration) {
	c.t.Helper()
	WaitQuiet(c.t, c.NATSURL, timeout)
}

// WaitQuiet waits until every stage's consumer on the NATS at url has
// nothing pending or in flight.
func WaitQuiet(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	Eventually(t, timeout, "all consumers drained", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// The input is a work queue: dedup's partitions are drained when
		// it holds nothing. The other stages' consumers (the grouper's one
		// per partition) have nothing pending or in flight.
		input, err := js.Stream(ctx, contract.StreamInput)
		if err != nil || input.CachedInfo().State.Msgs > 0 {
			return false
		}
		for _, name := range []string{contract.StreamAlerts, contract.StreamRouted, contract.StreamNotify} {
			stream, err := js.Stream(ctx, name)
			if err != nil {
				return false
			}
			consumers := stream.ListConsumers(ctx)
			for info := range consumers.Info() {
				if info.NumPending > 0 || info.NumAckPending > 0 {
					return false
				}
			}
			if consumers.Err() != nil {
				return false
			}
		}
		return true
	})
}

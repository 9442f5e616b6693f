package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/pkg/natsconn"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/testfile"
	"github.com/klaxon-alerts/klaxon/services/klaxon/app"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// natsConf is the least-privilege server configuration the compose
// deployment runs.
const natsConf = "../../../deployments/nats/klaxon.conf"

// serverLog keeps what nats-server logs, for its permission violations.
type serverLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *serverLog) add(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}
func (l *serverLog) Noticef(f string, v ...any) { l.add(f, v...) }
func (l *serverLog) Warnf(f string, v ...any)   { l.add(f, v...) }
func (l *serverLog) Fatalf(f string, v ...any)  { l.add(f, v...) }
func (l *serverLog) Errorf(f string, v ...any)  { l.add(f, v...) }
func (l *serverLog) Debugf(string, ...any)      {}
func (l *serverLog) Tracef(string, ...any)      {}

func (l *serverLog) violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, "Violation") {
			out = append(out, line)
		}
	}
	return out
}

// leastPrivilegeOptions reads deployments/nats/klaxon.conf with a password
// per user.
func leastPrivilegeOptions(t *testing.T) *server.Options {
	t.Helper()
	for _, user := range append([]string{"operator"}, contract.Stages...) {
		t.Setenv("KLAXON_NATS_"+strings.ToUpper(user)+"_PASSWORD", password(user))
	}
	opts, err := server.ProcessConfigFile(natsConf)
	if err != nil {
		t.Fatalf("%s: %v", natsConf, err)
	}
	opts.HTTPPort = 0
	return opts
}

// startServer starts nats-server with opts and keeps its log.
func startServer(t *testing.T, opts *server.Options) (*server.Server, *serverLog) {
	t.Helper()
	opts.StoreDir = t.TempDir()
	srv := natstest.ServerWith(t, opts)
	log := &serverLog{}
	srv.SetLoggerV2(log, false, false, false)
	return srv, log
}

// leastPrivilegeServer starts nats-server with deployments/nats/klaxon.conf.
func leastPrivilegeServer(t *testing.T) (*server.Server, *serverLog) {
	t.Helper()
	return startServer(t, leastPrivilegeOptions(t))
}

func password(user string) string { return user + "-pw" }

// credentials of a stage's user, as the compose file gives them.
func credentials(user string) natsconn.Credentials {
	return natsconn.Credentials{User: user, Password: password(user), InboxPrefix: "_INBOX." + user}
}

// Each stage runs as its own NATS user with exactly the permissions of
// deployments/nats/klaxon.conf: an alert posted to ingest reaches the
// webhook, and the server saw no permission violation. Only ingest, the
// process with the config file, may write klaxon-config.
func TestStagesWithLeastPrivilege(t *testing.T) {
	srv, serverLog := leastPrivilegeServer(t)
	hooks := make(chan string, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hooks <- string(body)
	}))
	t.Cleanup(hook.Close)
	cfg := testfile.Write(t, "klaxon.yml", fmt.Sprintf(`route:
  receiver: hook
  group_wait: 100ms
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{url: %q}]
`, hook.URL))

	logger, logs := logtest.New()
	var ingestAddr string
	for _, stage := range contract.Stages {
		o := app.Options{Stages: []string{stage}, NATSURL: srv.ClientURL(), NATS: credentials(stage), Logger: logger}
		// ingest publishes the config; the others follow it, their copy
		// of the file supplying the secrets.
		o.ConfigFile, o.ConfigFollow = cfg, stage != contract.StageIngest
		addr := run(t, o)
		if stage == contract.StageIngest {
			ingestAddr = addr
		}
	}
	// ingest writes silences (the grouper reads them at flush).
	silence := `{"matchers":[{"name":"alertname","value":"Silenced","isRegex":false}],"startsAt":"` +
		time.Now().UTC().Format(time.RFC3339) + `","endsAt":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) +
		`","createdBy":"test","comment":"least privilege"}`
	resp, err := http.Post("http://"+ingestAddr+"/api/v2/silences", "application/json", strings.NewReader(silence))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/silences = %d", resp.StatusCode)
	}
	postAlert(t, ingestAddr, "LeastPrivilege")
	select {
	case body := <-hooks:
		if !strings.Contains(body, "LeastPrivilege") {
			t.Errorf("webhook body: %s", body)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no notification within 30s; server violations: %v\nklaxon logs:\n%s", serverLog.violations(), logs)
	}
	// Every stage heartbeats in the peers bucket, and ingest lists it.
	var st struct {
		Cluster struct {
			Status string            `json:"status"`
			Peers  []json.RawMessage `json:"peers"`
		} `json:"cluster"`
	}
	harness.GetJSON(t, "http://"+ingestAddr+"/api/v2/status", &st)
	if st.Cluster.Status != "ready" || len(st.Cluster.Peers) != len(contract.Stages) {
		t.Errorf("cluster = %s with %d peers, want ready with one peer per stage", st.Cluster.Status, len(st.Cluster.Peers))
	}
	// The web UI's history and dead-letter endpoints, which ingest serves,
	// read the history streams with ingest's permissions.
	fp := model.LabelSet{"alertname": "LeastPrivilege"}.Fingerprint().String()
	type event struct {
		Kind    string `json:"kind"`
		Outcome string `json:"outcome"`
	}
	var hist struct {
		Events []event `json:"events"`
	}
	harness.Eventually(t, 10*time.Second, "the alert's history lists its notification as notified", func() bool {
		harness.GetJSON(t, "http://"+ingestAddr+"/api/klaxon/v1/history?fingerprint="+fp, &hist)
		return slices.ContainsFunc(hist.Events, func(e event) bool { return e.Kind == "notification" && e.Outcome == "notified" })
	})
	var dead json.RawMessage
	harness.GetJSON(t, "http://"+ingestAddr+"/api/klaxon/v1/deadletters", &dead)
	// A flush too large for one message (pkg/largeflush; the same group,
	// after the history of its first flush was read): the grouper
	// stores its alerts as an object, the notifier reads and removes it.
	const large = 5000
	for start := 0; start < large; start += 1000 {
		var batch strings.Builder
		batch.WriteByte('[')
		for i := start; i < start+1000; i++ {
			if i > start {
				batch.WriteByte(',')
			}
			fmt.Fprintf(&batch, `{"labels":{"alertname":"Large","instance":"node-%d:9100"},"annotations":{"summary":%q}}`, i, strings.Repeat("x", 100))
		}
		batch.WriteByte(']')
		resp, err := http.Post("http://"+ingestAddr+"/api/v2/alerts", "application/json", strings.NewReader(batch.String()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/v2/alerts = %d", resp.StatusCode)
		}
	}
	deadline := time.After(60 * time.Second)
	for whole := false; !whole; {
		select {
		case body := <-hooks:
			var msg struct {
				Alerts []json.RawMessage `json:"alerts"`
			}
			_ = json.Unmarshal([]byte(body), &msg)
			whole = len(msg.Alerts) == large+1
		case <-deadline:
			t.Fatalf("no notification of the %d alerts within 60s; server violations: %v\nklaxon logs:\n%s", large+1, serverLog.violations(), logs)
		}
	}
	if v := serverLog.violations(); len(v) > 0 {
		t.Errorf("permission violations:\n%s", strings.Join(v, "\n"))
	}

	// No stage but ingest may write the config.
	for _, stage := range contract.Stages[1:] {
		c := credentials(stage)
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(c.User, c.Password), nats.CustomInboxPrefix(c.InboxPrefix),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // the violation is expected
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		kv, err := js.KeyValue(ctx, contract.BucketConfig)
		if err == nil {
			_, err = kv.Put(ctx, "running", []byte(`{"yaml":"route: {receiver: attacker}"}`))
		}
		cancel()
		nc.Close()
		if err == nil {
			t.Errorf("%s wrote klaxon-config", stage)
		}
	}
}

// Each stage fails, with an error, when it runs with another stage's
// permissions: every set holds something only its stage has.
func TestStageFailsWithAnotherStagesPermissions(t *testing.T) {
	srv, serverLog := leastPrivilegeServer(t)
	cfg := testfile.Write(t, "klaxon.yml", minimalConfig)
	run(t, app.Options{Stages: []string{contract.StageIngest}, NATSURL: srv.ClientURL(),
		NATS: credentials(contract.StageIngest), ConfigFile: cfg})
	followers := contract.Stages[1:]
	for i, stage := range followers {
		wrong := followers[(i+1)%len(followers)]
		t.Run(stage+" as "+wrong, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			logger, _ := logtest.New()
			err := app.Run(ctx, app.Options{Stages: []string{stage}, NATSURL: srv.ClientURL(), NATS: credentials(wrong),
				ConfigFile: cfg, ConfigFollow: true, ListenAddress: "127.0.0.1:0", Logger: logger})
			if err == nil {
				t.Fatalf("%s ran with the permissions of %s", stage, wrong)
			}
			t.Logf("%s as %s: %v", stage, wrong, err)
		})
	}
	t.Cleanup(func() { // after the parallel subtests
		if len(serverLog.violations()) == 0 {
			t.Error("the server saw no permission violation")
		}
	})
}

// The compose deployment runs NATS with deployments/nats/klaxon.conf and
// no port on the host, and each stage as its own user with its own reply
// inbox; only ingest publishes the config.
func TestComposeRunsEachStageAsItsUser(t *testing.T) {
	data, err := os.ReadFile("../../../deployments/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	natsSvc := compose.Services["nats"]
	if len(natsSvc.Ports) != 0 {
		t.Errorf("nats publishes %v to the host", natsSvc.Ports)
	}
	if !slices.ContainsFunc(natsSvc.Command, func(a string) bool { return strings.Contains(a, "/etc/nats/klaxon.conf") }) || !slices.Contains(natsSvc.Volumes, "./nats:/etc/nats:ro") {
		t.Errorf("nats does not run deployments/nats/klaxon.conf: %v %v", natsSvc.Command, natsSvc.Volumes)
	}
	for _, stage := range contract.Stages {
		cmd := compose.Services[stage].Command
		for _, want := range []string{"--nats.user=" + stage, "--nats.inbox-prefix=_INBOX." + stage} {
			if !slices.Contains(cmd, want) {
				t.Errorf("%s: command %v lacks %s", stage, cmd, want)
			}
		}
		if follows := slices.Contains(cmd, "--config.follow"); follows != (stage != contract.StageIngest) {
			t.Errorf("%s: --config.follow = %v; only ingest may publish the config", stage, follows)
		}
	}
}

// Each stage fails, with an error, without one of its permissions: here the
// one each needs first (its config write, consumer or bucket).
func TestStageFailsWithoutOneOfItsPermissions(t *testing.T) {
	for _, tc := range []struct{ stage, drop string }{
		{contract.StageIngest, "$KV.klaxon-config.>"},
		{contract.StageDedup, "$JS.API.CONSUMER.CREATE.KLAXON_INPUT.>"},
		{contract.StageDedup, "$KV.klaxon-leases.dedup.>"},
		{contract.StageRouter, "$JS.API.CONSUMER.CREATE.KLAXON_ALERTS.router.>"},
		{contract.StageRouter, "$JS.API.DIRECT.GET.KV_klaxon-config.>"},
		{contract.StageGrouper, "$KV.klaxon-leases.grouper.>"},
		{contract.StageNotifier, "$JS.API.STREAM.INFO.KV_klaxon-nflog"},
		{contract.StageRouter, "$KV.klaxon-peers.>"},
	} {
		opts := leastPrivilegeOptions(t) // in the parent: it sets the environment
		dropped := false
		for _, u := range opts.Users {
			if u.Username == tc.stage {
				allow := u.Permissions.Publish.Allow
				u.Permissions.Publish.Allow = slices.DeleteFunc(slices.Clone(allow), func(s string) bool { return s == tc.drop })
				dropped = len(u.Permissions.Publish.Allow) < len(allow)
			}
		}
		if !dropped {
			t.Fatalf("%s has no permission %s", tc.stage, tc.drop)
		}
		t.Run(tc.stage+" without "+tc.drop, func(t *testing.T) {
			t.Parallel()
			srv, serverLog := startServer(t, opts)
			cfg := testfile.Write(t, "klaxon.yml", minimalConfig)
			if tc.stage != contract.StageIngest {
				// The config publisher, with its whole set.
				run(t, app.Options{Stages: []string{contract.StageIngest}, NATSURL: srv.ClientURL(),
					NATS: credentials(contract.StageIngest), ConfigFile: cfg})
			}
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			logger, _ := logtest.New()
			err := app.Run(ctx, app.Options{Stages: []string{tc.stage}, NATSURL: srv.ClientURL(), NATS: credentials(tc.stage),
				ConfigFile: cfg, ConfigFollow: tc.stage != contract.StageIngest, ListenAddress: "127.0.0.1:0", Logger: logger})
			if err == nil {
				t.Fatalf("%s ran without %s", tc.stage, tc.drop)
			}
			t.Logf("%s without %s: %v", tc.stage, tc.drop, err)
			if len(serverLog.violations()) == 0 {
				t.Errorf("no permission violation; error: %v", err)
			}
		})
	}
}

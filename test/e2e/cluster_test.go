package e2e

import (
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

type clusterStatus struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Peers  []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"peers"`
}

// status reads /api/v2/status' cluster.
func status(t *testing.T, web string) clusterStatus {
	t.Helper()
	var st struct {
		Cluster clusterStatus `json:"cluster"`
	}
	getJSON(t, "http://"+web+"/api/v2/status", &st)
	return st.Cluster
}

func (c clusterStatus) addresses() []string {
	var out []string
	for _, p := range c.Peers {
		out = append(out, p.Address)
	}
	slices.Sort(out)
	return out
}

// Three Klaxon processes each running every stage, on one NATS (the first
// one's embedded server; the other two attach with --nats.url), are one
// cluster: each lists the three as its peers and names itself, as
// Alertmanager's gossip members do, amtool's `cluster show` prints them,
// and an alert posted once is notified once (the check Alertmanager's
// cluster acceptance tests make of gossip). A process killed with SIGKILL
// leaves the list within seconds.
func TestThreeProcessesAreOneCluster(t *testing.T) {
	s := newSink(t)
	cfg := writeConfig(t, s.srv.URL, "['...']")
	_, web0, natsAddr := klaxonOne(t, cfg, t.TempDir())
	attach := func(name string) (*proc, string) {
		return harness.StartKlaxon(t, bin, name, func() []string {
			return append(slices.Clone(contract.Stages), "--nats.url", "nats://"+natsAddr, "--config.file", cfg)
		})
	}
	_, web1 := attach("klaxon-1")
	p2, web2 := attach("klaxon-2")
	webs := []string{web0, web1, web2}
	all := slices.Sorted(slices.Values(webs))

	names := map[string]bool{}
	for _, web := range webs {
		st := status(t, web)
		if st.Status != "ready" || !slices.Equal(st.addresses(), all) {
			t.Fatalf("%s: cluster %+v, want ready with the peers at %v", web, st, all)
		}
		i := slices.IndexFunc(st.Peers, func(p struct {
			Name    string `json:"name"`
			Address string `json:"address"`
		}) bool {
			return p.Name == st.Name
		})
		if i < 0 || st.Peers[i].Address != web {
			t.Errorf("%s: cluster.name %q is not the peer at its own address: %+v", web, st.Name, st.Peers)
		}
		names[st.Name] = true
	}
	if len(names) != 3 {
		t.Errorf("peer names %v: want three distinct", names)
	}

	t.Run("amtool cluster show", func(t *testing.T) {
		amtool := requireE2E(t, "amtool")
		out, err := exec.CommandContext(t.Context(), amtool, "--alertmanager.url=http://"+web0, "cluster", "show", "-o", "extended").CombinedOutput()
		if err != nil {
			t.Fatalf("amtool cluster show: %v\n%s", err, out)
		}
		self := status(t, web0).Name
		if !strings.Contains(string(out), "Cluster Status:  ready\nNode Name:       "+self+"\n") {
			t.Errorf("amtool does not show the cluster ready and named %s:\n%s", self, out)
		}
		for _, p := range status(t, web0).Peers {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p.Address) + ` +` + p.Name + ` *$`).Match(out) {
				t.Errorf("amtool does not show the peer %s at %s:\n%s", p.Name, p.Address, out)
			}
		}
		t.Logf("amtool cluster show:\n%s", out)
	})

	// An alert posted once, to one process, is notified once: watched for
	// three group_intervals after the notification.
	if code := postAlerts(t, web1, []postable{firingAlert("alertname", "OnceInACluster", "id", "0")}); code != http.StatusOK {
		t.Fatalf("POST = %d", code)
	}
	eventually(t, 15*time.Second, "the notification", func() bool { return len(s.messages()) > 0 })
	waitQuiet(t, "nats://"+natsAddr, 15*time.Second)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n := len(s.messages()); n != 1 {
			t.Fatalf("%d notifications of one alert posted once to a cluster of three", n)
		}
	}

	// SIGKILL: the process cannot leave; its heartbeats stop and the
	// peers bucket's TTL drops it.
	p2.Kill()
	killed := time.Now()
	want := slices.DeleteFunc(slices.Clone(all), func(a string) bool { return a == web2 })
	eventually(t, 15*time.Second, "the killed process gone from the peers", func() bool {
		return slices.Equal(status(t, web0).addresses(), want)
	})
	t.Logf("killed process left the peers after %v", time.Since(killed).Round(100*time.Millisecond))
	if st := status(t, web1); st.Status != "ready" || !slices.Equal(st.addresses(), want) {
		t.Errorf("after the kill, %s shows %+v", web1, st)
	}
}

package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// natsNode is one nats-server process of the cluster, on fixed loopback
// ports (client, route, monitoring) and its own store, so that a restart
// comes back as the same peer.
type natsNode struct {
	name                string
	client, route, http string
	conf                string
	proc                *harness.Proc
}

// natsCluster is three nats-server processes with JetStream, routed to
// each other.
type natsCluster struct {
	t     *testing.T
	bin   string
	nodes []*natsNode
}

// startNATSCluster writes the three nodes' configs and starts them; it
// returns once JetStream has a meta leader. Ports are picked free just
// before, so another process can take one first: a node that exits at
// start is logged and the cluster started again on new ports.
func startNATSCluster(t *testing.T, bin string) *natsCluster {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c := &natsCluster{t: t, bin: bin}
		c.configure()
		for _, n := range c.nodes {
			c.start(n)
		}
		if c.settle() {
			c.waitPeers()
			return c
		}
		for _, n := range c.nodes {
			state := "running"
			if n.proc.Exited() {
				state = n.proc.Cmd.ProcessState.String()
			}
			t.Logf("%s at start (%s, answers %v):\n%s", n.name, state, n.answers(), harness.Tail(n.proc.Out.String(), 10))
			n.proc.Kill()
		}
		if attempt == 3 {
			t.Fatalf("the NATS cluster did not start in %d attempts", attempt)
		}
	}
}

// configure picks the nodes' ports and writes their configs.
func (c *natsCluster) configure() {
	t := c.t
	t.Helper()
	for i := range 3 {
		c.nodes = append(c.nodes, &natsNode{name: fmt.Sprintf("n%d", i+1),
			client: harness.FreeAddr(t), route: harness.FreeAddr(t), http: harness.FreeAddr(t)})
	}
	var routes []string
	for _, n := range c.nodes {
		routes = append(routes, fmt.Sprintf("nats-route://%s", n.route))
	}
	for _, n := range c.nodes {
		dir := t.TempDir()
		n.conf = filepath.Join(dir, "nats.conf")
		conf := fmt.Sprintf(`server_name: %s
listen: %s
http: %s
jetstream { store_dir: %q, max_memory_store: 256MB, max_file_store: 16GB }
cluster {
  name: klaxon
  listen: %s
  routes: [%s]
}
`, n.name, n.client, n.http, filepath.Join(dir, "js"), n.route, strings.Join(routes, ", "))
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// settle waits until every node answers on its monitoring port; false if
// one exited first.
func (c *natsCluster) settle() bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		up := 0
		for _, n := range c.nodes {
			if n.proc.Exited() {
				return false
			}
			if n.answers() {
				up++
			}
		}
		if up == len(c.nodes) {
			return true
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	return false
}

// URLs is the seed list a stage connects to.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, "nats://"+n.client)
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) start(n *natsNode) {
	c.t.Helper()
	n.proc = harness.Start(c.t, "", "nats-"+n.name, c.bin, "-c", n.conf)
}

// jsz is the part of a node's /jsz the test reads.
type jsz struct {
	Meta struct {
		Leader   string `json:"leader"`
		Replicas []struct {
			Name    string `json:"name"`
			Current bool   `json:"current"`
			Offline bool   `json:"offline"`
		} `json:"replicas"`
	} `json:"meta_cluster"`
}

// jsz is node n's /jsz (zero if unreachable).
func (n *natsNode) jsz() jsz {
	var j jsz
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get("http://" + n.http + "/jsz")
	if err != nil {
		return j
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&j)
	return j
}

// leader is the meta leader as node n sees it ("" if none or unreachable).
func (n *natsNode) leader() string { return n.jsz().Meta.Leader }

// waitPeers waits until the meta leader counts every other node as a
// current peer: a leader just elected can take one for offline, and a
// stream of three replicas placed then fails ("no suitable peers for
// placement, peer offline", seen in CI).
func (c *natsCluster) waitPeers() {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		leader := c.waitLeader("")
		meta := leader.jsz().Meta
		current := 0
		for _, r := range meta.Replicas {
			if r.Current && !r.Offline {
				current++
			}
		}
		if meta.Leader == leader.name && current == len(c.nodes)-1 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the meta leader %s counts %d current peers after 60s, want %d: %+v", leader.name, current, len(c.nodes)-1, meta)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// answers reports whether node n's monitoring port answers.
func (n *natsNode) answers() bool {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get("http://" + n.http + "/varz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// healthy reports whether node n's JetStream is current (its /healthz).
func (n *natsNode) healthy() bool {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get("http://" + n.http + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitLeader waits until every running node agrees on a meta leader other
// than not, and returns it.
func (c *natsCluster) waitLeader(not string) *natsNode {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		name, agreed := "", true
		var views []string
		for _, n := range c.nodes {
			if n.proc.Exited() {
				views = append(views, n.name+": exited")
				continue
			}
			l := n.leader()
			views = append(views, n.name+": "+l)
			if l == "" || l == not || (name != "" && l != name) {
				agreed = false
			}
			name = l
		}
		if leader := c.node(name); agreed && leader != nil {
			return leader
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no JetStream meta leader after 60s (other than %q); leaders seen: %v", not, views)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

func (c *natsCluster) node(name string) *natsNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// kill kills node n (SIGKILL).
func (c *natsCluster) kill(n *natsNode) { n.proc.Kill() }

// restart starts a killed node again and waits until its JetStream is
// current.
func (c *natsCluster) restart(n *natsNode) {
	c.t.Helper()
	c.start(n)
	harness.Eventually(c.t, 60*time.Second, n.name+" current again", n.healthy)
}

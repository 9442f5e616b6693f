// Package cluster runs Klaxon's stages as separate processes against a
// three-node NATS JetStream cluster (real nats-server processes on loopback,
// every stream and bucket with three replicas) and breaks things under
// steady load: a NATS node killed, then the meta leader, then each stage
// replica, then every stage restarted in turn. It is black-box: alerts in
// over HTTP, notifications out to a webhook, processes killed.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// bin holds the binaries built once for all tests.
var bin harness.Binaries

func TestMain(m *testing.M) { harness.Main(m, &bin) }

// replicas of each stage: two of every stage that keeps state or sends, so
// that killing one leaves the other to take its messages over.
var replicas = map[string]int{
	contract.StageIngest: 1, contract.StageDedup: 2, contract.StageRouter: 1,
	contract.StageGrouper: 2, contract.StageNotifier: 2,
}

// notifierConcurrency is the notifier's default bus concurrency: the most
// sends one notifier replica has in flight, and so the most notifications
// one failure can repeat (each was claimed; its redelivery resends it).
const notifierConcurrency = 64

// maxStageLatency bounds the notification latency of an alert accepted
// while a stage process is killed or restarted: the time a replica needs to
// take over, far below any ack wait.
const maxStageLatency = 15 * time.Second

// TestChaos: under a steady stream of alerts, each its own group notifying
// a webhook, kill -9 a NATS node, then the meta leader, then each stage
// replica in turn, then restart every stage process one at a time. Every
// accepted alert is notified; duplicates stay within the bound (at most
// notifierConcurrency per failure that can interrupt a send: a NATS node or
// a notifier lost; none for the others). It logs the figure: alerts,
// notifications, duplicates, and per step the time until an alert posted
// after it is notified and the worst notification latency of the alerts
// posted during it.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster test takes a few minutes")
	}
	started := time.Now()
	nc := startNATSCluster(t, bin.NATSServer)
	s := newSink(t)
	cfg := writeConfig(t, s.srv.URL)
	st := startStages(t, nc.URLs(), cfg)
	requireReplicas(t, nc.URLs(), 3)
	t.Logf("cluster and %d stage processes up in %v", st.count(), time.Since(started).Round(time.Millisecond))

	p := startPoster(t, st)
	var steps []step
	run := func(name string, mayRepeat bool, action func() time.Time) {
		t.Helper()
		begin := time.Now()
		at := action()
		back := waitNotifiedAfter(t, p, s, at)
		steps = append(steps, step{name: name, begin: begin, at: at, back: back, mayRepeat: mayRepeat})
		t.Logf("%s at %s: back after %v", name, at.Format("15:04:05.000"), back.Round(10*time.Millisecond))
	}
	p.waitAccepted(t, 20)

	run("kill -9 a NATS node", true, func() time.Time {
		leader := nc.waitLeader("")
		var follower *natsNode
		for _, n := range nc.nodes {
			if n != leader {
				follower = n
				break
			}
		}
		at := time.Now()
		nc.kill(follower)
		waitNotifiedAfter(t, p, s, at) // while it is down
		nc.restart(follower)
		return at
	})
	run("kill -9 the NATS meta leader", true, func() time.Time {
		leader := nc.waitLeader("")
		at := time.Now()
		nc.kill(leader)
		nc.waitLeader(leader.name)
		waitNotifiedAfter(t, p, s, at) // while it is down
		nc.restart(leader)
		return at
	})
	for _, stage := range contract.Stages {
		run("kill -9 "+stage+"-0", stage == contract.StageNotifier, func() time.Time {
			at := time.Now()
			st.procs[stage][0].Kill()
			if replicas[stage] == 1 {
				st.start(stage, 0) // nothing to take over: back once restarted
				return at
			}
			// The other replica takes over; the killed one comes back after.
			waitNotifiedAfter(t, p, s, at)
			st.start(stage, 0)
			return at
		})
	}
	run("rolling restart of every stage", false, func() time.Time {
		for _, stage := range contract.Stages {
			for i := range replicas[stage] {
				begin := time.Now()
				if !st.procs[stage][i].Stop() {
					t.Errorf("%s-%d did not end within 15s of SIGTERM; killed", stage, i)
				}
				stopped := time.Now()
				st.start(stage, i)
				t.Logf("restart of %s-%d: stopped in %v, ready %v later", stage, i,
					stopped.Sub(begin).Round(10*time.Millisecond), time.Since(stopped).Round(10*time.Millisecond))
			}
		}
		return time.Now()
	})

	p.stop()
	accepted := p.acceptedIDs()
	deadline := time.Now().Add(90 * time.Second)
	for missing := s.missing(accepted); len(missing) > 0; missing = s.missing(accepted) {
		if time.Now().After(deadline) {
			for _, id := range missing[:min(len(missing), 20)] {
				t.Logf("alert %s accepted at %s, never notified", id, p.acceptedAt(id).Format("15:04:05.000"))
			}
			trace(t, nc.URLs(), missing[:min(len(missing), 5)])
			t.Fatalf("%d of %d accepted alerts not notified after 90s", len(missing), len(accepted))
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	s.waitSettled(t, 3*time.Second, 30*time.Second)

	// The figure.
	counts := s.counts()
	notifications, duplicates := 0, 0
	for _, c := range counts {
		notifications += c
		duplicates += max(c-1, 0)
	}
	lost := 0
	for _, id := range accepted {
		if counts[id] == 0 {
			lost++
			t.Errorf("alert %s accepted but never notified", id)
		}
	}
	// An alert in a POST cut short by the poster's stop may be notified
	// without having been seen accepted: counted as notified, not accepted.
	t.Logf("%d alerts accepted, %d alerts notified in %d notifications, %d duplicates, %d lost, in %v",
		len(accepted), len(counts), notifications, duplicates, lost, time.Since(started).Round(time.Second))
	// A duplicate counts against the failure that caused it: one that can
	// interrupt a send and happened between the notification and its
	// repeat (a notifier killed after its webhook call returned repeats
	// that notification only once its claim expired, seconds later, often
	// in the next step); otherwise against the step it came in.
	dupsOf := make([]int, len(steps))
	for _, d := range s.duplicates() {
		cause := -1
		for i, st := range steps {
			if st.mayRepeat && !st.at.Before(d.first) && !st.at.After(d.repeat) {
				cause = i
			}
		}
		if cause < 0 {
			for i, st := range steps {
				if !d.repeat.Before(st.begin) {
					cause = i
				}
			}
		}
		if cause >= 0 {
			dupsOf[cause]++
		}
	}
	bound := 0
	var late []string
	for i, st := range steps {
		end := time.Now()
		if i+1 < len(steps) {
			end = steps[i+1].begin
		}
		dups := dupsOf[i]
		worst, slowest := p.worstLatency(s, st.begin, end)
		allowed := 0
		if st.mayRepeat {
			allowed = notifierConcurrency * replicas[contract.StageNotifier]
		}
		bound += allowed
		t.Logf("%-32s took %-7v back after %-7v worst latency %-7v duplicates %d (bound %d)",
			st.name, end.Sub(st.begin).Round(100*time.Millisecond), st.back.Round(10*time.Millisecond),
			worst.Round(10*time.Millisecond), dups, allowed)
		if dups > allowed {
			t.Errorf("%s: %d duplicate notifications, bound %d", st.name, dups, allowed)
		}
		if !st.mayRepeat && worst > maxStageLatency {
			t.Errorf("%s: alert %s notified %v after it was accepted, bound %v", st.name, slowest, worst, maxStageLatency)
			late = append(late, slowest)
		}
	}
	if duplicates > bound {
		t.Errorf("%d duplicate notifications, bound %d", duplicates, bound)
	}
	if t.Failed() {
		var dups []string
		for id, c := range counts {
			if c > 1 {
				dups = append(dups, id)
			}
		}
		ids := append(dups[:min(len(dups), 5)], late...)
		for _, id := range ids {
			t.Logf("alert %s accepted at %s, notified at %v", id, p.acceptedAt(id).Format("15:04:05.000"), s.times(id))
		}
		trace(t, nc.URLs(), ids)
	}
}

// step is one failure of the run and its figure.
type step struct {
	name      string
	begin, at time.Time     // the step began; the failure (or the last restart) happened
	back      time.Duration // from at until an alert accepted after it was notified
	mayRepeat bool          // the failure can interrupt a send
}

// waitNotifiedAfter waits until an alert accepted after at is notified and
// returns how long after at that was.
func waitNotifiedAfter(t *testing.T, p *poster, s *sink, at time.Time) time.Duration {
	t.Helper()
	var back time.Duration
	harness.Eventually(t, 60*time.Second, "an alert accepted after the failure notified", func() bool {
		for id := range p.acceptedSince(at) {
			if n, ok := s.first(id); ok {
				if back == 0 || n.Sub(at) < back {
					back = n.Sub(at)
				}
			}
		}
		return back > 0
	})
	return back
}

// requireReplicas checks that every stream (KV buckets included) has the
// replicas asked for: without them the test would prove nothing.
func requireReplicas(t *testing.T, urls string, want int) {
	t.Helper()
	conn, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	for info := range js.ListStreams(ctx).Info() {
		n++
		if info.Config.Replicas != want {
			t.Errorf("stream %s has %d replicas, want %d", info.Config.Name, info.Config.Replicas, want)
		}
	}
	if n == 0 {
		t.Fatal("no streams")
	}
}

// stages are the klaxon processes, one per stage replica.
type stages struct {
	t      *testing.T
	urls   string
	config string

	mu     sync.Mutex
	procs  map[string][]*harness.Proc
	ingest string // web address of ingest-0
}

func startStages(t *testing.T, urls, config string) *stages {
	t.Helper()
	st := &stages{t: t, urls: urls, config: config, procs: map[string][]*harness.Proc{}}
	for _, stage := range contract.Stages {
		st.procs[stage] = make([]*harness.Proc, replicas[stage])
		for i := range replicas[stage] {
			st.start(stage, i)
		}
	}
	return st
}

// start starts replica i of stage (again) and waits until it is ready.
func (st *stages) start(stage string, i int) {
	st.t.Helper()
	p, web := harness.StartKlaxon(st.t, bin, fmt.Sprintf("%s-%d", stage, i), func() []string {
		return []string{stage, "--nats.url", st.urls, "--nats.replicas", "3", "--config.file", st.config, "--log.level", "info"}
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	st.procs[stage][i] = p
	if stage == contract.StageIngest && i == 0 {
		st.ingest = web
	}
}

func (st *stages) ingestAddr() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ingest
}

func (st *stages) count() int {
	n := 0
	for _, ps := range st.procs {
		n += len(ps)
	}
	return n
}

// writeConfig routes every alert to the webhook, each alert its own group,
// with short timings so that the run fits in CI.
func writeConfig(t *testing.T, webhookURL string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "klaxon.yml")
	cfg := fmt.Sprintf(`route:
  receiver: sink
  group_by: ['...']
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs:
      - url: %s
`, webhookURL)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// poster posts a batch of new alerts every 100ms to ingest, as Prometheus
// would, resending a batch until ingest accepts it (200), and records when
// each alert was accepted.
type poster struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	accepted map[string]time.Time
}

func startPoster(t *testing.T, st *stages) *poster {
	ctx, cancel := context.WithCancel(context.Background())
	p := &poster{cancel: cancel, done: make(chan struct{}), accepted: map[string]time.Time{}}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(100 * time.Millisecond) // the load's pace
		defer tick.Stop()
		for i := 0; ; i += batch {
			ids := make([]string, batch)
			for j := range ids {
				ids[j] = fmt.Sprint(i + j)
			}
			for !post(ctx, st.ingestAddr(), ids) {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
			p.mu.Lock()
			for _, id := range ids {
				p.accepted[id] = time.Now()
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// batch is how many alerts one post carries: 50 alerts/s.
const batch = 5

// post posts the alerts ids once; true when ingest accepted them.
func post(ctx context.Context, web string, ids []string) bool {
	now := time.Now()
	var alerts []map[string]any
	for _, id := range ids {
		alerts = append(alerts, map[string]any{
			"labels":   map[string]string{"alertname": "Chaos", "id": id},
			"startsAt": now, "endsAt": now.Add(time.Hour),
		})
	}
	body, _ := json.Marshal(alerts)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+web+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (p *poster) stop() {
	p.cancel()
	<-p.done
}

func (p *poster) waitAccepted(t *testing.T, n int) {
	t.Helper()
	harness.Eventually(t, 60*time.Second, fmt.Sprintf("%d alerts accepted", n), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.accepted) >= n
	})
}

func (p *poster) acceptedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.accepted))
	for id := range p.accepted {
		ids = append(ids, id)
	}
	return ids
}

func (p *poster) acceptedAt(id string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted[id]
}

func (p *poster) acceptedSince(at time.Time) map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := map[string]time.Time{}
	for id, acc := range p.accepted {
		if acc.After(at) {
			res[id] = acc
		}
	}
	return res
}

// worstLatency is the longest time from acceptance to first notification
// of the alerts accepted in [from, to).
func (p *poster) worstLatency(s *sink, from, to time.Time) (worst time.Duration, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, acc := range p.accepted {
		if acc.Before(from) || !acc.Before(to) {
			continue
		}
		if n, ok := s.first(a); ok && n.Sub(acc) > worst {
			worst, id = n.Sub(acc), a
		}
	}
	return worst, id
}

// sink is the webhook receiver: the times each alert id was notified
// firing.
type sink struct {
	srv *httptest.Server

	mu   sync.Mutex
	seen map[string][]time.Time
	last time.Time
}

func newSink(t *testing.T) *sink {
	s := &sink{seen: map[string][]time.Time{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook payload: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, a := range m.Alerts {
			if a.Status == "firing" {
				s.seen[a.Labels["id"]] = append(s.seen[a.Labels["id"]], now)
			}
		}
		s.last = now
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) first(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts := s.seen[id]; len(ts) > 0 {
		return ts[0], true
	}
	return time.Time{}, false
}

// missing are the ids never notified.
func (s *sink) missing(ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res []string
	for _, id := range ids {
		if len(s.seen[id]) == 0 {
			res = append(res, id)
		}
	}
	return res
}

func (s *sink) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := map[string]int{}
	for id, ts := range s.seen {
		res[id] = len(ts)
	}
	return res
}

// times are the times of every notification of alert id.
func (s *sink) times(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res []string
	for _, at := range s.seen[id] {
		res = append(res, at.Format("15:04:05.000"))
	}
	return res
}

// duplicate is a notification of an alert notified before.
type duplicate struct{ first, repeat time.Time }

// duplicates lists every repeated notification with the one before it.
func (s *sink) duplicates() []duplicate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res []duplicate
	for _, ts := range s.seen {
		for k := 1; k < len(ts); k++ {
			res = append(res, duplicate{first: ts[k-1], repeat: ts[k]})
		}
	}
	return res
}

// waitSettled waits until no notification has arrived for quiet, so that a
// late duplicate is counted (at most limit).
func (s *sink) waitSettled(t *testing.T, quiet, limit time.Duration) {
	t.Helper()
	harness.Eventually(t, limit, "notifications settled", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return time.Since(s.last) > quiet
	})
}

// trace logs, to find where alerts stopped or were repeated, every stream
// message that mentions one of ids (by subject), and every consumer's
// state. It reads the streams generically, whatever their layout.
func trace(t *testing.T, urls string, ids []string) {
	t.Helper()
	conn, err := nats.Connect(urls)
	if err != nil {
		t.Logf("trace: %v", err)
		return
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for info := range js.ListStreams(ctx).Info() {
		name := info.Config.Name
		stream, err := js.Stream(ctx, name)
		if err != nil {
			t.Logf("trace: %s: %v", name, err)
			continue
		}
		for ci := range stream.ListConsumers(ctx).Info() {
			t.Logf("trace: consumer %s/%s pending %d ack-pending %d redelivered %d waiting %d delivered %d ack-floor %d",
				name, ci.Name, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Delivered.Stream, ci.AckFloor.Stream)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
			m, err := stream.GetMsg(ctx, seq)
			if err != nil {
				continue // deleted
			}
			for _, id := range ids {
				if bytes.Contains(m.Data, []byte(fmt.Sprintf(`"id":"%s"`, id))) ||
					bytes.Contains(m.Data, []byte(fmt.Sprintf(`id=\\"%s\\"`, id))) {
					t.Logf("trace: alert %s in %s seq %d subject %s at %s: %.300s", id, name, seq, m.Subject,
						m.Time.Format("15:04:05.000"), m.Data)
				}
			}
		}
	}
}

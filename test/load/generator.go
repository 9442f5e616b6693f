package load

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// BenchIDLabel marks every alert with its identity, so the sink can match a
// webhook payload to the POST that first carried the alert.
const BenchIDLabel = "bench_id"

// resendWindow is how far ahead endsAt is set, as Prometheus does (four
// times its default resend delay of 1m).
const resendWindow = 4 * time.Minute

// postable is an alert as Prometheus posts it to /api/v2/alerts.
type postable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// slot is one place of the active set; its alert is replaced on churn.
type slot struct {
	seq      int
	startsAt time.Time // when the alert was first emitted; zero before
}

// generator produces the batches: it walks the active set in rotation and,
// after each full rotation, replaces a Churn share of the slots with new
// alerts. It is owned by one goroutine.
type generator struct {
	run      string
	slots    []slot
	next     int // seq of the next new alert
	pos      int // next slot to emit
	rotation int
	churn    int // slots replaced per rotation
}

func newGenerator(run string, active int, churn float64) *generator {
	g := &generator{run: run, slots: make([]slot, active), churn: int(math.Round(churn * float64(active)))}
	for i := range g.slots {
		g.slots[i].seq = g.next
		g.next++
	}
	return g
}

// id is the bench_id of alert seq.
func (g *generator) id(seq int) string { return fmt.Sprintf("%s-%d", g.run, seq) }

// batch returns the next n alerts of the rotation as a JSON body, and their
// ids.
func (g *generator) batch(n int, now time.Time) (body []byte, ids []string, err error) {
	alerts := make([]postable, 0, n)
	ids = make([]string, 0, n)
	for range n {
		s := &g.slots[g.pos]
		if s.startsAt.IsZero() {
			s.startsAt = now
		}
		alerts = append(alerts, g.alert(s.seq, s.startsAt, now))
		ids = append(ids, g.id(s.seq))
		g.pos++
		if g.pos == len(g.slots) {
			g.pos = 0
			g.rotate()
		}
	}
	body, err = json.Marshal(alerts)
	return body, ids, err
}

// rotate replaces g.churn slots, a different stretch each rotation. The
// replaced alerts are no longer sent and expire at their endsAt, as an alert
// does when Prometheus stops sending it.
func (g *generator) rotate() {
	if g.churn == 0 {
		g.rotation++
		return
	}
	off := g.rotation * g.churn
	for i := range g.churn {
		g.slots[(off+i)%len(g.slots)] = slot{seq: g.next}
		g.next++
	}
	g.rotation++
}

// alert builds alert seq. Its instance is unique, so with group_by
// [alertname, instance] every alert is its own aggregation group and its
// first notification is due at group_wait.
func (g *generator) alert(seq int, startsAt, now time.Time) postable {
	severity := "warning"
	if seq%4 == 0 {
		severity = "critical"
	}
	name := fmt.Sprintf("BenchAlert%02d", seq%16)
	return postable{
		Labels: map[string]string{
			"alertname":  name,
			"instance":   fmt.Sprintf("node-%d.bench:9100", seq),
			"job":        "node",
			"severity":   severity,
			BenchIDLabel: g.id(seq),
		},
		Annotations: map[string]string{
			"summary": fmt.Sprintf("%s on node-%d.bench is firing (bench load)", name, seq),
		},
		StartsAt:     startsAt,
		EndsAt:       now.Add(resendWindow),
		GeneratorURL: "http://127.0.0.1:9090/graph?g0.expr=up%3D%3D0&g0.tab=1",
	}
}

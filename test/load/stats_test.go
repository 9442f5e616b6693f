package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func ms(n ...int) []time.Duration {
	var d []time.Duration
	for _, v := range n {
		d = append(d, time.Duration(v)*time.Millisecond)
	}
	return d
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // 100..1, unsorted
	}
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"one p99", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 of 1..100", hundred, 100, 100 * time.Millisecond},
		{"p1 of 1..100", hundred, 1, 1 * time.Millisecond},
		// Nearest rank: p50 of four samples is the 2nd, p99 the 4th.
		{"p50 of 4", ms(40, 10, 30, 20), 50, 20 * time.Millisecond},
		{"p99 of 4", ms(40, 10, 30, 20), 99, 40 * time.Millisecond},
		{"p0 clamps to min", ms(3, 1, 2), 0, 1 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]time.Duration(nil), tc.samples...)
			if got := Percentile(tc.samples, tc.p); got != tc.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
			for i := range before {
				if tc.samples[i] != before[i] {
					t.Fatalf("Percentile modified its input")
				}
			}
		})
	}
}

func TestResultFigures(t *testing.T) {
	r := Result{Elapsed: 4 * time.Second, AlertsAccepted: 1000, Status: map[string]int{"503": 2, "200": 310, "error": 1}}
	if got := r.AcceptedRate(); got != 250 {
		t.Errorf("AcceptedRate = %v, want 250", got)
	}
	if got, want := r.StatusSummary(), "200:310 503:2 error:1"; got != want {
		t.Errorf("StatusSummary = %q, want %q", got, want)
	}
	if got := (Result{}).AcceptedRate(); got != 0 {
		t.Errorf("AcceptedRate of no run = %v, want 0", got)
	}
}

func TestWriteTableCompare(t *testing.T) {
	k := Result{Name: "klaxon", Elapsed: time.Second, AlertsAccepted: 300, AlertsSent: 300,
		Status: map[string]int{"200": 5}, HTTP: ms(2, 4), E2E: ms(100, 300), E2EExpected: 2, E2EReceived: 2,
		CPU: 3 * time.Second, PeakRSS: 100 << 20}
	a := Result{Name: "alertmanager", Elapsed: time.Second, AlertsAccepted: 600, AlertsSent: 600,
		Status: map[string]int{"200": 10}, HTTP: ms(1, 2), E2E: ms(10, 20), E2EExpected: 2, E2EReceived: 1,
		CPU: time.Second, PeakRSS: 50 << 20}
	var buf bytes.Buffer
	if err := writeTable(&buf, []Result{k, a}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"klaxon  alertmanager  klaxon/alertmanager",
		"accepted alerts/s",
		"0.50x", // accepted rate 300 / 600
		"HTTP p50",
		"2.00 ms", // nearest-rank p50 of {2, 4}
		"e2e p50",
		"100.0 ms",
		"10.00x", // e2e p50 100 / 10
		"e2e notified/accepted alerts",
		"2/2",
		"1/2",
		"CPU time",
		"3.00x",
		"peak RSS",
		"100 MiB",
		"2.00x",
		"200:5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Every line is as wide as the header: the columns line up.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines[1:] {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Errorf("ragged table line %q (header %q)", l, lines[0])
		}
	}
}

func TestWriteTableSingleHasNoRatioOrProcessRows(t *testing.T) {
	var buf bytes.Buffer
	if err := writeTable(&buf, []Result{{Name: "target", HTTP: ms(1)}}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, unwanted := range []string{"/target", "x\n", "CPU time", "peak RSS"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("single-target table has %q:\n%s", unwanted, out)
		}
	}
}

func TestE2ERecorder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newE2ERecorder()
	r.posted([]string{"a", "b", "c"}, t0)
	r.posted([]string{"a"}, t0.Add(time.Second)) // a re-send: the first POST counts
	r.accepted([]string{"a", "b"}, t0)           // c's POST failed
	r.accepted([]string{"z"}, t0)                // never posted: ignored
	r.received("a", t0.Add(300*time.Millisecond))
	r.received("a", t0.Add(2*time.Second)) // a later payload with a again
	r.received("x", t0.Add(time.Second))   // not ours
	r.received("c", t0.Add(500*time.Millisecond))

	if exp, got := r.counts(); exp != 2 || got != 1 {
		t.Errorf("counts = %d expected, %d received; want 2, 1", exp, got)
	}
	lat := r.latencies()
	if len(lat) != 2 || lat[0] != 300*time.Millisecond || lat[1] != 500*time.Millisecond {
		t.Errorf("latencies = %v, want [300ms 500ms]", lat)
	}
	if !r.seen("a") || r.seen("b") || r.seen("x") {
		t.Errorf("seen: a=%v b=%v x=%v, want true false false", r.seen("a"), r.seen("b"), r.seen("x"))
	}
}

func TestGeneratorRotationAndChurn(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := newGenerator("run", 4, 0.5)
	var got []string
	for i := range 4 {
		body, ids, err := g.batch(3, now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var alerts []postable
		if err := json.Unmarshal(body, &alerts); err != nil {
			t.Fatal(err)
		}
		if len(alerts) != 3 || len(ids) != 3 {
			t.Fatalf("batch of %d alerts, %d ids; want 3", len(alerts), len(ids))
		}
		for j, a := range alerts {
			if a.Labels[BenchIDLabel] != ids[j] {
				t.Errorf("alert %d has bench_id %q, ids say %q", j, a.Labels[BenchIDLabel], ids[j])
			}
			for _, l := range []string{"alertname", "instance", "job", "severity"} {
				if a.Labels[l] == "" {
					t.Errorf("alert %s lacks label %s", ids[j], l)
				}
			}
			if a.Annotations["summary"] == "" || a.GeneratorURL == "" {
				t.Errorf("alert %s lacks summary or generatorURL", ids[j])
			}
			if want := now.Add(time.Duration(i)*time.Second + resendWindow); !a.EndsAt.Equal(want) {
				t.Errorf("alert %s endsAt %v, want now+4m %v", ids[j], a.EndsAt, want)
			}
		}
		got = append(got, ids...)
	}
	// 4 slots, 2 replaced after each rotation, a different pair each time.
	want := []string{
		"run-0", "run-1", "run-2", "run-3", // rotation 0; then slots 0,1 → 4,5
		"run-4", "run-5", "run-2", "run-3", // rotation 1; then slots 2,3 → 6,7
		"run-4", "run-5", "run-6", "run-7", // rotation 2
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ids\n got %v\nwant %v", got, want)
	}
}

func TestGeneratorKeepsStartsAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := newGenerator("run", 1, 0)
	var first, second []postable
	b1, _, _ := g.batch(1, t0)
	b2, _, _ := g.batch(1, t0.Add(time.Minute))
	if err := errors.Join(json.Unmarshal(b1, &first), json.Unmarshal(b2, &second)); err != nil {
		t.Fatal(err)
	}
	if !second[0].StartsAt.Equal(t0) || !second[0].EndsAt.Equal(t0.Add(time.Minute+resendWindow)) {
		t.Errorf("re-sent alert: startsAt %v endsAt %v; want startsAt of the first send %v and a fresh endsAt",
			second[0].StartsAt, second[0].EndsAt, t0)
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Target: "http://127.0.0.1:9093", SinkAddress: "127.0.0.1:9095"}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Options)
	}{
		{"remote target", func(o *Options) { o.Target = "http://192.0.2.1:9093" }},
		{"remote sink", func(o *Options) { o.SinkAddress = "0.0.0.0:9095" }},
		{"https target", func(o *Options) { o.Target = "https://127.0.0.1:9093" }},
		{"batch over 64", func(o *Options) { o.BatchSize = 65 }},
		{"negative rate", func(o *Options) { o.Rate = -1 }},
		{"endless", func(o *Options) { o.Duration = time.Hour }},
		{"churn over 1", func(o *Options) { o.Churn = 1.5 }},
		{"too many senders", func(o *Options) { o.Senders = 1000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.change(&o)
			if err := o.Validate(); err == nil {
				t.Errorf("Validate accepted %+v", o)
			}
		})
	}
	if err := (Options{Target: "http://10.0.0.1:9093", SinkAddress: "127.0.0.1:1"}).WithDefaults().Validate(); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("remote target: %v, want ErrNotLoopback", err)
	}
}

func TestSinkRecordsFiringAlertsOfThisRun(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &sink{prefix: "run-", now: func() time.Time { return t0.Add(time.Second) }}
	rec := newE2ERecorder()
	rec.posted([]string{"run-1", "run-2", "other-1"}, t0)
	s.rec.Store(rec)
	body := `{"version":"4","status":"firing","alerts":[
		{"status":"firing","labels":{"bench_id":"run-1"}},
		{"status":"resolved","labels":{"bench_id":"run-2"}},
		{"status":"firing","labels":{"bench_id":"other-1"}}]}`
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if !rec.seen("run-1") || rec.seen("run-2") || rec.seen("other-1") {
		t.Errorf("seen run-1=%v run-2=%v other-1=%v, want only the firing alert of this run",
			rec.seen("run-1"), rec.seen("run-2"), rec.seen("other-1"))
	}
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{")))
	if w.Code != http.StatusBadRequest || s.bad.Load() != 1 {
		t.Errorf("bad payload: status %d, bad count %d", w.Code, s.bad.Load())
	}
}

func FuzzSinkPayload(f *testing.F) {
	f.Add([]byte(`{"alerts":[{"status":"firing","labels":{"bench_id":"run-1"}}]}`))
	f.Add([]byte(`{"alerts":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := &sink{prefix: "run-", now: time.Now}
		rec := newE2ERecorder()
		rec.posted([]string{"run-1"}, time.Now())
		s.rec.Store(rec)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Errorf("status %d", w.Code)
		}
		if n := len(rec.latencies()); n > 1 {
			t.Errorf("one posted alert, %d latencies", n)
		}
	})
}

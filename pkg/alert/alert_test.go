package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

func TestNormalizeDefaults(t *testing.T) {
	labels := map[string]string{"alertname": "A"}
	tests := []struct {
		name        string
		in          Postable
		start, end  time.Time
		wantTimeout bool
	}{
		{"both set", Postable{Labels: labels, StartsAt: at(-5), EndsAt: at(10)}, at(-5), at(10), false},
		{"no start: now", Postable{Labels: labels, EndsAt: at(10)}, at(10), at(10), false},
		{"nothing: now + resolve_timeout", Postable{Labels: labels}, at(0), at(5), true},
		{"no end: resolve_timeout", Postable{Labels: labels, StartsAt: at(-1)}, at(-1), at(5), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tt.in.Normalize(at(0), 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if !a.StartsAt.Equal(tt.start) || !a.EndsAt.Equal(tt.end) || a.Timeout != tt.wantTimeout || !a.UpdatedAt.Equal(at(0)) {
				t.Fatalf("got start %v end %v timeout %v", a.StartsAt, a.EndsAt, a.Timeout)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		in   Postable
		want error
	}{
		{"no labels", Postable{}, ErrNoLabels},
		{"empty label name", Postable{Labels: map[string]string{"": "x"}}, ErrLabelName},
		{"value not UTF-8", Postable{Labels: map[string]string{"a": "\xff"}}, ErrLabelValue},
		{"annotation name", Postable{Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"": "x"}}, ErrLabelName},
		{"end before start", Postable{Labels: map[string]string{"a": "b"}, StartsAt: at(1), EndsAt: at(0)}, ErrEndBeforeStart},
		{"UTF-8 names are valid", Postable{Labels: map[string]string{"service.name": "ü"}}, nil},
		// Alertmanager drops labels with an empty value before it
		// validates, and validates once its defaults apply.
		{"only empty values", Postable{Labels: map[string]string{"a": ""}}, ErrNoLabels},
		{"an empty value's name is not checked", Postable{Labels: map[string]string{"a": "b", "-": ""}}, nil},
		{"start after now + resolve_timeout", Postable{Labels: map[string]string{"a": "b"}, StartsAt: at(6)}, ErrEndBeforeStart},
		{"start within resolve_timeout", Postable{Labels: map[string]string{"a": "b"}, StartsAt: at(4)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.in.Validate(at(0), 5*time.Minute); !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodePostableObjectOrArray(t *testing.T) {
	one, err := DecodePostable([]byte(` {"labels":{"a":"b"}}`))
	if err != nil || len(one) != 1 || one[0].Labels["a"] != "b" {
		t.Fatalf("object: %v %+v", err, one)
	}
	many, err := DecodePostable([]byte(`[{"labels":{"a":"1"}},{"labels":{"a":"2"},"unknownField":1}]`))
	if err != nil || len(many) != 2 {
		t.Fatalf("array: %v %+v", err, many)
	}
	for _, bad := range []string{``, `{`, `"x"`, `[1]`, `{"labels":{"a":1}}`} {
		if _, err := DecodePostable([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodePostable(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func firing(start, end, updated time.Time) Alert {
	return Alert{Labels: model.LabelSet{"alertname": "A"}, StartsAt: start, EndsAt: end, UpdatedAt: updated}
}

// Alertmanager's merge rules on re-receipt.
func TestMerge(t *testing.T) {
	now := at(0)
	t.Run("earliest start kept", func(t *testing.T) {
		m := Merge(firing(at(-10), at(5), at(-1)), firing(at(-3), at(6), now), now)
		if !m.StartsAt.Equal(at(-10)) || !m.EndsAt.Equal(at(6)) {
			t.Fatalf("got %v..%v", m.StartsAt, m.EndsAt)
		}
	})
	t.Run("younger wins whatever the argument order", func(t *testing.T) {
		older, younger := firing(at(-10), at(5), at(-1)), firing(at(-10), at(7), now)
		younger.Annotations = model.LabelSet{"summary": "new"}
		if m := Merge(younger, older, now); m.Annotations["summary"] != "new" || !m.EndsAt.Equal(at(7)) {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("later explicit end beats an earlier derived one", func(t *testing.T) {
		stored := firing(at(-10), at(20), at(-1))
		recv := firing(at(-10), at(5), now)
		recv.Timeout = true
		if m := Merge(stored, recv, now); !m.EndsAt.Equal(at(20)) {
			t.Fatalf("end = %v, want the explicit 20m", m.EndsAt)
		}
	})
	t.Run("derived end does not extend", func(t *testing.T) {
		stored := firing(at(-10), at(20), at(-1))
		stored.Timeout = true
		recv := firing(at(-10), at(5), now)
		if m := Merge(stored, recv, now); !m.EndsAt.Equal(at(5)) {
			t.Fatalf("end = %v, want 5m", m.EndsAt)
		}
	})
	t.Run("resolution is kept, latest resolved end wins", func(t *testing.T) {
		stored := firing(at(-10), at(-1), at(-1))
		recv := firing(at(-10), at(-2), now)
		if m := Merge(stored, recv, now); !m.EndsAt.Equal(at(-1)) {
			t.Fatalf("end = %v, want -1m", m.EndsAt)
		}
	})
}

// Only real changes are emitted: the rule that keeps refreshes off the bus.
func TestApplyChanges(t *testing.T) {
	now := at(0)
	base := stored(firing(at(-10), at(4), at(-1)), now)
	withSummary := func(a Alert, s string) Alert {
		a.Annotations = model.LabelSet{"summary": model.LabelValue(s)}
		return a
	}
	old := stored(firing(at(-10), at(-5), at(-5)), now)
	tests := []struct {
		name   string
		stored *Stored
		recv   Alert
		want   Change
	}{
		{"new", nil, base.Alert, ChangeNew},
		{"refresh extends end", &base, firing(at(-10), at(8), now), ChangeNone},
		{"HA twin with same data", &base, firing(at(-10), at(4), now), ChangeNone},
		{"annotations change", &base, withSummary(firing(at(-10), at(8), now), "x"), ChangeUpdated},
		{"resolved", &base, firing(at(-10), now, now), ChangeResolved},
		{"fires again after resolution", &old, firing(at(-1), at(4), now), ChangeFiring},
		{"resolved again stays quiet", &old, firing(at(-10), at(-4), now), ChangeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, got := Apply(tt.stored, tt.recv, now)
			if got != tt.want {
				t.Fatalf("Apply = %q, want %q", got, tt.want)
			}
			if next.Emitted != next.Status(now) {
				t.Fatalf("emitted %q, status %q", next.Emitted, next.Status(now))
			}
		})
	}
}

func stored(a Alert, now time.Time) Stored { return Stored{Alert: a, Emitted: a.Status(now)} }

// An alert whose sender stops sending resolves when its end passes, once.
func TestExpire(t *testing.T) {
	s := stored(firing(at(-10), at(4), at(-1)), at(0))
	if _, ch := Expire(s, at(3)); ch != ChangeNone {
		t.Fatalf("before its end: %q", ch)
	}
	s, ch := Expire(s, at(4))
	if ch != ChangeResolved || s.Emitted != "resolved" {
		t.Fatalf("at its end: %q, emitted %q", ch, s.Emitted)
	}
	if _, ch := Expire(s, at(5)); ch != ChangeNone {
		t.Fatalf("second expiry: %q", ch)
	}
	// Timed out before the tick, then explicitly resolved: the tick still
	// owes the resolution downstream.
	s = stored(firing(at(-10), at(4), at(-1)), at(0))
	s, ch = Apply(&s, firing(at(-10), at(5), at(6)), at(6))
	if ch != ChangeResolved {
		t.Fatalf("resolution after timeout = %q", ch)
	}
}

func TestNextExpiryIsLazy(t *testing.T) {
	s := stored(firing(at(-10), at(4), at(-1)), at(0))
	at1, arm := NextExpiry(s, at(0), time.Hour)
	if !arm || !at1.Equal(at(4)) {
		t.Fatalf("first: %v %v", at1, arm)
	}
	s.ExpiryAt = at1
	s.EndsAt = at(8) // a refresh extends the end
	if _, arm := NextExpiry(s, at(1), time.Hour); arm {
		t.Fatal("refresh re-armed the timer")
	}
	s.EndsAt = at(2) // an earlier end needs an earlier timer
	if at2, arm := NextExpiry(s, at(1), time.Hour); !arm || !at2.Equal(at(2)) {
		t.Fatalf("earlier end: %v %v", at2, arm)
	}
	s.ExpiryAt = time.Time{}
	s, _ = Expire(s, at(3))
	if at3, arm := NextExpiry(s, at(3), time.Hour); !arm || !at3.Equal(at(62)) {
		t.Fatalf("resolved: timer %v %v, want removal at end + retention", at3, arm)
	}
	if Forgotten(s, at(61), time.Hour) || !Forgotten(s, at(62), time.Hour) {
		t.Fatal("resolved alert forgotten at the wrong time")
	}
}

func ptr(a Alert) *Alert { return &a }

// A posted alert's fingerprint is that of the alert it becomes, whatever
// its labels (an empty value is dropped).
func TestPostableFingerprint(t *testing.T) {
	for _, labels := range []map[string]string{
		{"alertname": "A"}, {"alertname": "A", "instance": "h:9100", "job": "node", "ü": "x\xff"},
		{"alertname": "A", "e": ""}, {"b": "1", "a": "2"}, {},
	} {
		p := Postable{Labels: labels}
		if got, want := p.Fingerprint(), labelSet(labels).Fingerprint(); got != want {
			t.Errorf("%v: fingerprint %v, want %v", labels, got, want)
		}
	}
	if a, b := (Postable{Labels: map[string]string{"alertname": "A", "e": ""}}).Fingerprint(),
		(Postable{Labels: map[string]string{"alertname": "A"}}).Fingerprint(); a != b {
		t.Errorf("an empty value changes the fingerprint: %v, %v", a, b)
	}
}

func TestFingerprintIsAlertmanagers(t *testing.T) {
	// prometheus/common's label-set fingerprint, printed as 16 hex digits,
	// is the fingerprint Alertmanager shows for the same labels.
	a := Alert{Labels: model.LabelSet{"alertname": "A"}}
	want := model.LabelSet{"alertname": "A"}.Fingerprint().String()
	if got := a.Fingerprint().String(); len(got) != 16 || got != want {
		t.Fatalf("fingerprint %q", got)
	}
}

// FuzzDecodePostable: any input decodes exactly as encoding/json decodes it
// (decodeAsEncodingJSON, the decoder Klaxon used before, the way
// Alertmanager's API reads alerts), to alerts that normalize without
// breaking an invariant, or is rejected as malformed.
func FuzzDecodePostable(f *testing.F) {
	for _, s := range []string{
		`[{"labels":{"alertname":"A"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T01:00:00Z"}]`,
		`{"labels":{"a":"b"},"annotations":{"s":"x"},"generatorURL":"http://x"}`,
		`[]`, `[{"labels":{}}]`, `{"labels":{"\u00ff":"\u0000"}}`, `[{"startsAt":"bad"}]`,
		`[null, {"LABELS":{"a":"b"},"Labels":{"c":null},"labels":null}]`, `null`, `{"labels":{"a":"\ud800x"}}`,
		`[{"labels":{"a":"b"},"startsAt":"2026-01-02T03:04","startsAt":"","endsAt":null,"x":[1,{"y":2}]}]`,
		`[{"labels":{"a":1}}]`, `[{"labels":{"a":"b"}}] x`, `[{"labels":{"a":"b"}}] `, "[{\"labels\":{\"a\":\"\xff\"}}]",
		`[{"generatorURL":5}]`, `[{"startsAt":5}]`, `[1]`, `{"labels":[]}`, `{"ſtartsAt":"2026-01-02T03:04:05Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := DecodePostable(data)
		want, wantErr := decodeAsEncodingJSON(data)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("error %v, encoding/json's %v", err, wantErr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not classified as malformed: %v", err)
			}
			return
		}
		if !reflect.DeepEqual(ps, want) {
			t.Fatalf("decoded\n%#v\nencoding/json decoded\n%#v", ps, want)
		}
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
			arr, raw, err := DecodeArray(data)
			if err != nil || !reflect.DeepEqual(arr, want) || len(raw) != len(arr) {
				t.Fatalf("as an array: %v, %d texts, %#v", err, len(raw), arr)
			}
			// Ingest passes the alerts' texts on in arrays of its own.
			batch := append(append([]byte{'['}, bytes.Join(raw, []byte{','})...), ']')
			if again, err := DecodePostable(batch); err != nil || !reflect.DeepEqual(again, arr) {
				t.Fatalf("the alerts' texts %q decode to %#v, %v", batch, again, err)
			}
		}
		for _, p := range ps {
			a, err := p.Normalize(t0, 5*time.Minute)
			if err != nil {
				continue
			}
			if len(a.Labels) == 0 || a.EndsAt.Before(a.StartsAt) {
				t.Fatalf("normalized alert breaks invariants: %+v", a)
			}
			if a.Fingerprint() != p.Fingerprint() { // ingest partitions by the latter
				t.Fatalf("posted alert's fingerprint %v, the alert's %v", p.Fingerprint(), a.Fingerprint())
			}
		}
	})
}

// decodeAsEncodingJSON decodes posted alerts with encoding/json, as Klaxon
// did before DecodePostable read tokens: the reference it is fuzzed against.
func decodeAsEncodingJSON(data []byte) ([]Postable, error) {
	var refs []refPostable
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var err error
	if len(trimmed) > 0 && trimmed[0] == '{' {
		refs = make([]refPostable, 1)
		err = json.Unmarshal(trimmed, &refs[0])
	} else {
		err = json.Unmarshal(trimmed, &refs)
	}
	if err != nil || refs == nil {
		return nil, err
	}
	ps := make([]Postable, 0, len(refs))
	for _, r := range refs {
		ps = append(ps, Postable(r))
	}
	return ps, nil
}

type refPostable Postable

func (p *refPostable) UnmarshalJSON(b []byte) error {
	var raw struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     refTime           `json:"startsAt"`
		EndsAt       refTime           `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*p = refPostable{Labels: raw.Labels, Annotations: raw.Annotations, StartsAt: time.Time(raw.StartsAt),
		EndsAt: time.Time(raw.EndsAt), GeneratorURL: raw.GeneratorURL}
	return nil
}

type refTime time.Time

func (t *refTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s == "" {
		return err
	}
	v, err := parseAPITime(s)
	*t = refTime(v)
	return err
}

// The order Alertmanager 0.25 put these alerts in, side by side in the
// conformance suite: job first (present before absent), then instance, then
// the label sets.
func TestCompareIsAlertmanagersOrder(t *testing.T) {
	ls := func(kv ...string) Alert {
		a := Alert{Labels: model.LabelSet{"alertname": "A"}}
		for i := 0; i+1 < len(kv); i += 2 {
			a.Labels[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
		}
		return a
	}
	want := []Alert{
		ls("instance", "a", "job", "a"), ls("job", "y"), ls("instance", "a", "job", "z"),
		ls("instance", "b", "job", "z"), ls("instance", "c"), ls("n", "1"),
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortStableFunc(got, Compare)
	for i := range want {
		if !got[i].Labels.Equal(want[i].Labels) {
			t.Fatalf("position %d: %v, want %v (all: %v)", i, got[i].Labels, want[i].Labels, got)
		}
	}
	if Compare(ls("n", "1"), ls("n", "1")) != 0 {
		t.Fatal("equal label sets compare unequal")
	}
}

// startsAt and endsAt take the date-time forms Alertmanager's API takes
// (found side by side in the conformance suite): RFC 3339, offsets without
// a colon after millis or micros, no zone (UTC), minutes only, and ""/null
// for no time.
func TestPostableDateTimes(t *testing.T) {
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for s, at := range map[string]time.Time{
		`"2026-01-02T03:04:05Z"`:            want,
		`"2026-01-02T05:04:05+02:00"`:       want,
		`"2026-01-02T05:04:05.000+0200"`:    want,
		`"2026-01-02T05:04:05.000000+0200"`: want,
		`"2026-01-02T03:04:05"`:             want,
		`"2026-01-02T03:04Z"`:               want.Truncate(time.Minute),
		`"2026-01-02T03:04"`:                want.Truncate(time.Minute),
		`""`:                                {},
		`null`:                              {},
	} {
		ps, err := DecodePostable([]byte(`{"labels":{"a":"b"},"startsAt":` + s + `}`))
		if err != nil || !ps[0].StartsAt.Equal(at) {
			t.Errorf("startsAt %s = %v, %v; want %v", s, ps, err, at)
		}
	}
	for _, s := range []string{`"2026-01-02"`, `"2026-13-02T03:04:05Z"`, `"2026-01-02T03:04:05+0200"`, `1700000000`, `"yesterday"`} {
		if _, err := DecodePostable([]byte(`{"labels":{"a":"b"},"startsAt":` + s + `}`)); err == nil {
			t.Errorf("startsAt %s accepted; Alertmanager refuses it", s)
		}
	}
}

// Labels past the limits are refused, naming the limit.
func TestLabelLimits(t *testing.T) {
	many := map[string]string{}
	for i := range MaxLabels + 1 {
		many[fmt.Sprint("l", i)] = "v"
	}
	for name, p := range map[string]Postable{
		"labels":     {Labels: many},
		"name":       {Labels: map[string]string{strings.Repeat("n", MaxLabelNameBytes+1): "v"}},
		"value":      {Labels: map[string]string{"a": strings.Repeat("v", MaxLabelValueSize+1)}},
		"annotation": {Labels: map[string]string{"a": "b"}, Annotations: many},
	} {
		if err := p.Validate(t0, time.Minute); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "at most") {
			t.Errorf("%s: %v, want the limit named", name, err)
		}
	}
	ok := Postable{Labels: map[string]string{"a": strings.Repeat("v", MaxLabelValueSize)}, Annotations: map[string]string{"long": strings.Repeat("x", MaxLabelValueSize*4)}}
	if err := ok.Validate(t0, time.Minute); err != nil {
		t.Errorf("within the limits: %v", err)
	}
}

// BenchmarkDecodePostable decodes a Prometheus POST of 64 alerts, token by
// token (klaxon) and with encoding/json (the reference, as before).
func BenchmarkDecodePostable(b *testing.B) {
	var ps []Postable
	for i := range 64 {
		ps = append(ps, Postable{
			Labels: map[string]string{"alertname": "HighLatency", "instance": fmt.Sprintf("host-%d:9100", i),
				"job": "node", "severity": "page", "team": "infra"},
			Annotations:  map[string]string{"summary": "latency above 500ms", "runbook_url": "https://runbooks.example/high-latency"},
			StartsAt:     t0,
			EndsAt:       t0.Add(4 * time.Minute),
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
		})
	}
	data, err := json.Marshal(ps)
	if err != nil {
		b.Fatal(err)
	}
	for name, decode := range map[string]func([]byte) ([]Postable, error){
		"klaxon": DecodePostable, "encoding-json": decodeAsEncodingJSON,
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzAlertJSON: what encoding/json writes of an Alert or Stored, their
// token readers read back the same; any other input is read or refused
// without panicking.
func FuzzAlertJSON(f *testing.F) {
	f.Add("alertname", "A", "summary", "x\u00e9\"\\", int64(0), int64(3600e9), int64(1), true, "firing", "http://x", []byte(`{"labels":null}`))
	f.Add("", "", "", "", int64(-1), int64(0), int64(7), false, "", "", []byte(`{"LABELS":{"a":"b"},"timeout":null,"x":[1]}`))
	f.Fuzz(func(t *testing.T, ln, lv, an, av string, start, end, updated int64, timeout bool, emitted, url string, other []byte) {
		s := Stored{Alert: Alert{
			Labels:   model.LabelSet{model.LabelName(ln): model.LabelValue(lv), "alertname": "A"},
			StartsAt: time.Unix(0, start).UTC(), EndsAt: time.Unix(0, end).In(time.FixedZone("", 3600)),
			UpdatedAt: time.Unix(0, updated).UTC(), Timeout: timeout, GeneratorURL: url,
		}, Emitted: emitted, ExpiryAt: time.Unix(0, end).UTC()}
		if an != "" {
			s.Annotations = model.LabelSet{model.LabelName(an): model.LabelValue(av)}
		}
		data, err := json.Marshal(s)
		if err != nil {
			return // not valid UTF-8 in a way encoding/json refuses
		}
		// What encoding/json made of it before (strings with invalid UTF-8
		// mended; model.LabelSet refuses invalid label names).
		var ref struct {
			Labels, Annotations         model.LabelSet
			StartsAt, EndsAt, UpdatedAt time.Time
			GeneratorURL                string
			Timeout                     bool
			Emitted                     string
			ExpiryAt                    time.Time
		}
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Skip()
		}
		want := Stored{Alert: Alert{Labels: ref.Labels, Annotations: ref.Annotations, StartsAt: ref.StartsAt, EndsAt: ref.EndsAt,
			UpdatedAt: ref.UpdatedAt, GeneratorURL: ref.GeneratorURL, Timeout: ref.Timeout}, Emitted: ref.Emitted, ExpiryAt: ref.ExpiryAt}
		var got Stored
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !sameStored(got, want) {
			t.Fatalf("%s read back as\n%#v\nwant\n%#v", data, got, want)
		}
		var a Alert
		if err := json.Unmarshal(data, &a); err != nil || !sameStored(Stored{Alert: a}, Stored{Alert: want.Alert}) {
			t.Fatalf("%s read back as the alert %#v: %v", data, a, err)
		}
		// In a List, as a notification carries alerts: the same alerts,
		// read with one decoder.
		var list List
		if err := json.Unmarshal([]byte("["+string(data)+",null, "+string(data)+"]"), &list); err != nil || len(list) != 3 ||
			!sameStored(Stored{Alert: list[0]}, Stored{Alert: want.Alert}) || !sameStored(Stored{Alert: list[2]}, Stored{Alert: want.Alert}) ||
			!sameStored(Stored{Alert: list[1]}, Stored{}) {
			t.Fatalf("[%s, null, %[1]s] read back as the list %#v: %v", data, list, err)
		}
		_ = json.Unmarshal(other, &got)
		_ = json.Unmarshal(other, &a)
		_ = json.Unmarshal(other, &list)
	})
}

func sameStored(a, b Stored) bool {
	return maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations) && a.StartsAt.Equal(b.StartsAt) &&
		a.EndsAt.Equal(b.EndsAt) && a.UpdatedAt.Equal(b.UpdatedAt) && a.Timeout == b.Timeout &&
		a.GeneratorURL == b.GeneratorURL && a.Emitted == b.Emitted && a.ExpiryAt.Equal(b.ExpiryAt)
}

// A re-send normalized like the stored alert shares its label sets when
// they are the same, and makes its own when they differ.
func TestNormalizeLikeSharesEqualSets(t *testing.T) {
	stored, err := Postable{Labels: map[string]string{"alertname": "A", "e": ""}, Annotations: map[string]string{"s": "x"}}.Normalize(t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	same, err := Postable{Labels: map[string]string{"alertname": "A"}, Annotations: map[string]string{"s": "x"}}.NormalizeLike(t0, time.Minute, &stored)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(same.Labels).UnsafePointer() != reflect.ValueOf(stored.Labels).UnsafePointer() ||
		reflect.ValueOf(same.Annotations).UnsafePointer() != reflect.ValueOf(stored.Annotations).UnsafePointer() {
		t.Error("equal label sets not shared")
	}
	other, err := Postable{Labels: map[string]string{"alertname": "A"}, Annotations: map[string]string{"s": "y"}}.NormalizeLike(t0, time.Minute, &stored)
	if err != nil {
		t.Fatal(err)
	}
	if other.Annotations["s"] != "y" || stored.Annotations["s"] != "x" {
		t.Errorf("changed annotations: %v, stored %v", other.Annotations, stored.Annotations)
	}
}

// A notification's alerts, a thousand: one decoder for the list against
// one per alert (what []Alert gets from encoding/json).
func BenchmarkDecodeList(b *testing.B) {
	var as []Alert
	for i := range 1000 {
		as = append(as, Alert{
			Labels: model.LabelSet{"alertname": "HighLatency", "instance": model.LabelValue(fmt.Sprintf("host-%d:9100", i)),
				"job": "node", "severity": "page", "team": "infra"},
			Annotations: model.LabelSet{"summary": "latency above 500ms"},
			StartsAt:    t0, EndsAt: t0.Add(4 * time.Minute), UpdatedAt: t0,
		})
	}
	data, err := json.Marshal(as)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("list", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var l List
			if err := json.Unmarshal(data, &l); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("per-alert", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var l []Alert
			if err := json.Unmarshal(data, &l); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A stored alert, as a new owner reads each of klaxon-alerts' values:
// through encoding/json (which scans it first) and by its own reader.
func BenchmarkDecodeStored(b *testing.B) {
	s := Stored{Alert: Alert{
		Labels: model.LabelSet{"alertname": "HighLatency", "instance": "host-12345:9100",
			"job": "node", "severity": "page", "team": "infra"},
		Annotations: model.LabelSet{"summary": "latency above 500ms"},
		StartsAt:    t0, EndsAt: t0.Add(4 * time.Minute), UpdatedAt: t0,
	}, Emitted: "firing", ExpiryAt: t0.Add(5 * time.Minute)}
	data, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var got Stored
			if err := json.Unmarshal(data, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var got Stored
			if err := got.UnmarshalJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package silence_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/silence"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var eq, re = silence.Equal, silence.Regexp

func sil(start, end time.Duration, ms ...silence.Matcher) silence.Silence {
	return silence.Silence{ID: "s1", Matchers: ms, StartsAt: t0.Add(start), EndsAt: t0.Add(end), CreatedBy: "me", Comment: "c"}
}

func TestState(t *testing.T) {
	s := sil(0, time.Hour, eq("a", "b"))
	for _, tc := range []struct {
		at   time.Duration
		want silence.State
	}{
		{-time.Nanosecond, silence.StatePending},
		{0, silence.StateActive}, // the start is included
		{30 * time.Minute, silence.StateActive},
		{time.Hour, silence.StateActive}, // so is the end
		{time.Hour + time.Nanosecond, silence.StateExpired},
	} {
		if got := s.State(t0.Add(tc.at)); got != tc.want {
			t.Errorf("state at %v = %s, want %s", tc.at, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		sil  silence.Silence
		want string // substring of the error; "" for valid
	}{
		{"valid", sil(0, time.Hour, eq("a", "b")), ""},
		{"no matchers", sil(0, time.Hour), "at least one matcher required"},
		{"only matches empty: =\"\"", sil(0, time.Hour, eq("a", "")), "must not match the empty string"},
		{"only matches empty: =~\".*\"", sil(0, time.Hour, re("a", ".*")), "must not match the empty string"},
		{"only matches empty: =~\"x|\"", sil(0, time.Hour, re("a", "x|")), "must not match the empty string"},
		{"one matcher not matching empty is enough", sil(0, time.Hour, eq("a", ""), eq("b", "c")), ""},
		{"!= counts as not matching empty", sil(0, time.Hour, silence.Matcher{Name: "a", Value: "b"}), ""},
		{"!~ counts as not matching empty", sil(0, time.Hour, silence.Matcher{Name: "a", Value: ".*", IsRegex: true}), ""},
		{"bad regexp", sil(0, time.Hour, re("a", "(")), "invalid label matcher 0"},
		{"bad label name", sil(0, time.Hour, eq("", "x")), "invalid label name"},
		{"bad label value", sil(0, time.Hour, eq("a", "\xff")), "invalid label value"},
		{"end before start", sil(time.Hour, 0, eq("a", "b")), "end time must not be before start time"},
		{"end equal to start", sil(0, 0, eq("a", "b")), ""},
		{"zero start", silence.Silence{Matchers: []silence.Matcher{eq("a", "b")}, EndsAt: t0}, "zero start"},
		{"zero end", silence.Silence{Matchers: []silence.Matcher{eq("a", "b")}, StartsAt: t0}, "zero end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sil.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, silence.ErrInvalid)):
				t.Fatalf("Validate() = %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestValidatePosted(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name       string
		start, end time.Duration
		want       string
	}{
		{"future", time.Minute, time.Hour, ""},
		{"started in the past, ends in the future", -time.Hour, time.Hour, ""},
		{"start equals end", time.Hour, time.Hour, "start time must be before end time"},
		{"start after end", 2 * time.Hour, time.Hour, "start time must be before end time"},
		{"ended", -2 * time.Hour, -time.Hour, "end time can't be in the past"},
	} {
		s := sil(tc.start, tc.end, eq("a", "b"))
		err := s.ValidatePosted(now)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ValidatePosted = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestMatching(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []silence.Matcher
		ls   model.LabelSet
		want bool
	}{
		{"equal", []silence.Matcher{eq("alertname", "A")}, model.LabelSet{"alertname": "A", "x": "y"}, true},
		{"equal, other value", []silence.Matcher{eq("alertname", "A")}, model.LabelSet{"alertname": "B"}, false},
		{"all matchers must match", []silence.Matcher{eq("alertname", "A"), eq("env", "prod")}, model.LabelSet{"alertname": "A", "env": "dev"}, false},
		{"regexp is anchored", []silence.Matcher{re("instance", "db")}, model.LabelSet{"instance": "db1"}, false},
		{"regexp", []silence.Matcher{re("instance", "db.*")}, model.LabelSet{"instance": "db1"}, true},
		{"not equal", []silence.Matcher{eq("a", "b"), {Name: "env", Value: "prod"}}, model.LabelSet{"a": "b", "env": "dev"}, true},
		{"not equal, missing label is empty", []silence.Matcher{eq("a", "b"), {Name: "env", Value: "prod"}}, model.LabelSet{"a": "b"}, true},
		{"not regexp", []silence.Matcher{eq("a", "b"), {Name: "env", Value: "pr.*", IsRegex: true}}, model.LabelSet{"a": "b", "env": "prod"}, false},
		{"equal empty matches a missing label", []silence.Matcher{eq("a", "b"), eq("team", "")}, model.LabelSet{"a": "b"}, true},
	} {
		s := sil(0, time.Hour, tc.ms...)
		ms, err := s.Compile()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := ms.Matches(tc.ls); got != tc.want {
			t.Errorf("%s: matches %v = %v, want %v", tc.name, tc.ls, got, tc.want)
		}
	}
}

// The update rules: which changes keep the silence's id (in place) and which
// replace it, by the state of the stored silence.
func TestCanUpdate(t *testing.T) {
	now := t0
	active := sil(-time.Hour, time.Hour, eq("a", "b"))
	pending := sil(time.Hour, 2*time.Hour, eq("a", "b"))
	expired := sil(-2*time.Hour, -time.Hour, eq("a", "b"))
	with := func(s silence.Silence, f func(*silence.Silence)) silence.Silence { f(&s); return s }
	for _, tc := range []struct {
		name       string
		prev, next silence.Silence
		want       bool
	}{
		{"active: extend the end", active, with(active, func(s *silence.Silence) { s.EndsAt = s.EndsAt.Add(time.Hour) }), true},
		{"active: shorten the end, still in the future", active, with(active, func(s *silence.Silence) { s.EndsAt = now.Add(time.Minute) }), true},
		{"active: end now", active, with(active, func(s *silence.Silence) { s.EndsAt = now }), true},
		{"active: end in the past", active, with(active, func(s *silence.Silence) { s.EndsAt = now.Add(-time.Minute) }), false},
		{"active: change the comment", active, with(active, func(s *silence.Silence) { s.Comment = "new" }), true},
		{"active: start changed by less than a second (JSON round trip)", active, with(active, func(s *silence.Silence) { s.StartsAt = s.StartsAt.Add(300 * time.Millisecond) }), true},
		{"active: move the start", active, with(active, func(s *silence.Silence) { s.StartsAt = s.StartsAt.Add(time.Minute) }), false},
		{"active: change a matcher", active, with(active, func(s *silence.Silence) { s.Matchers = []silence.Matcher{eq("a", "c")} }), false},
		{"active: add a matcher", active, with(active, func(s *silence.Silence) { s.Matchers = append(s.Matchers, eq("x", "y")) }), false},
		{"pending: move the start later", pending, with(pending, func(s *silence.Silence) { s.StartsAt = s.StartsAt.Add(time.Minute) }), true},
		{"pending: move the start to now", pending, with(pending, func(s *silence.Silence) { s.StartsAt = now }), true},
		{"pending: move the start into the past", pending, with(pending, func(s *silence.Silence) { s.StartsAt = now.Add(-time.Minute) }), false},
		{"pending: change the matchers", pending, with(pending, func(s *silence.Silence) { s.Matchers = []silence.Matcher{re("a", "b")} }), false},
		{"expired: never in place", expired, with(expired, func(s *silence.Silence) { s.EndsAt = now.Add(time.Hour) }), false},
		{"expired: even unchanged", expired, expired, false},
	} {
		if got := silence.CanUpdate(&tc.prev, &tc.next, now); got != tc.want {
			t.Errorf("%s: CanUpdate = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestExpired(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name             string
		s                silence.Silence
		ok               bool
		wantStart, wantE time.Time
	}{
		{"active ends now", sil(-time.Hour, time.Hour, eq("a", "b")), true, t0.Add(-time.Hour), now},
		{"pending starts and ends now", sil(time.Hour, 2*time.Hour, eq("a", "b")), true, now, now},
		{"expired stays", sil(-2*time.Hour, -time.Hour, eq("a", "b")), false, t0.Add(-2 * time.Hour), t0.Add(-time.Hour)},
	} {
		got, ok := silence.Expired(tc.s, now)
		if ok != tc.ok || !got.StartsAt.Equal(tc.wantStart) || !got.EndsAt.Equal(tc.wantE) {
			t.Errorf("%s: Expired = %v %v..%v, want %v %v..%v", tc.name, ok, got.StartsAt, got.EndsAt, tc.ok, tc.wantStart, tc.wantE)
		}
		if ok && got.State(now.Add(time.Nanosecond)) != silence.StateExpired {
			t.Errorf("%s: not expired right after", tc.name)
		}
	}
}

func TestMatchesFilter(t *testing.T) {
	s := sil(0, time.Hour, eq("alertname", "A"), re("instance", "db.*"))
	parse := func(in string) matcher.Matchers {
		ms, err := matcher.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	for in, want := range map[string]bool{
		`{}`:                               true,
		`{alertname="A"}`:                  true,
		`{alertname="A",instance=~"db.*"}`: true,
		`{alertname=~"A"}`:                 false, // operator must be the same
		`{instance="db.*"}`:                false,
		`{alertname="B"}`:                  false,
		`{alertname="A",team="x"}`:         false,
		`{instance=~"db.*",alertname="A"}`: true,
	} {
		if got := s.MatchesFilter(parse(in)); got != want {
			t.Errorf("MatchesFilter(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestSort(t *testing.T) {
	now := t0
	s := func(id string, start, end time.Duration) silence.Silence {
		x := sil(start, end, eq("a", "b"))
		x.ID = id
		return x
	}
	sils := []silence.Silence{
		s("expired-old", -5*time.Hour, -4*time.Hour),
		s("pending-late", 3*time.Hour, 4*time.Hour),
		s("active-long", -time.Hour, 5*time.Hour),
		s("expired-recent", -2*time.Hour, -time.Hour),
		s("pending-soon", time.Hour, 4*time.Hour),
		s("active-short", -time.Hour, time.Hour),
	}
	silence.Sort(sils, now)
	var got []string
	for _, x := range sils {
		got = append(got, x.ID)
	}
	want := "active-short active-long pending-soon pending-late expired-recent expired-old"
	if strings.Join(got, " ") != want {
		t.Fatalf("order = %v, want %s", got, want)
	}
}

// isEqual defaults to true when a client leaves it out, as in the API's
// schema.
func TestMatcherJSONDefaultIsEqual(t *testing.T) {
	var ms []silence.Matcher
	if err := json.Unmarshal([]byte(`[{"name":"a","value":"b","isRegex":false},{"name":"c","value":"d","isRegex":true,"isEqual":false}]`), &ms); err != nil {
		t.Fatal(err)
	}
	if !ms[0].IsEqual || ms[0].Type() != matcher.Equal || ms[1].IsEqual || ms[1].Type() != matcher.NotRegexp {
		t.Fatalf("decoded %+v", ms)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-02T00:00:00Z","createdBy":"x","comment":"y"}`))
	f.Add([]byte(`{"id":"x","matchers":[{"name":"a","value":"(","isRegex":true}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := silence.Decode(b)
		if err != nil {
			return
		}
		if s.Validate() == nil {
			if _, err := s.Compile(); err != nil {
				t.Fatalf("valid silence does not compile: %v", err)
			}
		}
	})
}

// A silence past the limits is invalid, with the limit named.
func TestSilenceLimits(t *testing.T) {
	var ms []silence.Matcher
	for i := range silence.MaxMatchers + 1 {
		ms = append(ms, eq(fmt.Sprint("l", i), "v"))
	}
	for name, s := range map[string]silence.Silence{
		"matchers": sil(0, time.Hour, ms...),
		"regex":    sil(0, time.Hour, re("a", strings.Repeat("x", silence.MaxMatcherValueBytes+1))),
	} {
		if err := s.Validate(); !errors.Is(err, silence.ErrInvalid) || !strings.Contains(err.Error(), "at most") {
			t.Errorf("%s: %v, want invalid naming the limit", name, err)
		}
	}
}

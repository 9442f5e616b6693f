package timeinterval

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func parse(t *testing.T, y string) TimeInterval {
	t.Helper()
	var ti TimeInterval
	if err := yaml.Unmarshal([]byte(y), &ti); err != nil {
		t.Fatalf("parse %q: %v", y, err)
	}
	return ti
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestContainsTime(t *testing.T) {
	tests := []struct {
		name     string
		interval string
		in, out  []string // RFC 3339 instants inside and outside
	}{
		{
			name:     "times: start included, end excluded",
			interval: `times: [{start_time: "09:00", end_time: "17:00"}]`,
			in:       []string{"2024-03-04T09:00:00Z", "2024-03-04T16:59:59Z"},
			out:      []string{"2024-03-04T08:59:59Z", "2024-03-04T17:00:00Z"},
		},
		{
			name:     "times: 24:00 ends the day",
			interval: `times: [{start_time: "17:00", end_time: "24:00"}]`,
			in:       []string{"2024-03-04T23:59:59Z", "2024-03-04T17:00:00Z"},
			out:      []string{"2024-03-05T00:00:00Z"},
		},
		{
			name:     "times: any of several ranges",
			interval: `times: [{start_time: "00:00", end_time: "09:00"}, {start_time: "17:30", end_time: "24:00"}]`,
			in:       []string{"2024-03-04T08:59:00Z", "2024-03-04T17:30:00Z"},
			out:      []string{"2024-03-04T09:00:00Z", "2024-03-04T17:29:59Z"},
		},
		{
			name:     "weekdays: inclusive range, case-insensitive",
			interval: `weekdays: ['Monday:FRIDAY']`,
			in:       []string{"2024-03-04T00:00:00Z" /* Mon */, "2024-03-08T23:59:59Z" /* Fri */},
			out:      []string{"2024-03-03T23:59:59Z" /* Sun */, "2024-03-09T00:00:00Z" /* Sat */},
		},
		{
			name:     "days_of_month: positive range",
			interval: `days_of_month: ['1:5']`,
			in:       []string{"2024-03-01T00:00:00Z", "2024-03-05T23:59:59Z"},
			out:      []string{"2024-03-06T00:00:00Z", "2024-02-29T12:00:00Z"},
		},
		{
			name:     "days_of_month: negative counts from the end (leap February)",
			interval: `days_of_month: ['-3:-1']`,
			in:       []string{"2024-02-27T00:00:00Z", "2024-02-29T23:59:59Z", "2023-02-26T00:00:00Z", "2024-01-31T00:00:00Z"},
			out:      []string{"2024-02-26T23:59:59Z", "2023-02-25T00:00:00Z", "2024-03-01T00:00:00Z"},
		},
		{
			name:     "days_of_month: positive start, negative end",
			interval: `days_of_month: ['2:-2']`,
			in:       []string{"2024-04-02T00:00:00Z", "2024-04-29T23:59:59Z"},
			out:      []string{"2024-04-01T23:59:59Z", "2024-04-30T00:00:00Z"},
		},
		{
			name:     "days_of_month: clamped to the month's end",
			interval: `days_of_month: ['25:31']`,
			in:       []string{"2023-02-28T12:00:00Z", "2024-04-30T12:00:00Z"},
			out:      []string{"2023-02-24T12:00:00Z"},
		},
		{
			name:     "days_of_month: a day the month lacks never matches",
			interval: `days_of_month: ['31']`,
			in:       []string{"2024-05-31T00:00:00Z"},
			out:      []string{"2024-04-30T00:00:00Z", "2024-05-01T00:00:00Z"},
		},
		{
			name:     "months: names and numbers",
			interval: `months: ['may:august', '12']`,
			in:       []string{"2024-05-01T00:00:00Z", "2024-08-31T23:59:59Z", "2024-12-15T00:00:00Z"},
			out:      []string{"2024-04-30T23:59:59Z", "2024-09-01T00:00:00Z", "2024-11-30T00:00:00Z"},
		},
		{
			name:     "years",
			interval: `years: ['2020:2022', '2030']`,
			in:       []string{"2020-01-01T00:00:00Z", "2022-12-31T23:59:59Z", "2030-06-01T00:00:00Z"},
			out:      []string{"2019-12-31T23:59:59Z", "2023-01-01T00:00:00Z"},
		},
		{
			name:     "location: evaluated in the interval's time zone",
			interval: "times: [{start_time: \"09:00\", end_time: \"17:00\"}]\nweekdays: [monday]\nlocation: Australia/Sydney",
			// Monday 09:00 in Sydney (UTC+11 in March) is Sunday 22:00 UTC.
			in:  []string{"2024-03-03T22:00:00Z", "2024-03-04T09:00:00+11:00"},
			out: []string{"2024-03-03T21:59:59Z", "2024-03-04T09:00:00Z"},
		},
		{
			name:     "no location: UTC, whatever the instant's zone",
			interval: `times: [{start_time: "09:00", end_time: "17:00"}]`,
			in:       []string{"2024-03-04T11:00:00+02:00"},
			out:      []string{"2024-03-04T10:00:00+02:00"},
		},
		{
			name:     "all fields must match",
			interval: "weekdays: [saturday]\nmonths: [march]",
			in:       []string{"2024-03-09T12:00:00Z"},
			out:      []string{"2024-04-06T12:00:00Z", "2024-03-08T12:00:00Z"},
		},
		{
			name:     "empty interval contains everything",
			interval: `{}`,
			in:       []string{"2024-03-09T12:00:00Z", "1999-12-31T23:59:59Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ti := parse(t, tt.interval)
			for _, s := range tt.in {
				if !ti.ContainsTime(at(s)) {
					t.Errorf("%s should be inside", s)
				}
			}
			for _, s := range tt.out {
				if ti.ContainsTime(at(s)) {
					t.Errorf("%s should be outside", s)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`times: [{start_time: "17:00", end_time: "09:00"}]`, "must be before end_time"},
		{`times: [{start_time: "09:00", end_time: "09:00"}]`, "must be before end_time"},
		{`times: [{start_time: "9:00", end_time: "17:00"}]`, `invalid time "9:00"`},
		{`times: [{start_time: "09:00", end_time: "24:01"}]`, `invalid time "24:01"`},
		{`times: [{start_time: "09:60", end_time: "10:00"}]`, `invalid time "09:60"`},
		{`times: [{start_time: "09:00"}]`, "both start_time and end_time must be provided"},
		{`times: [{start_time: "09:00", end_time: "10:00", zone: x}]`, "field zone not found"},
		{`weekdays: ['saturday:monday']`, "ends before it starts"},
		{`weekdays: ['funday']`, `"funday" is not a valid weekday`},
		{`weekdays: ['monday:tuesday:friday']`, "invalid range"},
		{`days_of_month: ['0']`, "0 is not a valid day of the month"},
		{`days_of_month: ['32']`, "32 is not a valid day of the month"},
		{`days_of_month: ['-32:-1']`, "-32 is not a valid day of the month"},
		{`days_of_month: ['-5:5']`, "end day must be negative if start day is negative"},
		{`days_of_month: ['-1:-3']`, "always before start day"},
		{`days_of_month: ['10:2']`, "always before start day"},
		{`months: ['13']`, `"13" is not a valid month`},
		{`months: ['march:january']`, "end month january is before start month march"},
		{`years: ['2022:2020']`, "end year 2020 is before start year 2022"},
		{`years: ['twenty']`, `"twenty" is not a valid year`},
		{`location: Mars/Olympus_Mons`, `invalid location "Mars/Olympus_Mons"`},
		{`weekdays: [[monday]]`, "expected a string"},
	}
	for _, tt := range tests {
		var ti TimeInterval
		err := yaml.Unmarshal([]byte(tt.in), &ti)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	const in = "times:\n  - start_time: \"09:00\"\n    end_time: \"24:00\"\nweekdays: ['monday:friday', sunday]\ndays_of_month: ['-3:-1', '7']\nmonths: ['january:march']\nyears: ['2024']\nlocation: Europe/Berlin\n"
	ti := parse(t, in)
	out, err := yaml.Marshal(ti)
	if err != nil {
		t.Fatal(err)
	}
	back := parse(t, string(out))
	for _, s := range []string{"2024-01-01T08:00:00Z", "2024-02-27T10:00:00Z", "2024-03-31T21:00:00Z", "2025-01-06T10:00:00Z"} {
		if ti.ContainsTime(at(s)) != back.ContainsTime(at(s)) {
			t.Errorf("%s: original and re-parsed intervals disagree\n%s", s, out)
		}
	}
}

func TestIntervals(t *testing.T) {
	in := Intervals{
		"weekend": {parse(t, `weekdays: [saturday, sunday]`)},
		"nights":  {parse(t, `times: [{start_time: "00:00", end_time: "06:00"}]`), parse(t, `times: [{start_time: "22:00", end_time: "24:00"}]`)},
	}
	got, err := in.Contains([]string{"weekend", "nights"}, at("2024-03-09T23:00:00Z"))
	if err != nil || len(got) != 2 {
		t.Errorf("Saturday 23:00: got %v, %v; want both", got, err)
	}
	got, err = in.Contains([]string{"weekend", "nights"}, at("2024-03-04T12:00:00Z"))
	if err != nil || len(got) != 0 {
		t.Errorf("Monday noon: got %v, %v; want none", got, err)
	}
	if _, err := in.Contains([]string{"holidays"}, at("2024-03-04T12:00:00Z")); err == nil {
		t.Error("unknown name: want an error")
	}
}

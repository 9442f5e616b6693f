package notification

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"9227000000", time.Hour, true}, // capped, and no overflow
		{"99999999999999999999", 0, false},
		{t0.Add(time.Minute).Format(http.TimeFormat), time.Minute, true},
		{t0.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		d, ok := ParseRetryAfter(tt.in, t0)
		if d != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, d, ok, tt.want, tt.ok)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := ParseRetryAfter(s, t0); ok && (d < 0 || d > MaxRetryAfter) {
			t.Fatalf("ParseRetryAfter(%q) = %v: out of [0, %v]", s, d, MaxRetryAfter)
		}
	})
}

func TestFailed(t *testing.T) {
	base := errors.New("boom")
	err := Failed(ReasonRateLimited, base)
	if r, ok := FailureReason(err); !ok || r != ReasonRateLimited || !errors.Is(err, base) || err.Error() != "boom" {
		t.Fatalf("Failed: %v %v %v", r, ok, err)
	}
	if _, ok := FailureReason(base); ok {
		t.Fatal("unmarked error has a reason")
	}
	if Failed(ReasonOther, nil) != nil {
		t.Fatal("Failed(nil) != nil")
	}
}

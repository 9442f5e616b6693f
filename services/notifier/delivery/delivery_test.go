package delivery

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
)

func TestTruncateRunes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"héllo", 5, "héllo", false},
		{"héllo", 4, "hél…", true},
		{"héllo", 1, "h", true},
		{"héllo", 0, "", true},
	} {
		if got, cut := TruncateRunes(tc.in, tc.n); got != tc.want || cut != tc.cut {
			t.Errorf("TruncateRunes(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, cut, tc.want, tc.cut)
		}
	}
}

func TestTruncateBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"héllo", 6, "héllo", false},
		{"héllo", 5, "h…", true}, // é is not cut in half
		{"héllo", 2, "..", true},
	} {
		got, cut := TruncateBytes(tc.in, tc.n)
		if got != tc.want || cut != tc.cut || len(got) > tc.n {
			t.Errorf("TruncateBytes(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, cut, tc.want, tc.cut)
		}
	}
}

// A vendor's policy: its rate-limit statuses and body delays, its error
// text, and its 2xx refusals; secrets scrubbed from all of them.
func TestSendClassifiesByPolicy(t *testing.T) {
	const token = "t0k3nS3cr3t"
	policy := Policy{
		Name:           "vendor",
		RateLimitCodes: []int{http.StatusForbidden},
		Detail: func(code int, body []byte) string {
			return "vendor says: " + string(body)
		},
		RetryAfter: func(body []byte) (time.Duration, bool) {
			return 9 * time.Second, strings.Contains(string(body), "later")
		},
		Refused: func(body []byte) error {
			if strings.Contains(string(body), "refused") {
				return errors.New("refused: " + string(body))
			}
			return nil
		},
	}
	for _, tc := range []struct {
		name      string
		status    int
		header    string
		body      string
		retryable bool
		delay     time.Duration
		reason    string
	}{
		{name: "ok", status: 200, body: "fine"},
		{name: "2xx refusal", status: 200, body: "refused " + token, reason: notification.ReasonClientError},
		{name: "403 rate limit with body delay", status: 403, body: "later " + token, retryable: true, delay: 9 * time.Second, reason: notification.ReasonRateLimited},
		{name: "429 header wins", status: 429, header: "2", body: "later", retryable: true, delay: 2 * time.Second, reason: notification.ReasonRateLimited},
		{name: "503", status: 503, body: token, retryable: true, reason: notification.ReasonServerError},
		{name: "404", status: 404, body: "no such " + token, reason: notification.ReasonClientError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := nt.NewServer(t, func(w http.ResponseWriter, _ nt.Request, _ int) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			u, _ := url.Parse(srv.URL + "/api")
			answer, retryable, err := Send(t.Context(), srv.Client(), policy, Request{URL: u, Body: []byte(`{}`), Secrets: secret.Of(token)}, time.Now())
			if tc.reason == "" {
				if err != nil || string(answer) != tc.body {
					t.Fatalf("answer %q, err %v", answer, err)
				}
				req := srv.Only(t)
				if req.Header.Get("Content-Type") != "application/json" || req.Header.Get("User-Agent") != UserAgent {
					t.Errorf("headers %v", req.Header)
				}
				return
			}
			if err == nil || retryable != tc.retryable {
				t.Fatalf("retryable %v, err %v", retryable, err)
			}
			if r, _ := notification.FailureReason(err); r != tc.reason {
				t.Errorf("reason %q, want %q", r, tc.reason)
			}
			if d, ok := fault.RetryDelay(err); d != tc.delay || ok != (tc.delay != 0) {
				t.Errorf("delay %v, %v; want %v", d, ok, tc.delay)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

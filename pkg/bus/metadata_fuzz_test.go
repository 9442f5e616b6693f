package bus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// FuzzName: every input becomes a valid, bounded JetStream name, and names
// that are already valid stay as they are.
func FuzzName(f *testing.F) {
	for _, s := range []string{"klaxon.alerts.in", "", "a_b", "klaxon.notify.>", "x*y z\t/\\", "ü", strings.Repeat("a.", 80)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Name(s)
		if n == "" || len(n) > maxNameLen {
			t.Fatalf("Name(%q) = %q: empty or longer than %d", s, n, maxNameLen)
		}
		for _, c := range []byte(n) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("Name(%q) = %q: invalid byte %q", s, n, c)
			}
		}
		if n != Name(s) {
			t.Fatalf("Name(%q) not deterministic", s)
		}
		if s != "" && len(s) <= maxNameLen && !strings.ContainsFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) && n != s {
			t.Fatalf("Name(%q) = %q, want it unchanged", s, n)
		}
	})
}

// FuzzMetadataHeaders: metadata either becomes NATS headers that read back
// to the same metadata, or is refused with ErrInvalidHeader because it
// could not travel in a header.
func FuzzMetadataHeaders(f *testing.F) {
	f.Add("trace", "abc", "uuid-1", []byte("{}"))
	f.Add(MetaMsgID, "fp:1", "u", []byte(nil))
	f.Add(MetaDeliveries, "7", "u", []byte("x"))
	f.Add("bad key", "v", "u", []byte("x"))
	f.Add("k", "a\r\nInjected: 1", "u", []byte("x"))
	f.Add("k", "v", "uuid\n", []byte("x"))
	f.Fuzz(func(t *testing.T, key, value, uuid string, payload []byte) {
		in := message.NewMessage(uuid, payload)
		in.Metadata.Set(key, value)
		nm, err := toNATS("klaxon.fuzz", in)
		invalid := validHeader(key, value) != nil && !deliveryOnly[key] || validHeader(headerUUID, uuid) != nil
		if err != nil {
			if !errors.Is(err, ErrInvalidHeader) || !invalid {
				t.Fatalf("toNATS(%q=%q, uuid %q): unexpected error %v", key, value, uuid, err)
			}
			return
		}
		if invalid {
			t.Fatalf("toNATS accepted %q=%q uuid %q", key, value, uuid)
		}
		for k, vs := range nm.Header {
			for _, v := range vs {
				if strings.ContainsAny(k, ": \r\n") || strings.ContainsAny(v, "\r\n") {
					t.Fatalf("header %q=%q would break the protocol", k, v)
				}
			}
		}
		out := fromNATS(nm.Header, nm.Data, delivery{Subject: "klaxon.fuzz", Stream: "S", StreamSeq: 3, Deliveries: 1, MaxDeliver: 5, Published: time.Unix(0, 0)})
		wantUUID := uuid
		if uuid == "" {
			wantUUID = "S:3" // no id travelled: stream and sequence
			if key == MetaMsgID && value != "" {
				wantUUID = value
			}
		}
		if out.UUID != wantUUID || string(out.Payload) != string(payload) {
			t.Fatalf("round trip: uuid %q payload %q, want %q %q", out.UUID, out.Payload, wantUUID, payload)
		}
		switch {
		case deliveryOnly[key]:
			if key != headerUUID && key != MetaRetryAfter && out.Metadata.Get(key) == value && value != "" &&
				!(key == MetaDeliveries && value == "1" || key == MetaMaxDeliver && value == "5" || key == MetaStreamSeq && value == "3" || key == MetaSubject && value == "klaxon.fuzz") {
				t.Fatalf("delivery-only %q=%q was published", key, value)
			}
		case key == MetaMsgID && value == "":
			if got := out.Metadata.Get(MetaMsgID); got != uuid {
				t.Fatalf("empty %s: got %q, want the uuid", MetaMsgID, got)
			}
		default:
			if got := out.Metadata.Get(key); got != value {
				t.Fatalf("metadata %q = %q after round trip, want %q", key, got, value)
			}
		}
	})
}

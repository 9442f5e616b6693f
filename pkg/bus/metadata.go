package bus

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys set on delivered messages / read on published ones.
const (
	// MetaMsgID is read on publish: the deterministic dedup id sent as the
	// Nats-Msg-Id header; default msg.UUID. Delivered messages carry it too.
	MetaMsgID = "Nats-Msg-Id"
	// MetaSubject is set on delivery: the NATS subject of the message.
	MetaSubject = "klaxon-subject"
	// MetaDeliveries is set on delivery: JetStream's NumDelivered (1 = first).
	MetaDeliveries = "klaxon-deliveries"
	// MetaMaxDeliver is set on delivery: the consumer's MaxDeliver (-1 = unlimited).
	MetaMaxDeliver = "klaxon-max-deliver"
	// MetaStreamSeq is set on delivery: the message's stream sequence.
	MetaStreamSeq = "klaxon-stream-seq"
	// MetaPublished is set on delivery: the RFC3339Nano JetStream timestamp
	// of the message.
	MetaPublished = "klaxon-published"
	// MetaRetryAfter is set by a handler (or the Router's dead-letter
	// middleware) before Nack: a Go duration ("1.5s") to wait before
	// redelivery instead of SubscriberConfig.Backoff.
	MetaRetryAfter = "klaxon-retry-after"
)

// headerUUID carries the watermill message UUID across NATS.
const headerUUID = "klaxon-uuid"

// deliveryOnly are the metadata keys that describe one delivery; they are
// never published as headers.
var deliveryOnly = map[string]bool{
	MetaSubject:    true,
	MetaDeliveries: true,
	MetaMaxDeliver: true,
	MetaStreamSeq:  true,
	MetaPublished:  true,
	MetaRetryAfter: true,
	headerUUID:     true,
}

// ErrInvalidHeader is returned (as a final error) for metadata that cannot
// be a NATS header: an empty key, a key with ':' or white space, or a value
// with CR or LF.
var ErrInvalidHeader = errors.New("metadata cannot be a NATS header")

// toNATS builds the NATS message for msg on subject. Its Nats-Msg-Id is
// MetaMsgID, or the message UUID when that is empty.
func toNATS(subject string, msg *message.Message) (*nats.Msg, error) {
	h := nats.Header{}
	for k, v := range msg.Metadata {
		if deliveryOnly[k] {
			continue
		}
		if err := validHeader(k, v); err != nil {
			return nil, err
		}
		h[k] = []string{v}
	}
	if msg.UUID != "" {
		if err := validHeader(headerUUID, msg.UUID); err != nil {
			return nil, err
		}
		h[headerUUID] = []string{msg.UUID}
		if h.Get(MetaMsgID) == "" {
			h[MetaMsgID] = []string{msg.UUID}
		}
	}
	return &nats.Msg{Subject: subject, Header: h, Data: msg.Payload}, nil
}

func validHeader(k, v string) error {
	if k == "" || strings.ContainsAny(k, ": \t\r\n") {
		return fmt.Errorf("%w: key %q", ErrInvalidHeader, k)
	}
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%w: value of %q", ErrInvalidHeader, k)
	}
	return nil
}

// delivery is what JetStream says about one delivery of a message.
type delivery struct {
	Subject    string
	Stream     string
	StreamSeq  uint64
	Deliveries uint64
	MaxDeliver int
	Published  time.Time
}

// fromNATS builds the watermill message for a delivered message: headers
// become metadata (first value of each), the delivery facts are added. The
// UUID is the publisher's, else the Nats-Msg-Id, else stream:sequence, so
// it is stable across redeliveries.
func fromNATS(h nats.Header, data []byte, d delivery) *message.Message {
	uuid := h.Get(headerUUID)
	if uuid == "" {
		uuid = h.Get(MetaMsgID)
	}
	if uuid == "" {
		uuid = d.Stream + ":" + strconv.FormatUint(d.StreamSeq, 10)
	}
	msg := message.NewMessage(uuid, data)
	for k, vs := range h {
		if deliveryOnly[k] || len(vs) == 0 {
			continue
		}
		msg.Metadata[k] = vs[0]
	}
	msg.Metadata[MetaSubject] = d.Subject
	msg.Metadata[MetaDeliveries] = strconv.FormatUint(d.Deliveries, 10)
	msg.Metadata[MetaMaxDeliver] = strconv.Itoa(d.MaxDeliver)
	msg.Metadata[MetaStreamSeq] = strconv.FormatUint(d.StreamSeq, 10)
	msg.Metadata[MetaPublished] = d.Published.UTC().Format(time.RFC3339Nano)
	return msg
}

// deliveryOf reads the delivery facts of a JetStream message.
func deliveryOf(m jetstream.Msg, maxDeliver int) (delivery, error) {
	md, err := m.Metadata()
	if err != nil {
		return delivery{}, fmt.Errorf("jetstream metadata: %w", err)
	}
	return delivery{
		Subject:    m.Subject(),
		Stream:     md.Stream,
		StreamSeq:  md.Sequence.Stream,
		Deliveries: md.NumDelivered,
		MaxDeliver: maxDeliver,
		Published:  md.Timestamp,
	}, nil
}

// Deliveries returns how many times msg was delivered (1 = first) and the
// consumer's MaxDeliver (-1 = unlimited), from its metadata; ok is false
// when msg did not come from a Subscriber.
func Deliveries(msg *message.Message) (n, maxDeliver int, ok bool) {
	n, err1 := strconv.Atoi(msg.Metadata.Get(MetaDeliveries))
	maxDeliver, err2 := strconv.Atoi(msg.Metadata.Get(MetaMaxDeliver))
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return n, maxDeliver, true
}

// SetRetryAfter asks the Subscriber to redeliver msg no sooner than d after
// its Nack.
func SetRetryAfter(msg *message.Message, d time.Duration) {
	msg.Metadata.Set(MetaRetryAfter, d.String())
}

// retryAfter parses MetaRetryAfter; ok is false when absent or invalid.
func retryAfter(msg *message.Message) (time.Duration, bool) {
	v := msg.Metadata.Get(MetaRetryAfter)
	if v == "" {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// maxNameLen keeps generated consumer and stream names well under the
// server's limit (255) and file-name limits of the file store.
const maxNameLen = 64

// Name turns a subject (or any string) into a valid JetStream consumer or
// stream name: every byte other than ASCII letters, digits, '-' and '_'
// becomes '_' ("klaxon.alerts.in" → "klaxon_alerts_in"). A name longer than
// 64 bytes is cut and suffixed with a hash of the whole input, so distinct
// long inputs stay distinct. Two subjects that differ only in replaced
// characters ("a.b", "a_b") get the same name: give such topics a Durable.
func Name(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	if len(b) > maxNameLen {
		sum := sha256.Sum256([]byte(s))
		return string(b[:maxNameLen-17]) + "_" + hex.EncodeToString(sum[:8])
	}
	return string(b)
}

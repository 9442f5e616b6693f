package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/pkg/nflog"
	"github.com/klaxon-alerts/klaxon/services/notifier/nflogstore"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
)

// Suppression reasons (klaxon_notifications_suppressed_total{reason}).
const (
	// suppressedAlreadyNotified: a redelivery, or a flush older than the one
	// the log records.
	suppressedAlreadyNotified = "already_notified"
	// suppressedNoChange: DedupStage found nothing to tell (nflog.ReasonNone).
	suppressedNoChange = "no_change"
	// suppressedResolvedOnly: the flush was due, but the integration does not
	// send resolved alerts and nothing else was left; the log is updated.
	suppressedResolvedOnly = "resolved_not_sent"
)

// process applies one flush to its integration: the DedupStage decision
// against the log, the claim of the send, the send, the log write (apply).
// Every return says how the message ends (nil: ack). streamSeq identifies
// the message on the notify stream across its deliveries.
func (n *Notifier) process(ctx context.Context, note *contract.Notification, streamSeq uint64) error {
	in := note.Integration
	log := n.logger.With(
		slog.String("receiver", in.Receiver),
		slog.String("integration", in.Type),
		slog.Int("index", in.Index),
		slog.String("group_key", note.GroupKey),
		slog.Uint64("flush_seq", note.FlushSeq))

	integ, err := n.integrations.get(n.config(), in)
	if err != nil {
		n.metrics.unusable(in.Type)
		return fault.Final(err)
	}

	key := nflogstore.Key(note.GroupKey, in)
	unlock := n.locks.lock(key)
	defer unlock()

	// A group's first flush almost always finds no log entry: it skips the
	// read and claims by creating the key. A key that exists (an earlier
	// delivery's claim, another flush's, the log of an earlier group with
	// this key) fails the create, and the flush is decided again on what
	// the log holds.
	err = n.apply(ctx, note, streamSeq, integ, key, note.FlushSeq == 1, log)
	if errors.Is(err, errLogExists) {
		err = n.apply(ctx, note, streamSeq, integ, key, false, log)
	}
	return err
}

// errLogExists: apply assumed no log entry, and the log has one.
var errLogExists = errors.New("notification log entry exists")

// apply is process's decision, claim, send and log write on the log entry
// at key, read first unless assumeAbsent. With assumeAbsent, a decision
// that would not end in a claimed send fails with errLogExists: it could
// differ on the real entry.
func (n *Notifier) apply(ctx context.Context, note *contract.Notification, streamSeq uint64, integ *integration, key string, assumeAbsent bool, log *slog.Logger) error {
	var (
		entry  *nflogstore.Entry
		rev    uint64
		resend bool
		err    error
	)
	if !assumeAbsent {
		if entry, rev, resend, err = n.awaitClaim(ctx, key, streamSeq, log); err != nil {
			return err
		}
	}
	if entry.Covers(note.FlushSeq, note.FlushedAt) {
		n.metrics.suppressed.WithLabelValues(suppressedAlreadyNotified).Inc()
		log.Debug("flush already notified", slog.Uint64("logged_seq", entry.FlushSeq))
		return nil
	}

	// Everything is judged at the flush time, never at the time we run.
	at := note.FlushedAt
	firing, resolved := nflog.Partition(note.Alerts, at)
	send, reason := nflog.Decide(entry.StateOf(), firing, resolved, integ.sendResolved, time.Duration(note.RepeatInterval), at)
	alerts := note.Alerts
	if !integ.sendResolved {
		alerts = firingAt(alerts, at)
	}
	if assumeAbsent && (!send || len(alerts) == 0) {
		return errLogExists
	}
	if !send {
		n.metrics.suppressed.WithLabelValues(suppressedNoChange).Inc()
		log.Debug("nothing to notify")
		return nil
	}

	// The message the group's notifications edit (update_message) is kept
	// while the group's notification sequence lasts; a first notification
	// starts a new one.
	var message *notification.Message
	if entry != nil && reason != nflog.ReasonFirstNotification {
		message = entry.Message
	}
	sent := false
	if len(alerts) == 0 {
		n.metrics.suppressed.WithLabelValues(suppressedResolvedOnly).Inc()
		log.Debug("only resolved alerts, not sent", slog.String("reason", reason.String()))
	} else {
		// Claim the send first: if this process dies while sending, the
		// next delivery of this message knows the notification may have
		// gone out, and counts the resend.
		claim := nflogstore.Claim{StreamSeq: streamSeq, FlushSeq: note.FlushSeq, Until: n.now().Add(n.sendTimeout + claimMargin)}
		var claimRev uint64
		if assumeAbsent {
			claimRev, err = n.store.Create(ctx, key, entry.Claimed(note, claim))
			if errors.Is(err, nflogstore.ErrConflict) {
				return errLogExists
			}
		} else {
			claimRev, err = n.store.Put(ctx, key, entry.Claimed(note, claim), rev)
		}
		if err != nil {
			return fmt.Errorf("claim the send: %w", err)
		}
		rev = claimRev
		m, err := n.send(ctx, integ, note, alerts, reason, message, log)
		if err != nil {
			if _, rerr := n.store.Put(context.WithoutCancel(ctx), key, entry.Released(note), rev); rerr != nil {
				log.Warn("release of the send's claim failed; its retry will count as a repeat", slog.Any("err", rerr))
			}
			return err
		}
		message, sent = m, true
	}

	next := nflogstore.NewEntry(note, firing, resolved)
	next.Message = message
	superseded, err := n.commit(ctx, key, next, rev)
	if err != nil {
		// Redelivery will find the log without this flush and may send again.
		log.Error("notification log write failed", slog.Bool("sent", sent), slog.Any("err", err))
		return err
	}
	switch {
	case sent && superseded:
		n.metrics.repeated.Inc()
		log.Warn("notification repeated: the log already recorded this flush")
	case sent && resend:
		n.metrics.repeated.Inc()
		log.Warn("notification repeated: an earlier delivery claimed this send and never finished it")
	}
	return nil
}

// claimMargin is how long a send's claim outlives its send timeout.
const claimMargin = 2 * time.Second

// claimPoll is how often a flush waiting for another message's claim on its
// group looks again.
const claimPoll = 100 * time.Millisecond

// awaitClaim reads the log entry at key once no other message's send holds
// it. A claim by an earlier delivery of this same message (streamSeq) is
// taken over at once, with resend set: JetStream delivered the message
// again, so its previous holder stopped marking it in progress (it died),
// and what it claimed may have been sent. Another message's claim is waited
// for until it is cleared or expires (its holder died; its own redelivery
// will count any repeat).
func (n *Notifier) awaitClaim(ctx context.Context, key string, streamSeq uint64, log *slog.Logger) (entry *nflogstore.Entry, rev uint64, resend bool, err error) {
	for {
		entry, rev, err = n.store.Get(ctx, key)
		if errors.Is(err, nflogstore.ErrCorrupt) {
			log.Warn("notification log entry unreadable, treated as absent", slog.Any("err", err))
			return nil, rev, false, nil
		} else if err != nil {
			return nil, 0, false, err
		}
		if entry == nil || entry.Claim == nil {
			return entry, rev, false, nil
		}
		c := entry.Claim
		if c.StreamSeq == streamSeq {
			log.Warn("taking over the claim of an earlier delivery that never finished", slog.Uint64("claimed_flush_seq", c.FlushSeq))
			return entry, rev, true, nil
		}
		wait := c.Until.Sub(n.now())
		if wait <= 0 {
			log.Warn("another flush's claim expired, taking over", slog.Uint64("claimed_flush_seq", c.FlushSeq))
			return entry, rev, false, nil
		}
		t := time.NewTimer(min(wait, claimPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, 0, false, ctx.Err()
		case <-t.C:
		}
	}
}

// send delivers alerts through integ and classifies a failure. message is
// the receiver's message the group's notifications edit, if any; send
// returns the one to keep (nil for integrations that edit nothing).
func (n *Notifier) send(ctx context.Context, integ *integration, note *contract.Notification, alerts []alert.Alert, reason nflog.Reason, message *notification.Message, log *slog.Logger) (*notification.Message, error) {
	in := note.Integration
	// A send must end before its claim expires (sendTimeout + claimMargin),
	// or a flush of the same group could be sent alongside it.
	ctx, cancel := context.WithTimeoutCause(ctx, n.sendTimeout,
		fmt.Errorf("send not done within %s (the notifier's send timeout)", n.sendTimeout))
	defer cancel()
	nt := &notification.Notification{
		Receiver:    in.Receiver,
		GroupKey:    note.GroupKey,
		GroupLabels: note.GroupLabels,
		Alerts:      alerts,
		At:          note.FlushedAt,
		Reason:      reason.String(),
		ExternalURL: n.externalURL,
		Message:     message,
	}
	start := n.now()
	var (
		sent      *notification.Message
		retryable bool
		err       error
	)
	if ms, ok := integ.notifier.(MessageSender); ok {
		sent, retryable, err = ms.NotifyMessage(ctx, nt)
	} else {
		retryable, err = integ.notifier.Notify(ctx, nt)
	}
	failed := ""
	if err != nil {
		failed = failureReason(err)
	}
	n.metrics.attempted(in.Type, n.now().Sub(start).Seconds(), failed)
	if err != nil {
		// Integrations redact their secrets from errors.
		log.Warn("notify failed", slog.Bool("retryable", retryable), slog.Any("err", err))
		err = fmt.Errorf("notify %s/%s[%d]: %w", in.Receiver, in.Type, in.Index, err)
		if !retryable {
			return nil, fault.Final(err)
		}
		return nil, err
	}
	n.metrics.notifications.WithLabelValues(in.Type, reason.Label()).Inc()
	log.Info("notified", slog.String("reason", reason.String()), slog.Int("alerts", len(alerts)))
	return sent, nil
}

// commitAttempts bounds the retries of a log write that failed for a reason
// other than a conflict (NATS briefly unavailable) after a send: giving up
// means redelivery and possibly a repeated notification.
const commitAttempts = 4

func (n *Notifier) commit(ctx context.Context, key string, e *nflogstore.Entry, rev uint64) (bool, error) {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		superseded, err := n.store.Commit(ctx, key, e, rev)
		if err == nil || attempt == commitAttempts {
			return superseded, err
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, errors.Join(err, ctx.Err())
		case <-timer.C:
		}
		delay *= 2
	}
}

// firingAt returns the alerts that fire at t.
func firingAt(alerts []alert.Alert, t time.Time) []alert.Alert {
	res := make([]alert.Alert, 0, len(alerts))
	for _, a := range alerts {
		if !a.ResolvedAt(t) {
			res = append(res, a)
		}
	}
	return res
}

package contract

import (
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
)

// Version is the version of every event type below. A consumer rejects (as a
// final error) an event of a version it does not know.
const Version = 1

// AlertChanged is a real change of an alert's stored state (dedup → router).
type AlertChanged struct {
	Version     int          `json:"version"`
	Change      alert.Change `json:"change"`
	Fingerprint string       `json:"fingerprint"`
	Alert       alert.Alert  `json:"alert"`
}

// Route is the routing decision for one alert: which route matched, the
// receiver, the aggregation group and its timings. What Alertmanager passes
// through context (group key, receiver, repeat interval) is explicit here.
type Route struct {
	ID             string         `json:"id"`
	Receiver       string         `json:"receiver"`
	GroupKey       string         `json:"groupKey"`
	GroupLabels    model.LabelSet `json:"groupLabels"`
	GroupWait      model.Duration `json:"groupWait"`
	GroupInterval  model.Duration `json:"groupInterval"`
	RepeatInterval model.Duration `json:"repeatInterval"`
	// MuteTimeIntervals and ActiveTimeIntervals name time intervals.
	MuteTimeIntervals   []string `json:"muteTimeIntervals,omitempty"`
	ActiveTimeIntervals []string `json:"activeTimeIntervals,omitempty"`
}

// Group is what others read of a klaxon-groups value, which the grouper
// writes: an aggregation group's route and its alerts by fingerprint, as of
// their last change (their latest state is dedup's, in klaxon-alerts).
type Group struct {
	ID     string                  `json:"id"`
	Route  Route                   `json:"route"`
	Alerts map[string]*alert.Alert `json:"alerts"`
}

// StoredAlert is what others read of a klaxon-alerts value, which dedup
// writes: the alert in its latest state.
type StoredAlert struct {
	alert.Alert
}

// AlertRouted is an alert change on one matched route (router → grouper).
type AlertRouted struct {
	Version     int          `json:"version"`
	Change      alert.Change `json:"change"`
	Fingerprint string       `json:"fingerprint"`
	Alert       alert.Alert  `json:"alert"`
	Route       Route        `json:"route"`
}

// Integration identifies one integration of a receiver, as Alertmanager's
// notification log does: its type and its index among the receiver's
// configurations of that type.
type Integration struct {
	Receiver string `json:"receiver"`
	Type     string `json:"type"` // one of the Integration* constants
	Index    int    `json:"index"`
}

// Notification is one flush of one group for one receiver integration
// (grouper → notifier). The notifier decides from its notification log
// whether it is sent (Alertmanager's DedupStage).
type Notification struct {
	Version     int            `json:"version"`
	Integration Integration    `json:"integration"`
	GroupID     string         `json:"groupId"`
	GroupKey    string         `json:"groupKey"`
	GroupLabels model.LabelSet `json:"groupLabels"`
	// Alerts are the group's alerts at FlushedAt; their status is judged at
	// FlushedAt, never at the time the notifier happens to run.
	Alerts alert.List `json:"alerts"`
	// AlertsObject, when set, names the object of BucketFlushes that holds
	// Alerts instead: a notification too large for one message
	// (pkg/largeflush).
	AlertsObject   string         `json:"alertsObject,omitempty"`
	RepeatInterval model.Duration `json:"repeatInterval"`
	FlushSeq       uint64         `json:"flushSeq"`
	FlushedAt      time.Time      `json:"flushedAt"`
}

// DeadLetter is an input a stage could not process, with the reason.
type DeadLetter struct {
	Version  int               `json:"version"`
	Stage    string            `json:"stage"`
	Subject  string            `json:"subject"`
	Reason   string            `json:"reason"`
	Headers  map[string]string `json:"headers,omitempty"`
	Payload  []byte            `json:"payload"`
	FailedAt time.Time         `json:"failedAt"`
}

// SuppressedAlert is one alert a flush left out.
type SuppressedAlert struct {
	Fingerprint string         `json:"fingerprint"`
	Labels      model.LabelSet `json:"labels"`
	Status      string         `json:"status"` // "firing" or "resolved" at the flush
	// SilencedBy are the ids of the active silences matching the alert;
	// InhibitedBy the fingerprints of the firing alerts inhibiting it.
	SilencedBy  []string `json:"silencedBy,omitempty"`
	InhibitedBy []string `json:"inhibitedBy,omitempty"`
}

// Suppressed records why alerts of one flush were not notified (grouper →
// klaxon.suppressed.<reason>), so that an operator can ask "why was I not
// paged?". Reason is ReasonSilence, ReasonInhibition or ReasonTimeInterval;
// for a time interval the whole group is muted and MutedBy names the
// intervals (a mute_time_interval in force, or the active_time_intervals
// none of which is).
type Suppressed struct {
	Version  int               `json:"version"`
	Reason   string            `json:"reason"`
	GroupKey string            `json:"groupKey"`
	RouteID  string            `json:"routeId"`
	Receiver string            `json:"receiver"`
	Alerts   []SuppressedAlert `json:"alerts"`
	MutedBy  []string          `json:"mutedBy,omitempty"`
	At       time.Time         `json:"at"`
}

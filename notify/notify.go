// Package notify delivers everything linli sends later than the immediate
// reply: staff replies, alerts, reminders, surveys and notices. Every such
// message is an outbox row before it is sent; a dispatcher leases due rows,
// walks the resident's fallback chain (the channel they last used, then
// SMS) and records the outcome, so nothing is lost and nothing is sent twice.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"linli/store"
)

// Outbox kinds.
const (
	KindReply        = "reply"         // a staff reply to a resident
	KindTicketUpdate = "ticket_update" // claimed / resolved / reopened notices
	KindAlert        = "alert"         // to staff: a new ticket, an escalation, a failure
	KindReminder     = "reminder"      // booking and event reminders
	KindSurvey       = "survey"        // satisfaction survey
	KindNotice       = "notice"        // broadcasts
	KindVerifyCode   = "verify_code"   // phone binding code
)

// ChannelSMS is the channel name of SMS in rows and chains; ChannelStaff
// addresses the staff group wherever it lives (the wiring registers a
// Sender under this name that knows the group).
const (
	ChannelSMS   = "sms"
	ChannelStaff = "staff"
)

// OptOutSuffix ends every notice SMS, as China's rules for marketing and
// notice SMS require; a resident who replies TD is unsubscribed.
const OptOutSuffix = "回TD退订"

// Recipient is where one attempt goes.
type Recipient struct {
	ResidentID int64
	Channel    string
	Address    string // the channel's id: openid, chat id, phone
	Lang       string
}

// Sender pushes a message on one channel. Errors may implement
//
//	Unreachable() bool        // this channel cannot reach the recipient now: try the next one
//	Temporary() bool          // try this row again later
//	RetryAfter() time.Duration
//
// anything else is treated as temporary.
type Sender interface {
	Send(ctx context.Context, to Recipient, body store.OutboxBody) (providerID string, err error)
}

// SMSProvider sends one templated SMS (the log provider, Aliyun).
type SMSProvider interface {
	// Name identifies the provider in the outbox row ("log", "aliyun").
	Name() string
	SendSMS(ctx context.Context, phone, template string, params map[string]string, outID string) (bizID string, err error)
}

// Outbox stores rows and wakes the dispatcher.
type Outbox struct {
	st   *store.Store
	wake chan struct{}
	// dirty is set by every wake-up, so a dispatcher that is mid-run when
	// rows arrive looks once more before it stops.
	dirty atomic.Bool
}

// NewOutbox returns an outbox over st.
func NewOutbox(st *store.Store) *Outbox {
	return &Outbox{st: st, wake: make(chan struct{}, 1)}
}

// Enqueue stores rows for delivery; they survive a restart from here on.
func (o *Outbox) Enqueue(ctx context.Context, rows ...store.OutboxRow) error {
	if _, err := o.st.EnqueueOutbox(ctx, rows); err != nil {
		return fmt.Errorf("notify: enqueue: %w", err)
	}
	o.Wake()
	return nil
}

// Wake tells the dispatcher that rows are waiting (used after rows were
// stored in bulk without Enqueue, e.g. a broadcast).
func (o *Outbox) Wake() {
	o.dirty.Store(true)
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Woken is signalled after every enqueue, so a dispatcher can run at once
// instead of waiting for its next tick.
func (o *Outbox) Woken() <-chan struct{} { return o.wake }

func isUnreachable(err error) bool {
	var u interface{ Unreachable() bool }
	return errors.As(err, &u) && u.Unreachable()
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return true // unknown errors (network, 5xx) are worth another try
}

func retryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

// Backoff is the wait before attempt n+1: exponential from 10 s, capped at
// an hour, with ±25% jitter so many failing rows do not retry in lockstep.
func Backoff(attempt int) time.Duration {
	base := 10 * time.Second << min(attempt-1, 9)
	if base > time.Hour {
		base = time.Hour
	}
	jitter := time.Duration(rand.Int64N(int64(base)/2)) - base/4
	return base + jitter
}

func clip(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}

// MaskPhone hides the middle of a phone number for logs: 138****5678.
func MaskPhone(p string) string {
	if len(p) < 7 {
		return strings.Repeat("*", len(p))
	}
	return p[:3] + strings.Repeat("*", len(p)-7) + p[len(p)-4:]
}

// LogSMS is the SMS provider of the shipped config: it writes each SMS,
// phone masked, to the log; the outbox row keeps the rest.
type LogSMS struct{ Log *slog.Logger }

// Name implements SMSProvider.
func (LogSMS) Name() string { return "log" }

// SendSMS implements SMSProvider.
func (l LogSMS) SendSMS(_ context.Context, phone, template string, params map[string]string, outID string) (string, error) {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("sms (log provider)", "to", MaskPhone(phone), "template", template, "params", params, "out_id", outID)
	return "log-" + outID, nil
}

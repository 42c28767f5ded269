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
	"sync"
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
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Woken is signalled after every enqueue, so a dispatcher can run at once
// instead of waiting for its next tick.
func (o *Outbox) Woken() <-chan struct{} { return o.wake }

// Dispatcher sends due outbox rows.
type Dispatcher struct {
	st      *store.Store
	senders map[string]Sender
	pull    map[string]bool
	sms     SMSProvider
	log     *slog.Logger
	now     func() time.Time
	// StaffAlert, when set, is told of rows that reached nobody, so a person
	// can phone the resident.
	StaffAlert func(ctx context.Context, row store.OutboxRow, reason string)
	// Lease is how long a row is reserved for one attempt.
	Lease time.Duration
	// MaxAttempts bounds the retries of a temporarily failing row.
	MaxAttempts int
	// Batch is how many rows one run leases.
	Batch int
	mu    sync.Mutex // one run at a time in this process
}

// NewDispatcher returns a dispatcher with no channels; add them with Register.
func NewDispatcher(st *store.Store, sms SMSProvider, log *slog.Logger, now func() time.Time) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Dispatcher{st: st, senders: map[string]Sender{}, pull: map[string]bool{}, sms: sms, log: log, now: now,
		Lease: 2 * time.Minute, MaxAttempts: 8, Batch: 100}
}

// Register adds a push channel.
func (d *Dispatcher) Register(channel string, s Sender) { d.senders[channel] = s }

// RegisterPull adds a channel whose messages wait until the resident's
// client collects them (the web chat, the console).
func (d *Dispatcher) RegisterPull(channel string) { d.pull[channel] = true }

// RunOnce leases and sends due rows until none are left or ctx ends. It
// returns how many rows it handled.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	total := 0
	for ctx.Err() == nil {
		rows, err := d.st.LeaseOutbox(ctx, d.now(), d.Lease, d.Batch)
		if err != nil {
			return total, fmt.Errorf("notify: lease: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		// A row already handed to a channel is finished even during shutdown,
		// so its outcome is recorded; rows not started yet go back to pending.
		send := context.WithoutCancel(ctx)
		for i, r := range rows {
			if ctx.Err() != nil {
				if err := d.st.ReleaseOutbox(send, rows[i:]); err != nil {
					d.log.Error("outbox release", "err", err)
				}
				break
			}
			d.deliver(send, r)
			total++
		}
	}
	return total, ctx.Err()
}

// Run dispatches whenever the outbox is woken or every tick, until ctx ends.
func (d *Dispatcher) Run(ctx context.Context, o *Outbox, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if _, err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("outbox dispatch", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.Woken():
		}
	}
}

// deliver walks the fallback chain for one leased row and records the outcome.
func (d *Dispatcher) deliver(ctx context.Context, r store.OutboxRow) {
	out, reason := d.attempt(ctx, r)
	out.At = d.now()
	if out.Status == store.OutboxPending {
		if r.Attempts+1 >= d.MaxAttempts {
			out.Status = store.OutboxFailed
		} else if out.RetryAt.IsZero() {
			out.RetryAt = out.At.Add(Backoff(r.Attempts + 1))
		}
	}
	if out.Status == store.OutboxHeld {
		return // HoldOutbox already recorded it
	}
	if err := d.st.FinishOutbox(ctx, r.ID, out); err != nil {
		d.log.Error("outbox finish", "id", r.ID, "err", err)
		return
	}
	if (out.Status == store.OutboxUnreachable || out.Status == store.OutboxFailed) && d.StaffAlert != nil && r.Kind != KindAlert {
		d.StaffAlert(ctx, r, reason)
	}
}

// attempt tries the row's channels in order.
func (d *Dispatcher) attempt(ctx context.Context, r store.OutboxRow) (store.OutboxOutcome, string) {
	var chain []Recipient
	lang := r.Body.Lang
	if r.TargetChannel != "" {
		chain = append(chain, Recipient{ResidentID: r.ResidentID, Channel: r.TargetChannel, Address: r.TargetAddress, Lang: lang})
	} else if r.ResidentID != 0 {
		res, err := d.st.Resident(ctx, r.ResidentID)
		if err != nil {
			return store.OutboxOutcome{Status: store.OutboxPending, Error: err.Error()}, ""
		}
		ids, err := d.st.Identities(ctx, r.ResidentID)
		if err != nil {
			return store.OutboxOutcome{Status: store.OutboxPending, Error: err.Error()}, ""
		}
		for _, id := range ids {
			if id.Unreachable || id.Channel == "sms" {
				continue
			}
			addr := id.ExternalID
			if id.ChatID != "" {
				addr = id.ChatID
			}
			chain = append(chain, Recipient{ResidentID: r.ResidentID, Channel: id.Channel, Address: addr, Lang: lang})
		}
		if res.Phone != "" && r.Body.Template != "" {
			chain = append(chain, Recipient{ResidentID: r.ResidentID, Channel: "sms", Address: res.Phone, Lang: lang})
		}
	}
	var errs []string
	for _, to := range chain {
		if d.pull[to.Channel] {
			if err := d.st.HoldOutbox(ctx, r.ID, to.Channel, to.Address); err != nil {
				return store.OutboxOutcome{Status: store.OutboxPending, Error: err.Error()}, ""
			}
			return store.OutboxOutcome{Status: store.OutboxHeld}, ""
		}
		var (
			id       string
			err      error
			provider = to.Channel
		)
		switch {
		case to.Channel == "sms":
			if d.sms == nil {
				errs = append(errs, "sms: no provider")
				continue
			}
			provider = d.sms.Name()
			id, err = d.sms.SendSMS(ctx, to.Address, r.Body.Template, r.Body.Params, fmt.Sprint(r.ID))
		case d.senders[to.Channel] != nil:
			id, err = d.senders[to.Channel].Send(ctx, to, r.Body)
		default:
			errs = append(errs, to.Channel+": no sender")
			continue
		}
		if err == nil {
			return store.OutboxOutcome{Status: store.OutboxSent, Channel: to.Channel, Provider: provider, ProviderID: id}, ""
		}
		errs = append(errs, to.Channel+": "+err.Error())
		if isUnreachable(err) {
			continue
		}
		if !isTemporary(err) {
			return store.OutboxOutcome{Status: store.OutboxFailed, Channel: to.Channel, Provider: provider, Error: clip(strings.Join(errs, "; "))}, "failed"
		}
		retry := store.OutboxOutcome{Status: store.OutboxPending, Channel: to.Channel, Provider: provider, Error: clip(strings.Join(errs, "; "))}
		if ra := retryAfter(err); ra > 0 {
			retry.RetryAt = d.now().Add(ra)
		}
		return retry, ""
	}
	if len(errs) == 0 {
		errs = append(errs, "no channel")
	}
	return store.OutboxOutcome{Status: store.OutboxUnreachable, Error: clip(strings.Join(errs, "; "))}, "unreachable"
}

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

package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"linli/store"
)

// Alerter is told about rows that failed or reached nobody, one chunk of
// rows at a time, so that a broken SMS account makes one alert and not
// thousands. Each row's Status (failed or unreachable) and Error are its
// outcome. Notices (broadcasts report their own counts) and alerts
// themselves are never passed on. flows implements it, with the texts.
type Alerter interface {
	DeliveryProblems(ctx context.Context, rows []store.OutboxRow)
}

// Dispatcher sends due outbox rows.
type Dispatcher struct {
	st      *store.Store
	senders map[string]Sender
	pull    map[string]bool
	sms     SMSProvider
	log     *slog.Logger
	now     func() time.Time
	outbox  *Outbox
	// Alerts, when set, hears of rows that failed or reached nobody, so a
	// person can phone the resident.
	Alerts Alerter
	// OnSMS, when set, hears the outcome of every provider call (metrics):
	// result is sent or failed, code the provider's code ("OK" on success).
	OnSMS func(provider, result, code string)
	// Lease is how long a row is reserved for one attempt. After a crash,
	// rows wait this long before another run takes them over.
	Lease time.Duration
	// MaxAttempts bounds the retries of a temporarily failing row.
	MaxAttempts int
	// Batch is how many rows one round leases; with SMS it should hold a
	// few full provider calls.
	Batch int
	// Workers is how many chat sends, and how many SMS calls, run at once.
	Workers int
	// Limiter paces every SMS provider call (sends and look-ups); nil: none.
	Limiter *rate.Limiter
	// Quiet holds non-urgent reminder, survey and notice SMS back.
	Quiet QuietHours
	// Loc is the community's time zone: the day of the per-number caps.
	Loc *time.Location
	// SMSBatch caps the numbers of one SendSms call (the provider's own
	// limit applies too). Smaller calls put fewer rows in doubt when an
	// answer is lost.
	SMSBatch int
	mu       sync.Mutex // one run at a time in this process
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
		Lease: 2 * time.Minute, MaxAttempts: 8, Batch: 2000, Workers: 4, Loc: time.Local}
}

// Register adds a push channel.
func (d *Dispatcher) Register(channel string, s Sender) { d.senders[channel] = s }

// RegisterPull adds a channel whose messages wait until the resident's
// client collects them (the web chat, the console).
func (d *Dispatcher) RegisterPull(channel string) { d.pull[channel] = true }

// Watch makes runs look once more for rows that o received while they were
// busy, instead of leaving them to the next tick.
func (d *Dispatcher) Watch(o *Outbox) { d.outbox = o }

// RunOnce leases and sends due rows until none are left or ctx ends. It
// returns how many rows it handled.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	total := 0
	for ctx.Err() == nil {
		if d.outbox != nil {
			d.outbox.dirty.Store(false)
		}
		rows, err := d.st.LeaseOutbox(ctx, d.now(), d.Lease, max(d.Batch, 1))
		if err != nil {
			return total, fmt.Errorf("notify: lease: %w", err)
		}
		if len(rows) == 0 {
			if d.outbox != nil && d.outbox.dirty.Load() {
				continue
			}
			return total, nil
		}
		total += d.process(ctx, rows)
	}
	return total, ctx.Err()
}

// Run dispatches whenever the outbox is woken or every tick, until ctx ends.
// The server runs RunOnce from the scheduler instead; Run is for tools and
// tests that want a dispatcher without one.
func (d *Dispatcher) Run(ctx context.Context, o *Outbox, tick time.Duration) {
	d.Watch(o)
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

// run collects the outcomes of one chunk of rows.
type run struct {
	d        *Dispatcher
	mu       sync.Mutex
	finishes []store.OutboxFinish
	groups   []groupFinish
	release  []store.OutboxRow
	problems []store.OutboxRow
	sms      []*smsJob
	handled  int
}

type groupFinish struct {
	rows []store.OutboxRow
	f    store.OutboxFinish
}

// finish records one row's outcome, turning a retry into a failure once the
// row has used its attempts.
func (r *run) finish(row store.OutboxRow, f store.OutboxFinish) {
	f = r.d.settle(row, f)
	r.mu.Lock()
	defer r.mu.Unlock()
	f.ID = row.ID
	r.finishes = append(r.finishes, f)
	r.handled++
	r.note(row, f)
}

// finishGroup records one outcome for the rows of one SMS call.
func (r *run) finishGroup(rows []store.OutboxRow, f store.OutboxFinish) {
	if f.Status == store.OutboxPending && !f.UndoAttempt && f.SMSOutID == "" {
		// Rows that have used their attempts fail one by one.
		var keep []store.OutboxRow
		for _, row := range rows {
			if row.Attempts+1 >= r.d.MaxAttempts {
				r.finish(row, f)
			} else {
				keep = append(keep, row)
			}
		}
		rows = keep
	}
	if len(rows) == 0 {
		return
	}
	if f.Status == store.OutboxPending && f.RetryAt.IsZero() {
		f.RetryAt = r.d.now().Add(Backoff(rows[0].Attempts + 1))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups = append(r.groups, groupFinish{rows: rows, f: f})
	r.handled += len(rows)
	for _, row := range rows {
		r.note(row, f)
	}
}

// held counts a row parked for a pull channel (HoldOutbox recorded it).
func (r *run) held() {
	r.mu.Lock()
	r.handled++
	r.mu.Unlock()
}

// putBack returns rows that were never tried (the dispatcher is stopping).
func (r *run) putBack(rows ...store.OutboxRow) {
	r.mu.Lock()
	r.release = append(r.release, rows...)
	r.mu.Unlock()
}

func (r *run) note(row store.OutboxRow, f store.OutboxFinish) {
	if (f.Status == store.OutboxFailed || f.Status == store.OutboxUnreachable) && row.Kind != KindAlert && row.Kind != KindNotice {
		row.Status, row.Error = f.Status, f.Error
		r.problems = append(r.problems, row)
	}
}

func (r *run) queueSMS(j *smsJob) {
	r.mu.Lock()
	r.sms = append(r.sms, j)
	r.mu.Unlock()
}

// settle applies the attempt limit and the backoff to a retry.
func (d *Dispatcher) settle(row store.OutboxRow, f store.OutboxFinish) store.OutboxFinish {
	if f.At.IsZero() {
		f.At = d.now()
	}
	if f.Status != store.OutboxPending || f.UndoAttempt {
		return f
	}
	// A row whose SMS may have gone out stays in doubt whatever its
	// attempts: failing it could hide a message the resident has.
	if row.Attempts+1 >= d.MaxAttempts && f.SMSOutID == "" {
		f.Status = store.OutboxFailed
		return f
	}
	if f.RetryAt.IsZero() {
		f.RetryAt = f.At.Add(Backoff(row.Attempts + 1))
	}
	return f
}

// process sends one leased chunk and records every outcome.
func (d *Dispatcher) process(ctx context.Context, rows []store.OutboxRow) int {
	// A row handed to a channel is finished even during shutdown, so its
	// outcome is recorded; rows not started yet go back to pending.
	send := context.WithoutCancel(ctx)
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		if r.ResidentID != 0 {
			ids = append(ids, r.ResidentID)
		}
	}
	contacts, err := d.st.Contacts(send, ids)
	if err != nil {
		d.log.Error("outbox contacts", "err", err)
		if err := d.st.ReleaseOutbox(send, rows); err != nil {
			d.log.Error("outbox release", "err", err)
		}
		return 0
	}
	r := &run{d: d}

	// Rows whose SMS may already be out are looked up before anything else.
	var doubt, clear []store.OutboxRow
	for _, row := range rows {
		if row.SMSOutID != "" {
			doubt = append(doubt, row)
		} else {
			clear = append(clear, row)
		}
	}
	clear = append(clear, d.reconcile(ctx, send, r, doubt)...)

	// Chat channels, one resident's rows in order, several residents at once.
	// Rows for one target (a resident, or an address such as the staff group
	// or one WeChat openid) keep their order; different targets go at once.
	var order []string
	byResident := map[string][]store.OutboxRow{}
	for _, row := range clear {
		key := "t:" + row.TargetChannel + ":" + row.TargetAddress
		if row.ResidentID != 0 {
			key = "r:" + strconv.FormatInt(row.ResidentID, 10)
		}
		if _, ok := byResident[key]; !ok {
			order = append(order, key)
		}
		byResident[key] = append(byResident[key], row)
	}
	work := make(chan []store.OutboxRow)
	var wg sync.WaitGroup
	for w := 0; w < max(d.Workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for group := range work {
				for i, row := range group {
					if ctx.Err() != nil {
						r.putBack(group[i:]...)
						break
					}
					d.walk(send, r, row, contacts[row.ResidentID])
				}
			}
		}()
	}
	for _, k := range order {
		work <- byResident[k]
	}
	close(work)
	wg.Wait()

	d.sendSMS(ctx, send, r, r.sms)

	if err := d.st.FinishOutboxMany(send, r.finishes); err != nil {
		d.log.Error("outbox finish", "rows", len(r.finishes), "err", err)
	}
	for _, g := range r.groups {
		ids := make([]int64, len(g.rows))
		for i, row := range g.rows {
			ids[i] = row.ID
		}
		if err := d.st.FinishOutboxGroup(send, ids, g.f); err != nil {
			d.log.Error("outbox finish", "rows", len(ids), "err", err)
		}
	}
	if len(r.release) > 0 {
		if err := d.st.ReleaseOutbox(send, r.release); err != nil {
			d.log.Error("outbox release", "err", err)
		}
	}
	if len(r.problems) > 0 && d.Alerts != nil {
		d.Alerts.DeliveryProblems(send, r.problems)
	}
	return r.handled
}

// walk tries a row's chat channels in order; when the chain reaches SMS the
// row is queued for the SMS stage, which sends many rows per call.
func (d *Dispatcher) walk(ctx context.Context, r *run, row store.OutboxRow, c *store.Contact) {
	if c != nil && !c.Resident.ErasedAt.IsZero() {
		r.finish(row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxCancelled, Error: "resident erased"}})
		return
	}
	if row.Kind == KindNotice && !row.Urgent && c != nil && c.Resident.Unsubscribed {
		r.finish(row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxCancelled, Error: "unsubscribed"}})
		return
	}
	var errs []string
	for _, to := range d.chain(row, c) {
		if to.Channel == ChannelSMS {
			r.queueSMS(&smsJob{row: row, phone: to.Address, errs: errs})
			return
		}
		if d.pull[to.Channel] {
			if err := d.st.HoldOutbox(ctx, row.ID, to.Channel, to.Address); err != nil {
				r.finish(row, pending(to.Channel, err.Error()))
				return
			}
			r.held()
			return
		}
		s := d.senders[to.Channel]
		if s == nil {
			errs = append(errs, to.Channel+": no sender")
			continue
		}
		id, err := s.Send(ctx, to, row.Body)
		if err == nil {
			r.finish(row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxSent, Channel: to.Channel, Provider: to.Channel, ProviderID: id}})
			return
		}
		errs = append(errs, to.Channel+": "+err.Error())
		if isUnreachable(err) {
			continue
		}
		if !isTemporary(err) {
			r.finish(row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxFailed, Channel: to.Channel, Provider: to.Channel, Error: clip(strings.Join(errs, "; "))}})
			return
		}
		f := pending(to.Channel, strings.Join(errs, "; "))
		if ra := retryAfter(err); ra > 0 {
			f.RetryAt = d.now().Add(ra)
		}
		r.finish(row, f)
		return
	}
	if len(errs) == 0 {
		errs = append(errs, "no channel")
	}
	r.finish(row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxUnreachable, Error: clip(strings.Join(errs, "; "))}})
}

func pending(channel, err string) store.OutboxFinish {
	return store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxPending, Channel: channel, Provider: channel, Error: clip(err)}}
}

// chain is where a row goes, in order: its fixed target, or the resident's
// channels, most recently used first, then SMS.
func (d *Dispatcher) chain(row store.OutboxRow, c *store.Contact) []Recipient {
	lang := row.Body.Lang
	switch {
	case row.TargetChannel == ChannelSMS:
		// A fixed number (a code to a phone being bound) or, when empty, the
		// resident's own (SMS-only notices).
		phone := row.TargetAddress
		if phone == "" && c != nil {
			phone = c.Resident.Phone
		}
		if phone == "" {
			return nil
		}
		return []Recipient{{ResidentID: row.ResidentID, Channel: ChannelSMS, Address: phone, Lang: lang}}
	case row.TargetChannel != "":
		return []Recipient{{ResidentID: row.ResidentID, Channel: row.TargetChannel, Address: row.TargetAddress, Lang: lang}}
	case c == nil:
		return nil
	}
	var chain []Recipient
	for _, id := range c.Identities {
		if id.Unreachable || id.Channel == ChannelSMS {
			continue
		}
		addr := id.ExternalID
		if id.ChatID != "" {
			addr = id.ChatID
		}
		chain = append(chain, Recipient{ResidentID: row.ResidentID, Channel: id.Channel, Address: addr, Lang: lang})
	}
	if c.Resident.Phone != "" && row.Body.Template != "" {
		chain = append(chain, Recipient{ResidentID: row.ResidentID, Channel: ChannelSMS, Address: c.Resident.Phone, Lang: lang})
	}
	return chain
}

package notify

import (
	"cmp"
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
	// Batch is how many rows one round leases; with SMS, one full SendSms
	// call. Leasing and planning a chunk are what the calls wait for at
	// the start of a broadcast, and the next chunk is leased while the
	// calls of the last go out: with two calls' worth a chunk, a 20,000
	// broadcast reached 89 % of the rate, with one 93 %.
	Batch int
	// Workers is how many chat sends, and how many SMS calls, run at once.
	Workers int
	// Limiter paces every SMS provider call (sends and look-ups); nil: none.
	Limiter *rate.Limiter
	// Quiet holds every SMS back but verification codes and urgent rows.
	Quiet QuietHours
	// HoldFor is how long a row held for a pull channel (the web chat, the
	// console) waits for the page to collect it before it moves on down the
	// resident's chain (other channels, template message, SMS); 0: it waits
	// for the page however long. A row nothing else can reach stays held.
	HoldFor time.Duration
	// Loc is the community's time zone: the day of the per-number caps.
	Loc *time.Location
	// SMSBatch caps the numbers of one SendSms call (the provider's own
	// limit applies too). Smaller calls put fewer rows in doubt when an
	// answer is lost.
	SMSBatch int
	mu       sync.Mutex // one run at a time in this process

	// capsMu orders per-number cap checks against the writes of marks;
	// inflight counts SMS that passed the caps but whose marks are not on
	// record yet (see applyCaps).
	capsMu   sync.Mutex
	inflight map[capKey]int
	// lead replaces markLead (tests).
	lead time.Duration
	// paceMu and starts keep the starts of provider requests within the
	// limiter's rate (pace).
	paceMu sync.Mutex
	starts []time.Time
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
		Lease: 2 * time.Minute, MaxAttempts: 8, Batch: 1000, Workers: 4, Loc: time.Local}
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
// returns how many rows it handled. The next chunk is leased and planned
// while the SMS calls of the last one wait for the rate limiter.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	total := 0
	for {
		p := d.startPipeline(ctx)
		err := d.leaseAll(ctx, p)
		total += p.stop()
		if err != nil || ctx.Err() != nil {
			return total, cmp.Or(err, ctx.Err())
		}
		// Rows may have arrived while the last outcomes were written; a
		// wake-up during a run is refused and left to the run itself.
		if d.outbox == nil || !d.outbox.dirty.Load() {
			return total, nil
		}
	}
}

// leaseAll leases chunks and hands them to p until none are due. The next
// chunk is claimed while the last one is read and processed: leasing,
// reading and planning a chunk cost as much CPU as the rest of sending it,
// and on a machine with more than one core they overlap (a broadcast by
// SendSms was held to about half the provider's rate by this loop alone).
// The claim alone waits for the write lock, which the outcomes and marks
// of earlier calls keep busy; the read is done on this side, so a claim
// delayed by the lock still comes before its chunk is due.
func (d *Dispatcher) leaseAll(ctx context.Context, p *pipeline) error {
	type leased struct {
		claim store.OutboxClaim
		err   error
	}
	lease := func() leased {
		if d.outbox != nil {
			d.outbox.dirty.Store(false)
		}
		c, err := d.st.ClaimOutbox(ctx, d.now(), d.Lease, max(d.Batch, 1))
		return leased{c, err}
	}
	// release returns a chunk claimed ahead and never tried at once, rather
	// than when its lease runs out.
	release := func(l leased) {
		if l.err == nil && l.claim.Len() > 0 {
			if err := d.st.ReleaseClaim(p.send, l.claim); err != nil {
				d.log.Error("outbox release", "rows", l.claim.Len(), "err", err)
			}
		}
	}
	next := make(chan leased, 1)
	cur := lease()
	for {
		if ctx.Err() != nil {
			release(cur)
			return nil
		}
		if cur.err != nil {
			return fmt.Errorf("notify: lease: %w", cur.err)
		}
		if cur.claim.Len() == 0 {
			// Rows that arrive while the last calls finish (alerts about
			// them, say) are sent in this run too.
			p.idle()
			if d.outbox != nil && d.outbox.dirty.Load() {
				cur = lease()
				continue
			}
			return nil
		}
		go func() { next <- lease() }()
		rows, err := d.st.ReadClaim(ctx, cur.claim) // releases its rows on failure
		if err != nil {
			release(<-next)
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("notify: lease: %w", err)
		}
		if len(rows) > 0 {
			d.process(p, rows)
		}
		cur = <-next
	}
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

// process sends one leased chunk: chat channels at once, SMS by handing
// planned calls to the pipeline, which records every outcome.
func (d *Dispatcher) process(p *pipeline, rows []store.OutboxRow) {
	ctx, send := p.ctx, p.send
	r := p.newRun(rows[0].LeaseUntil)
	defer r.done()
	ids := make([]int64, 0, len(rows))
	smsOnly := true
	for _, row := range rows {
		if row.ResidentID != 0 {
			ids = append(ids, row.ResidentID)
		}
		smsOnly = smsOnly && row.TargetChannel == ChannelSMS
	}
	// Rows addressed to SMS need a resident's number and whether they may
	// be reached (walk, chain), not their chat identities.
	load := d.st.Contacts
	if smsOnly {
		load = d.st.SMSContacts
	}
	contacts, err := load(send, ids)
	if err != nil {
		d.log.Error("outbox contacts", "err", err)
		r.putBack(rowIDs(rows))
		return
	}

	// Rows whose SMS may already be out are looked up before anything else.
	var doubt, resend []store.OutboxRow
	for _, row := range rows {
		if row.SMSOutID != "" {
			doubt = append(doubt, row)
		}
	}
	if len(doubt) > 0 {
		resend = d.reconcile(ctx, send, r, doubt)
		if r.leaseLeft() < d.Lease/2 {
			// The look-ups (paced by the limiter) used up much of the
			// lease: the other rows go back to be leased afresh, and the
			// outcomes of the look-ups are written before the next lease,
			// so that it does not take the same rows and ask again.
			var back []int64
			for _, row := range rows {
				if row.SMSOutID == "" {
					back = append(back, row.ID)
				}
			}
			r.putBack(append(back, rowIDs(resend)...))
			p.w.flush()
			return
		}
	}

	// Chat channels, one resident's rows in order, several residents at once.
	// Rows for one target (a resident, or an address such as the staff group
	// or one WeChat openid) keep their order; different targets go at once.
	// Rows only for SMS reach no network here: they go straight to the SMS
	// stage, which is after every chat send anyway.
	var order []string
	byResident := map[string][]store.OutboxRow{}
	visit := func(row *store.OutboxRow) {
		if row.TargetChannel == ChannelSMS {
			d.walk(send, r, row, contacts[row.ResidentID])
			return
		}
		key := "t:" + row.TargetChannel + ":" + row.TargetAddress
		if row.ResidentID != 0 {
			key = "r:" + strconv.FormatInt(row.ResidentID, 10)
		}
		if _, ok := byResident[key]; !ok {
			order = append(order, key)
		}
		byResident[key] = append(byResident[key], *row)
	}
	for i := range rows {
		if rows[i].SMSOutID == "" {
			visit(&rows[i])
		}
	}
	for i := range resend {
		visit(&resend[i])
	}
	work := make(chan []store.OutboxRow)
	var wg sync.WaitGroup
	for w := 0; w < max(d.Workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for group := range work {
				for i := range group {
					if ctx.Err() != nil {
						r.putBack(rowIDs(group[i:]))
						break
					}
					d.walk(send, r, &group[i], contacts[group[i].ResidentID])
				}
			}
		}()
	}
	for _, k := range order {
		work <- byResident[k]
	}
	close(work)
	wg.Wait()

	d.sendSMS(p, r, r.sms)
}

// walk tries a row's chat channels in order; when the chain reaches SMS the
// row is queued for the SMS stage, which sends many rows per call.
func (d *Dispatcher) walk(ctx context.Context, r *run, row *store.OutboxRow, c *store.Contact) {
	if c != nil && !c.Resident.ErasedAt.IsZero() {
		r.finish(*row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxCancelled, Error: "resident erased"}})
		return
	}
	if row.Kind == KindNotice && !row.Urgent && c != nil && c.Resident.Unsubscribed {
		r.finish(*row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxCancelled, Error: "unsubscribed"}})
		return
	}
	var errs []string
	chain := d.chain(*row, c)
	for i, to := range chain {
		if to.Channel == ChannelSMS {
			r.queueSMS(&smsJob{row: row, phone: to.Address, errs: errs})
			return
		}
		if d.pull[to.Channel] {
			if row.HoldChannel != "" {
				continue // its page had its time: the rest of the chain now
			}
			r.finish(*row, d.hold(to, chain[i+1:]))
			return
		}
		s := d.senders[to.Channel]
		if s == nil {
			errs = append(errs, to.Channel+": no sender")
			continue
		}
		id, err := s.Send(ctx, to, row.Body)
		if err == nil {
			r.finish(*row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxSent, Channel: to.Channel, Provider: to.Channel, ProviderID: id}})
			return
		}
		errs = append(errs, to.Channel+": "+err.Error())
		if isUnreachable(err) {
			continue
		}
		if !isTemporary(err) {
			r.finish(*row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxFailed, Channel: to.Channel, Provider: to.Channel, Error: clip(strings.Join(errs, "; "))}})
			return
		}
		f := pending(to.Channel, strings.Join(errs, "; "))
		if ra := retryAfter(err); ra > 0 {
			f.RetryAt = d.now().Add(ra)
		}
		r.finish(*row, f)
		return
	}
	if len(errs) == 0 {
		errs = append(errs, "no channel")
	}
	r.finish(*row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxUnreachable, Error: clip(strings.Join(errs, "; "))}})
}

// hold parks a row for a pull channel. It gets a deadline, after which it
// moves on down the rest of its chain, when something there may reach the
// resident; otherwise it simply waits for the page.
func (d *Dispatcher) hold(to Recipient, rest []Recipient) store.OutboxFinish {
	f := store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxHeld, Channel: to.Channel},
		HoldChannel: to.Channel, HoldAddress: to.Address}
	if d.HoldFor <= 0 {
		return f
	}
	for _, next := range rest {
		if next.Channel == ChannelSMS || (!d.pull[next.Channel] && d.senders[next.Channel] != nil) {
			f.HoldUntil = d.now().Add(d.HoldFor)
			break
		}
	}
	return f
}

// keepHeld gives a row that its page can still collect back to the page
// instead of giving up on it: a row the rest of its chain cannot reach (or
// that failed there for good) waits for the page with no deadline, and one
// to be tried again later waits for the page until then. A row whose SMS
// may have gone out stays pending: it is looked up before anything else.
func keepHeld(row store.OutboxRow, f store.OutboxFinish) store.OutboxFinish {
	if row.HoldChannel == "" {
		return f
	}
	switch {
	case f.Status == store.OutboxFailed || f.Status == store.OutboxUnreachable:
		f.HoldUntil = time.Time{}
	case f.Status == store.OutboxPending && f.SMSOutID == "":
		f.HoldUntil = f.RetryAt
	default:
		return f
	}
	f.Status, f.Channel, f.Provider, f.ProviderID = store.OutboxHeld, row.HoldChannel, "", ""
	return f
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

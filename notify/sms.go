package notify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"linli/notify/aliyun"
	"linli/store"
)

// BulkSMS is an SMSProvider that can carry many numbers in one call: one
// parameter set to up to MaxSame numbers (a broadcast), or each number with
// its own parameters, up to MaxEach (reminders). The outID of a call with
// several rows is the smallest outbox row id among them; every row of the
// call records that OutId, so receipts and look-ups find them all.
type BulkSMS interface {
	SMSProvider
	SendSame(ctx context.Context, phones []string, template string, params map[string]string, outID string) (bizID string, err error)
	SendEach(ctx context.Context, items []SMSItem, template string, outID string) (bizID string, err error)
	MaxSame() int
	MaxEach() int
}

// SMSItem is one number with its own template parameters.
type SMSItem struct {
	Phone  string
	Params map[string]string
}

// SMSLookup finds out whether the provider accepted a message for phone
// under outID in a call made at sentAt (QuerySendDetails). found is false
// when no such message exists.
type SMSLookup interface {
	Lookup(ctx context.Context, phone, outID string, sentAt time.Time) (rec SMSRecord, found bool, err error)
}

// SMSRecord is what the provider knows about one accepted message.
type SMSRecord struct {
	BizID     string
	Delivered bool // the carrier confirmed delivery
	Failed    bool // the carrier reported failure
	Code      string
}

// TemplateChecker says whether the provider has an approved template for a
// name of OutboxBody.Template; without one that kind of message has no SMS
// step, as if the resident had no phone.
type TemplateChecker interface {
	HasTemplate(name string) bool
}

// Per-number caps, Aliyun's own, checked before sending so that the carrier
// never refuses a resident's code and nobody is flooded.
const (
	VerifyPerMinute     = 1
	VerifyPerHour       = 5
	VerifyPerDay        = 10
	PerTemplatePerDay   = 50
	defaultSMSBatchSize = 1000
)

var mobileRe = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// waitsForQuiet says whether an SMS waits for the end of quiet hours: all
// of them do (staff replies, ticket updates, offers, reminders, surveys,
// notices) except verification codes, which are useless late, and rows
// marked urgent (staff alerts, urgent broadcasts). Chat channels never
// wait: quiet hours are about a phone beeping at night.
func waitsForQuiet(row store.OutboxRow) bool {
	return !row.Urgent && row.Kind != KindVerifyCode
}

// smsJob is a row whose chain reached SMS.
type smsJob struct {
	row   *store.OutboxRow // in its chunk's leased rows, which outlive the job
	phone string
	errs  []string // what the chat channels before SMS said
}

func (j *smsJob) params() map[string]string {
	p := j.row.Body.Params
	if j.row.Kind != KindNotice {
		return p
	}
	// Every notice SMS ends with the opt-out, whoever composed it.
	out := make(map[string]string, len(p)+1)
	for k, v := range p {
		out[k] = v
	}
	if c := out["content"]; !strings.HasSuffix(c, OptOutSuffix) {
		out["content"] = strings.TrimSpace(c + " " + OptOutSuffix)
	}
	return out
}

func (j *smsJob) note() string {
	return strings.Join(j.errs, "; ")
}

// QuietHours is a daily window in which non-urgent SMS wait.
type QuietHours struct {
	From, To int // minutes after midnight; From == To: no window
	Loc      *time.Location
}

// ParseQuietHours reads "21:00-08:00"; "" means no quiet hours.
func ParseQuietHours(s string, loc *time.Location) (QuietHours, error) {
	q := QuietHours{Loc: loc}
	if s == "" {
		return q, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return q, fmt.Errorf("notify: quiet hours %q: want HH:MM-HH:MM", s)
	}
	var err1, err2 error
	q.From, err1 = clockMinutes(from)
	q.To, err2 = clockMinutes(to)
	if err1 != nil || err2 != nil {
		return q, fmt.Errorf("notify: quiet hours %q: want HH:MM-HH:MM", s)
	}
	return q, nil
}

func clockMinutes(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("bad clock time %q", s)
	}
	return hh*60 + mm, nil
}

// Until reports whether t falls in the window and, if so, when it ends.
func (q QuietHours) Until(t time.Time) (time.Time, bool) {
	if q.From == q.To {
		return time.Time{}, false
	}
	loc := q.Loc
	if loc == nil {
		loc = time.Local
	}
	lt := t.In(loc)
	y, mo, d := lt.Date()
	m := lt.Hour()*60 + lt.Minute()
	end := func(dayOffset int) time.Time {
		return time.Date(y, mo, d+dayOffset, q.To/60, q.To%60, 0, 0, loc)
	}
	if q.From < q.To { // e.g. 12:00-14:00
		if m >= q.From && m < q.To {
			return end(0), true
		}
		return time.Time{}, false
	}
	switch { // across midnight, e.g. 21:00-08:00
	case m >= q.From:
		return end(1), true
	case m < q.To:
		return end(0), true
	}
	return time.Time{}, false
}

func dayStart(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// postpone puts a row off before anything was tried: the lease's attempt
// does not count.
func postpone(until time.Time, why string) store.OutboxFinish {
	return store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxPending, RetryAt: until, Error: why}, UndoAttempt: true}
}

func smsOutcome(status, provider, why string) store.OutboxFinish {
	return store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: status, Channel: ChannelSMS, Provider: provider, Error: clip(why)}}
}

// sendSMS checks the rows that reached SMS against the rules (a mobile
// number, an approved template, quiet hours, the per-number caps) and sends
// the rest in as few provider calls as the provider allows.
func (d *Dispatcher) sendSMS(p *pipeline, r *run, jobs []*smsJob) {
	if len(jobs) == 0 {
		return
	}
	now := d.now()
	unreachable := func(j *smsJob, why string) {
		r.finish(*j.row, store.OutboxFinish{OutboxOutcome: store.OutboxOutcome{Status: store.OutboxUnreachable, Error: clip(strings.Trim(j.note()+"; sms: "+why, "; "))}})
	}
	if d.sms == nil {
		for _, j := range jobs {
			unreachable(j, "no provider")
		}
		return
	}
	tc, _ := d.sms.(TemplateChecker)
	var ready []*smsJob
	for _, j := range jobs {
		switch {
		case !mobileRe.MatchString(j.phone):
			unreachable(j, "not a mobile number")
		case j.row.Body.Template == "":
			unreachable(j, "no template")
		case tc != nil && !tc.HasTemplate(j.row.Body.Template):
			unreachable(j, "no approved template for "+j.row.Body.Template)
		default:
			if waitsForQuiet(*j.row) {
				if until, in := d.Quiet.Until(now); in {
					r.finish(*j.row, postpone(until, "quiet hours"))
					continue
				}
			}
			ready = append(ready, j)
		}
	}
	ready = d.applyCaps(p.send, r, ready, now)
	for _, c := range d.planCalls(ready) {
		c.reserved = true
		p.call(r, c)
	}
}

// markLead is how long before its slot a call's marks are written: time
// for the writer to commit them while it is busy with other rows.
const markLead = 50 * time.Millisecond

// sleep waits for d (nothing when d <= 0) and reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return ctx.Err() == nil
}

// waitTurn waits until a provider request may start: for a token of the
// limiter, then for pace.
func (d *Dispatcher) waitTurn(ctx context.Context) error {
	if d.Limiter == nil {
		return nil
	}
	if err := d.Limiter.Wait(ctx); err != nil {
		return err
	}
	if !d.pace(ctx) {
		return ctx.Err()
	}
	return nil
}

// pace holds a provider request back while as many requests started in
// the last second as the limiter allows in one (its burst plus its rate).
// The limiter hands tokens out on time, but a call whose marks took longer
// than markLead sets out late, and the provider counts starts, not tokens.
// A sliding window, rather than a minimum gap between starts, lets the
// timer's jitter pass without adding up.
func (d *Dispatcher) pace(ctx context.Context) bool {
	if d.Limiter == nil || d.Limiter.Limit() == rate.Inf {
		return true
	}
	n := d.Limiter.Burst() + int(d.Limiter.Limit())
	if n <= 0 {
		return true
	}
	d.paceMu.Lock()
	defer d.paceMu.Unlock()
	if len(d.starts) >= n {
		if !sleep(ctx, time.Until(d.starts[len(d.starts)-n].Add(time.Second))) {
			return false
		}
	}
	if len(d.starts) >= 2*n {
		d.starts = append(d.starts[:0], d.starts[len(d.starts)-n:]...)
	}
	d.starts = append(d.starts, time.Now())
	return true
}

// capKey names a per-number cap: one template to one number.
type capKey struct{ template, phone string }

// unreserve ends the reservations of SMS that are now on record (their
// marks are committed) or will not go out after all. The caller holds
// capsMu.
func (d *Dispatcher) unreserve(keys []capKey) {
	for _, k := range keys {
		if d.inflight[k]--; d.inflight[k] <= 0 {
			delete(d.inflight, k)
		}
	}
}

func (c smsCall) capKeys() []capKey {
	keys := make([]capKey, len(c.jobs))
	for i, j := range c.jobs {
		keys[i] = capKey{j.row.Body.Template, j.phone}
	}
	return keys
}

// applyCaps keeps the per-number limits: verification codes 1 a minute, 5
// an hour, 10 a day (a late code is useless, so one over the cap fails);
// other templates 50 a day (one over waits for the next day).
//
// The database counts SMS whose marks are on record. SMS of earlier chunks
// that passed the caps but are not marked yet (their calls wait for the
// limiter) are counted from d.inflight, and the SMS passed here are added
// to it; capsMu keeps a mark's commit from falling between the two counts.
func (d *Dispatcher) applyCaps(ctx context.Context, r *run, jobs []*smsJob, now time.Time) []*smsJob {
	d.capsMu.Lock()
	defer d.capsMu.Unlock()
	if d.inflight == nil {
		d.inflight = map[capKey]int{}
	}
	today := dayStart(now, d.Loc)
	byTemplate := map[string][]*smsJob{}
	var order []string
	for _, j := range jobs {
		t := j.row.Body.Template
		if _, ok := byTemplate[t]; !ok {
			order = append(order, t)
		}
		byTemplate[t] = append(byTemplate[t], j)
	}
	var ok []*smsJob
	for _, t := range order {
		js := byTemplate[t]
		phones := make([]string, 0, len(js))
		seen := make(map[string]struct{}, len(js))
		for _, j := range js {
			if _, ok := seen[j.phone]; !ok {
				seen[j.phone] = struct{}{}
				phones = append(phones, j.phone)
			}
		}
		day, err := d.st.SMSSentCounts(ctx, phones, t, today)
		if err != nil {
			for _, j := range js {
				r.finish(*j.row, pending(ChannelSMS, "caps: "+err.Error()))
			}
			continue
		}
		addInflight := func(counts map[string]int) {
			if len(d.inflight) == 0 {
				return
			}
			for _, p := range phones {
				if n := d.inflight[capKey{t, p}]; n > 0 {
					counts[p] += n
				}
			}
		}
		addInflight(day)
		if t == KindVerifyCode {
			hour, err1 := d.st.SMSSentCounts(ctx, phones, t, now.Add(-time.Hour))
			minute, err2 := d.st.SMSSentCounts(ctx, phones, t, now.Add(-time.Minute))
			if err := errors.Join(err1, err2); err != nil {
				for _, j := range js {
					r.finish(*j.row, pending(ChannelSMS, "caps: "+err.Error()))
				}
				continue
			}
			addInflight(hour)
			addInflight(minute)
			for _, j := range js {
				switch {
				case minute[j.phone] >= VerifyPerMinute:
					r.finish(*j.row, smsOutcome(store.OutboxFailed, d.sms.Name(), "cap: a verification code to this number in the last minute"))
				case hour[j.phone] >= VerifyPerHour:
					r.finish(*j.row, smsOutcome(store.OutboxFailed, d.sms.Name(), "cap: 5 verification codes to this number in the last hour"))
				case day[j.phone] >= VerifyPerDay:
					r.finish(*j.row, smsOutcome(store.OutboxFailed, d.sms.Name(), "cap: 10 verification codes to this number today"))
				default:
					minute[j.phone]++
					hour[j.phone]++
					day[j.phone]++
					d.inflight[capKey{t, j.phone}]++
					ok = append(ok, j)
				}
			}
			continue
		}
		for _, j := range js {
			if day[j.phone] >= PerTemplatePerDay {
				r.finish(*j.row, postpone(today.AddDate(0, 0, 1), "cap: 50 SMS of this template to this number today"))
				continue
			}
			day[j.phone]++
			d.inflight[capKey{t, j.phone}]++
			ok = append(ok, j)
		}
	}
	return ok
}

// smsCall is one provider call: either one parameter set for every number
// (same) or each number with its own.
type smsCall struct {
	jobs     []*smsJob
	template string
	same     bool
	// reserved: its jobs hold per-number reservations (d.inflight) until
	// the call's marks are committed.
	reserved bool
	// marked: its rows carry the OutId of a call of this lease that was
	// refused (a half of a call with a bad number).
	marked bool
}

// planCalls groups rows into provider calls: rows with the same template and
// parameters share SendSms calls of up to MaxSame distinct numbers; the rest
// go in SendBatchSms calls of up to MaxEach; a lone row is a plain send.
func (d *Dispatcher) planCalls(jobs []*smsJob) []smsCall {
	bulk, ok := d.sms.(BulkSMS)
	if !ok {
		calls := make([]smsCall, len(jobs))
		for i, j := range jobs {
			calls[i] = smsCall{jobs: []*smsJob{j}, template: j.row.Body.Template, same: true}
		}
		return calls
	}
	maxSame := min(max(bulk.MaxSame(), 1), d.smsBatch())
	maxEach := min(max(bulk.MaxEach(), 1), d.smsBatch())
	type key struct{ template, params string }
	groups := map[key][]*smsJob{}
	var order []key
	var k key
	var last *smsJob // whose parameters k was made from
	for _, j := range jobs {
		// The rows of a broadcast come in a run with equal parameters:
		// comparing them with the last row's is far cheaper than making
		// the key of each (j.params depends on the kind and the template's
		// parameters only).
		if last == nil || j.row.Body.Template != last.row.Body.Template || j.row.Kind != last.row.Kind ||
			!maps.Equal(j.row.Body.Params, last.row.Body.Params) {
			k, last = key{j.row.Body.Template, paramsKey(j.params())}, j
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], j)
	}
	var calls []smsCall
	singles := map[string][]*smsJob{}
	var singleOrder []string
	for _, k := range order {
		js := groups[k]
		if len(js) == 1 {
			if _, ok := singles[k.template]; !ok {
				singleOrder = append(singleOrder, k.template)
			}
			singles[k.template] = append(singles[k.template], js[0])
			continue
		}
		// One number appears once per call: two rows for the same phone (two
		// residents sharing it) go in different calls.
		for len(js) > 0 {
			var rest []*smsJob
			call := make([]*smsJob, 0, min(maxSame, len(js)))
			seen := make(map[string]struct{}, cap(call)) // sized: growing it cost more than filling it
			for _, j := range js {
				if _, dup := seen[j.phone]; len(call) < maxSame && !dup {
					seen[j.phone] = struct{}{}
					call = append(call, j)
				} else {
					rest = append(rest, j)
				}
			}
			calls = append(calls, smsCall{jobs: call, template: k.template, same: true})
			js = rest
		}
	}
	for _, t := range singleOrder {
		js := singles[t]
		for len(js) > 0 {
			n := min(maxEach, len(js))
			calls = append(calls, smsCall{jobs: js[:n], template: t, same: n == 1})
			js = js[n:]
		}
	}
	return calls
}

// paramsKey is a text that two parameter sets share only if they are
// equal: keys in order, each key and value prefixed by its length. (JSON did
// the same at several times the cost, for every row of a broadcast.)
func paramsKey(p map[string]string) string {
	keys := slices.Sorted(maps.Keys(p))
	var b strings.Builder
	for _, k := range keys {
		v := p[k]
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(':')
		b.WriteString(k)
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

func (d *Dispatcher) smsBatch() int {
	if d.SMSBatch > 0 {
		return d.SMSBatch
	}
	return defaultSMSBatchSize
}

// runCall makes one provider call: it records the OutId on every row it
// carries, waits for the rate limiter, calls, and queues the outcome. A call
// whose answer is lost leaves its rows in doubt (OutId kept) for reconcile.
// The marks are written before the wait, so the call goes out the moment
// the limiter lets it.
func (d *Dispatcher) runCall(p *pipeline, r *run, c smsCall) {
	ctx, send, provider := p.ctx, p.send, p.provider
	ids := jobIDs(c.jobs)
	var caps []capKey
	if c.reserved {
		caps = c.capKeys()
	}
	// giveUp returns the rows untried: the dispatcher is stopping.
	giveUp := func() {
		d.capsMu.Lock()
		d.unreserve(caps)
		d.capsMu.Unlock()
		if c.marked {
			r.unmark(ids)
		} else {
			r.putBack(ids)
		}
	}
	if ctx.Err() != nil {
		giveUp()
		return
	}
	// The call's slot is reserved first, so that its marks are written
	// shortly before it (few rows are in doubt if the process dies) and
	// the call goes out the moment the slot comes.
	var slot *rate.Reservation
	if d.Limiter != nil {
		slot = d.Limiter.Reserve()
		lead := markLead
		if d.lead > 0 {
			lead = d.lead
		}
		if !slot.OK() || !sleep(ctx, slot.Delay()-lead) {
			slot.Cancel()
			giveUp()
			return
		}
	}
	// A call goes out only well inside its rows' lease: once the lease has
	// run out another dispatcher may take them over, and it must not find
	// the OutId of a call that is still to come. Rows too close to the end
	// go back and are leased afresh.
	if left := r.leaseLeft(); left < d.Lease/4 {
		if slot != nil {
			slot.Cancel()
		}
		giveUp()
		return
	}
	attempts := make([]store.SMSAttempt, len(c.jobs))
	for i, j := range c.jobs {
		attempts[i] = store.SMSAttempt{ID: j.row.ID, Phone: j.phone}
	}
	out := strconv.FormatInt(slices.Min(ids), 10)
	err := p.w.mark(store.SMSMark{Rows: attempts, OutID: out, Template: c.template, At: d.now(), Lease: r.until}, caps)
	if err != nil && slot != nil {
		slot.Cancel()
	}
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		// Not the chunk's rows any more: nothing of them is written.
		d.log.Warn("outbox lease lost before an SMS call", "rows", len(ids))
		return
	case err != nil:
		r.finishGroup(c.jobs, pending(ChannelSMS, "mark: "+err.Error()))
		return
	}
	if slot != nil && (!sleep(ctx, slot.Delay()) || !d.pace(ctx)) {
		slot.Cancel()
		r.unmark(ids)
		return
	}
	if r.leaseLeft() < d.Lease/8 {
		// The slot came too late (the limiter is shared with look-ups):
		// the rows may soon be taken over, so the call is not made.
		r.unmark(ids)
		return
	}
	var biz string
	switch {
	case len(c.jobs) == 1:
		biz, err = d.sms.SendSMS(send, c.jobs[0].phone, c.template, c.jobs[0].params(), out)
	case c.same:
		phones := make([]string, len(c.jobs))
		for i, j := range c.jobs {
			phones[i] = j.phone
		}
		biz, err = d.sms.(BulkSMS).SendSame(send, phones, c.template, c.jobs[0].params(), out)
	default:
		items := make([]SMSItem, len(c.jobs))
		for i, j := range c.jobs {
			items[i] = SMSItem{Phone: j.phone, Params: j.params()}
		}
		biz, err = d.sms.(BulkSMS).SendEach(send, items, c.template, out)
	}
	d.observeSMS(provider, err)
	if err == nil {
		f := smsOutcome(store.OutboxSent, provider, "")
		f.ProviderID, f.SMSOutID, f.OutIDOnRecord = biz, out, true
		r.finishGroup(c.jobs, f)
		return
	}
	note := err.Error()
	if len(c.jobs) > 1 && isBadNumber(err) {
		// Aliyun refuses the whole call for one bad number without saying
		// which; halves find it in a few calls and the others still go.
		half := len(c.jobs) / 2
		d.runCall(p, r, smsCall{jobs: c.jobs[:half], template: c.template, same: c.same, marked: true})
		d.runCall(p, r, smsCall{jobs: c.jobs[half:], template: c.template, same: c.same, marked: true})
		return
	}
	_, canLookup := d.sms.(SMSLookup)
	switch {
	case mayHaveSent(err) && canLookup:
		f := smsOutcome(store.OutboxPending, provider, "in doubt: "+note)
		f.SMSOutID, f.OutIDOnRecord = out, true
		r.finishGroup(c.jobs, f)
	case isTemporary(err):
		f := smsOutcome(store.OutboxPending, provider, note)
		f.RetryAt = retryAt(err, d.now())
		r.finishGroup(c.jobs, f)
	default:
		r.finishGroup(c.jobs, smsOutcome(store.OutboxFailed, provider, note))
	}
}

// reconcile looks up rows whose SMS call never got an answer (the process
// died, or the answer was lost). A row the provider has is recorded as sent
// and never sent again; the rest are returned to be sent as usual.
func (d *Dispatcher) reconcile(ctx, send context.Context, r *run, rows []store.OutboxRow) []store.OutboxRow {
	if len(rows) == 0 {
		return nil
	}
	lk, ok := d.sms.(SMSLookup)
	if d.sms == nil {
		ok = false
	}
	if !ok {
		// Nothing to ask (the log provider): at least once is the best there is.
		for i := range rows {
			rows[i].SMSOutID = ""
		}
		return rows
	}
	provider := d.sms.Name()
	var mu sync.Mutex
	var resend []store.OutboxRow
	work := make(chan store.OutboxRow)
	var wg sync.WaitGroup
	for w := 0; w < max(d.Workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := range work {
				if ctx.Err() != nil {
					r.putBack([]int64{row.ID})
					continue
				}
				if err := d.waitTurn(ctx); err != nil {
					r.putBack([]int64{row.ID})
					continue
				}
				rec, found, err := lk.Lookup(send, row.SMSPhone, row.SMSOutID, row.SMSTryAt)
				switch {
				case err != nil:
					f := smsOutcome(store.OutboxPending, provider, "reconcile: "+err.Error())
					f.SMSOutID, f.OutIDOnRecord = row.SMSOutID, true
					r.finish(row, f)
				case found:
					st := store.OutboxSent
					if rec.Delivered {
						st = store.OutboxDelivered
					}
					f := smsOutcome(st, provider, "")
					f.ProviderID, f.SMSOutID, f.OutIDOnRecord = rec.BizID, row.SMSOutID, true
					if rec.Failed {
						f.Status, f.Error = store.OutboxFailed, "delivery: "+rec.Code
					}
					r.finish(row, f)
				default:
					mu.Lock()
					resend = append(resend, row)
					mu.Unlock()
				}
			}
		}()
	}
	for _, row := range rows {
		work <- row
	}
	close(work)
	wg.Wait()
	sort.Slice(resend, func(i, j int) bool { return resend[i].ID < resend[j].ID })
	ids := make([]int64, len(resend))
	for i, row := range resend {
		ids[i] = row.ID
	}
	// Written at once, so that the caps do not count a message that never
	// went out and a crash before the resend does not look it up again.
	if err := d.st.ClearSMSDoubt(send, ids); err != nil {
		d.log.Error("outbox reconcile", "err", err)
		for _, row := range resend {
			f := pending(ChannelSMS, "reconcile: "+err.Error())
			f.SMSOutID = row.SMSOutID
			r.finish(row, f)
		}
		return nil
	}
	for i := range resend {
		resend[i].SMSOutID = ""
	}
	return resend
}

// observeSMS reports one provider call to OnSMS.
func (d *Dispatcher) observeSMS(provider string, err error) {
	if d.OnSMS == nil {
		return
	}
	if err == nil {
		d.OnSMS(provider, "sent", "OK")
		return
	}
	code := "error"
	var ae *aliyun.Error
	if errors.As(err, &ae) && ae.Code != "" {
		code = ae.Code
	}
	d.OnSMS(provider, "failed", code)
}

func isBadNumber(err error) bool {
	var b interface{ BadNumber() bool }
	return errors.As(err, &b) && b.BadNumber()
}

func mayHaveSent(err error) bool {
	var m interface{ MayHaveSent() bool }
	return errors.As(err, &m) && m.MayHaveSent()
}

// retryAt is when a temporary error suggests trying again; zero lets the
// backoff decide.
func retryAt(err error, now time.Time) time.Time {
	var ra interface{ RetryAt(time.Time) time.Time }
	if errors.As(err, &ra) {
		return ra.RetryAt(now)
	}
	if d := retryAfter(err); d > 0 {
		return now.Add(d)
	}
	return time.Time{}
}

package notify

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"linli/store"
)

// pipeline carries the rows of one RunOnce from their lease to their
// outcome in three stages that overlap:
//
//   - the dispatcher's own goroutine leases a chunk, walks the chat
//     channels, checks the SMS rules and plans provider calls;
//   - callers (Workers of them) make the planned calls, each as soon as
//     the rate limiter allows it;
//   - a writer records, in shared transactions, the marks each call needs
//     before it goes out and the outcomes of everything that finished.
//
// So the next chunk is leased and planned while the calls of the last are
// out, and the limiter, not the database, sets the pace of a broadcast.
type pipeline struct {
	d        *Dispatcher
	ctx      context.Context // once cancelled, no further call starts
	send     context.Context // never cancelled: a started call and every outcome are finished
	provider string
	w        *writer
	calls    chan plannedCall
	callers  sync.WaitGroup
	chunks   sync.WaitGroup // chunks whose rows are not all settled
	handled  atomic.Int64
	alertMu  sync.Mutex // Alerts hears of one chunk at a time, as before chunks overlapped

	// ahead counts the rows and calls planned but not yet taken by a
	// caller; planning waits while they exceed maxAhead rows (about one
	// chunk) or maxCalls calls (an eighth of a lease at the limiter's
	// rate), so that rows are called long before their lease runs out.
	aheadMu    sync.Mutex
	aheadCv    *sync.Cond
	ahead      int
	aheadCalls int
	maxAhead   int
	maxCalls   int
}

// plannedCall is one provider call and the chunk its rows came from.
type plannedCall struct {
	r *run
	c smsCall
}

func (d *Dispatcher) startPipeline(ctx context.Context) *pipeline {
	send := context.WithoutCancel(ctx)
	maxAhead := max(d.Batch, 1)
	maxCalls := maxAhead
	if d.Limiter != nil {
		if n := float64(d.Limiter.Limit()) * d.Lease.Seconds() / 8; n < float64(maxCalls) {
			maxCalls = max(int(n), 1)
		}
	}
	// Every planned call has at least one row: the buffer never fills.
	p := &pipeline{d: d, ctx: ctx, send: send, calls: make(chan plannedCall, maxAhead), maxAhead: maxAhead, maxCalls: maxCalls}
	p.aheadCv = sync.NewCond(&p.aheadMu)
	if d.sms != nil {
		p.provider = d.sms.Name()
	}
	p.w = startWriter(d, send)
	for range max(d.Workers, 1) {
		p.callers.Add(1)
		go func() {
			defer p.callers.Done()
			for pc := range p.calls {
				p.aheadMu.Lock()
				p.ahead -= len(pc.c.jobs)
				p.aheadCalls--
				p.aheadCv.Signal()
				p.aheadMu.Unlock()
				d.runCall(p, pc.r, pc.c)
				pc.r.done()
			}
		}()
	}
	return p
}

// call queues a planned call for the callers. It waits while a chunk's
// worth of rows is already queued: enough for the callers never to wait
// for the next lease, few enough that leases do not run out and memory
// stays small.
func (p *pipeline) call(r *run, c smsCall) {
	p.aheadMu.Lock()
	for p.ahead > 0 && (p.ahead+len(c.jobs) > p.maxAhead || p.aheadCalls+1 > p.maxCalls) {
		p.aheadCv.Wait()
	}
	p.ahead += len(c.jobs)
	p.aheadCalls++
	p.aheadMu.Unlock()
	r.mu.Lock()
	r.open++
	r.mu.Unlock()
	p.calls <- plannedCall{r: r, c: c}
}

// idle waits until every chunk handed over so far is settled: its outcomes
// written and its problems reported.
func (p *pipeline) idle() { p.chunks.Wait() }

// stop waits for every call and outcome and returns how many rows the run
// handled.
func (p *pipeline) stop() int {
	close(p.calls)
	p.callers.Wait()
	p.chunks.Wait()
	p.w.stop()
	return int(p.handled.Load())
}

// run collects the outcomes of one leased chunk of rows.
type run struct {
	d        *Dispatcher
	p        *pipeline
	until    time.Time // the end of the chunk's lease
	mu       sync.Mutex
	problems []store.OutboxRow
	sms      []*smsJob
	handled  int
	open     int // calls not finished, plus one while the chunk is being planned
}

func (p *pipeline) newRun(until time.Time) *run {
	p.chunks.Add(1)
	return &run{d: p.d, p: p, until: until, open: 1}
}

// done ends one call of the chunk (or its planning); the last one settles
// the chunk.
func (r *run) done() {
	r.mu.Lock()
	r.open--
	last := r.open == 0
	r.mu.Unlock()
	if !last {
		return
	}
	p := r.p
	if len(r.problems) > 0 && r.d.Alerts != nil {
		// Staff hear of a problem only once its outcome is on record.
		p.w.flush()
		p.alertMu.Lock()
		r.d.Alerts.DeliveryProblems(p.send, r.problems)
		p.alertMu.Unlock()
	} else {
		// The chunk's last outcomes need not wait for a later call's marks.
		p.w.wake()
	}
	p.handled.Add(int64(r.handled))
	p.chunks.Done()
}

// finish records one row's outcome, turning a retry into a failure once the
// row has used its attempts.
func (r *run) finish(row store.OutboxRow, f store.OutboxFinish) {
	f = keepHeld(row, r.d.settle(row, f))
	f.ID = row.ID
	r.p.w.add(store.OutboxWrites{Finishes: []store.OutboxFinish{f}})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handled++
	r.note(row, f)
}

// finishGroup records one outcome for the rows of one SMS call.
func (r *run) finishGroup(jobs []*smsJob, f store.OutboxFinish) {
	if f.Status != store.OutboxSent && f.Status != store.OutboxDelivered && (f.Status != store.OutboxPending || f.SMSOutID == "") {
		// Rows their web page can still collect go back to it (keepHeld).
		var keep []*smsJob
		for _, j := range jobs {
			if j.row.HoldChannel != "" {
				r.finish(*j.row, f)
			} else {
				keep = append(keep, j)
			}
		}
		jobs = keep
	}
	if f.Status == store.OutboxPending && !f.UndoAttempt && f.SMSOutID == "" {
		// Rows that have used their attempts fail one by one.
		var keep []*smsJob
		for _, j := range jobs {
			if j.row.Attempts+1 >= r.d.MaxAttempts {
				r.finish(*j.row, f)
			} else {
				keep = append(keep, j)
			}
		}
		jobs = keep
	}
	if len(jobs) == 0 {
		return
	}
	if f.Status == store.OutboxPending && f.RetryAt.IsZero() {
		f.RetryAt = r.d.now().Add(Backoff(jobs[0].row.Attempts + 1))
	}
	if f.At.IsZero() {
		f.At = r.d.now()
	}
	r.p.w.add(store.OutboxWrites{Groups: []store.OutboxGroupFinish{{IDs: jobIDs(jobs), Finish: f}}})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handled += len(jobs)
	for _, j := range jobs {
		r.note(*j.row, f)
	}
}

// putBack returns rows that were never tried (the dispatcher is stopping,
// or their lease is running out), if they are still the chunk's.
func (r *run) putBack(ids []int64) {
	r.p.w.add(store.OutboxWrites{Release: []store.OutboxLease{{IDs: ids, Until: r.until}}})
}

// unmark returns rows whose mark was written but whose call was never made
// (the dispatcher stopped while it waited for the limiter): nothing went
// out, so their OutId goes too and no look-up is needed later.
func (r *run) unmark(ids []int64) {
	r.p.w.add(store.OutboxWrites{Unmark: []store.OutboxLease{{IDs: ids, Until: r.until}}})
}

// leaseLeft is how much of the chunk's lease is left.
func (r *run) leaseLeft() time.Duration { return r.until.Sub(r.d.now()) }

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

func rowIDs(rows []store.OutboxRow) []int64 {
	ids := make([]int64, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	return ids
}

func jobIDs(jobs []*smsJob) []int64 {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.row.ID
	}
	return ids
}

// writer writes outbox changes in shared transactions (group commit): the
// marks of calls about to go out are written at once, and the outcomes
// queued since the last transaction go with them. While one transaction
// runs, the next collects whatever arrives.
type writer struct {
	d    *Dispatcher
	ctx  context.Context
	kick chan struct{}
	quit chan struct{}
	end  chan struct{}

	mu     sync.Mutex
	queued store.OutboxWrites
	waits  []*writeWait
}

// writeWait is a caller waiting for its mark (or, with no rows, for
// everything queued before it) to be committed.
type writeWait struct {
	mark store.SMSMark
	caps []capKey // per-number reservations the mark turns into rows on record
	done chan error
}

// flushRows is how many queued outcome rows make the writer write without
// waiting for the next mark.
const flushRows = 2000

func startWriter(d *Dispatcher, ctx context.Context) *writer {
	w := &writer{d: d, ctx: ctx, kick: make(chan struct{}, 1), quit: make(chan struct{}), end: make(chan struct{})}
	go w.loop()
	return w
}

func (w *writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// add queues changes for the next transaction.
func (w *writer) add(c store.OutboxWrites) {
	w.mu.Lock()
	w.queued.Add(c)
	n := w.queued.Rows()
	w.mu.Unlock()
	if n >= flushRows {
		w.wake()
	}
}

// mark writes a call's marks (and whatever is queued) and returns once they
// are committed: only then may the call go out.
func (w *writer) mark(m store.SMSMark, caps []capKey) error {
	ww := &writeWait{mark: m, caps: caps, done: make(chan error, 1)}
	w.mu.Lock()
	w.waits = append(w.waits, ww)
	w.mu.Unlock()
	w.wake()
	return <-ww.done
}

// flush returns once everything queued so far is written (or failed and
// was logged).
func (w *writer) flush() {
	_ = w.mark(store.SMSMark{}, nil)
}

func (w *writer) stop() {
	close(w.quit)
	<-w.end
}

func (w *writer) loop() {
	defer close(w.end)
	for {
		select {
		case <-w.kick:
			w.write()
		case <-w.quit:
			w.write()
			return
		}
	}
}

// write commits everything queued in one transaction. Should that fail,
// the outcomes and each mark are tried on their own, so that one bad
// change fails alone. Per-number reservations end when their marks are
// committed, under capsMu, so that the caps never count a row twice or
// not at all.
func (w *writer) write() {
	w.mu.Lock()
	q, waits := w.queued, w.waits
	w.queued, w.waits = store.OutboxWrites{}, nil
	w.mu.Unlock()
	if q.Empty() && len(waits) == 0 {
		return
	}
	all := q
	var caps []capKey
	for _, ww := range waits {
		if len(ww.mark.Rows) > 0 {
			all.Marks = append(all.Marks, ww.mark)
			caps = append(caps, ww.caps...)
		}
	}
	if len(all.Marks) > 0 {
		w.d.capsMu.Lock()
		defer w.d.capsMu.Unlock()
		defer w.d.unreserve(caps)
	}
	lost, err := w.d.st.WriteOutbox(w.ctx, all)
	if err == nil {
		i := 0 // index in all.Marks
		for _, ww := range waits {
			var e error
			if len(ww.mark.Rows) > 0 {
				if slices.Contains(lost, i) {
					e = store.ErrLeaseLost
				}
				i++
			}
			ww.done <- e
		}
		return
	}
	if len(all.Marks) == 0 {
		w.d.log.Error("outbox write", "rows", q.Rows(), "err", err)
		for _, ww := range waits {
			ww.done <- err
		}
		return
	}
	// One transaction failed; see which part it was.
	if _, err := w.d.st.WriteOutbox(w.ctx, q); err != nil {
		w.d.log.Error("outbox write", "rows", q.Rows(), "err", err)
	}
	for _, ww := range waits {
		if len(ww.mark.Rows) == 0 {
			ww.done <- nil
			continue
		}
		lost, err := w.d.st.WriteOutbox(w.ctx, store.OutboxWrites{Marks: []store.SMSMark{ww.mark}})
		if err == nil && len(lost) > 0 {
			err = store.ErrLeaseLost
		}
		ww.done <- err
	}
}

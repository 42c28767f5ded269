package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"linli/store"
)

// Jobs are the scheduled tasks whose content is another package's business
// (flows writes the surveys, the escalations, the digest and the broadcast
// reports, in the residents' and staff's languages). notify owns when they
// run; each gets the scheduler's clock reading.
type Jobs interface {
	// Surveys enqueues a survey SMS for resolved tickets not rated in time.
	Surveys(ctx context.Context, now time.Time) error
	// Escalate announces overdue unclaimed tickets to the staff group again.
	Escalate(ctx context.Context, now time.Time) error
	// Digest posts the morning summary of open items to the staff group.
	Digest(ctx context.Context, now time.Time) error
	// Broadcasts enqueues broadcasts that fell due and reports progress.
	Broadcasts(ctx context.Context, now time.Time) error
	// ExpireOffers passes offered places (bookings, event registrations)
	// whose time to accept ran out to the next on the waiting list.
	ExpireOffers(ctx context.Context, now time.Time) error
}

// Forgetter is an optional ability of Jobs, run by the nightly purge:
// erase residents who were asked for consent and never answered.
type Forgetter interface {
	ForgetUnanswered(ctx context.Context, now time.Time) error
}

// ScheduleConfig is the `schedule` section of the config file.
type ScheduleConfig struct {
	// DispatchEvery is how often the outbox is swept; every enqueue also
	// wakes the dispatcher at once.
	DispatchEvery time.Duration `yaml:"dispatch_every"`
	// Lease is how long a dispatcher reserves the rows it sends. After a
	// crash, rows in flight wait this long before they are reconciled.
	Lease time.Duration `yaml:"lease"`
	// SurveyAfter is how long a resolved ticket may stay unrated in the bot
	// before a survey SMS asks for a score.
	SurveyAfter time.Duration `yaml:"survey_after"`
	// SurveysEvery is how often resolved tickets are checked for surveys.
	SurveysEvery time.Duration `yaml:"surveys_every"`
	// EscalateEvery is how often overdue unclaimed tickets are looked for.
	EscalateEvery time.Duration `yaml:"escalate_every"`
	// EscalateRepeat repeats the announcement of a still unclaimed ticket
	// (0: once).
	EscalateRepeat time.Duration `yaml:"escalate_repeat"`
	// DigestAt is the time of day (community time) of the staff digest.
	DigestAt string `yaml:"digest_at"`
	// PurgeAt is the time of day old message logs and dedupe keys go.
	PurgeAt string `yaml:"purge_at"`
	// BroadcastsEvery is how often due broadcasts are started and their
	// progress checked.
	BroadcastsEvery time.Duration `yaml:"broadcasts_every"`
	// ReceiptAfter is how long an SMS may go without a pushed delivery
	// receipt before QuerySendDetails is asked.
	ReceiptAfter time.Duration `yaml:"receipt_after"`
	// HoldFor is how long a message for a resident last seen on the web
	// chat (or linli chat) waits for the page before it moves on down their
	// chain: other channels, template message, SMS (Dispatcher.HoldFor).
	HoldFor time.Duration `yaml:"hold_for"`
}

// DefaultSchedule is the schedule of a config file that says nothing.
func DefaultSchedule() ScheduleConfig {
	return ScheduleConfig{DispatchEvery: 5 * time.Second, Lease: 2 * time.Minute, SurveyAfter: 24 * time.Hour,
		SurveysEvery: 10 * time.Minute, EscalateEvery: 5 * time.Minute, EscalateRepeat: 12 * time.Hour,
		DigestAt: "09:00", PurgeAt: "03:30", BroadcastsEvery: 10 * time.Second, ReceiptAfter: 10 * time.Minute,
		HoldFor: 10 * time.Minute}
}

// ReceiptQuerier asks the provider for the delivery state of an accepted
// message (Aliyun QuerySendDetails by BizId).
type ReceiptQuerier interface {
	Receipt(ctx context.Context, phone, bizID, outID string, sentAt time.Time) (SMSRecord, bool, error)
}

// SchedulerOptions wire a Scheduler.
type SchedulerOptions struct {
	Config     ScheduleConfig
	Location   *time.Location
	Clock      clockwork.Clock // nil: the real clock; tests pass a fake one
	Log        *slog.Logger
	Store      *store.Store
	Dispatcher *Dispatcher
	Outbox     *Outbox
	Jobs       Jobs           // nil: no surveys, escalations, digest or broadcasts
	Receipts   ReceiptQuerier // nil: receipts only from the push endpoint
	// RetentionDays bounds the message log (store.message_retention_days; 0 keeps it).
	RetentionDays int
}

// Scheduler runs the dispatcher and the periodic jobs on gocron, in the
// community's time zone. Every job is named, runs as a singleton (a run
// still going when the next is due is skipped, not stacked), and a panic in
// one is logged and counted instead of taking the process down.
type Scheduler struct {
	opt      SchedulerOptions
	s        gocron.Scheduler
	dispatch gocron.Job
	clock    clockwork.Clock
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	// Panics counts recovered job panics (tests and metrics read it).
	Panics atomic.Int64
	// Runs counts finished job runs by name.
	runs sync.Map // name → *atomic.Int64
}

// Job names, as they appear in logs.
const (
	JobDispatch   = "outbox-dispatch"
	JobSurveys    = "surveys"
	JobEscalate   = "sla-escalation"
	JobDigest     = "staff-digest"
	JobPurge      = "purge"
	JobReceipts   = "sms-receipts"
	JobBroadcasts = "broadcasts"
	JobOffers     = "expire-offers"
)

// NewScheduler builds the scheduler; Start runs it.
func NewScheduler(opt SchedulerOptions) (*Scheduler, error) {
	def := DefaultSchedule()
	c := &opt.Config
	for _, f := range []struct{ v, d *time.Duration }{{&c.DispatchEvery, &def.DispatchEvery}, {&c.SurveysEvery, &def.SurveysEvery},
		{&c.EscalateEvery, &def.EscalateEvery}, {&c.BroadcastsEvery, &def.BroadcastsEvery}, {&c.ReceiptAfter, &def.ReceiptAfter},
		{&c.SurveyAfter, &def.SurveyAfter}, {&c.Lease, &def.Lease}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if c.DigestAt == "" {
		c.DigestAt = def.DigestAt
	}
	if c.PurgeAt == "" {
		c.PurgeAt = def.PurgeAt
	}
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.Clock == nil {
		opt.Clock = clockwork.NewRealClock()
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	sc := &Scheduler{opt: opt, clock: opt.Clock, log: opt.Log}
	s, err := gocron.NewScheduler(
		gocron.WithLocation(opt.Location),
		gocron.WithClock(opt.Clock),
		gocron.WithStopTimeout(30*time.Second),
		gocron.WithGlobalJobOptions(
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
			gocron.WithEventListeners(
				gocron.AfterJobRunsWithPanic(func(_ uuid.UUID, name string, recovered any) {
					sc.Panics.Add(1)
					sc.log.Error("scheduled job panicked", "job", name, "panic", fmt.Sprint(recovered))
				}),
				gocron.AfterJobRunsWithError(func(_ uuid.UUID, name string, err error) {
					if !errors.Is(err, gocron.ErrPanicRecovered) {
						sc.log.Error("scheduled job failed", "job", name, "err", err)
					}
				}),
			),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("notify: scheduler: %w", err)
	}
	sc.s = s
	sc.ctx, sc.cancel = context.WithCancel(context.Background())
	if err := sc.addJobs(); err != nil {
		s.Shutdown()
		return nil, err
	}
	return sc, nil
}

func (sc *Scheduler) addJobs() error {
	c := sc.opt.Config
	at := func(clock string) (gocron.AtTimes, error) {
		m, err := clockMinutes(clock)
		if err != nil {
			return nil, fmt.Errorf("notify: schedule: %w", err)
		}
		return gocron.NewAtTimes(gocron.NewAtTime(uint(m/60), uint(m%60), 0)), nil
	}
	digestAt, err := at(c.DigestAt)
	if err != nil {
		return err
	}
	purgeAt, err := at(c.PurgeAt)
	if err != nil {
		return err
	}
	type spec struct {
		name  string
		def   gocron.JobDefinition
		fn    func(context.Context, time.Time) error
		first bool // run once at start too
	}
	specs := []spec{
		{JobDispatch, gocron.DurationJob(c.DispatchEvery), sc.runDispatch, true},
		{JobPurge, gocron.DailyJob(1, purgeAt), sc.purge, false},
	}
	if sc.opt.Receipts != nil {
		specs = append(specs, spec{JobReceipts, gocron.DurationJob(time.Minute), sc.receipts, false})
	}
	if j := sc.opt.Jobs; j != nil {
		specs = append(specs,
			spec{JobBroadcasts, gocron.DurationJob(c.BroadcastsEvery), j.Broadcasts, true},
			spec{JobSurveys, gocron.DurationJob(c.SurveysEvery), j.Surveys, false},
			spec{JobEscalate, gocron.DurationJob(c.EscalateEvery), j.Escalate, false},
			spec{JobDigest, gocron.DailyJob(1, digestAt), j.Digest, false},
			spec{JobOffers, gocron.DurationJob(time.Minute), j.ExpireOffers, false},
		)
	}
	for _, sp := range specs {
		opts := []gocron.JobOption{gocron.WithName(sp.name)}
		if sp.first {
			opts = append(opts, gocron.WithStartAt(gocron.WithStartImmediately()))
		}
		fn, name := sp.fn, sp.name
		job, err := sc.s.NewJob(sp.def, gocron.NewTask(func() error {
			defer sc.count(name)
			return fn(sc.ctx, sc.clock.Now())
		}), opts...)
		if err != nil {
			return fmt.Errorf("notify: schedule %s: %w", sp.name, err)
		}
		if sp.name == JobDispatch {
			sc.dispatch = job
		}
	}
	return nil
}

func (sc *Scheduler) count(name string) {
	v, _ := sc.runs.LoadOrStore(name, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Runs reports how many times the named job has finished (panics included).
func (sc *Scheduler) Runs(name string) int64 {
	if v, ok := sc.runs.Load(name); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Jobs lists the scheduled jobs, for tests and diagnostics.
func (sc *Scheduler) Jobs() []gocron.Job { return sc.s.Jobs() }

// Start runs the scheduler, and dispatches at once whenever the outbox is
// woken, until Stop.
func (sc *Scheduler) Start() {
	if o := sc.opt.Outbox; o != nil {
		sc.opt.Dispatcher.Watch(o) // before any run reads it
	}
	sc.s.Start()
	if o := sc.opt.Outbox; o != nil {
		sc.wg.Add(1)
		go func() {
			defer sc.wg.Done()
			for {
				select {
				case <-sc.ctx.Done():
					return
				case <-o.Woken():
					// Refused while a run is going on; that run looks again
					// before it stops (Outbox's dirty flag).
					_ = sc.dispatch.RunNow()
				}
			}
		}()
	}
}

// Stop lets running jobs finish (a dispatcher run puts unstarted rows back)
// and stops the scheduler.
func (sc *Scheduler) Stop() error {
	sc.cancel()
	sc.wg.Wait()
	return sc.s.Shutdown()
}

func (sc *Scheduler) runDispatch(ctx context.Context, _ time.Time) error {
	_, err := sc.opt.Dispatcher.RunOnce(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// purge drops message logs (and the texts of outbox rows done with) past
// retention and dedupe keys older than two days (platforms stop
// redelivering within minutes), and has Jobs forget residents who never
// answered the consent question.
func (sc *Scheduler) purge(ctx context.Context, now time.Time) error {
	var errs []error
	if d := sc.opt.RetentionDays; d > 0 {
		n, err := sc.opt.Store.PurgeMessages(ctx, now.AddDate(0, 0, -d))
		errs = append(errs, err)
		sc.log.Info("purged message log", "rows", n, "older_than_days", d)
		n, err = sc.opt.Store.PurgeOutboxBodies(ctx, now.AddDate(0, 0, -d))
		errs = append(errs, err)
		sc.log.Info("purged outbox texts", "rows", n, "older_than_days", d)
	}
	n, err := sc.opt.Store.PurgeInbound(ctx, now.Add(-48*time.Hour))
	errs = append(errs, err)
	sc.log.Info("purged dedupe keys", "rows", n)
	if f, ok := sc.opt.Jobs.(Forgetter); ok {
		errs = append(errs, f.ForgetUnanswered(ctx, now))
	}
	return errors.Join(errs...)
}

// Receipt look-ups: at most this many a run, each row at most receiptChecks
// times, spaced receiptSpacing apart, for two days after sending. Pushed
// receipts are the normal path; this is for the ones that never come.
const (
	receiptsPerRun = 60
	receiptChecks  = 3
	receiptSpacing = 30 * time.Minute
)

// receipts asks the provider about SMS that have had no pushed receipt for
// ReceiptAfter.
func (sc *Scheduler) receipts(ctx context.Context, now time.Time) error {
	d := sc.opt.Dispatcher
	rows, err := sc.opt.Store.AwaitingReceipt(ctx, d.sms.Name(), now.Add(-48*time.Hour), now.Add(-sc.opt.Config.ReceiptAfter),
		receiptSpacing, receiptChecks, receiptsPerRun)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := d.waitTurn(ctx); err != nil {
			return nil
		}
		rec, found, err := sc.opt.Receipts.Receipt(ctx, r.SMSPhone, r.ProviderID, r.SMSOutID, r.SMSTryAt)
		switch {
		case err != nil:
			sc.log.Warn("sms receipt query", "id", r.ID, "err", err)
			return nil // the provider is unwell; the next run tries again
		case found && (rec.Delivered || rec.Failed):
			if _, err := sc.opt.Store.RecordSMSReceipt(ctx, r.SMSOutID, r.ProviderID, r.SMSPhone, rec.Delivered, rec.Code, now); err != nil {
				return err
			}
		default:
			if err := sc.opt.Store.NoteReceiptCheck(ctx, r.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

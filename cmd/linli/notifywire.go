package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"linli/flows"
	"linli/notify"
	"linli/store"
)

// wireNotify sets up the SMS provider, the dispatcher's limits and the
// scheduled jobs from the config.
func (a *app) wireNotify() error {
	cfg := a.cfg
	loc, err := time.LoadLocation(cfg.Community.Timezone)
	if err != nil {
		return fmt.Errorf("timezone: %w", err)
	}
	var sms notify.SMSProvider = notify.LogSMS{Log: a.log}
	var receipts notify.ReceiptQuerier
	if cfg.SMS.Provider == "aliyun" {
		al, err := notify.NewAliyunSMS(cfg.SMS.Aliyun, nil)
		if err != nil {
			return err
		}
		sms, receipts = al, al
	}
	quiet, err := notify.ParseQuietHours(cfg.SMS.QuietHours, loc)
	if err != nil {
		return err
	}
	d := notify.NewDispatcher(a.st, sms, a.log, nil)
	d.Limiter = rate.NewLimiter(rate.Limit(cfg.SMS.RatePerSecond), 1)
	d.Quiet, d.Loc = quiet, loc
	d.Lease = cfg.Schedule.Lease
	d.HoldFor = cfg.Schedule.HoldFor
	d.SMSBatch = cfg.SMS.BatchSize
	// A round holds one full SendSms call (see Dispatcher.Batch).
	d.Batch = max(cfg.SMS.BatchSize, 200)
	d.RegisterPull("web")
	d.RegisterPull("console")
	d.Register(notify.ChannelStaff, logStaffSender{log: a.log})
	a.jobs = a.engine.Jobs(flows.JobsConfig{SurveyAfter: cfg.Schedule.SurveyAfter, EscalateRepeat: cfg.Schedule.EscalateRepeat})
	d.Alerts = a.jobs
	d.OnSMS = a.met.SMSResult
	a.disp = d
	a.sched, err = notify.NewScheduler(notify.SchedulerOptions{
		Config: cfg.Schedule, Location: loc, Log: a.log, Store: a.st, Dispatcher: d, Outbox: a.outbox,
		Jobs: a.jobs, Receipts: receipts, RetentionDays: cfg.Store.MessageRetentionDays,
	})
	return err
}

// smsRoutes are Aliyun's push endpoints (delivery receipts, replies).
func (a *app) smsRoutes(mux *http.ServeMux) {
	push := &notify.AliyunPush{Secret: a.cfg.SMS.InboundSecret, Store: a.st, Replies: a.jobs, Log: a.log}
	mux.Handle("POST /sms/aliyun/report", push.ReportHandler())
	mux.Handle("POST /sms/aliyun/up", push.ReplyHandler())
}

// logStaffSender stands in for the staff group until a channel that has one
// (Telegram) registers its own sender under notify.ChannelStaff. It logs
// that an alert exists, never its text, which may quote a resident.
type logStaffSender struct{ log *slog.Logger }

func (l logStaffSender) Send(_ context.Context, _ notify.Recipient, body store.OutboxBody) (string, error) {
	l.log.Info("staff alert (no staff group configured)", "chars", len([]rune(body.Text)))
	return "log", nil
}

package flows

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

// JobsConfig tunes the scheduled jobs (the `schedule` section).
type JobsConfig struct {
	// SurveyAfter is how long a resolved ticket may stay unrated in the bot
	// before a survey SMS asks for a score.
	SurveyAfter time.Duration
	// EscalateRepeat announces a still unclaimed overdue ticket again after
	// this long (0: once).
	EscalateRepeat time.Duration
	// ProgressEvery is how often a running broadcast posts its progress.
	ProgressEvery time.Duration
}

// Jobs is what the scheduler runs with flows' texts: surveys, escalations,
// the morning digest and broadcast reports. It also hears delivery problems
// (notify.Alerter) and SMS replies (notify.SMSReplies). notify decides when;
// Jobs decides what is said.
type Jobs struct {
	e   *Engine
	cfg JobsConfig
}

// surveyWindow bounds how old a resolution may be to still get a survey:
// a ticket resolved months before linli started surveys gets none.
const surveyWindow = 7 * 24 * time.Hour

// Jobs returns the scheduled jobs of this engine.
func (e *Engine) Jobs(cfg JobsConfig) *Jobs {
	if cfg.SurveyAfter <= 0 {
		cfg.SurveyAfter = 24 * time.Hour
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Minute
	}
	return &Jobs{e: e, cfg: cfg}
}

// alertStaff enqueues a message for the staff group. The dedupe key makes
// it once-only however often a job runs.
func (e *Engine) alertStaff(ctx context.Context, ref, dedupe, text string) error {
	return e.enqueueStaff(ctx, store.OutboxRow{Kind: kindAlert, TargetChannel: StaffChannel, Ref: ref, DedupeKey: dedupe,
		Urgent: true, DueAt: e.now(), Body: store.OutboxBody{Text: text, Lang: e.cfg.Community.Language,
			Params: map[string]string{"mention_telegram_ids": e.adminTelegramIDs()}}}, false)
}

// alertStaffBySMS is alertStaff for what must reach somebody even in an
// office without a staff group or WeChat staff: admins known only by their
// phone get it as a notice SMS.
func (e *Engine) alertStaffBySMS(ctx context.Context, ref, dedupe, text string) error {
	return e.enqueueStaff(ctx, store.OutboxRow{Kind: kindAlert, TargetChannel: StaffChannel, Ref: ref, DedupeKey: dedupe,
		Urgent: true, DueAt: e.now(), Body: store.OutboxBody{Text: text, Lang: e.cfg.Community.Language,
			Params: map[string]string{"mention_telegram_ids": e.adminTelegramIDs()}}}, true)
}

// enqueueStaff sends a staff-group row where the office's staff are. With
// a staff group (Telegram) it is the one row, routed by name. Without one,
// each WeChat staff member gets a copy and, when sms is set, each admin
// with a phone but no WeChat gets the text as a notice SMS (not urgent:
// quiet hours apply). With nobody to reach, the row goes to the staff
// channel as it is, where the log stands in for the group.
func (e *Engine) enqueueStaff(ctx context.Context, row store.OutboxRow, sms bool) error {
	if len(e.cfg.DeskChats) > 0 {
		return e.out.Enqueue(ctx, row)
	}
	var rows []store.OutboxRow
	for _, s := range e.cfg.Staff {
		switch {
		case s.WeChatOpenID != "":
			r := row
			r.TargetChannel, r.TargetAddress = bot.ChannelWeChat, s.WeChatOpenID
			r.DedupeKey = row.DedupeKey + ":wechat:" + s.WeChatOpenID
			r.Body.Params = nil
			r.Body = staffTemplate(r.Body, row.Ref, "desk.tpl_attention")
			if r.Body.Template == "" {
				r.Body = e.staffReminder(r.Body)
			}
			rows = append(rows, r)
		case sms && s.Role == "admin" && s.Phone != "":
			r := row
			r.TargetChannel, r.TargetAddress, r.Urgent = channelSMS, s.Phone, false
			r.DedupeKey = row.DedupeKey + ":sms:" + s.Name
			r.Body = store.OutboxBody{Template: "notice", Lang: row.Body.Lang,
				Params: map[string]string{"content": clip(row.Body.Text, staffSMSRunes)}}
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		rows = append(rows, row)
	}
	return e.out.Enqueue(ctx, rows...)
}

// staffReminder lets a staff message about no ticket (the digest, delivery
// problems, a resident's SMS reply) reach a WeChat staff member outside
// their 48-hour window as the reminder template (what, when, where): its
// first line as what, now as when, and where to read the rest.
func (e *Engine) staffReminder(body store.OutboxBody) store.OutboxBody {
	first, _, _ := strings.Cut(body.Text, "\n")
	body.Template = "reminder"
	body.Params = map[string]string{"name": clip(first, 20), "time": e.now().In(e.loc).Format("01-02 15:04"),
		"place": T(body.Lang, "desk.tpl_read_in_chat")}
	return body
}

// staffSMSRunes bounds a staff alert sent as an SMS notice: enough for the
// ticket number and what happened; the rest is in /t.
const staffSMSRunes = 70

// adminMentions names the admins in a staff-group message.
func (e *Engine) adminMentions() string {
	var out []string
	for _, s := range e.cfg.Staff {
		if s.Role == "admin" {
			out = append(out, "@"+s.Name)
		}
	}
	return strings.Join(out, " ")
}

// adminTelegramIDs lets the Telegram sender turn the @names into real
// mentions (text_mention entities need the user id).
func (e *Engine) adminTelegramIDs() string {
	var out []string
	for _, s := range e.cfg.Staff {
		if s.Role == "admin" && s.TelegramID != 0 {
			out = append(out, strconv.FormatInt(s.TelegramID, 10))
		}
	}
	return strings.Join(out, ",")
}

func (e *Engine) staffLang() string { return e.cfg.Community.Language }

// Surveys enqueues a survey SMS for each resolved ticket that its resident
// has not rated in the bot within SurveyAfter. Residents without a phone
// were asked in the bot already; nothing more is sent to them.
func (j *Jobs) Surveys(ctx context.Context, now time.Time) error {
	e := j.e
	to := now.Add(-j.cfg.SurveyAfter)
	ts, err := e.st.TicketsToSurvey(ctx, to.Add(-surveyWindow), to)
	if err != nil {
		return err
	}
	var rows []store.OutboxRow
	for _, t := range ts {
		r, err := e.st.Resident(ctx, t.ResidentID)
		if err != nil || r.Phone == "" || !mobileRe.MatchString(r.Phone) || !r.ErasedAt.IsZero() {
			continue
		}
		lang := r.Language
		if lang == "" {
			lang = e.cfg.Community.Language
		}
		rows = append(rows, store.OutboxRow{Kind: kindSurvey, ResidentID: r.ID, TargetChannel: channelSMS, Ref: t.Number,
			DedupeKey: "survey:" + t.Number, DueAt: now,
			Body: store.OutboxBody{Template: kindSurvey, Params: map[string]string{"ticket": t.Number},
				Text: T(lang, "survey.sms", t.Number), Lang: lang}})
	}
	if len(rows) == 0 {
		return nil
	}
	return e.out.Enqueue(ctx, rows...)
}

// Escalate announces unclaimed tickets past their category's target to the
// staff group, mentioning the admins; again every EscalateRepeat.
func (j *Jobs) Escalate(ctx context.Context, now time.Time) error {
	e := j.e
	ts, err := e.st.OverdueUnclaimed(ctx, now)
	if err != nil {
		return err
	}
	lang := e.staffLang()
	var errs []error
	for _, t := range ts {
		round := 0
		if j.cfg.EscalateRepeat > 0 {
			round = int(now.Sub(t.DueAt) / j.cfg.EscalateRepeat)
		}
		cat := t.Category
		if c, ok := e.cfg.category(t.Category); ok {
			cat = pick(lang, c.Name, c.NameEN)
		}
		text := T(lang, "alert.escalate", t.Number, cat, t.DueAt.In(e.loc).Format("01-02 15:04"), clip(t.Description, 60), e.adminMentions())
		errs = append(errs, e.alertStaffBySMS(ctx, t.Number, fmt.Sprintf("escalate:%s:%d", t.Number, round), text))
	}
	return errors.Join(errs...)
}

// Digest posts the morning list of open tickets, overdue ones marked, with
// what failed to reach residents in the last day.
func (j *Jobs) Digest(ctx context.Context, now time.Time) error {
	e := j.e
	lang := e.staffLang()
	day := now.In(e.loc).Format("2006-01-02")
	ts, err := e.st.OpenTickets(ctx)
	if err != nil {
		return err
	}
	failed, err := e.st.FailedOutboxSince(ctx, now.Add(-24*time.Hour), 1000)
	if err != nil {
		return err
	}
	y, m, d := now.In(e.loc).Date()
	scheduled, err := e.st.BroadcastsIn(ctx, store.BroadcastScheduled, time.Date(y, m, d+1, 0, 0, 0, 0, e.loc))
	if err != nil {
		return err
	}
	var ls []string
	if len(ts) == 0 {
		ls = append(ls, T(lang, "digest.none", day))
	} else {
		ls = append(ls, T(lang, "digest.title", day))
		overdue, unclaimed := 0, 0
		const maxLines = 30
		for i, t := range ts {
			mark := ""
			if !t.DueAt.After(now) {
				mark = T(lang, "digest.overdue")
				overdue++
			}
			if t.Status == store.TicketOpen {
				unclaimed++
			}
			if i < maxLines {
				cat := t.Category
				if c, ok := e.cfg.category(t.Category); ok {
					cat = pick(lang, c.Name, c.NameEN)
				}
				ls = append(ls, T(lang, "digest.ticket", t.Number, cat, T(lang, "status."+t.Status), clip(t.Description, 30), mark))
			}
		}
		if len(ts) > maxLines {
			ls = append(ls, T(lang, "alert.more", len(ts)-maxLines))
		}
		ls = append(ls, T(lang, "digest.summary", len(ts), overdue, unclaimed))
	}
	if len(failed) > 0 {
		ls = append(ls, T(lang, "digest.failed", len(failed)))
	}
	if len(scheduled) > 0 {
		ls = append(ls, T(lang, "digest.broadcasts", len(scheduled)))
	}
	return e.alertStaff(ctx, "digest", "digest:"+day, strings.Join(ls, "\n"))
}

// Broadcasts starts broadcasts that fell due and reports on running ones:
// progress every ProgressEvery, final counts once every row has an outcome.
func (j *Jobs) Broadcasts(ctx context.Context, now time.Time) error {
	e := j.e
	due, err := e.st.BroadcastsIn(ctx, store.BroadcastScheduled, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range due {
		errs = append(errs, e.startBroadcast(ctx, b, now))
	}
	running, err := e.st.BroadcastsIn(ctx, store.BroadcastSending, time.Time{})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	lang := e.staffLang()
	for _, b := range running {
		n, err := e.st.BroadcastCounts(ctx, b.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Rows held for a web page have reached nobody yet: they are counted
		// apart, and those that will still move on to SMS keep the
		// broadcast running.
		heldDue, err := e.st.BroadcastHeldDue(ctx, b.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sent, held := n[store.OutboxSent]+n[store.OutboxDelivered], n[store.OutboxHeld]
		failed, unreachable := n[store.OutboxFailed], n[store.OutboxUnreachable]
		left := n[store.OutboxPending] + n[store.OutboxLeased]
		ref := "B" + strconv.FormatInt(b.ID, 10)
		if left+heldDue == 0 {
			err := e.st.SetBroadcastStatus(ctx, b.ID, store.BroadcastSending, store.BroadcastDone, 0, now)
			if err == nil || errors.Is(err, store.ErrConflict) {
				err = e.alertStaff(ctx, ref, "bc-done:"+ref, T(lang, "bc.done", b.ID, sent, failed, unreachable, held, n[store.OutboxCancelled]))
			}
			errs = append(errs, err)
			continue
		}
		last := b.ReportedAt
		if last.IsZero() {
			last = b.StartedAt
		}
		if now.Sub(last) >= j.cfg.ProgressEvery {
			round := int(now.Sub(b.StartedAt) / j.cfg.ProgressEvery)
			errs = append(errs, e.alertStaff(ctx, ref, fmt.Sprintf("bc-progress:%s:%d", ref, round),
				T(lang, "bc.progress", b.ID, sent, failed, unreachable, held, left)))
			errs = append(errs, e.st.NoteBroadcastReported(ctx, b.ID, now))
		}
	}
	return errors.Join(errs...)
}

// startBroadcast enqueues one row per recipient and marks the broadcast as
// sending. Run again after a crash, it adds only the rows still missing.
func (e *Engine) startBroadcast(ctx context.Context, b store.Broadcast, now time.Time) error {
	aud, err := e.resolveAudience(ctx, b.AudienceKind, b.AudienceKey, b.Urgent)
	if err != nil {
		return err
	}
	ref := "B" + strconv.FormatInt(b.ID, 10)
	row := store.OutboxRow{Kind: kindNotice, Urgent: b.Urgent, Ref: ref, DueAt: now,
		Body: store.OutboxBody{Text: b.Text, Template: kindNotice, Params: map[string]string{"content": b.Text}, Lang: b.Lang}}
	if b.Policy == store.PolicySMSOnly {
		row.TargetChannel = channelSMS // the resident's own phone
	}
	if _, err := e.st.EnqueueBroadcast(ctx, b.ID, aud.IDs, row); err != nil {
		return err
	}
	if err := e.st.SetBroadcastStatus(ctx, b.ID, store.BroadcastScheduled, store.BroadcastSending, len(aud.IDs), now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // started by someone else meanwhile (the flow or another run)
		}
		return err
	}
	e.wake()
	return e.alertStaff(ctx, ref, "bc-start:"+ref, T(e.staffLang(), "bc.started", b.ID, len(aud.IDs)))
}

// DeliveryProblems tells the staff group about messages that failed or
// reached nobody, so somebody can phone the residents (notify.Alerter).
func (j *Jobs) DeliveryProblems(ctx context.Context, rows []store.OutboxRow) {
	e := j.e
	lang := e.staffLang()
	ls := []string{T(lang, "alert.delivery", len(rows))}
	const maxLines = 20
	for i, r := range rows {
		if i == maxLines {
			ls = append(ls, T(lang, "alert.more", len(rows)-maxLines))
			break
		}
		who := "-"
		if r.ResidentID != 0 {
			if res, err := e.st.Resident(ctx, r.ResidentID); err == nil {
				who = res.Name
				if res.Phone != "" {
					who = strings.TrimSpace(who + " " + MaskPhone(res.Phone))
				}
			}
		}
		reason := T(lang, "alert.failed")
		if r.Status == store.OutboxUnreachable {
			reason = T(lang, "alert.unreachable")
		}
		ls = append(ls, T(lang, "alert.delivery_row", r.Kind, r.Ref, who, reason))
	}
	if err := e.alertStaff(ctx, "delivery", "delivery:"+strconv.FormatInt(rows[0].ID, 10)+":"+strconv.Itoa(len(rows)), strings.Join(ls, "\n")); err != nil {
		e.log.Error("delivery alert", "err", err)
	}
}

// SMSReply handles a text a resident sent back by SMS (notify.SMSReplies):
// TD/退订 unsubscribes, 接受/放弃 CODE answers an offered place (smsreply.go),
// 1–5 rates the resident's latest surveyed ticket (1–2 reopen it and alert
// the admins), anything else goes to the staff.
func (j *Jobs) SMSReply(ctx context.Context, phone, text string, at time.Time) error {
	e := j.e
	n := normalize(text)
	if is(n, wordsUnsubscribe) {
		_, err := e.st.SetUnsubscribedByPhone(ctx, phone, true)
		return err
	}
	residents, err := e.st.ResidentsByPhone(ctx, phone)
	if err != nil {
		return err
	}
	ids := make([]int64, len(residents))
	for i, r := range residents {
		ids[i] = r.ID
	}
	if handled, err := e.smsOffer(ctx, phone, residents, n, at); handled {
		return err
	}
	if score, err := strconv.Atoi(n); err == nil && score >= 1 && score <= 5 && len(ids) > 0 {
		survey, err := e.st.LatestSMSOfKind(ctx, kindSurvey, ids)
		if err == nil {
			return j.rate(ctx, survey, score, at)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if len(ids) > 0 {
		if err := e.st.LogMessage(ctx, store.LoggedMessage{ResidentID: ids[0], Direction: store.DirectionIn, Channel: channelSMS,
			Text: clip(text, 500), CreatedAt: at}); err != nil {
			return err
		}
	}
	key := "sms-reply:" + phone + ":" + strconv.FormatInt(at.Unix(), 10)
	return e.alertSMSReply(ctx, phone, ids, key, T(e.staffLang(), "sms.reply_alert", MaskPhone(phone), clip(text, 300)))
}

// rate records an SMS score on the ticket a survey asked about. A ticket
// rated already (in the bot) keeps its rating.
func (j *Jobs) rate(ctx context.Context, survey store.OutboxRow, score int, at time.Time) error {
	e := j.e
	t, err := e.st.Ticket(ctx, survey.Ref)
	if err != nil {
		return err
	}
	if t.Rating != 0 {
		return nil
	}
	ch := store.TicketChange{Number: t.Number, From: []string{store.TicketResolved}, Rating: score,
		Event: store.TicketEvent{Kind: store.EventRated, Actor: "sms", Note: strconv.Itoa(score), CreatedAt: at}}
	if score <= 2 {
		ch.To = store.TicketOpen
		ch.Event = store.TicketEvent{Kind: store.EventReopened, Actor: "sms", Note: strconv.Itoa(score), CreatedAt: at}
	}
	if _, err := e.st.ChangeTicket(ctx, ch); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // reopened or cancelled meanwhile; the score no longer applies
		}
		return err
	}
	if score <= 2 {
		return e.alertStaffBySMS(ctx, t.Number, "survey-low:"+t.Number, T(e.staffLang(), "survey.low_alert", t.Number, score, e.adminMentions()))
	}
	return nil
}

// ExpireOffers implements notify.Jobs: offered places whose two hours ran out
// go to the next on the waiting list.
func (j *Jobs) ExpireOffers(ctx context.Context, now time.Time) error {
	return j.e.ExpireOffers(ctx, now)
}

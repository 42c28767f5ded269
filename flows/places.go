package flows

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

// What bookings and event registrations share: the offer of a freed place to
// the waiting list and its acceptance, reminders, and time formatting.

// offerHold is how long a freed place is held for the resident it is
// offered to before it passes to the next on the waiting list.
const offerHold = 2 * time.Hour

// addPlaces registers bookings, events and their staff commands, and loads
// the config's events into the database.
func (e *Engine) addPlaces() error {
	e.addBooking()
	e.addEvents()
	e.addEventStaff()
	e.actions = append(e.actions, e.placeAction)
	if _, _, err := parseQuietHours(e.cfg.QuietHours); err != nil {
		return err
	}
	if err := e.syncConfigEvents(context.Background()); err != nil {
		return fmt.Errorf("flows: config events: %w", err)
	}
	return nil
}

// Outbox kinds this file enqueues.
const (
	kindReminder = "reminder"
	kindOffer    = "offer"
	kindLapsed   = "offer_lapsed"
)

var placeTexts = catalog{
	"place.offer":           {"好消息：您候补的“%s”（%s）有空位了！名额为您保留到 %s。回复“接受 %s”确认，或“放弃 %s”让给下一位。", "Good news: a place has come free for “%s” (%s), where you were on the waiting list! It is held for you until %s. Reply “accept %s” to take it, or “decline %s” to pass it on."},
	"place.offer_sms":       {"您候补的%s（%s）有空位，名额保留到%s，请回复“接受 %s”确认", "A place for %s (%s) is free for you until %s; reply \"accept %s\" to take it"},
	"place.accept":          {"接受 %s", "Accept %s"},
	"place.decline":         {"放弃 %s", "Decline %s"},
	"place.accepted":        {"已为您确认：%s（%s），编号 %s。", "Confirmed: %s (%s), number %s."},
	"place.declined":        {"好的，已放弃 %s，名额将让给下一位。", "OK, %s is declined; the place goes to the next person."},
	"place.offer_gone":      {"抱歉，%s 的名额保留已过期或已不再为您保留。", "Sorry, the place held for %s has run out or is no longer held for you."},
	"place.already":         {"%s 已经确认过了。", "%s is already confirmed."},
	"place.unknown":         {"没有找到 %s。请检查编号；只能操作您自己的预约和报名。", "No %s was found. Please check the number; you can only act on your own bookings and registrations."},
	"place.which_offer":     {"请回复“接受 编号”，例如“接受 %s”。", "Please reply “accept NUMBER”, for example “accept %s”."},
	"place.no_offer":        {"您目前没有待确认的名额。", "You have no place waiting for your answer."},
	"place.lapsed":          {"您候补的“%s”（%s）名额保留已过期，已让给下一位。如仍想参加，可以重新预约或报名。", "The place held for you at “%s” (%s) has run out and passed to the next person. You can book or register again if you still want to come."},
	"place.reminder":        {"提醒：“%s”将于 %s 开始，地点：%s。编号 %s。如不能参加，请发送“取消”。", "Reminder: “%s” starts at %s, at %s. Number %s. If you cannot come, send “cancel”."},
	"place.reminders_note":  {"我们会在前一天 18:00 和开始前 2 小时提醒您。", "We will remind you at 18:00 the day before and 2 hours before it starts."},
	"place.waiting_note":    {"有人取消时我们会通知您，名额为您保留 2 小时，请及时回复确认。", "When someone cancels we will tell you; the place is then held for you for 2 hours, so please answer in time."},
	"place.offered_until":   {"名额保留到 %s，请回复“接受 %s”", "held for you until %s: reply “accept %s”"},
	"place.waiting_pos":     {"候补第 %d 位", "waiting list, number %d"},
	"place.confirmed":       {"已确认", "confirmed"},
	"weekday.0":             {"周日", "Sun"},
	"weekday.1":             {"周一", "Mon"},
	"weekday.2":             {"周二", "Tue"},
	"weekday.3":             {"周三", "Wed"},
	"weekday.4":             {"周四", "Thu"},
	"weekday.5":             {"周五", "Fri"},
	"weekday.6":             {"周六", "Sat"},
	"place.cutoff_passed":   {"%s 距开始已不足 %s，不能在线取消了。如确实不能到场，请联系社区办公室。", "%s starts in less than %s, so it can no longer be cancelled here. If you really cannot come, please call the community office."},
	"place.already_started": {"%s 已经开始，不能取消了。", "%s has already started and can no longer be cancelled."},
}

// monthsEN are the month names of English dates.
var monthsEN = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// fmtDay renders a date in community time: 11月26日 周四 / Thu 26 Nov.
func (e *Engine) fmtDay(lang string, t time.Time) string {
	t = t.In(e.loc)
	wd := T(lang, "weekday."+itoa64(int64(t.Weekday())))
	if lang == "en" {
		return fmt.Sprintf("%s %d %s", wd, t.Day(), monthsEN[t.Month()-1])
	}
	return fmt.Sprintf("%d月%d日 %s", t.Month(), t.Day(), wd)
}

// fmtWhen renders a date and clock time in community time.
func (e *Engine) fmtWhen(lang string, t time.Time) string {
	return e.fmtDay(lang, t) + " " + t.In(e.loc).Format("15:04")
}

// fmtSpan renders a start and, when known, its end: 11月26日 周四 09:00–09:30.
func (e *Engine) fmtSpan(lang string, start, end time.Time) string {
	s := e.fmtWhen(lang, start)
	if !end.IsZero() {
		if end.In(e.loc).YearDay() == start.In(e.loc).YearDay() {
			return s + "–" + end.In(e.loc).Format("15:04")
		}
		return s + " – " + e.fmtWhen(lang, end)
	}
	return s
}

// fmtDuration renders a cut-off such as 2h or 90m for residents.
func fmtWait(lang string, d time.Duration) string {
	if d%time.Hour == 0 {
		if lang == "en" {
			if d == time.Hour {
				return "1 hour"
			}
			return itoa64(int64(d/time.Hour)) + " hours"
		}
		return itoa64(int64(d/time.Hour)) + " 小时"
	}
	if lang == "en" {
		return itoa64(int64(d/time.Minute)) + " minutes"
	}
	return itoa64(int64(d/time.Minute)) + " 分钟"
}

// residentLangByID is the language to write to a resident in outside a turn.
func (e *Engine) residentLangByID(ctx context.Context, residentID int64) string {
	if r, err := e.st.Resident(ctx, residentID); err == nil && r.Language != "" {
		return r.Language
	}
	return e.cfg.Community.Language
}

// placeInfo is what a resident is told about a booking or a registration.
type placeInfo struct {
	code  string
	name  string // the service or event, in the resident's language
	place string
	start time.Time
	end   time.Time
}

// version tells apart what a resident is told about a place: an event
// moved or renamed gets reminders of its own, not ones deduplicated
// against the withdrawn reminders of its old time.
func (p placeInfo) version() string {
	h := fnv.New32a()
	h.Write([]byte(strconv.FormatInt(p.start.Unix(), 10) + "\x00" + p.place + "\x00" + p.name))
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// reminderRows are the reminders of a confirmed place: 18:00 community time
// the day before, and 2 hours before the start; ones already past are left out.
func (e *Engine) reminderRows(residentID int64, lang string, p placeInfo) []store.OutboxRow {
	now := e.now()
	start := p.start.In(e.loc)
	eve := time.Date(start.Year(), start.Month(), start.Day()-1, 18, 0, 0, 0, e.loc)
	var rows []store.OutboxRow
	for _, r := range []struct {
		suffix string
		due    time.Time
	}{{"eve", eve}, {"2h", start.Add(-2 * time.Hour)}} {
		if !r.due.After(now) {
			continue
		}
		when := e.fmtWhen(lang, start)
		rows = append(rows, store.OutboxRow{
			Kind: kindReminder, ResidentID: residentID, Ref: p.code, DedupeKey: "reminder:" + p.code + ":" + r.suffix + ":" + p.version(), DueAt: r.due,
			Body: store.OutboxBody{
				Text: T(lang, "place.reminder", p.name, when, p.place, p.code), Lang: lang, Template: "reminder",
				Params: map[string]string{"name": p.name, "time": when, "place": p.place},
			},
		})
	}
	return rows
}

// offerRow tells a resident on a waiting list that a place is held for them.
func (e *Engine) offerRow(residentID int64, lang string, p placeInfo, until time.Time) store.OutboxRow {
	when, by := e.fmtWhen(lang, p.start), e.fmtWhen(lang, until)
	return store.OutboxRow{
		Kind: kindOffer, ResidentID: residentID, Ref: p.code, DedupeKey: "offer:" + p.code,
		Body: store.OutboxBody{
			Text: T(lang, "place.offer", p.name, when, by, p.code, p.code), Lang: lang,
			Choices: []store.OutboxChoice{
				{Payload: "accept:" + p.code, Label: T(lang, "place.accept", p.code)},
				{Payload: "decline:" + p.code, Label: T(lang, "place.decline", p.code)},
			},
			Template: "notice", Params: map[string]string{"content": T(lang, "place.offer_sms", p.name, when, by, p.code)},
		},
	}
}

// enqueue hands rows to the outbox; a failure is logged, not shown to the
// resident, whose booking itself stands.
func (e *Engine) enqueue(ctx context.Context, rows ...store.OutboxRow) {
	if len(rows) == 0 {
		return
	}
	if err := e.out.Enqueue(ctx, rows...); err != nil {
		e.log.Error("enqueue", "kind", rows[0].Kind, "err", err)
	}
}

// withdrawReminders cancels what is still queued about a code (reminders,
// an unanswered offer) once the place is given up.
func (e *Engine) withdrawReminders(ctx context.Context, residentID int64, code string) {
	if _, err := e.st.CancelOutbox(ctx, residentID, code); err != nil {
		e.log.Error("cancel reminders", "err", err)
	}
}

// announceOffers tells every resident newly offered a place.
func (e *Engine) announceOffers(ctx context.Context, bookings []store.Booking, regs []store.Registration) {
	for _, b := range bookings {
		if b.ResidentID == 0 {
			continue
		}
		lang := e.residentLangByID(ctx, b.ResidentID)
		e.enqueue(ctx, e.offerRow(b.ResidentID, lang, e.bookingInfo(lang, b), b.OfferUntil))
	}
	for _, g := range regs {
		if g.ResidentID == 0 {
			continue
		}
		lang := e.residentLangByID(ctx, g.ResidentID)
		p, err := e.registrationInfo(ctx, lang, g)
		if err != nil {
			e.log.Error("offer: event", "err", err)
			continue
		}
		e.enqueue(ctx, e.offerRow(g.ResidentID, lang, p, g.OfferUntil))
	}
}

// ExpireOffers ends every offered place whose 2 hours ran out at or before
// now, tells those residents, and offers the places to the next on each
// waiting list. A scheduler calls it every minute.
func (e *Engine) ExpireOffers(ctx context.Context, now time.Time) error {
	lapsedB, offeredB, err := e.st.LapseBookingOffers(ctx, now, e.offerUntil, func(key string) int {
		if s, ok := e.cfg.service(key); ok {
			return s.Capacity
		}
		return 0
	})
	if err != nil {
		return err
	}
	lapsedR, offeredR, err := e.st.LapseRegistrationOffers(ctx, now, e.offerUntil)
	if err != nil {
		return err
	}
	for _, b := range lapsedB {
		if b.ResidentID != 0 {
			lang := e.residentLangByID(ctx, b.ResidentID)
			p := e.bookingInfo(lang, b)
			e.enqueue(ctx, e.lapsedRow(b.ResidentID, lang, p))
		}
	}
	for _, g := range lapsedR {
		if g.ResidentID == 0 {
			continue
		}
		lang := e.residentLangByID(ctx, g.ResidentID)
		if p, err := e.registrationInfo(ctx, lang, g); err == nil {
			e.enqueue(ctx, e.lapsedRow(g.ResidentID, lang, p))
		}
	}
	e.announceOffers(ctx, offeredB, offeredR)
	return nil
}

func (e *Engine) lapsedRow(residentID int64, lang string, p placeInfo) store.OutboxRow {
	return store.OutboxRow{
		Kind: kindLapsed, ResidentID: residentID, Ref: p.code, DedupeKey: "lapsed:" + p.code,
		Body: store.OutboxBody{Text: T(lang, "place.lapsed", p.name, e.fmtWhen(lang, p.start)), Lang: lang},
	}
}

var (
	wordsAccept  = []string{"接受", "accept", "接受名额"}
	wordsDecline = []string{"放弃", "decline", "放弃名额"}
	// actionRe reads "接受 B1002", "accept k7m2qx", "放弃B1002".
	actionRe = regexp.MustCompile(`^(接受|accept|放弃|decline)\s*([a-z0-9]{4,12})$`)
)

// isBookingCode tells booking codes (B1001) from check-in codes, which never
// start with B or T followed by digits only.
var bookingCodeRe = regexp.MustCompile(`^B\d{4,}$`)

// placeAction answers an offer: the buttons of the offer message (payload
// accept:CODE / decline:CODE) work anywhere, even inside another flow; the
// typed "接受 CODE" and a bare "接受" (when one offer is open) work outside
// a flow, so that they never swallow a flow's answer.
func (e *Engine) placeAction(c *Ctx) ([]bot.Reply, bool) {
	var verb, code string
	if v, k, ok := strings.Cut(c.In.Payload, ":"); ok && (v == "accept" || v == "decline") {
		verb, code = v, strings.ToUpper(k)
	} else if c.st.Flow == "" || c.st.Paused {
		n := c.In.Norm
		if m := actionRe.FindStringSubmatch(n); m != nil {
			verb, code = "accept", strings.ToUpper(m[2])
			if m[1] == "放弃" || m[1] == "decline" {
				verb = "decline"
			}
		} else if is(n, wordsAccept) || is(n, wordsDecline) {
			verb = "accept"
			if is(n, wordsDecline) {
				verb = "decline"
			}
			offers, err := e.openOffers(c)
			if err != nil {
				e.log.Error("open offers", "err", err)
				return Unavailable(c.Lang), true
			}
			switch len(offers) {
			case 0:
				return []bot.Reply{{Text: c.T("place.no_offer")}}, true
			case 1:
				code = offers[0]
			default:
				return []bot.Reply{{Text: c.T("place.which_offer", offers[0])}}, true
			}
		}
	}
	if verb == "" {
		return nil, false
	}
	if verb == "accept" {
		return e.acceptOffer(c, code), true
	}
	return e.declineOffer(c, code), true
}

// openOffers lists the codes of places offered to the resident.
func (e *Engine) openOffers(c *Ctx) ([]string, error) {
	var out []string
	bs, err := e.st.ResidentBookings(c, c.Turn.Resident.ID, e.now())
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		if b.Status == store.PlaceOffered {
			out = append(out, b.Code)
		}
	}
	gs, err := e.st.ResidentRegistrations(c, c.Turn.Resident.ID, e.now())
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.Status == store.PlaceOffered {
			out = append(out, g.Code)
		}
	}
	return out, nil
}

func (e *Engine) acceptOffer(c *Ctx, code string) []bot.Reply {
	rid := c.Turn.Resident.ID
	if bookingCodeRe.MatchString(code) {
		b, err := e.st.AcceptBooking(c, rid, code, e.now())
		return e.acceptOutcome(c, code, err, b.Status, func() (placeInfo, error) { return e.bookingInfo(c.Lang, b), nil })
	}
	g, err := e.st.AcceptRegistration(c, rid, code, e.now())
	return e.acceptOutcome(c, code, err, g.Status, func() (placeInfo, error) { return e.registrationInfo(c, c.Lang, g) })
}

func (e *Engine) acceptOutcome(c *Ctx, code string, err error, status string, info func() (placeInfo, error)) []bot.Reply {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return []bot.Reply{{Text: c.T("place.unknown", code)}}
	case errors.Is(err, store.ErrConflict) && status == store.PlaceConfirmed:
		return []bot.Reply{{Text: c.T("place.already", code)}}
	case errors.Is(err, store.ErrConflict):
		return []bot.Reply{{Text: c.T("place.offer_gone", code)}}
	case err != nil:
		e.log.Error("accept offer", "err", err)
		return Unavailable(c.Lang)
	}
	p, err := info()
	if err != nil {
		e.log.Error("accept offer: details", "err", err)
		return Unavailable(c.Lang)
	}
	e.enqueue(c, e.reminderRows(c.Turn.Resident.ID, c.Lang, p)...)
	out := []bot.Reply{{Text: lines(c.T("place.accepted", p.name, e.fmtWhen(c.Lang, p.start), code), c.T("place.reminders_note"))}}
	if !bookingCodeRe.MatchString(code) {
		out[0].Image = e.qrImage(code)
	}
	return out
}

func (e *Engine) declineOffer(c *Ctx, code string) []bot.Reply {
	rel := store.PlaceRelease{Code: code, ResidentID: c.Turn.Resident.ID, From: []string{store.PlaceOffered},
		To: store.PlaceDeclined, OfferFor: e.offerUntil, At: e.now()}
	var err error
	if bookingCodeRe.MatchString(code) {
		var b store.Booking
		var next []store.Booking
		rel.Capacity = e.bookingCapacity(c, code)
		b, next, err = e.st.ReleaseBooking(c, rel)
		if err == nil {
			e.withdrawReminders(c, b.ResidentID, code)
			e.announceOffers(c, next, nil)
		}
	} else {
		var g store.Registration
		var next []store.Registration
		g, next, err = e.st.ReleaseRegistration(c, rel)
		if err == nil {
			e.withdrawReminders(c, g.ResidentID, code)
			e.announceOffers(c, nil, next)
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return []bot.Reply{{Text: c.T("place.unknown", code)}}
	case errors.Is(err, store.ErrConflict):
		return []bot.Reply{{Text: c.T("place.offer_gone", code)}}
	case err != nil:
		e.log.Error("decline offer", "err", err)
		return Unavailable(c.Lang)
	}
	return []bot.Reply{{Text: c.T("place.declined", code)}}
}

// bookingCapacity is the places per slot of a booking's service (0 for an
// unknown code or a service no longer configured: nobody is offered).
func (e *Engine) bookingCapacity(ctx context.Context, code string) int {
	b, err := e.st.BookingByCode(ctx, code)
	if err != nil {
		return 0
	}
	if s, ok := e.cfg.service(b.Service); ok {
		return s.Capacity
	}
	return 0
}

// qrImage is the check-in code as a QR image, where the server has a public URL.
func (e *Engine) qrImage(code string) *bot.Image {
	if e.cfg.PublicURL == "" {
		return nil
	}
	return &bot.Image{URL: strings.TrimRight(e.cfg.PublicURL, "/") + "/qr/" + code + ".png"}
}

// placeStatus renders the state of a live booking or registration.
func (e *Engine) placeStatus(lang, code, status string, position int, offerUntil time.Time) string {
	switch status {
	case store.PlaceWaiting:
		return T(lang, "place.waiting_pos", position)
	case store.PlaceOffered:
		return T(lang, "place.offered_until", e.fmtWhen(lang, offerUntil), code)
	}
	return T(lang, "place.confirmed")
}

// offerChoices are the accept/decline buttons of an offered place.
func offerChoices(lang, code string) []bot.Choice {
	return []bot.Choice{
		{Payload: "accept:" + code, Label: T(lang, "place.accept", code)},
		{Payload: "decline:" + code, Label: T(lang, "place.decline", code)},
	}
}

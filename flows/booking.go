package flows

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

var bookingTexts = catalog{
	"flow.book":             {"预约服务", "booking"},
	"book.none":             {"目前没有可预约的服务。", "There are no services to book at the moment."},
	"book.ask_service":      {"请选择要预约的服务：", "Which service would you like to book?"},
	"book.service_label":    {"%s（%s）", "%s (%s)"},
	"book.expect_service":   {"请从列表中选择一项服务（回复数字即可）。", "Please choose one of the services (the number is enough)."},
	"book.ask_day":          {"“%s”哪天方便？（括号内为剩余名额）", "Which day suits you for “%s”? (free places in brackets)"},
	"book.all_full":         {"“%s”近期的时段都已约满。您可以选一天加入候补：", "Every slot of “%s” in the coming days is taken. You can pick a day and join a waiting list:"},
	"book.no_slots":         {"“%s”近期没有开放的时段。请发送“返回”换一项服务，或“取消”。", "“%s” has no open slots in the coming days. Send “back” to choose another service, or “cancel”."},
	"book.day_label":        {"%s（剩 %d 位）", "%s (%d free)"},
	"book.day_full":         {"%s（已满，可候补）", "%s (full, waiting list)"},
	"book.expect_day":       {"请从列表中选择日期（回复数字即可）。", "Please choose one of the days (the number is enough)."},
	"book.ask_slot":         {"%s 有这些时段，请选择：", "These are the slots on %s; please choose one:"},
	"book.slot_label":       {"%s（剩 %d 位）", "%s (%d free)"},
	"book.slot_full":        {"%s（已满，可候补）", "%s (full, waiting list)"},
	"book.expect_slot":      {"请从列表中选择时段（回复数字即可）。", "Please choose one of the slots (the number is enough)."},
	"book.full":             {"%s 这个时段已约满。您可以改约最近的空余时段，或加入候补（前面有 %d 人）：", "The slot %s is full. You can take one of the nearest free slots, or join its waiting list (%d ahead of you):"},
	"book.just_full":        {"抱歉，这个时段刚刚被约满了。", "Sorry, that slot has just filled up."},
	"book.nearest_label":    {"改约 %s（剩 %d 位）", "Take %s (%d free)"},
	"book.join_waiting":     {"加入候补", "Join the waiting list"},
	"book.expect_full":      {"请选择一个空余时段，或回复“加入候补”。", "Please choose a free slot, or answer “join the waiting list”."},
	"book.summary":          {"请确认您的预约：\n服务：%s\n时间：%s\n地点：%s\n取消截止：开始前 %s", "Please check your booking:\nService: %s\nTime: %s\nPlace: %s\nCancel up to %s before it starts"},
	"book.submit":           {"确认预约", "Book it"},
	"book.edit":             {"返回修改", "Back to edit"},
	"book.cancel":           {"取消", "Cancel"},
	"book.expect_confirm":   {"请回复 1 确认预约，2 返回修改，3 取消。", "Please answer 1 to book, 2 to go back and edit, 3 to cancel."},
	"book.done":             {"预约成功！预约号 %s。\n%s · %s · %s", "Booked! Your booking number is %s.\n%s · %s · %s"},
	"book.cancel_hint":      {"如需取消，请至少提前 %s发送“取消”。", "To cancel, send “cancel” at least %s before it starts."},
	"book.waiting":          {"已加入候补：%s · %s，候补第 %d 位，候补号 %s。", "You are on the waiting list for %s · %s, number %d; your number is %s."},
	"book.already":          {"您已经有这个时段的预约（%s，%s）。", "You already have this slot (%s, %s)."},
	"book.gone":             {"这个时段已不可预约，请重新选择。", "That slot can no longer be booked; please choose again."},
	"book.section":          {"【预约】", "[Bookings]"},
	"book.line":             {"%s · %s · %s · %s", "%s · %s · %s · %s"},
	"book.cancel_label":     {"预约 %s（%s %s）", "booking %s (%s %s)"},
	"book.cancelled":        {"预约 %s 已取消。", "Booking %s is cancelled."},
	"book.cancel_not_found": {"没有找到预约 %s。", "No booking %s was found."},
}

// dayKeys are the weekday keys of SlotRule.Days, indexed by time.Weekday.
var dayKeys = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// service finds a bookable service by key.
func (c Config) service(key string) (Service, bool) {
	for _, s := range c.Services {
		if s.Key == key {
			return s, true
		}
	}
	return Service{}, false
}

// slot is one bookable time of a service.
type slot struct {
	start, end time.Time
}

func parseClock(s string) (h, m int, ok bool) {
	hh, mm, found := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	return h, m, found && err1 == nil && err2 == nil && h >= 0 && h < 24 && m >= 0 && m < 60
}

// slotsOf lists a service's slots that start after now, from today up to
// DaysAhead days ahead, in community time (so a slot is 09:00 on the notice
// board whatever the server's zone and daylight saving).
func (e *Engine) slotsOf(svc Service, now time.Time) []slot {
	local := now.In(e.loc)
	y, mo, d := local.Date()
	seen := map[int64]bool{}
	var out []slot
	for i := 0; i <= svc.DaysAhead; i++ {
		day := time.Date(y, mo, d+i, 0, 0, 0, 0, e.loc)
		wd := dayKeys[day.Weekday()]
		for _, r := range svc.Slots {
			if !is(wd, r.Days) || r.Every <= 0 {
				continue
			}
			fh, fm, ok1 := parseClock(r.From)
			th, tm, ok2 := parseClock(r.To)
			if !ok1 || !ok2 {
				continue
			}
			from := time.Date(day.Year(), day.Month(), day.Day(), fh, fm, 0, 0, e.loc)
			to := time.Date(day.Year(), day.Month(), day.Day(), th, tm, 0, 0, e.loc)
			for t := from; !t.Add(r.Every).After(to); t = t.Add(r.Every) {
				if !t.After(now) || seen[t.Unix()] {
					continue
				}
				seen[t.Unix()] = true
				out = append(out, slot{start: t, end: t.Add(r.Every)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// slotView is a slot with how it is taken.
type slotView struct {
	slot
	free    int
	waiting int
}

// slotViews returns the service's open slots with their free places.
func (e *Engine) slotViews(c *Ctx, svc Service) ([]slotView, error) {
	slots := e.slotsOf(svc, e.now())
	if len(slots) == 0 {
		return nil, nil
	}
	uses, err := e.st.SlotUses(c, svc.Key, slots[0].start, slots[len(slots)-1].start.Add(time.Second))
	if err != nil {
		return nil, err
	}
	out := make([]slotView, len(slots))
	for i, s := range slots {
		u := uses[s.start.Unix()]
		out[i] = slotView{slot: s, free: max(svc.Capacity-u.Held, 0), waiting: u.Waiting}
	}
	return out, nil
}

// addBooking registers the booking flow: service → day → slot (→ full:
// nearest free slots or the waiting list) → confirm → a booking code.
func (e *Engine) addBooking() {
	e.addIntent(intent{key: "book", label: "menu.book", words: wordsBook, flow: "book", start: func(c *Ctx) []bot.Reply {
		if len(e.cfg.Services) == 0 {
			return append([]bot.Reply{{Text: c.T("book.none")}}, e.menuOrStep(c)...)
		}
		return e.begin(c, "book", nil)
	}})
	e.addFlow(&flow{name: "book", title: "flow.book", start: "service", steps: map[string]*step{
		"service": {ask: e.askService, handle: e.handleService},
		"day":     {ask: e.askDay, handle: e.handleDay},
		"slot":    {ask: e.askSlot, handle: e.handleSlot},
		"full":    {ask: e.askFull, handle: e.handleFull},
		"confirm": {ask: e.askBookConfirm, handle: e.handleBookConfirm},
	}})
	e.statusSections = append(e.statusSections, e.bookingSection)
	e.cancellables = append(e.cancellables, e.cancellableBookings)
}

func (e *Engine) serviceOptions(c *Ctx) []option {
	opts := make([]option, 0, len(e.cfg.Services))
	for _, s := range e.cfg.Services {
		label := pick(c.Lang, s.Name, s.NameEN)
		if place := pick(c.Lang, s.Place, s.PlaceEN); place != "" {
			label = c.T("book.service_label", label, place)
		}
		opts = append(opts, option{key: s.Key, label: label, words: []string{normalize(s.Name), normalize(s.NameEN)}})
	}
	return opts
}

func (e *Engine) askService(c *Ctx) []bot.Reply {
	return []bot.Reply{ask(c.T("book.ask_service"), e.serviceOptions(c))}
}

func (e *Engine) handleService(c *Ctx) result {
	o, ok := choose(c.In, e.serviceOptions(c))
	if !ok {
		return invalid(c.T("book.expect_service"))
	}
	c.Set("service", o.key)
	return next("day")
}

// chosenService is the service picked earlier in the flow.
func (e *Engine) chosenService(c *Ctx) (Service, bool) {
	return e.cfg.service(c.Get("service"))
}

// dayView is one day of open slots.
type dayView struct {
	key   string // 2026-11-26
	start time.Time
	free  int
	slots []slotView
}

func (e *Engine) dayViews(c *Ctx, svc Service) ([]dayView, error) {
	views, err := e.slotViews(c, svc)
	if err != nil {
		return nil, err
	}
	var days []dayView
	for _, v := range views {
		key := v.start.In(e.loc).Format("2006-01-02")
		if len(days) == 0 || days[len(days)-1].key != key {
			days = append(days, dayView{key: key, start: v.start})
		}
		d := &days[len(days)-1]
		d.free += v.free
		d.slots = append(d.slots, v)
	}
	return days, nil
}

// dayOptions are the days that still have room; when none has, every day,
// so that a waiting list can still be joined.
func (e *Engine) dayOptions(c *Ctx, days []dayView) (opts []option, allFull bool) {
	for _, d := range days {
		if d.free > 0 {
			opts = append(opts, option{key: d.key, label: c.T("book.day_label", e.fmtDay(c.Lang, d.start), d.free)})
		}
	}
	if len(opts) > 0 {
		return opts, false
	}
	for _, d := range days {
		opts = append(opts, option{key: d.key, label: c.T("book.day_full", e.fmtDay(c.Lang, d.start))})
	}
	return opts, true
}

func (e *Engine) askDay(c *Ctx) []bot.Reply {
	svc, ok := e.chosenService(c)
	if !ok {
		*c.st = state{}
		return e.menu(c)
	}
	days, err := e.dayViews(c, svc)
	if err != nil {
		e.log.Error("book: days", "err", err)
		return Unavailable(c.Lang)
	}
	name := pick(c.Lang, svc.Name, svc.NameEN)
	if len(days) == 0 {
		return []bot.Reply{{Text: c.T("book.no_slots", name)}}
	}
	opts, allFull := e.dayOptions(c, days)
	q := c.T("book.ask_day", name)
	if allFull {
		q = c.T("book.all_full", name)
	}
	return []bot.Reply{ask(lines(pick(c.Lang, svc.Description, svc.DescriptionEN), q), opts)}
}

func (e *Engine) handleDay(c *Ctx) result {
	svc, ok := e.chosenService(c)
	if !ok {
		return cancelFlow()
	}
	days, err := e.dayViews(c, svc)
	if err != nil {
		e.log.Error("book: days", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	opts, _ := e.dayOptions(c, days)
	o, ok := choose(c.In, opts)
	if !ok {
		return invalid(c.T("book.expect_day"))
	}
	c.Set("day", o.key)
	return next("slot")
}

// chosenDay returns the open slots of the day picked earlier.
func (e *Engine) chosenDay(c *Ctx, svc Service) (dayView, bool, error) {
	days, err := e.dayViews(c, svc)
	if err != nil {
		return dayView{}, false, err
	}
	for _, d := range days {
		if d.key == c.Get("day") {
			return d, true, nil
		}
	}
	return dayView{}, false, nil
}

func (e *Engine) slotOptions(c *Ctx, d dayView) []option {
	opts := make([]option, 0, len(d.slots))
	for _, s := range d.slots {
		span := s.start.In(e.loc).Format("15:04") + "–" + s.end.In(e.loc).Format("15:04")
		label := c.T("book.slot_label", span, s.free)
		if s.free == 0 {
			label = c.T("book.slot_full", span)
		}
		opts = append(opts, option{key: s.start.In(e.loc).Format("15:04"), label: label})
	}
	return opts
}

func (e *Engine) askSlot(c *Ctx) []bot.Reply {
	svc, ok := e.chosenService(c)
	if !ok {
		*c.st = state{}
		return e.menu(c)
	}
	d, found, err := e.chosenDay(c, svc)
	if err != nil {
		e.log.Error("book: slots", "err", err)
		return Unavailable(c.Lang)
	}
	if !found {
		// The day passed or its last slot started while the resident was away.
		c.st.Step = "day"
		return append([]bot.Reply{{Text: c.T("book.gone")}}, e.askDay(c)...)
	}
	return []bot.Reply{ask(c.T("book.ask_slot", e.fmtDay(c.Lang, d.start)), e.slotOptions(c, d))}
}

func (e *Engine) handleSlot(c *Ctx) result {
	svc, ok := e.chosenService(c)
	if !ok {
		return cancelFlow()
	}
	d, found, err := e.chosenDay(c, svc)
	if err != nil {
		e.log.Error("book: slots", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if !found {
		return stay()
	}
	o, ok := choose(c.In, e.slotOptions(c, d))
	if !ok {
		return invalid(c.T("book.expect_slot"))
	}
	for _, s := range d.slots {
		if s.start.In(e.loc).Format("15:04") == o.key {
			c.Set("slot", itoa64(s.start.Unix()))
			if s.free == 0 {
				return next("full")
			}
			return next("confirm")
		}
	}
	return invalid(c.T("book.expect_slot"))
}

// chosenSlot returns the slot picked earlier, if it is still open.
func (e *Engine) chosenSlot(c *Ctx, svc Service) (slotView, []slotView, bool, error) {
	views, err := e.slotViews(c, svc)
	if err != nil {
		return slotView{}, nil, false, err
	}
	at, _ := strconv.ParseInt(c.Get("slot"), 10, 64)
	for _, v := range views {
		if v.start.Unix() == at {
			return v, views, true, nil
		}
	}
	return slotView{}, views, false, nil
}

// nearestFree are up to n free slots closest in time to s.
func nearestFree(s slotView, views []slotView, n int) []slotView {
	var free []slotView
	for _, v := range views {
		if v.free > 0 {
			free = append(free, v)
		}
	}
	dist := func(v slotView) time.Duration {
		d := v.start.Sub(s.start)
		if d < 0 {
			return -d
		}
		return d
	}
	sort.SliceStable(free, func(i, j int) bool { return dist(free[i]) < dist(free[j]) })
	if len(free) > n {
		free = free[:n]
	}
	sort.Slice(free, func(i, j int) bool { return free[i].start.Before(free[j].start) })
	return free
}

func (e *Engine) fullOptions(c *Ctx, s slotView, views []slotView) []option {
	var opts []option
	for _, v := range nearestFree(s, views, 3) {
		opts = append(opts, option{key: "at:" + itoa64(v.start.Unix()), label: c.T("book.nearest_label", e.fmtWhen(c.Lang, v.start), v.free)})
	}
	return append(opts, option{key: "wait", label: c.T("book.join_waiting"), words: []string{"候补", "waiting list", "wait", "排队"}})
}

func (e *Engine) askFull(c *Ctx) []bot.Reply {
	svc, ok := e.chosenService(c)
	if !ok {
		*c.st = state{}
		return e.menu(c)
	}
	s, views, found, err := e.chosenSlot(c, svc)
	if err != nil {
		e.log.Error("book: full", "err", err)
		return Unavailable(c.Lang)
	}
	if !found {
		c.st.Step = "day"
		return append([]bot.Reply{{Text: c.T("book.gone")}}, e.askDay(c)...)
	}
	return []bot.Reply{ask(c.T("book.full", e.fmtWhen(c.Lang, s.start), s.waiting), e.fullOptions(c, s, views))}
}

func (e *Engine) handleFull(c *Ctx) result {
	svc, ok := e.chosenService(c)
	if !ok {
		return cancelFlow()
	}
	s, views, found, err := e.chosenSlot(c, svc)
	if err != nil {
		e.log.Error("book: full", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if !found {
		return stay()
	}
	o, ok := choose(c.In, e.fullOptions(c, s, views))
	if !ok {
		return invalid(c.T("book.expect_full"))
	}
	if at, ok := strings.CutPrefix(o.key, "at:"); ok {
		c.Set("slot", at)
		return next("confirm")
	}
	return e.takeBooking(c, svc, s.slot, true)
}

func (e *Engine) bookConfirmOptions(c *Ctx) []option {
	return []option{
		{key: "submit", label: c.T("book.submit"), words: wordsYes},
		{key: "edit", label: c.T("book.edit")},
		{key: "cancel", label: c.T("book.cancel")},
	}
}

func (e *Engine) askBookConfirm(c *Ctx) []bot.Reply {
	svc, ok := e.chosenService(c)
	if !ok {
		*c.st = state{}
		return e.menu(c)
	}
	s, _, found, err := e.chosenSlot(c, svc)
	if err != nil {
		e.log.Error("book: confirm", "err", err)
		return Unavailable(c.Lang)
	}
	if !found {
		c.st.Step = "day"
		return append([]bot.Reply{{Text: c.T("book.gone")}}, e.askDay(c)...)
	}
	summary := c.T("book.summary", pick(c.Lang, svc.Name, svc.NameEN), e.fmtSpan(c.Lang, s.start, s.end),
		pick(c.Lang, svc.Place, svc.PlaceEN), fmtWait(c.Lang, svc.CancelCutoff))
	return []bot.Reply{ask(summary, e.bookConfirmOptions(c))}
}

func (e *Engine) handleBookConfirm(c *Ctx) result {
	o, ok := choose(c.In, e.bookConfirmOptions(c))
	if !ok {
		return invalid(c.T("book.expect_confirm"))
	}
	switch o.key {
	case "edit":
		return back()
	case "cancel":
		return cancelFlow()
	}
	svc, ok := e.chosenService(c)
	if !ok {
		return cancelFlow()
	}
	s, _, found, err := e.chosenSlot(c, svc)
	if err != nil {
		e.log.Error("book: confirm", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if !found {
		return stay(bot.Reply{Text: c.T("book.gone")})
	}
	return e.takeBooking(c, svc, s.slot, false)
}

// takeBooking books the slot (or, with wait, joins its waiting list) and
// ends the flow with the booking code.
func (e *Engine) takeBooking(c *Ctx, svc Service, s slot, wait bool) result {
	b, existed, err := e.st.TakeBooking(c, store.NewBooking{ResidentID: c.Turn.Resident.ID, Service: svc.Key,
		SlotAt: s.start, Capacity: svc.Capacity, Wait: wait, At: e.now()})
	if errors.Is(err, store.ErrFull) {
		return next("full", bot.Reply{Text: c.T("book.just_full")})
	}
	if err != nil {
		e.log.Error("take booking", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	name, place := pick(c.Lang, svc.Name, svc.NameEN), pick(c.Lang, svc.Place, svc.PlaceEN)
	when := e.fmtSpan(c.Lang, s.start, s.end)
	if existed {
		// The resident already holds this slot (or the same confirmation was
		// replayed): nothing new was booked, so nothing new is reminded.
		return done(bot.Reply{Text: c.T("book.already", b.Code, e.placeStatus(c.Lang, b.Code, b.Status, b.Position, b.OfferUntil))})
	}
	if b.Status == store.PlaceWaiting {
		return done(bot.Reply{Text: lines(c.T("book.waiting", name, when, b.Position, b.Code), c.T("place.waiting_note"))})
	}
	e.enqueue(c, e.reminderRows(c.Turn.Resident.ID, c.Lang, placeInfo{code: b.Code, name: name, place: place, start: s.start, end: s.end})...)
	return done(bot.Reply{Text: lines(c.T("book.done", b.Code, name, when, place), c.T("place.reminders_note"),
		c.T("book.cancel_hint", fmtWait(c.Lang, svc.CancelCutoff)))})
}

// bookingInfo describes a booking for messages.
func (e *Engine) bookingInfo(lang string, b store.Booking) placeInfo {
	p := placeInfo{code: b.Code, name: b.Service, start: b.SlotAt}
	if svc, ok := e.cfg.service(b.Service); ok {
		p.name, p.place = pick(lang, svc.Name, svc.NameEN), pick(lang, svc.Place, svc.PlaceEN)
		for _, s := range e.slotsOf(svc, b.SlotAt.Add(-time.Second)) {
			if s.start.Equal(b.SlotAt) {
				p.end = s.end
				break
			}
		}
	}
	return p
}

func (e *Engine) bookingSection(c *Ctx) ([]string, []bot.Choice, error) {
	bs, err := e.st.ResidentBookings(c, c.Turn.Resident.ID, e.now())
	if err != nil || len(bs) == 0 {
		return nil, nil, err
	}
	out := []string{c.T("book.section")}
	var choices []bot.Choice
	for _, b := range bs {
		p := e.bookingInfo(c.Lang, b)
		out = append(out, c.T("book.line", b.Code, p.name, e.fmtWhen(c.Lang, b.SlotAt), e.placeStatus(c.Lang, b.Code, b.Status, b.Position, b.OfferUntil)))
		if b.Status == store.PlaceOffered {
			choices = append(choices, offerChoices(c.Lang, b.Code)...)
		}
	}
	return out, choices, nil
}

func (e *Engine) cancellableBookings(c *Ctx) ([]cancellable, error) {
	bs, err := e.st.ResidentBookings(c, c.Turn.Resident.ID, e.now())
	if err != nil {
		return nil, err
	}
	out := make([]cancellable, 0, len(bs))
	for _, b := range bs {
		code := b.Code
		p := e.bookingInfo(c.Lang, b)
		out = append(out, cancellable{
			key:   "booking:" + code,
			label: c.T("book.cancel_label", code, p.name, e.fmtWhen(c.Lang, b.SlotAt)),
			cancel: func(c *Ctx) (string, error) {
				return e.cancelBooking(c, code)
			},
		})
	}
	return out, nil
}

// cancelBooking withdraws a booking before its service's cut-off (a place
// on the waiting list or an offer can be given up until the start) and
// offers the freed place to the waiting list.
func (e *Engine) cancelBooking(c *Ctx, code string) (string, error) {
	b, err := e.st.BookingByCode(c, code)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.ResidentID != c.Turn.Resident.ID) {
		return c.T("book.cancel_not_found", code), nil
	}
	if err != nil {
		return "", err
	}
	svc, _ := e.cfg.service(b.Service)
	now := e.now()
	if !b.SlotAt.After(now) {
		return c.T("place.already_started", code), nil
	}
	if b.Status == store.PlaceConfirmed && b.SlotAt.Sub(now) < svc.CancelCutoff {
		return c.T("place.cutoff_passed", code, fmtWait(c.Lang, svc.CancelCutoff)), nil
	}
	_, offered, err := e.st.ReleaseBooking(c, store.PlaceRelease{Code: code, ResidentID: c.Turn.Resident.ID,
		From: []string{store.PlaceConfirmed, store.PlaceWaiting, store.PlaceOffered}, To: store.PlaceCancelled,
		Capacity: svc.Capacity, OfferFor: e.offerUntil, At: now})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return c.T("cancel.gone"), nil
	}
	if err != nil {
		return "", err
	}
	e.withdrawReminders(c, c.Turn.Resident.ID, code)
	e.announceOffers(c, offered, nil)
	return c.T("book.cancelled", code), nil
}

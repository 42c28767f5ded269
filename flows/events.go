package flows

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

var eventTexts = catalog{
	"flow.events":            {"活动报名", "event registration"},
	"events.none":            {"近期没有可报名的活动。", "There are no upcoming events at the moment."},
	"events.ask":             {"近期活动（括号内为剩余名额），请选择：", "Upcoming events (free places in brackets); please choose one:"},
	"events.label":           {"%s %s（剩 %d 位）", "%s %s (%d free)"},
	"events.label_full":      {"%s %s（已满，可候补）", "%s %s (full, waiting list)"},
	"events.label_closed":    {"%s %s（报名已截止）", "%s %s (registration closed)"},
	"events.label_mine":      {"%s %s（您已报名）", "%s %s (you are registered)"},
	"events.expect_event":    {"请从列表中选择一个活动（回复数字即可）。", "Please choose one of the events (the number is enough)."},
	"events.gone":            {"这个活动已不在报名列表中了。", "That event is no longer open."},
	"events.detail":          {"%s\n时间：%s\n地点：%s\n名额：%d，剩余 %d", "%s\nTime: %s\nPlace: %s\nPlaces: %d, %d free"},
	"events.detail_deadline": {"报名截止：%s", "Registration closes: %s"},
	"events.detail_comp":     {"每人最多可带 %d 位同行（占用名额）。", "You may bring up to %d companion(s) (they take places too)."},
	"events.detail_mine":     {"您已报名：签到码 %s · %s", "You are registered: check-in code %s · %s"},
	"events.detail_closed":   {"报名已截止。", "Registration has closed."},
	"events.detail_full":     {"名额已满，可加入候补（前面有 %d 人）。", "It is full; you can join the waiting list (%d ahead of you)."},
	"events.register":        {"报名", "Register"},
	"events.wait":            {"加入候补", "Join the waiting list"},
	"events.cancel_mine":     {"取消报名", "Cancel my registration"},
	"events.back_list":       {"返回活动列表", "Back to the list"},
	"events.expect_detail":   {"请从选项中选择（回复数字即可）。", "Please choose one of the options (the number is enough)."},
	"events.ask_companions":  {"您带几位同行？（最多 %d 位，同行也占名额）", "How many companions will you bring? (up to %d; they take places too)"},
	"events.companions_n":    {"带 %d 位同行", "Bring %d"},
	"events.companions_0":    {"不带同行", "None"},
	"events.expect_comp":     {"请回复同行人数（0 到 %d）。", "Please answer with the number of companions (0 to %d)."},
	"events.summary":         {"请确认报名：\n活动：%s\n时间：%s\n地点：%s\n人数：本人 + %d 位同行", "Please check your registration:\nEvent: %s\nTime: %s\nPlace: %s\nPeople: you + %d companion(s)"},
	"events.summary_full":    {"目前名额已满，确认后将加入候补。", "It is full now; confirming puts you on the waiting list."},
	"events.submit":          {"确认报名", "Register"},
	"events.edit":            {"返回修改", "Back to edit"},
	"events.cancel":          {"取消", "Cancel"},
	"events.expect_confirm":  {"请回复 1 确认报名，2 返回修改，3 取消。", "Please answer 1 to register, 2 to go back and edit, 3 to cancel."},
	"events.closed":          {"抱歉，“%s”的报名已于 %s 截止。", "Sorry, registration for “%s” closed at %s."},
	"events.done":            {"报名成功！签到码 %s（活动现场请出示此码或二维码）。\n%s · %s · %s", "You are registered! Check-in code %s (show it, or its QR code, at the door).\n%s · %s · %s"},
	"events.waiting":         {"已加入候补：“%s”，候补第 %d 位，编号 %s。", "You are on the waiting list for “%s”, number %d; your code is %s."},
	"events.already":         {"您已报名“%s”：签到码 %s · %s。", "You are already registered for “%s”: check-in code %s · %s."},
	"events.section":         {"【活动报名】", "[Event registrations]"},
	"events.line":            {"%s · %s · %s · %s", "%s · %s · %s · %s"},
	"events.plus":            {"（+%d 同行）", " (+%d)"},
	"events.cancel_label":    {"活动报名 %s（%s %s）", "registration %s (%s %s)"},
	"events.cancelled":       {"活动报名 %s 已取消。", "Registration %s is cancelled."},
	"events.cancel_unknown":  {"没有找到报名 %s。", "No registration %s was found."},
}

// addEvents registers the residents' side of events: list → detail →
// companions → confirm → a check-in code, or the waiting list.
func (e *Engine) addEvents() {
	e.addIntent(intent{key: "events", label: "menu.events", words: wordsEvents, flow: "events", start: func(c *Ctx) []bot.Reply {
		evs, err := e.st.UpcomingEvents(c, e.now())
		if err != nil {
			e.log.Error("events", "err", err)
			return Unavailable(c.Lang)
		}
		if len(evs) == 0 {
			return append([]bot.Reply{{Text: c.T("events.none")}}, e.menuOrStep(c)...)
		}
		return e.begin(c, "events", nil)
	}})
	e.addFlow(&flow{name: "events", title: "flow.events", start: "list", steps: map[string]*step{
		"list":       {ask: e.askEventList, handle: e.handleEventList},
		"detail":     {ask: e.askEventDetail, handle: e.handleEventDetail},
		"companions": {ask: e.askCompanions, handle: e.handleCompanions},
		"confirm":    {ask: e.askEventConfirm, handle: e.handleEventConfirm},
	}})
	e.statusSections = append(e.statusSections, e.registrationSection)
	e.cancellables = append(e.cancellables, e.cancellableRegistrations)
}

// eventView is an upcoming event with its places and the resident's own registration.
type eventView struct {
	ev      store.Event
	held    int
	waiting int
	mine    *store.Registration
}

func (v eventView) free() int { return max(v.ev.Capacity-v.held, 0) }

func (e *Engine) eventViews(c *Ctx) ([]eventView, error) {
	evs, err := e.st.UpcomingEvents(c, e.now())
	if err != nil {
		return nil, err
	}
	mine, err := e.st.ResidentRegistrations(c, c.Turn.Resident.ID, e.now())
	if err != nil {
		return nil, err
	}
	out := make([]eventView, 0, len(evs))
	for _, ev := range evs {
		v := eventView{ev: ev}
		if v.held, v.waiting, err = e.st.EventPlaces(c, ev.ID); err != nil {
			return nil, err
		}
		for i := range mine {
			if mine[i].EventID == ev.ID {
				v.mine = &mine[i]
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (e *Engine) eventTitle(lang string, ev store.Event) string {
	return pick(lang, ev.Title, ev.TitleEN)
}

func (e *Engine) eventOptions(c *Ctx, views []eventView) []option {
	opts := make([]option, 0, len(views))
	now := e.now()
	for _, v := range views {
		when, title := e.fmtWhen(c.Lang, v.ev.StartsAt), e.eventTitle(c.Lang, v.ev)
		var label string
		switch {
		case v.mine != nil:
			label = c.T("events.label_mine", when, title)
		case !v.ev.Deadline.After(now):
			label = c.T("events.label_closed", when, title)
		case v.free() == 0:
			label = c.T("events.label_full", when, title)
		default:
			label = c.T("events.label", when, title, v.free())
		}
		opts = append(opts, option{key: "e" + itoa64(v.ev.ID), label: label,
			words: []string{normalize(v.ev.Title), normalize(v.ev.TitleEN)}})
	}
	return opts
}

func (e *Engine) askEventList(c *Ctx) []bot.Reply {
	views, err := e.eventViews(c)
	if err != nil {
		e.log.Error("events", "err", err)
		return Unavailable(c.Lang)
	}
	if len(views) == 0 {
		return []bot.Reply{{Text: c.T("events.none")}}
	}
	return []bot.Reply{ask(c.T("events.ask"), e.eventOptions(c, views))}
}

func (e *Engine) handleEventList(c *Ctx) result {
	views, err := e.eventViews(c)
	if err != nil {
		e.log.Error("events", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	o, ok := choose(c.In, e.eventOptions(c, views))
	if !ok {
		return invalid(c.T("events.expect_event"))
	}
	c.Set("event", strings.TrimPrefix(o.key, "e"))
	return next("detail")
}

// chosenEvent is the event picked earlier, if it is still upcoming.
func (e *Engine) chosenEvent(c *Ctx) (eventView, bool, error) {
	id, err := strconv.ParseInt(c.Get("event"), 10, 64)
	if err != nil {
		return eventView{}, false, nil
	}
	ev, err := e.st.Event(c, id)
	if errors.Is(err, store.ErrNotFound) {
		return eventView{}, false, nil
	}
	if err != nil {
		return eventView{}, false, err
	}
	if !ev.CancelledAt.IsZero() || !ev.StartsAt.After(e.now()) {
		return eventView{}, false, nil
	}
	v := eventView{ev: ev}
	if v.held, v.waiting, err = e.st.EventPlaces(c, ev.ID); err != nil {
		return eventView{}, false, err
	}
	g, err := e.st.ResidentRegistration(c, ev.ID, c.Turn.Resident.ID)
	switch {
	case err == nil:
		v.mine = &g
	case !errors.Is(err, store.ErrNotFound):
		return eventView{}, false, err
	}
	return v, true, nil
}

// eventGone ends the flow when its event started or was withdrawn meanwhile.
func (e *Engine) eventGone(c *Ctx) []bot.Reply {
	c.st.Step, c.st.History = "list", nil
	return append([]bot.Reply{{Text: c.T("events.gone")}}, e.askEventList(c)...)
}

func (e *Engine) detailOptions(c *Ctx, v eventView) []option {
	back := option{key: "list", label: c.T("events.back_list")}
	switch {
	case v.mine != nil:
		return []option{{key: "cancel_reg", label: c.T("events.cancel_mine")}, back}
	case !v.ev.Deadline.After(e.now()):
		return []option{back}
	case v.free() == 0:
		return []option{{key: "register", label: c.T("events.wait"), words: []string{"候补", "wait", "waiting list"}}, back}
	}
	return []option{{key: "register", label: c.T("events.register"), words: []string{"报名", "register", "sign up"}}, back}
}

func (e *Engine) askEventDetail(c *Ctx) []bot.Reply {
	v, found, err := e.chosenEvent(c)
	if err != nil {
		e.log.Error("event detail", "err", err)
		return Unavailable(c.Lang)
	}
	if !found {
		return e.eventGone(c)
	}
	ev := v.ev
	ls := []string{c.T("events.detail", e.eventTitle(c.Lang, ev), e.fmtSpan(c.Lang, ev.StartsAt, ev.EndsAt), ev.Place, ev.Capacity, v.free())}
	if desc := e.eventDescription(c.Lang, ev); desc != "" {
		ls = append(ls, desc)
	}
	if ev.Deadline.Before(ev.StartsAt) {
		ls = append(ls, c.T("events.detail_deadline", e.fmtWhen(c.Lang, ev.Deadline)))
	}
	if ev.Companions > 0 {
		ls = append(ls, c.T("events.detail_comp", ev.Companions))
	}
	r := bot.Reply{}
	switch {
	case v.mine != nil:
		ls = append(ls, c.T("events.detail_mine", v.mine.Code, e.registrationStatus(c.Lang, *v.mine)))
		if v.mine.Status == store.PlaceConfirmed {
			r.Image = e.qrImage(v.mine.Code)
		}
	case !ev.Deadline.After(e.now()):
		ls = append(ls, c.T("events.detail_closed"))
	case v.free() == 0:
		ls = append(ls, c.T("events.detail_full", v.waiting))
	}
	a := ask(strings.Join(ls, "\n"), e.detailOptions(c, v))
	a.Image = r.Image
	return []bot.Reply{a}
}

func (e *Engine) handleEventDetail(c *Ctx) result {
	v, found, err := e.chosenEvent(c)
	if err != nil {
		e.log.Error("event detail", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if !found {
		return stay()
	}
	o, ok := choose(c.In, e.detailOptions(c, v))
	if !ok {
		return invalid(c.T("events.expect_detail"))
	}
	switch o.key {
	case "list":
		return back()
	case "cancel_reg":
		return switchTo("cancelitem", map[string]string{"item": "reg:" + v.mine.Code, "single": "1"})
	}
	if v.ev.Companions > 0 {
		return next("companions")
	}
	c.Set("companions", "0")
	return next("confirm")
}

// companionOptions list 1…max before "none", so that a typed number means
// the same as the option it numbers ("1" is one companion); "0" is none.
func (e *Engine) companionOptions(c *Ctx, maxN int) []option {
	var opts []option
	for i := 1; i <= maxN; i++ {
		opts = append(opts, option{key: "c" + strconv.Itoa(i), label: c.T("events.companions_n", i)})
	}
	return append(opts, option{key: "c0", label: c.T("events.companions_0"), words: append([]string{"0", "不带"}, wordsSkip...)})
}

func (e *Engine) askCompanions(c *Ctx) []bot.Reply {
	v, found, err := e.chosenEvent(c)
	if err != nil {
		e.log.Error("companions", "err", err)
		return Unavailable(c.Lang)
	}
	if !found {
		return e.eventGone(c)
	}
	return []bot.Reply{ask(c.T("events.ask_companions", v.ev.Companions), e.companionOptions(c, v.ev.Companions))}
}

func (e *Engine) handleCompanions(c *Ctx) result {
	v, found, err := e.chosenEvent(c)
	if err != nil {
		e.log.Error("companions", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if !found {
		return stay()
	}
	in := c.In
	if in.Norm == "0" {
		in.Norm = "c0"
	}
	o, ok := choose(in, e.companionOptions(c, v.ev.Companions))
	if !ok {
		return invalid(c.T("events.expect_comp", v.ev.Companions))
	}
	c.Set("companions", strings.TrimPrefix(o.key, "c"))
	if c.Get("companions") == "" {
		c.Set("companions", "0")
	}
	return next("confirm")
}

func (e *Engine) eventConfirmOptions(c *Ctx) []option {
	return []option{
		{key: "submit", label: c.T("events.submit"), words: wordsYes},
		{key: "edit", label: c.T("events.edit")},
		{key: "cancel", label: c.T("events.cancel")},
	}
}

func (e *Engine) chosenCompanions(c *Ctx, ev store.Event) int {
	n, _ := strconv.Atoi(c.Get("companions"))
	return min(max(n, 0), ev.Companions)
}

func (e *Engine) askEventConfirm(c *Ctx) []bot.Reply {
	v, found, err := e.chosenEvent(c)
	if err != nil {
		e.log.Error("event confirm", "err", err)
		return Unavailable(c.Lang)
	}
	if !found {
		return e.eventGone(c)
	}
	n := e.chosenCompanions(c, v.ev)
	text := c.T("events.summary", e.eventTitle(c.Lang, v.ev), e.fmtSpan(c.Lang, v.ev.StartsAt, v.ev.EndsAt), v.ev.Place, n)
	if v.free() < 1+n {
		text = lines(text, c.T("events.summary_full"))
	}
	return []bot.Reply{ask(text, e.eventConfirmOptions(c))}
}

func (e *Engine) handleEventConfirm(c *Ctx) result {
	o, ok := choose(c.In, e.eventConfirmOptions(c))
	if !ok {
		return invalid(c.T("events.expect_confirm"))
	}
	switch o.key {
	case "edit":
		return back()
	case "cancel":
		return cancelFlow()
	}
	v, found, err := e.chosenEvent(c)
	if err != nil {
		e.log.Error("event confirm", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if !found {
		return done(bot.Reply{Text: c.T("events.gone")})
	}
	return e.register(c, v.ev, e.chosenCompanions(c, v.ev))
}

// register takes places at the event, or a place on its waiting list, and
// ends the flow with the check-in code. The registration deadline is
// checked here, at the moment of the commitment.
func (e *Engine) register(c *Ctx, ev store.Event, companions int) result {
	title := e.eventTitle(c.Lang, ev)
	if !ev.Deadline.After(e.now()) {
		return done(bot.Reply{Text: c.T("events.closed", title, e.fmtWhen(c.Lang, ev.Deadline))})
	}
	g, existed, err := e.st.Register(c, store.NewRegistration{EventID: ev.ID, ResidentID: c.Turn.Resident.ID,
		Companions: companions, Wait: true, At: e.now()})
	if err != nil {
		e.log.Error("register", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if existed {
		return done(bot.Reply{Text: c.T("events.already", title, g.Code, e.registrationStatus(c.Lang, g))})
	}
	if g.Status == store.PlaceWaiting {
		return done(bot.Reply{Text: lines(c.T("events.waiting", title, g.Position, g.Code), c.T("place.waiting_note"))})
	}
	e.enqueue(c, e.reminderRows(c.Turn.Resident.ID, c.Lang, placeInfo{code: g.Code, name: title, place: ev.Place, start: ev.StartsAt, end: ev.EndsAt})...)
	return done(bot.Reply{
		Text:  lines(c.T("events.done", g.Code, title, e.fmtSpan(c.Lang, ev.StartsAt, ev.EndsAt), ev.Place), c.T("place.reminders_note")),
		Image: e.qrImage(g.Code),
	})
}

func (e *Engine) registrationStatus(lang string, g store.Registration) string {
	s := e.placeStatus(lang, g.Code, g.Status, g.Position, g.OfferUntil)
	if g.Companions > 0 {
		s += T(lang, "events.plus", g.Companions)
	}
	return s
}

// registrationInfo describes a registration for messages.
func (e *Engine) registrationInfo(ctx context.Context, lang string, g store.Registration) (placeInfo, error) {
	ev, err := e.st.Event(ctx, g.EventID)
	if err != nil {
		return placeInfo{}, err
	}
	return placeInfo{code: g.Code, name: e.eventTitle(lang, ev), place: ev.Place, start: ev.StartsAt, end: ev.EndsAt}, nil
}

func (e *Engine) registrationSection(c *Ctx) ([]string, []bot.Choice, error) {
	gs, err := e.st.ResidentRegistrations(c, c.Turn.Resident.ID, e.now())
	if err != nil || len(gs) == 0 {
		return nil, nil, err
	}
	out := []string{c.T("events.section")}
	var choices []bot.Choice
	for _, g := range gs {
		p, err := e.registrationInfo(c, c.Lang, g)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, c.T("events.line", g.Code, p.name, e.fmtWhen(c.Lang, p.start), e.registrationStatus(c.Lang, g)))
		if g.Status == store.PlaceOffered {
			choices = append(choices, offerChoices(c.Lang, g.Code)...)
		}
	}
	return out, choices, nil
}

func (e *Engine) cancellableRegistrations(c *Ctx) ([]cancellable, error) {
	gs, err := e.st.ResidentRegistrations(c, c.Turn.Resident.ID, e.now())
	if err != nil {
		return nil, err
	}
	out := make([]cancellable, 0, len(gs))
	for _, g := range gs {
		code := g.Code
		p, err := e.registrationInfo(c, c.Lang, g)
		if err != nil {
			return nil, err
		}
		out = append(out, cancellable{
			key:    "reg:" + code,
			label:  c.T("events.cancel_label", code, p.name, e.fmtWhen(c.Lang, p.start)),
			cancel: func(c *Ctx) (string, error) { return e.cancelRegistration(c, code) },
		})
	}
	return out, nil
}

// cancelRegistration withdraws a registration before the event starts and
// offers the freed places to the waiting list.
func (e *Engine) cancelRegistration(c *Ctx, code string) (string, error) {
	g, err := e.st.RegistrationByCode(c, code)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.ResidentID != c.Turn.Resident.ID) {
		return c.T("events.cancel_unknown", code), nil
	}
	if err != nil {
		return "", err
	}
	ev, err := e.st.Event(c, g.EventID)
	if err != nil {
		return "", err
	}
	now := e.now()
	if !ev.StartsAt.After(now) {
		return c.T("place.already_started", code), nil
	}
	_, offered, err := e.st.ReleaseRegistration(c, store.PlaceRelease{Code: code, ResidentID: c.Turn.Resident.ID,
		From: []string{store.PlaceConfirmed, store.PlaceWaiting, store.PlaceOffered}, To: store.PlaceCancelled,
		OfferFor: e.offerUntil, At: now})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return c.T("cancel.gone"), nil
	}
	if err != nil {
		return "", err
	}
	e.withdrawReminders(c, c.Turn.Resident.ID, code)
	e.announceOffers(c, nil, offered)
	return c.T("events.cancelled", code), nil
}

// eventDescription is an event's description in lang. The English one
// lives only in the config (events staff create have one language), so it
// is looked up there by the event's key.
func (e *Engine) eventDescription(lang string, ev store.Event) string {
	if lang == "en" && ev.Key != "" {
		for _, s := range e.cfg.Events {
			if s.Key == ev.Key && s.DescriptionEN != "" {
				return s.DescriptionEN
			}
		}
	}
	return ev.Description
}

// syncConfigEvents loads the `events` of the config into the table, by key,
// so that restarting with the same config changes nothing and an edited
// event is updated in place.
func (e *Engine) syncConfigEvents(ctx context.Context) error {
	for _, spec := range e.cfg.Events {
		ev, err := e.eventFromSpec(spec)
		if err != nil {
			return err
		}
		old, err := e.st.EventByKey(ctx, spec.Key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		updated, offered, err := e.st.UpsertEvent(ctx, ev, e.now(), e.offerUntil)
		if err != nil {
			return err
		}
		if old.ID != 0 {
			e.eventChanged(ctx, old, updated)
		}
		e.announceOffers(ctx, nil, offered)
	}
	return nil
}

// eventTimeLayout is how event times are written in the config and /event.
const eventTimeLayout = "2006-01-02 15:04"

func (e *Engine) eventFromSpec(s EventSpec) (store.Event, error) {
	start, err := time.ParseInLocation(eventTimeLayout, s.Start, e.loc)
	if err != nil {
		return store.Event{}, errors.New("flows: event " + s.Key + ": start: " + err.Error())
	}
	ev := store.Event{Key: s.Key, Title: s.Title, TitleEN: s.TitleEN, Kind: s.Kind, StartsAt: start, Deadline: start,
		Place: s.Place, Capacity: s.Capacity, Companions: s.Companions, Description: s.Description}
	if s.End != "" {
		if ev.EndsAt, err = time.ParseInLocation(eventTimeLayout, s.End, e.loc); err != nil {
			return store.Event{}, errors.New("flows: event " + s.Key + ": end: " + err.Error())
		}
	}
	if s.Deadline != "" {
		if ev.Deadline, err = time.ParseInLocation(eventTimeLayout, s.Deadline, e.loc); err != nil {
			return store.Event{}, errors.New("flows: event " + s.Key + ": deadline: " + err.Error())
		}
	}
	return ev, nil
}

package flows

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"linli/bot"
	"linli/store"
)

var statusTexts = catalog{
	"status.none":         {"您目前没有进行中的事项。", "You have nothing open at the moment."},
	"status.title":        {"您进行中的事项：", "Your open items:"},
	"status.tickets":      {"【工单】", "[Tickets]"},
	"status.ticket_line":  {"%s · %s · %s · %s", "%s · %s · %s · %s"},
	"status.view_hint":    {"发送工单号（如 %s）查看详情。", "Send a ticket number (e.g. %s) for details."},
	"ticket.not_found":    {"没有找到工单 %s。请检查工单号；只能查看您自己的工单。", "No ticket %s was found. Please check the number; you can only see your own tickets."},
	"ticket.header":       {"工单 %s · %s\n状态：%s\n提交：%s\n响应时限：%s", "Ticket %s · %s\nStatus: %s\nReported: %s\nResponse due: %s"},
	"ticket.description":  {"描述：%s", "Description: %s"},
	"ticket.place":        {"地点：%s", "Place: %s"},
	"ticket.rating":       {"您的评分：%d/5", "Your rating: %d/5"},
	"ticket.history":      {"进展：", "History:"},
	"ticket.cancel":       {"取消这个工单", "Cancel this ticket"},
	"ev.created":          {"已提交", "reported"},
	"ev.claimed":          {"工作人员已受理", "taken on by staff"},
	"ev.replied":          {"工作人员回复", "staff replied"},
	"ev.resolved":         {"已办结", "resolved"},
	"ev.reopened":         {"重新处理", "reopened"},
	"ev.rated":            {"已评价", "rated"},
	"ev.cancelled":        {"已取消", "cancelled"},
	"ev.note":             {"补充说明", "you added"},
	"cancel.pick":         {"要取消哪一项？", "Which one do you want to cancel?"},
	"cancel.confirm":      {"确定取消 %s 吗？", "Cancel %s?"},
	"cancel.expect":       {"请回复“确定”或“不了”。", "Please answer “yes” or “no”."},
	"cancel.kept":         {"好的，保留不变。", "OK, it stays as it is."},
	"cancel.ticket_label": {"工单 %s（%s）", "ticket %s (%s)"},
	"cancel.ticket_done":  {"工单 %s 已取消。", "Ticket %s is cancelled."},
	"cancel.ticket_taken": {"工单 %s 已有工作人员在处理，不能取消了。如有变化，请直接回复说明。", "Ticket %s is already being handled, so it can no longer be cancelled. Reply here if something changed."},
	"cancel.gone":         {"这一项已经不能取消了。", "That item can no longer be cancelled."},
}

// cancellable is something of the resident's that they may still cancel.
type cancellable struct {
	key    string // stable payload, e.g. "ticket:T1001"
	label  string
	cancel func(c *Ctx) (string, error) // returns the confirmation text
}

// addStatus registers "my items", ticket lookup and cancelling.
func (e *Engine) addStatus() {
	e.addIntent(intent{key: "status", label: "menu.status", words: wordsStatus, start: e.showStatus})
	e.statusSections = append(e.statusSections, e.ticketSection)
	e.cancellables = append(e.cancellables, e.cancellableTickets)
	e.addFlow(&flow{name: "cancelitem", title: "flow.cancelitem", start: "pick", steps: map[string]*step{
		"pick":    {ask: e.askCancelPick, handle: e.handleCancelPick},
		"confirm": {ask: e.askCancelConfirm, handle: e.handleCancelConfirm},
	}})
}

func (e *Engine) showStatus(c *Ctx) []bot.Reply {
	rs, empty := e.statusReplies(c)
	if empty {
		return append(rs, e.menu(c)...)
	}
	return rs
}

// statusReplies lists the resident's open items; empty says there were none.
func (e *Engine) statusReplies(c *Ctx) (replies []bot.Reply, empty bool) {
	var body []string
	var choices []bot.Choice
	for _, section := range e.statusSections {
		ls, cs, err := section(c)
		if err != nil {
			e.log.Error("status section", "err", err)
			return Unavailable(c.Lang), false
		}
		body = append(body, ls...)
		choices = append(choices, cs...)
	}
	if len(body) == 0 {
		return []bot.Reply{{Text: c.T("status.none")}}, true
	}
	return []bot.Reply{{Text: c.T("status.title") + "\n" + strings.Join(body, "\n"), Choices: choices}}, false
}

func (e *Engine) ticketSection(c *Ctx) ([]string, []bot.Choice, error) {
	ts, err := e.st.ResidentTickets(c, c.Turn.Resident.ID, true)
	if err != nil || len(ts) == 0 {
		return nil, nil, err
	}
	out := []string{c.T("status.tickets")}
	var choices []bot.Choice
	for _, t := range ts {
		out = append(out, c.T("status.ticket_line", t.Number, e.categoryName(c, t.Category),
			c.T("status."+t.Status), clip(t.Description, 30)))
		choices = append(choices, bot.Choice{Payload: t.Number, Label: t.Number})
	}
	out = append(out, c.T("status.view_hint", ts[0].Number))
	return out, choices, nil
}

func (e *Engine) categoryName(c *Ctx, key string) string {
	if cat, ok := e.cfg.category(key); ok {
		return pick(c.Lang, cat.Name, cat.NameEN)
	}
	return key
}

// residentNotes are the kinds of ticket event whose note the resident may
// read: what staff sent them (a reply, the resolution note) and what they
// wrote themselves. Every other note (a reopen reason, anything later kinds
// add) is staff-internal and stays on the desk's /t.
var residentNotes = map[string]bool{
	store.EventReplied: true, store.EventResolved: true, store.EventRated: true, store.EventNote: true,
}

// showTicket shows one of the resident's own tickets with its history.
// Anyone else's ticket does not exist as far as this resident can tell.
func (e *Engine) showTicket(c *Ctx, number string) []bot.Reply {
	t, err := e.st.Ticket(c, number)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.ResidentID != c.Turn.Resident.ID) {
		return []bot.Reply{{Text: c.T("ticket.not_found", number)}}
	}
	if err != nil {
		e.log.Error("show ticket", "err", err)
		return Unavailable(c.Lang)
	}
	evs, err := e.st.TicketEvents(c, t.ID)
	if err != nil {
		e.log.Error("ticket events", "err", err)
		return Unavailable(c.Lang)
	}
	const layout = "2006-01-02 15:04"
	ls := []string{
		c.T("ticket.header", t.Number, e.categoryName(c, t.Category), c.T("status."+t.Status),
			t.CreatedAt.In(e.loc).Format(layout), t.DueAt.In(e.loc).Format(layout)),
		c.T("ticket.description", t.Description),
	}
	if place := ticketPlace(c, t); place != "" {
		ls = append(ls, c.T("ticket.place", place))
	}
	if t.Rating > 0 {
		ls = append(ls, c.T("ticket.rating", t.Rating))
	}
	ls = append(ls, c.T("ticket.history"))
	for _, ev := range evs {
		l := ev.CreatedAt.In(e.loc).Format("01-02 15:04") + " " + c.T("ev."+ev.Kind)
		if ev.Note != "" && residentNotes[ev.Kind] {
			l += "：" + ev.Note
			if c.Lang == "en" {
				l = ev.CreatedAt.In(e.loc).Format("01-02 15:04") + " " + c.T("ev."+ev.Kind) + ": " + ev.Note
			}
		}
		ls = append(ls, l)
	}
	r := bot.Reply{Text: strings.Join(ls, "\n")}
	if t.Status == store.TicketOpen {
		r.Choices = []bot.Choice{{Payload: "cancel:ticket:" + t.Number, Label: c.T("ticket.cancel")}}
	}
	return []bot.Reply{r}
}

func ticketPlace(c *Ctx, t store.Ticket) string {
	switch {
	case t.Address != "":
		return t.Address
	case t.Latitude != nil:
		return strings.TrimSpace(fmt.Sprintf("%s (%.5f, %.5f)", t.LocationLabel, *t.Latitude, *t.Longitude))
	}
	return ""
}

// cancellableTickets lists tickets nobody has claimed yet.
func (e *Engine) cancellableTickets(c *Ctx) ([]cancellable, error) {
	ts, err := e.st.ResidentTickets(c, c.Turn.Resident.ID, true)
	if err != nil {
		return nil, err
	}
	var out []cancellable
	for _, t := range ts {
		if t.Status != store.TicketOpen {
			continue
		}
		number := t.Number
		out = append(out, cancellable{
			key:   "ticket:" + number,
			label: c.T("cancel.ticket_label", number, clip(t.Description, 20)),
			cancel: func(c *Ctx) (string, error) {
				t, err := e.st.ChangeTicket(c, store.TicketChange{
					Number: number, From: []string{store.TicketOpen}, To: store.TicketCancelled,
					ResidentID: c.Turn.Resident.ID,
					Event:      store.TicketEvent{Kind: store.EventCancelled, Actor: "resident", CreatedAt: e.now()},
				})
				if errors.Is(err, store.ErrConflict) {
					return c.T("cancel.ticket_taken", number), nil
				}
				if err != nil {
					return "", err
				}
				// The alert is still in the staff group: say, under it, that
				// there is nothing more to do.
				e.tellCancelled(c, t)
				return c.T("cancel.ticket_done", number), nil
			},
		})
	}
	return out, nil
}

// tellCancelled tells everyone the new ticket's alert reached that the
// resident withdrew it: the desk chats under the alert, and the WeChat staff
// alerted one by one (nobody is assigned to an unclaimed ticket yet).
func (e *Engine) tellCancelled(ctx context.Context, t store.Ticket) {
	lang := e.cfg.Community.Language
	text := T(lang, "desk.resident_cancelled", t.Number)
	e.tellDesk(ctx, t, text, "", "", false)
	var rows []store.OutboxRow
	for _, s := range e.alertedStaff(e.categoryOf(t.Category)) {
		rows = append(rows, store.OutboxRow{Kind: kindAlert, TargetChannel: bot.ChannelWeChat, TargetAddress: s.WeChatOpenID,
			Ref: t.Number, Body: store.OutboxBody{Text: text, Lang: lang}})
	}
	e.enqueue(ctx, rows...)
}

func (e *Engine) allCancellables(c *Ctx) ([]cancellable, error) {
	var all []cancellable
	for _, f := range e.cancellables {
		items, err := f(c)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
	}
	return all, nil
}

// startCancel offers the resident's cancellable items ("取消" outside a flow,
// or the cancel button of a ticket, payload "cancel:<key>").
func (e *Engine) startCancel(c *Ctx) []bot.Reply {
	items, err := e.allCancellables(c)
	if err != nil {
		e.log.Error("cancellables", "err", err)
		return Unavailable(c.Lang)
	}
	if len(items) == 0 {
		return append([]bot.Reply{{Text: c.T("nothing_to_cancel")}}, e.menu(c)...)
	}
	if len(items) == 1 {
		return e.begin(c, "cancelitem", map[string]string{"item": items[0].key, "single": "1"})
	}
	return e.begin(c, "cancelitem", nil)
}

func (e *Engine) startCancelItem(c *Ctx, key string) []bot.Reply {
	return e.begin(c, "cancelitem", map[string]string{"item": key, "single": "1"})
}

func (e *Engine) askCancelPick(c *Ctx) []bot.Reply {
	if c.Get("single") != "" {
		// One candidate: go straight to the question "cancel it?".
		c.st.Step = "confirm"
		return e.askCancelConfirm(c)
	}
	items, err := e.allCancellables(c)
	if err != nil {
		e.log.Error("cancellables", "err", err)
		return Unavailable(c.Lang)
	}
	opts := make([]option, len(items))
	for i, it := range items {
		opts[i] = option{key: it.key, label: it.label}
	}
	return []bot.Reply{ask(c.T("cancel.pick"), opts)}
}

func (e *Engine) handleCancelPick(c *Ctx) result {
	items, err := e.allCancellables(c)
	if err != nil {
		e.log.Error("cancellables", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	opts := make([]option, len(items))
	for i, it := range items {
		opts[i] = option{key: it.key, label: it.label}
	}
	o, ok := choose(c.In, opts)
	if !ok {
		return invalid(c.T("invalid.choice"))
	}
	c.Set("item", o.key)
	return next("confirm")
}

func (e *Engine) findCancellable(c *Ctx, key string) (cancellable, bool, error) {
	items, err := e.allCancellables(c)
	if err != nil {
		return cancellable{}, false, err
	}
	for _, it := range items {
		if it.key == key {
			return it, true, nil
		}
	}
	return cancellable{}, false, nil
}

func yesNo(c *Ctx) []option {
	return []option{
		{key: "yes", label: c.T("word.yes"), words: wordsYes},
		{key: "no", label: c.T("word.no"), words: wordsNo},
	}
}

func (e *Engine) askCancelConfirm(c *Ctx) []bot.Reply {
	it, ok, err := e.findCancellable(c, c.Get("item"))
	if err != nil {
		e.log.Error("cancellables", "err", err)
		return Unavailable(c.Lang)
	}
	if !ok {
		*c.st = state{}
		return []bot.Reply{{Text: c.T("cancel.gone")}}
	}
	return []bot.Reply{ask(c.T("cancel.confirm", it.label), yesNo(c))}
}

func (e *Engine) handleCancelConfirm(c *Ctx) result {
	o, ok := choose(c.In, yesNo(c))
	if !ok {
		return invalid(c.T("cancel.expect"))
	}
	if o.key == "no" {
		return done(bot.Reply{Text: c.T("cancel.kept")})
	}
	it, found, err := e.findCancellable(c, c.Get("item"))
	if err != nil {
		e.log.Error("cancellables", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	if !found {
		return done(bot.Reply{Text: c.T("cancel.gone")})
	}
	msg, err := it.cancel(c)
	if err != nil {
		e.log.Error("cancel item", "err", err)
		return stay(Unavailable(c.Lang)...)
	}
	return done(bot.Reply{Text: msg})
}

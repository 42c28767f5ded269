package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

var rateTexts = catalog{
	"flow.rate":        {"服务评价", "rating"},
	"rate.ask":         {"请为工单 %s 的处理打分：1–5 分，5 分最满意。回复数字即可，不想评价请回复“跳过”。", "How did we handle ticket %s? Please rate it from 1 to 5 (5 is best); the number is enough, or answer “skip”."},
	"rate.1":           {"1 很不满意", "1 very dissatisfied"},
	"rate.2":           {"2 不满意", "2 dissatisfied"},
	"rate.3":           {"3 一般", "3 neither"},
	"rate.4":           {"4 满意", "4 satisfied"},
	"rate.5":           {"5 非常满意", "5 very satisfied"},
	"rate.expect":      {"请回复 1 到 5 的数字，或回复“跳过”。", "Please answer a number from 1 to 5, or “skip”."},
	"rate.thanks":      {"感谢您的评价（%d 分）！", "Thank you for your rating (%d)!"},
	"rate.thanks_low":  {"感谢您的评价（%d 分）。很抱歉这次没让您满意，工作人员会跟进。", "Thank you for your rating (%d). We are sorry it was not better; staff will follow up."},
	"rate.skipped":     {"好的，不评价也没关系。", "OK, no rating then."},
	"rate.gone":        {"工单 %s 现在不能评价了。", "Ticket %s cannot be rated now."},
	"rate.already":     {"您已经评价过工单 %s，谢谢！", "You have already rated ticket %s, thank you!"},
	"rate.unavailable": {"评价暂时无法保存，请稍后再试。", "Your rating could not be saved just now; please try again later."},
	"rate.ask_typed":   {"请为工单 %s 的处理打分：1–5 分，5 分最满意。请回复“评分 5”这样的格式（或“%s 5”），不想评价不用回复。", "How did we handle ticket %s? Please rate it from 1 to 5 (5 is best) by answering “rate 5” (or “%s 5”); no answer is needed if you would rather not."},
	"rate.none":        {"您目前没有待评价的工单。", "You have no ticket waiting for a rating."},
	"rate.which":       {"您有 %d 个工单待评价，请回复“工单号 分数”，例如“%s 5”。", "You have %d tickets waiting for a rating; please answer “ticket score”, for example “%s 5”."},
}

// rateIdle is how long the rating question waits for its answer: residents
// answer a notice when they next look, often the next day.
const rateIdle = 7 * 24 * time.Hour

// addRate registers the rating flow that staff start by resolving a ticket,
// and the typed score ("评分 5", "T1002 5") that works everywhere.
func (e *Engine) addRate() {
	e.addFlow(&flow{name: "rate", title: "flow.rate", start: "score", idle: rateIdle, steps: map[string]*step{
		"score": {ask: e.askRate, handle: e.handleRate},
	}})
	e.actions = append(e.actions, e.rateAction)
}

// rateTypedRe reads a typed score: "评分 5", "rate t1002 4", "打分：3分"
// (normalized text). rateTicketRe reads "T1002 5", which rates only a
// resolved ticket of the resident's (for an open one it is a note).
var (
	rateTypedRe  = regexp.MustCompile(`^(?:评分|打分|评价|rate|rating|score)\s*:?\s*(?:#?t\s?(\d{4,9})\s*:?\s*)?([1-5])\s*(?:分|星|stars?)?$`)
	rateTicketRe = regexp.MustCompile(`^#?t\s?(\d{4,9})\s*:?\s*([1-5])\s*(?:分|星|stars?)?$`)
)

// askRateTyped is the rating question for a resident whose conversation is
// busy with something else: a bare number would answer their own step, so
// it asks for the typed form and shows no numbered choices.
func askRateTyped(lang, number string) bot.Reply {
	return bot.Reply{Text: T(lang, "rate.ask_typed", number, number)}
}

// rateAction takes a typed score wherever the resident is, inside a flow
// too (dispatch then asks the flow's question again).
func (e *Engine) rateAction(c *Ctx) ([]bot.Reply, bool) {
	if c.In.Payload != "" || c.Turn.Group {
		return nil, false
	}
	number := ""
	var score int
	if m := rateTypedRe.FindStringSubmatch(c.In.Norm); m != nil {
		score = int(m[2][0] - '0')
		if m[1] != "" {
			number = "T" + m[1]
		}
	} else if m := rateTicketRe.FindStringSubmatch(c.In.Norm); m != nil {
		number, score = "T"+m[1], int(m[2][0]-'0')
		t, err := e.st.Ticket(c, number)
		if err != nil || t.ResidentID != c.Turn.Resident.ID || (t.Status != store.TicketResolved && t.Rating == 0) {
			return nil, false // not a rating: a note about an open ticket, or an answer
		}
	} else {
		return nil, false
	}
	if number == "" && c.st.Flow == "rate" {
		number = c.Get("ticket")
	}
	if number == "" {
		waiting, err := e.ticketsToRate(c)
		if err != nil {
			e.log.Error("rate: tickets to rate", "err", err)
			return []bot.Reply{{Text: c.T("rate.unavailable")}}, true
		}
		switch len(waiting) {
		case 0:
			return []bot.Reply{{Text: c.T("rate.none")}}, true
		case 1:
			number = waiting[0]
		default:
			return []bot.Reply{{Text: c.T("rate.which", len(waiting), waiting[0])}}, true
		}
	}
	if c.st.Flow == "rate" && c.Get("ticket") == number {
		*c.st = state{} // the rating question is answered
	}
	return []bot.Reply{e.applyRating(c, number, score)}, true
}

// ticketsToRate are the resident's resolved, unrated tickets resolved
// within rateIdle, newest first: the ones a rating question may still be
// waiting for.
func (e *Engine) ticketsToRate(c *Ctx) ([]string, error) {
	ts, err := e.st.ResidentTickets(c, c.Turn.Resident.ID, false)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range ts {
		if t.Status == store.TicketResolved && t.Rating == 0 && e.now().Sub(t.ResolvedAt) <= rateIdle {
			out = append(out, t.Number)
		}
	}
	return out, nil
}

func rateOptions(c *Ctx, number string) []option {
	opts := make([]option, 5)
	for i := range opts {
		n := itoa(i + 1)
		opts[i] = option{key: "rate:" + number + ":" + n, label: c.T("rate." + n), words: []string{n + "分", n + "星", n + " stars"}}
	}
	return opts
}

func (e *Engine) askRate(c *Ctx) []bot.Reply {
	return []bot.Reply{ask(c.T("rate.ask", c.Get("ticket")), rateOptions(c, c.Get("ticket")))}
}

func (e *Engine) handleRate(c *Ctx) result {
	if is(c.In.Norm, wordsSkip) {
		return done(bot.Reply{Text: c.T("rate.skipped")})
	}
	o, ok := choose(c.In, rateOptions(c, c.Get("ticket")))
	if !ok {
		return invalid(c.T("rate.expect"))
	}
	return done(e.applyRating(c, c.Get("ticket"), int(o.key[len(o.key)-1]-'0')))
}

// applyRating records a resident's score for their resolved ticket.
func (e *Engine) applyRating(c *Ctx, number string, score int) bot.Reply {
	t, err := e.st.Ticket(c, number)
	if err != nil || t.ResidentID != c.Turn.Resident.ID {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			e.log.Error("rate: load ticket", "err", err)
			return bot.Reply{Text: c.T("rate.unavailable")}
		}
		return bot.Reply{Text: c.T("rate.gone", number)}
	}
	if t.Rating != 0 {
		return bot.Reply{Text: c.T("rate.already", number)}
	}
	t, err = e.st.ChangeTicket(c, store.TicketChange{Number: number, From: []string{store.TicketResolved}, ResidentID: c.Turn.Resident.ID,
		Rating: score, Event: store.TicketEvent{Kind: store.EventRated, Actor: "resident", Note: itoa(score), CreatedAt: e.now()}})
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return bot.Reply{Text: c.T("rate.gone", number)}
	case err != nil:
		e.log.Error("rate: save", "err", err)
		return bot.Reply{Text: c.T("rate.unavailable")}
	}
	if score <= 2 {
		e.tellDesk(c, t, T(e.cfg.Community.Language, "desk.low_rating", number, score), "", "", true)
		return bot.Reply{Text: c.T("rate.thanks_low", score)}
	}
	return bot.Reply{Text: c.T("rate.thanks", score)}
}

// ratePayload handles a rating button pressed outside the rating flow of
// that ticket: later, during another flow, or for a second ticket.
func (e *Engine) ratePayload(c *Ctx) ([]bot.Reply, bool) {
	rest := strings.TrimPrefix(c.In.Payload, "rate:")
	number, n, ok := strings.Cut(rest, ":")
	if !ok || len(n) != 1 || n[0] < '1' || n[0] > '5' {
		return nil, false
	}
	if c.st.Flow == "rate" && c.Get("ticket") == number {
		if !c.st.Paused {
			return nil, false // the flow's own step reads it
		}
		*c.st = state{} // answered after all: the paused question is done
	}
	return []bot.Reply{e.applyRating(c, number, int(n[0]-'0'))}, true
}

// rateEscape lets a resident who ignores the rating question simply carry
// on: anything that is not a score, "skip" or a global word ends the
// rating flow silently, and the message is handled as if it had not been
// asked.
func (e *Engine) rateEscape(c *Ctx) {
	if c.st.Flow != "rate" || c.st.Paused || c.st.Stuck {
		return
	}
	n := c.In.Norm
	if is(n, wordsSkip) || is(n, wordsCancel) || is(n, wordsBack) || is(n, wordsHelp) || is(n, wordsMenu) || rateTypedRe.MatchString(n) {
		return
	}
	if c.In.Image == nil && c.In.Location == nil {
		if _, ok := choose(c.In, rateOptions(c, c.Get("ticket"))); ok {
			return
		}
		if _, err := strconv.Atoi(strings.TrimRight(n, ".、)")); err == nil {
			return // a number out of range: the step explains the scale
		}
	}
	*c.st = state{}
}

// StartFlowFor puts a resident into a flow from outside their own
// conversation (staff resolved a ticket and the resident is asked to rate
// it) and saves it as their conversation state, so their next message
// answers it. It returns the flow's first question for the caller to send
// through the outbox; a question of the same flow still waiting is
// replaced. A resident in the middle of another flow, or with one paused
// that they can still resume, is not interrupted: started is false, their
// conversation is left as it is, and the question is returned all the same
// (the caller words it so that it cannot be taken for their step's answer).
func (e *Engine) StartFlowFor(ctx context.Context, residentID int64, name string, data map[string]string) (replies []bot.Reply, started bool, err error) {
	f, ok := e.flows[name]
	if !ok || f.start == "" {
		return nil, false, fmt.Errorf("flows: no flow %q to start", name)
	}
	res, err := e.st.Resident(ctx, residentID)
	if err != nil {
		return nil, false, fmt.Errorf("flows: start %s: %w", name, err)
	}
	st, existed, err := e.load(ctx, residentID)
	if err != nil {
		return nil, false, err
	}
	var before []byte
	if st.Paused {
		before, _ = json.Marshal(st)
	}
	lang := e.residentLang(res)
	c := &Ctx{Context: ctx, E: e, Turn: &bot.Turn{Resident: res, Lang: lang}, Lang: lang, st: st}
	if st.Flow != "" && st.Flow != name && (!st.Paused || e.resumable(st)) {
		c.st = &state{}
		return e.begin(c, name, data), false, nil
	}
	replies = e.begin(c, name, data)
	if err := e.save(ctx, residentID, c.st, existed, before); err != nil {
		return nil, false, fmt.Errorf("flows: start %s: %w", name, err)
	}
	return replies, true, nil
}

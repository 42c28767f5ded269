package flows

import (
	"regexp"

	"linli/bot"
	"linli/store"
)

// Words that work everywhere, inside a flow too. CONTRACT.md promises
// 我的, a ticket number, 退订 and the start words of 报修/预约/活动/绑定手机
// "on every channel"; inside a flow they used to become the step's answer
// (我的 as a report's description). An exact match acts; free text that
// merely contains such a word stays an answer.

var anywhereTexts = catalog{
	"paused.switch": {"已暂停“%s”，办完这件事后发送“继续”可以回到那里。", "“%s” is paused; when you are done here, send “continue” to go back to it."},
}

// ticketOnlyRe is a message that is just a ticket number with its T
// ("T1024", "t 1024", "#T1024"). Bare digits inside a flow are answers
// (a number of places, a choice), so they are not read as tickets there.
var ticketOnlyRe = regexp.MustCompile(`^#?t\s?\d{4,9}$`)

// anywhere handles, inside a resident's flow, the words that work
// everywhere. Buttons, photos and staff flows are left to the step.
func (e *Engine) anywhere(c *Ctx) ([]bot.Reply, bool) {
	f := e.flows[c.st.Flow]
	if f == nil || f.staff || c.Turn.Group || c.In.Payload != "" || c.In.Raw == "" {
		return nil, false
	}
	n := c.In.Norm
	switch {
	case is(n, wordsStatus):
		rs, _ := e.statusReplies(c)
		return append(rs, e.prompt(c)...), true
	case ticketOnlyRe.MatchString(n):
		num, ok := store.NormalizeTicketNumber(n)
		if !ok {
			return nil, false
		}
		return append(e.showTicket(c, num), e.prompt(c)...), true
	case is(n, wordsUnsubscribe):
		return append(e.unsubscribe(c), e.prompt(c)...), true
	case is(n, wordsSubscribe):
		return append(e.resubscribe(c), e.prompt(c)...), true
	}
	for _, it := range e.intents {
		if it.flow == "" || !is(n, it.words) {
			continue
		}
		if it.flow == c.st.Flow {
			// Already doing it: say so rather than throw the answers away.
			return append([]bot.Reply{{Text: c.T("help.step", e.flowTitle(c, c.st.Flow))}}, e.prompt(c)...), true
		}
		return e.switchFlow(c, it), true
	}
	return nil, false
}

// switchFlow pauses the running flow, as 菜单 does, and starts another. The
// paused one is shelved in the new flow's state and comes back (paused, for
// 继续) when the new one ends; one level only: a flow shelved earlier is
// dropped, as it would be by starting something from the menu.
func (e *Engine) switchFlow(c *Ctx, it intent) []bot.Reply {
	prev := *c.st
	prev.Shelved, prev.Paused, prev.PausedAt = nil, true, e.now().Unix()
	rs := it.start(c)
	if c.st.Flow == prev.Flow && c.st.ID == prev.ID {
		return rs // nothing started (no services, no events): the intent re-asked the step
	}
	if c.st.Flow != "" {
		c.st.Shelved = &prev
	} else {
		*c.st = prev // the intent answered without a flow: keep the old one paused
	}
	return append([]bot.Reply{{Text: c.T("paused.switch", e.flowTitle(c, prev.Flow))}}, rs...)
}

// unshelve brings a shelved flow back, paused, once the flow that shelved
// it has ended in this turn, and says how to pick it up. prior is the state
// as the turn began. A flow that followed the shelving one in the same turn
// (a switch to cancelling, a flow started from the menu) keeps the shelved
// one; starting the shelved flow afresh, or a shelving flow left to go
// stale, drops it.
func (e *Engine) unshelve(c *Ctx, prior state) []bot.Reply {
	shelved := prior.Shelved
	if shelved == nil || (prior.Paused && !e.resumable(&prior)) {
		return nil
	}
	if c.st.Flow != "" {
		if c.st.Shelved == nil && c.st.Flow != shelved.Flow {
			c.st.Shelved = shelved
		}
		return nil
	}
	*c.st = *shelved
	c.st.Paused, c.st.PausedAt = true, e.now().Unix()
	return []bot.Reply{{Text: c.T("menu.resume_hint", e.flowTitle(c, c.st.Flow))}}
}

// menuOrStep is what follows a note that nothing could be started: the
// current question when a flow runs (a start word used inside it), else the
// main menu.
func (e *Engine) menuOrStep(c *Ctx) []bot.Reply {
	if c.st.Flow != "" && !c.st.Paused {
		return e.prompt(c)
	}
	return e.menu(c)
}

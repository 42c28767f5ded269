package flows

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"linli/bot"
	"linli/store"
)

// flow is a named set of steps.
type flow struct {
	name  string
	title string // catalog key of its name, shown in "paused"/"expired" notes
	start string
	steps map[string]*step
	// inGroups lets the flow read answers in the staff group (staff flows
	// such as /broadcast); other group chatter is ignored.
	inGroups bool
	// idle replaces community.flow_idle for flows that wait longer for
	// their answer (a rating asked for by a notice); 0 keeps it.
	idle time.Duration
	// cancelWords replaces the global cancel for flows whose own answers
	// include it (none yet); nil keeps the global behaviour.

	// staff marks a staff flow (/event new, /broadcast): the residents'
	// words that work everywhere (anywhere.go) are plain answers there.
	staff bool
}

// step asks one question and reads its answer.
type step struct {
	ask    func(c *Ctx) []bot.Reply
	handle func(c *Ctx) result
}

// result is what a step decided about an answer.
type result struct {
	kind    resultKind
	next    string      // kindNext: the step to go to
	replies []bot.Reply // shown before the next prompt, or as the end of the flow
	expect  string      // kindInvalid: what was expected (catalog text, rendered)
	flow    string      // kindSwitch: the flow to start
	data    map[string]string
}

type resultKind int

const (
	kindNext    resultKind = iota // go to next and ask it
	kindInvalid                   // re-ask the same step with what is expected
	kindStay                      // re-ask the same step without counting a failure
	kindDone                      // the flow is finished
	kindSwitch                    // end this flow and start another
	kindBack                      // one step back, as the global word
	kindCancel                    // leave the flow, as the global word
)

func next(step string, replies ...bot.Reply) result {
	return result{kind: kindNext, next: step, replies: replies}
}
func invalid(expect string) result     { return result{kind: kindInvalid, expect: expect} }
func stay(replies ...bot.Reply) result { return result{kind: kindStay, replies: replies} }
func done(replies ...bot.Reply) result { return result{kind: kindDone, replies: replies} }
func back() result                     { return result{kind: kindBack} }
func cancelFlow() result               { return result{kind: kindCancel} }
func switchTo(flow string, data map[string]string) result {
	return result{kind: kindSwitch, flow: flow, data: data}
}

// maxTries is how many invalid answers in a row a resident gets before they
// are offered the menu or a person.
const maxTries = 3

// addFlow registers a flow.
func (e *Engine) addFlow(f *flow) { e.flows[f.name] = f }

// addIntent registers something a resident can start outside a flow.
func (e *Engine) addIntent(it intent) { e.intents = append(e.intents, it) }

// begin starts a flow at its first step.
func (e *Engine) begin(c *Ctx, name string, data map[string]string) []bot.Reply {
	f := e.flows[name]
	*c.st = state{Flow: name, Step: f.start, ID: randomID(), Data: data}
	return e.prompt(c)
}

// StartFlow puts a resident into a flow from outside a conversation (e.g.
// staff resolve a ticket and the resident is asked to rate it), replacing
// whatever flow they were in. It returns the flow's first question, for the
// caller to send.
func (e *Engine) StartFlow(c *Ctx, name string, data map[string]string) []bot.Reply {
	return e.begin(c, name, data)
}

// prompt asks the current step's question.
func (e *Engine) prompt(c *Ctx) []bot.Reply {
	f := e.flows[c.st.Flow]
	s := f.steps[c.st.Step]
	if s == nil {
		*c.st = state{}
		return e.menu(c)
	}
	return s.ask(c)
}

func (e *Engine) flowTitle(c *Ctx, name string) string {
	if f, ok := e.flows[name]; ok && f.title != "" {
		return c.T(f.title)
	}
	return name
}

// inFlow handles a message while a flow runs: the global words first, then
// the step's own answer.
func (e *Engine) inFlow(c *Ctx) []bot.Reply {
	n := c.In.Norm
	if c.st.Stuck {
		return e.stuck(c)
	}
	switch {
	case is(n, wordsCancel):
		return e.apply(c, cancelFlow())
	case is(n, wordsBack):
		return e.apply(c, back())
	case is(n, wordsHelp):
		return append([]bot.Reply{{Text: c.T("help.step", e.flowTitle(c, c.st.Flow))}}, e.prompt(c)...)
	case is(n, wordsMenu):
		title := e.flowTitle(c, c.st.Flow)
		c.st.Paused, c.st.PausedAt = true, e.now().Unix()
		return append([]bot.Reply{{Text: c.T("paused.menu", title)}}, e.menu(c)...)
	}
	if rs, ok := e.anywhere(c); ok {
		return rs
	}
	f := e.flows[c.st.Flow]
	s := f.steps[c.st.Step]
	if s == nil {
		*c.st = state{}
		return e.menu(c)
	}
	r := s.handle(c)
	return e.apply(c, r)
}

// apply carries out a step's result.
func (e *Engine) apply(c *Ctx, r result) []bot.Reply {
	switch r.kind {
	case kindNext:
		c.st.History = append(c.st.History, c.st.Step)
		c.st.Step, c.st.Tries = r.next, 0
		return append(r.replies, e.prompt(c)...)
	case kindStay:
		return append(r.replies, e.prompt(c)...)
	case kindInvalid:
		c.Set("_last_input", c.In.Raw)
		c.st.Tries++
		if c.st.Tries >= maxTries {
			c.st.Stuck, c.st.Tries = true, 0
			return []bot.Reply{{Text: r.expect}, e.stuckChoices(c)}
		}
		return append([]bot.Reply{{Text: r.expect}}, e.prompt(c)...)
	case kindBack:
		if len(c.st.History) == 0 {
			return append([]bot.Reply{{Text: c.T("back.first")}}, e.prompt(c)...)
		}
		c.st.Step = c.st.History[len(c.st.History)-1]
		c.st.History = c.st.History[:len(c.st.History)-1]
		c.st.Tries = 0
		return e.prompt(c)
	case kindCancel:
		e.ended(c.st.Flow, "cancelled")
		*c.st = state{}
		return append([]bot.Reply{{Text: c.T("cancelled")}}, e.menu(c)...)
	case kindSwitch:
		e.ended(c.st.Flow, "completed")
		return append(r.replies, e.begin(c, r.flow, r.data)...)
	default: // kindDone
		e.ended(c.st.Flow, "completed")
		*c.st = state{}
		return r.replies
	}
}

func (e *Engine) stuckChoices(c *Ctx) bot.Reply {
	return bot.Reply{Text: c.T("stuck"), Choices: []bot.Choice{
		{Payload: "retry", Label: c.T("stuck.retry")},
		{Payload: "menu", Label: c.T("stuck.menu")},
		{Payload: "person", Label: c.T("stuck.person")},
	}}
}

// stuck reads the answer to "try again, menu, or a person?".
func (e *Engine) stuck(c *Ctx) []bot.Reply {
	opts := []option{
		{key: "retry", words: []string{"再试一次", "try again", "retry", "继续", "continue"}},
		{key: "menu", words: append([]string{"回到主菜单", "back to the main menu"}, wordsMenu...)},
		{key: "person", words: []string{"联系工作人员", "talk to a person", "人工", "person", "staff", "转人工"}},
	}
	if is(c.In.Norm, wordsCancel) {
		c.st.Stuck = false
		return e.apply(c, cancelFlow())
	}
	o, ok := choose(c.In, opts)
	if !ok {
		return []bot.Reply{{Text: c.T("invalid.choice")}, e.stuckChoices(c)}
	}
	c.st.Stuck = false
	switch o.key {
	case "retry":
		return e.prompt(c)
	case "menu":
		title := e.flowTitle(c, c.st.Flow)
		c.st.Paused, c.st.PausedAt = true, e.now().Unix()
		return append([]bot.Reply{{Text: c.T("paused.menu", title)}}, e.menu(c)...)
	default:
		return e.handoff(c)
	}
}

// handoff asks staff to take over: it opens a ticket with what the resident
// was trying to do, which reaches the staff desk like any report.
func (e *Engine) handoff(c *Ctx) []bot.Reply {
	flowName, stepName := c.st.Flow, c.st.Step
	cat := e.handoffCategory()
	desc := T(e.cfg.Community.Language, "handoff.desc", T(e.cfg.Community.Language, e.flows[flowName].title), stepName, clip(c.Get("_last_input"), 200))
	t, err := e.createTicket(c, store.NewTicket{
		ResidentID: c.Turn.Resident.ID, RequestKey: c.st.ID + ":handoff", Category: cat.Key,
		Description: desc, Channel: c.Turn.Channel,
	}, cat)
	if err != nil {
		e.log.Error("handoff ticket", "err", err)
		return Unavailable(c.Lang)
	}
	e.ended(flowName, "handoff")
	*c.st = state{}
	out := []bot.Reply{{Text: c.T("handoff.done", t.Number)}}
	if e.cfg.Community.Phone != "" {
		out = append(out, bot.Reply{Text: c.T("handoff.phone", e.cfg.Community.Phone)})
	}
	return out
}

// handoffCategory is "other" when configured, else the last category.
func (e *Engine) handoffCategory() Category {
	if cat, ok := e.cfg.category("other"); ok {
		return cat
	}
	if n := len(e.cfg.Categories); n > 0 {
		return e.cfg.Categories[n-1]
	}
	return Category{Key: "other", Name: "其他", NameEN: "Other", TargetHours: 24}
}

// option is one answer a step accepts.
type option struct {
	key   string
	label string   // as shown
	words []string // other accepted words, any language
}

// choose matches an answer against options: a button payload, the option's
// number, its label or any of its words in either language.
func choose(in Input, opts []option) (option, bool) {
	if in.Payload != "" {
		for _, o := range opts {
			if in.Payload == o.key {
				return o, true
			}
		}
	}
	n := in.Norm
	if n == "" {
		return option{}, false
	}
	if i, err := strconv.Atoi(strings.TrimRight(n, ".、)")); err == nil {
		if i >= 1 && i <= len(opts) {
			return opts[i-1], true
		}
		return option{}, false
	}
	for _, o := range opts {
		if n == o.key || n == normalize(o.label) || is(n, o.words) {
			return o, true
		}
	}
	return option{}, false
}

// ask renders a question with options as a reply with choices.
func ask(text string, opts []option) bot.Reply {
	r := bot.Reply{Text: text}
	for _, o := range opts {
		r.Choices = append(r.Choices, bot.Choice{Payload: o.key, Label: o.label})
	}
	return r
}

// clip shortens s to n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// trimText trims and bounds raw text, so nothing unbounded reaches the database.
func trimText(s string) string {
	return clip(strings.TrimSpace(s), 2000)
}

// Package flows runs the conversations of linli: the main menu, reporting a
// problem, following it up, and the flows later issues add. A flow is a set
// of steps whose state is saved after every message, so a restart never
// strands a resident mid-flow. It talks to the database only through store
// and to residents only through bot replies; it knows no channel.
package flows

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"linli/bot"
	"linli/store"
)

// Enqueuer stores a message for later delivery (notify's outbox satisfies it).
type Enqueuer interface {
	Enqueue(ctx context.Context, rows ...store.OutboxRow) error
}

// Options configure an Engine beyond its Config.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	// Outbox receives what is sent later than the reply (alerts, staff replies).
	// Nil: a store-backed outbox with no dispatcher (tests and `linli chat`).
	Outbox Enqueuer
	// Observer hears flow completions and abandonments (metrics); optional.
	Observer Observer
	// RemoveUploads deletes the files of web chat photos (by token) when a
	// resident's data is erased; nil: no files to delete.
	RemoveUploads func(tokens []string) error
}

// Observer is told when a flow ends.
type Observer interface {
	FlowEnded(flow, outcome string) // outcome: completed, cancelled, expired, handoff
}

// Engine runs every flow. It satisfies bot.Engine.
type Engine struct {
	st    *store.Store
	cfg   Config
	loc   *time.Location
	now   func() time.Time
	log   *slog.Logger
	out   Enqueuer
	obs   Observer
	flows map[string]*flow
	// states saves decoding a state this engine stored itself (statecache.go).
	states stateCache
	// intents are what a resident can ask for outside a flow, in menu order.
	intents []intent
	// statusSections and cancellables are filled by each feature.
	statusSections []func(c *Ctx) ([]string, []bot.Choice, error)
	cancellables   []func(c *Ctx) ([]cancellable, error)
	// actions run before any flow step: answers to messages sent later
	// (accepting an offered place) that must work whatever the resident is doing.
	actions []func(c *Ctx) ([]bot.Reply, bool)
	// statsSections add lines to the staff's /stats for the period since.
	statsSections []func(c *Ctx, since time.Time) ([]string, error)
	// staff are the commands of the staff desk, by name.
	staff map[string]*staffCommand
	// onTicket listeners hear of every new ticket (the staff desk alerts staff).
	onTicket []func(ctx context.Context, t store.Ticket)
	// audiences resolve broadcast audiences other features own (addAudience).
	audiences map[string]AudienceFunc
	// removeUploads deletes erased residents' photo files (Options.RemoveUploads).
	removeUploads func(tokens []string) error
}

// intent is something a resident can start outside a flow.
type intent struct {
	key   string   // payload and menu key
	label string   // catalog key of its menu label; empty: not in the menu
	words []string // words that start it
	start func(c *Ctx) []bot.Reply
	// flow is the flow it starts, if any: its words then also work inside
	// another flow, which they pause (anywhere.go).
	flow string
}

// New builds the engine with every flow of the package.
func New(st *store.Store, cfg Config, opt Options) (*Engine, error) {
	cfg = cfg.withDefaults()
	loc, err := time.LoadLocation(cfg.Community.Timezone)
	if err != nil {
		return nil, fmt.Errorf("flows: timezone: %w", err)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Outbox == nil {
		opt.Outbox = storeOutbox{st}
	}
	e := &Engine{st: st, cfg: cfg, loc: loc, now: opt.Now, log: opt.Logger, out: opt.Outbox, obs: opt.Observer, flows: map[string]*flow{},
		removeUploads: opt.RemoveUploads}
	e.addStaffDesk()
	e.addReport()
	e.addStatus()
	if err := e.addPlaces(); err != nil {
		return nil, err
	}
	e.addPhone()
	e.addBroadcast()
	e.addBookingAudiences()
	e.addDesk()
	e.addPrivacy()
	return e, nil
}

// storeOutbox writes outbox rows straight to the store.
type storeOutbox struct{ st *store.Store }

func (o storeOutbox) Enqueue(ctx context.Context, rows ...store.OutboxRow) error {
	_, err := o.st.EnqueueOutbox(ctx, rows)
	return err
}

// Unavailable is the reply for a turn that could not be handled.
func Unavailable(lang string) []bot.Reply {
	return []bot.Reply{{Text: T(lang, "unavailable")}}
}

// state is what is persisted per resident between messages.
type state struct {
	Flow     string            `json:"flow"`
	Step     string            `json:"step"`
	ID       string            `json:"id"` // this run of the flow; makes its side effects idempotent
	Data     map[string]string `json:"data,omitempty"`
	History  []string          `json:"history,omitempty"`
	Tries    int               `json:"tries,omitempty"`
	Stuck    bool              `json:"stuck,omitempty"`
	Paused   bool              `json:"paused,omitempty"`
	PausedAt int64             `json:"paused_at,omitempty"`
	// Shelved is a flow paused by the start word of this one; it comes
	// back, paused, when this one ends (anywhere.go).
	Shelved *state `json:"shelved,omitempty"`
}

// Ctx is one turn as a step sees it.
type Ctx struct {
	context.Context
	E    *Engine
	Turn *bot.Turn
	Lang string
	In   Input
	st   *state
	// pre holds notes shown before the step's own replies (e.g. "expired").
	pre []bot.Reply
}

// Input is the resident's message as steps read it.
type Input struct {
	Raw      string // the text as typed, trimmed
	Norm     string // normalize(Raw), or the button payload
	Payload  string
	Image    *bot.Image
	Location *bot.Location
	Voice    bool
}

// T renders a catalog message in the resident's language.
func (c *Ctx) T(key string, args ...any) string { return T(c.Lang, key, args...) }

// Get returns a value saved by an earlier step of this flow.
func (c *Ctx) Get(key string) string { return c.st.Data[key] }

// Set saves a value for later steps of this flow.
func (c *Ctx) Set(key, value string) {
	if c.st.Data == nil {
		c.st.Data = map[string]string{}
	}
	if value == "" {
		delete(c.st.Data, key)
		return
	}
	c.st.Data[key] = value
}

// FlowID identifies this run of the flow (idempotency key of its side effects).
func (c *Ctx) FlowID() string { return c.st.ID }

// Now is the engine's clock.
func (c *Ctx) Now() time.Time { return c.E.now() }

// Handle runs one turn. It implements bot.Engine.
func (e *Engine) Handle(ctx context.Context, t *bot.Turn) ([]bot.Reply, error) {
	c := &Ctx{Context: ctx, E: e, Turn: t, Lang: t.Lang, In: inputOf(t.Message)}
	st, existed, err := e.load(ctx, t.Resident.ID)
	if err != nil {
		return nil, err
	}
	c.st = st
	// Only a paused flow's save compares with the state as it was loaded.
	var before []byte
	if st.Paused {
		before, _ = json.Marshal(st)
	}
	prior := *st
	replies := e.dispatch(c)
	replies = append(replies, e.unshelve(c, prior)...)
	if err := e.save(ctx, t.Resident.ID, c.st, existed, before); err != nil {
		return nil, err
	}
	return append(c.pre, replies...), nil
}

func inputOf(m bot.Message) Input {
	in := Input{Raw: trimText(m.Text), Payload: m.Payload, Image: m.Image, Location: m.Location, Voice: m.Voice}
	if m.Payload != "" {
		in.Norm = m.Payload
		if in.Raw == "" {
			in.Raw = m.Payload
		}
	} else {
		in.Norm = normalize(m.Text)
	}
	return in
}

// load reads the resident's state; existed reports a stored conversation
// (even one dropped as unreadable), which save must then delete or replace.
func (e *Engine) load(ctx context.Context, residentID int64) (st *state, existed bool, err error) {
	conv, err := e.st.Conversation(ctx, residentID)
	if errors.Is(err, store.ErrNotFound) {
		return &state{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("flows: load conversation: %w", err)
	}
	st, ok := e.states.get(residentID, conv.State)
	if !ok {
		st = &state{}
		if err := json.Unmarshal(conv.State, st); err != nil {
			// A state this version cannot read is dropped rather than wedging the resident.
			e.log.Warn("unreadable conversation state dropped", "resident", residentID, "err", err)
			return &state{}, true, nil
		}
	}
	if _, ok := e.flows[st.Flow]; !ok && st.Flow != "" {
		return &state{}, true, nil
	}
	idle := e.cfg.Community.FlowIdle
	if f := e.flows[st.Flow]; f != nil && f.idle > 0 {
		idle = f.idle
	}
	if st.Flow != "" && !st.Paused && e.now().Sub(conv.UpdatedAt) > idle {
		st.Paused, st.PausedAt = true, conv.UpdatedAt.Add(idle).Unix()
		st.Data = withFlag(st.Data, "_expired_notice", "1")
	}
	return st, true, nil
}

func withFlag(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// save persists the state after every turn. An active flow is saved even
// when unchanged, because its idle clock restarts with every message.
// before is the loaded state of a flow that was paused, else nil.
func (e *Engine) save(ctx context.Context, residentID int64, st *state, existed bool, before []byte) error {
	if st.Flow == "" {
		if !existed {
			return nil // nothing stored, nothing to forget
		}
		e.states.drop(residentID)
		return e.st.DeleteConversation(ctx, residentID)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if st.Paused && before != nil && string(b) == string(before) {
		return nil // a paused flow keeps the time it was last active
	}
	e.states.put(residentID, b, st)
	return e.st.SaveConversation(ctx, store.Conversation{ResidentID: residentID, Flow: st.Flow, State: b, UpdatedAt: e.now()})
}

// dispatch decides what the message means: an event, a language switch, a
// global word inside a flow, a step's answer, or something to start.
func (e *Engine) dispatch(c *Ctx) []bot.Reply {
	if rs, ok := e.consentGate(c); ok {
		return rs
	}
	m := c.Turn.Message
	switch m.Event {
	case bot.EventSubscribe, bot.EventStart, bot.EventMenu:
		return e.onEvent(c, m)
	case "":
	default:
		return nil // recorded by the router; nothing to say
	}
	if rs, ok := e.staffDesk(c); ok {
		return rs
	}
	if m.Group {
		if f := e.flows[c.st.Flow]; f != nil && f.inGroups && !c.st.Paused {
			return e.inFlow(c) // a staff flow (/broadcast) started in the group
		}
		return nil // chatter in the staff group is not a resident's conversation
	}
	if m.Voice && c.In.Raw == "" {
		return []bot.Reply{{Text: c.T("voice.untranscribed")}}
	}
	switch {
	case is(c.In.Norm, wordsEnglish):
		return e.setLanguage(c, "en")
	case is(c.In.Norm, wordsChinese):
		return e.setLanguage(c, "zh-CN")
	}
	if c.st.Flow != "" && c.st.Paused && c.st.Data["_expired_notice"] != "" {
		delete(c.st.Data, "_expired_notice")
		c.pre = append(c.pre, bot.Reply{Text: c.T("expired", e.flowTitle(c, c.st.Flow))})
		e.ended(c.st.Flow, "expired")
	}
	wasIn := c.st.Flow != "" && !c.st.Paused
	flowBefore, stepBefore := c.st.Flow, c.st.Step
	for _, act := range e.actions {
		if rs, ok := act(c); ok {
			// Back to where the resident was, unless the action itself
			// moved them (it started a flow and asked its question).
			if wasIn && c.st.Flow == flowBefore && c.st.Step == stepBefore && !c.st.Paused {
				rs = append(rs, e.prompt(c)...)
			}
			return rs
		}
	}
	if c.st.Flow != "" && !c.st.Paused {
		return e.inFlow(c)
	}
	return e.outsideFlow(c)
}

func (e *Engine) setLanguage(c *Ctx, lang string) []bot.Reply {
	if err := e.st.SetResidentLanguage(c, c.Turn.Resident.ID, lang); err != nil {
		e.log.Error("set language", "err", err)
		return Unavailable(c.Lang)
	}
	c.Lang = lang
	out := []bot.Reply{{Text: c.T("lang.set")}}
	if c.st.Flow != "" && !c.st.Paused {
		return append(out, e.prompt(c)...)
	}
	return append(out, e.menu(c)...)
}

// outsideFlow handles a message when no flow is running.
func (e *Engine) outsideFlow(c *Ctx) []bot.Reply {
	n := c.In.Norm
	if is(n, wordsContinue) {
		return e.resume(c)
	}
	// The normalized text, so that a full-width "Ｔ１０２４" or "T1024。"
	// finds the ticket here as it does inside a flow.
	if num, ok := store.NormalizeTicketNumber(n); ok && c.In.Raw != "" && !isMenuNumber(n, len(e.menuIntents())) {
		return e.showTicket(c, num)
	}
	if is(n, wordsCancel) {
		return e.startCancel(c)
	}
	if key, ok := strings.CutPrefix(c.In.Payload, "cancel:"); ok {
		return e.startCancelItem(c, key)
	}
	for _, it := range e.intents {
		if n == it.key || is(n, it.words) {
			return it.start(c)
		}
	}
	if i, err := strconv.Atoi(n); err == nil {
		if mi := e.menuIntents(); i >= 1 && i <= len(mi) {
			return mi[i-1].start(c)
		}
	}
	if rs, ok := e.residentNote(c); ok {
		return rs
	}
	return e.menu(c)
}

func isMenuNumber(n string, size int) bool {
	i, err := strconv.Atoi(n)
	return err == nil && i >= 1 && i <= size
}

func (e *Engine) menuIntents() []intent {
	var out []intent
	for _, it := range e.intents {
		if it.label != "" {
			out = append(out, it)
		}
	}
	return out
}

// menu is the main menu, with a reminder of a paused flow.
func (e *Engine) menu(c *Ctx) []bot.Reply {
	r := bot.Reply{Text: c.T("menu.title", e.cfg.Community.Name)}
	for _, it := range e.menuIntents() {
		r.Choices = append(r.Choices, bot.Choice{Payload: it.key, Label: c.T(it.label)})
	}
	hint := c.T("menu.hint")
	if c.st.Flow != "" && c.st.Paused && e.resumable(c.st) {
		hint = c.T("menu.resume_hint", e.flowTitle(c, c.st.Flow))
	}
	return []bot.Reply{r, {Text: hint}}
}

func (e *Engine) onEvent(c *Ctx, m bot.Message) []bot.Reply {
	var out []bot.Reply
	if m.Event == bot.EventSubscribe {
		out = append(out, bot.Reply{Text: c.T("welcome", e.cfg.Community.Name)})
	}
	if key := m.EventKey; key != "" {
		if f, ok := e.flows[key]; ok && f.start != "" && len(m.Params) > 0 {
			return append(out, e.begin(c, key, prefilled(m.Params))...)
		}
		for _, it := range e.intents {
			if it.key == key {
				return append(out, it.start(c)...)
			}
		}
		if f, ok := e.flows[key]; ok && f.start != "" {
			return append(out, e.begin(c, key, nil)...)
		}
	}
	return append(out, e.menu(c)...)
}

func (e *Engine) resumable(st *state) bool {
	return st.Paused && e.now().Sub(time.Unix(st.PausedAt, 0)) <= e.cfg.Community.ResumeWithin
}

func (e *Engine) resume(c *Ctx) []bot.Reply {
	if c.st.Flow == "" || !e.resumable(c.st) {
		*c.st = state{}
		return append([]bot.Reply{{Text: c.T("resume.none")}}, e.menu(c)...)
	}
	c.st.Paused, c.st.PausedAt = false, 0
	return append([]bot.Reply{{Text: c.T("resume.ok")}}, e.prompt(c)...)
}

// randomID makes flow run ids; they only need to be unique.
func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (e *Engine) ended(flow, outcome string) {
	if e.obs != nil {
		e.obs.FlowEnded(flow, outcome)
	}
}

func itoa64(i int64) string { return strconv.FormatInt(i, 10) }

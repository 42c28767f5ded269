package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"linli/store"
)

// ErrDuplicate is returned for a message whose platform id was seen before:
// the platform redelivered it and it must not run a flow twice.
var ErrDuplicate = errors.New("bot: duplicate message")

// Turn is one message as the engine sees it: who sent it and in which language.
type Turn struct {
	Message
	Resident     store.Resident
	Identity     store.Identity
	Lang         string
	FirstContact bool
	// NoLog, set by the engine, keeps this turn out of the message log:
	// a resident who has not consented (or has just had their data erased)
	// must leave no trace of what they said.
	NoLog bool
}

// Engine runs conversations. flows satisfies it; bot never imports flows.
type Engine interface {
	// Handle runs one step for the turn and returns the replies. It reports
	// resident-facing problems as replies; an error means the turn could not
	// be handled at all.
	Handle(ctx context.Context, t *Turn) ([]Reply, error)
}

// Observer is told about every handled message (metrics hook); optional.
type Observer interface {
	Handled(channel, kind string, took time.Duration, err error)
}

// Options configure the router.
type Options struct {
	// DefaultLang is the community's language, used when neither the resident
	// nor the channel says otherwise.
	DefaultLang string
	// Unavailable gives the reply for a turn that failed (store down, a bug);
	// texts live in the flows catalogs, so the wiring supplies it.
	Unavailable func(lang string) []Reply
	Logger      *slog.Logger
	Now         func() time.Time
	Observer    Observer
}

// Bot is the router between channels and the engine. It is safe for
// concurrent use by every channel at once.
type Bot struct {
	st     *store.Store
	engine Engine
	opt    Options
	queue  *keyedQueue
}

// New returns a router.
func New(st *store.Store, engine Engine, opt Options) *Bot {
	if opt.DefaultLang == "" {
		opt.DefaultLang = LangZH
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Unavailable == nil {
		opt.Unavailable = func(string) []Reply { return nil }
	}
	return &Bot{st: st, engine: engine, opt: opt, queue: newKeyedQueue()}
}

// Store returns the router's store, for channels that record delivery state.
func (b *Bot) Store() *store.Store { return b.st }

// Handle routes one message. Messages from the same sender are handled one at
// a time in the order Handle was called; a redelivered message returns
// ErrDuplicate without running anything.
func (b *Bot) Handle(ctx context.Context, m Message) (replies []Reply, err error) {
	start := time.Now()
	if m.At.IsZero() {
		m.At = b.opt.Now()
	}
	kind := messageKind(m)
	defer func() {
		if b.opt.Observer != nil && !errors.Is(err, ErrDuplicate) {
			b.opt.Observer.Handled(m.Channel, kind, time.Since(start), err)
		}
	}()
	if m.Channel == "" || m.UserID == "" {
		return nil, errors.New("bot: message without channel or sender")
	}
	// The resident's messages are handled one at a time, so the identity
	// (language, phone) a turn sees includes what the previous turn did,
	// and a redelivery waits its turn to be refused.
	key := m.Channel + "\x00" + m.UserID
	b.queue.acquire(key)
	defer b.queue.release(key)

	if m.Event == EventUnsubscribe {
		if m.DedupeKey != "" {
			fresh, err := b.st.ClaimInbound(ctx, m.Channel, m.DedupeKey, m.At)
			if err != nil {
				return b.fail(m, LangHintOr(m.LangHint, b.opt.DefaultLang), fmt.Errorf("bot: dedupe: %w", err))
			}
			if !fresh {
				return nil, ErrDuplicate
			}
		}
		// The resident left the channel: nothing to answer, and no more pushes there.
		if err := b.st.SetIdentityUnreachable(ctx, m.Channel, m.UserID, true); err != nil {
			return nil, fmt.Errorf("bot: unsubscribe: %w", err)
		}
		return nil, nil
	}

	ik := store.IdentityKey{Channel: m.Channel, ExternalID: m.UserID, ChatID: m.ChatID, DisplayName: m.DisplayName}
	if m.Group {
		// A group is where the sender spoke, not where they can be reached:
		// pushes to a staff member as a resident must not land in the group.
		ik.ChatID = ""
	}
	// One read finds the sender and whether the key was seen; the claim of
	// the key is committed atomically with the turn's first write (see
	// store.StartTurn), so one message costs one write transaction.
	turnCtx, ts, err := b.st.StartTurn(ctx, m.Channel, m.DedupeKey, ik, m.At)
	if err != nil {
		return b.fail(m, LangHintOr(m.LangHint, b.opt.DefaultLang), fmt.Errorf("bot: dedupe and identity: %w", err))
	}
	if ts.Seen {
		return nil, ErrDuplicate
	}
	t := &Turn{Message: m, Resident: ts.Resident, Identity: ts.Identity, FirstContact: ts.Created}
	t.Lang = b.language(ts.Resident, m)

	replies, err = b.run(turnCtx, t)
	if err != nil {
		// Nothing of the failed step is kept, but its key is: a
		// redelivery must not run it again.
		store.DiscardWrites(turnCtx)
		if ferr := b.st.FlushWrites(turnCtx); errors.Is(ferr, store.ErrClaimed) {
			return nil, ErrDuplicate
		}
		return b.fail(m, t.Lang, err)
	}
	if !t.NoLog {
		b.logTurn(turnCtx, t, replies)
	}
	if err := b.st.FlushWrites(turnCtx); err != nil {
		if errors.Is(err, store.ErrClaimed) {
			// Another process took this message while the step ran.
			return nil, ErrDuplicate
		}
		store.DiscardWrites(turnCtx)
		b.st.FlushWrites(turnCtx)
		return b.fail(m, t.Lang, fmt.Errorf("bot: save turn: %w", err))
	}
	return replies, nil
}

// run calls the engine, turning a panic into an error so that no input can
// take the server down.
func (b *Bot) run(ctx context.Context, t *Turn) (replies []Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bot: engine panic: %v\n%s", p, debug.Stack())
		}
	}()
	return b.engine.Handle(ctx, t)
}

func (b *Bot) fail(m Message, lang string, err error) ([]Reply, error) {
	b.opt.Logger.Error("message not handled", "channel", m.Channel, "kind", messageKind(m), "err", err)
	return b.opt.Unavailable(lang), nil
}

// logTurn keeps both directions for staff context. Under the turn's
// DeferWrites it only holds the lines; they are committed with the
// conversation by FlushWrites.
func (b *Bot) logTurn(ctx context.Context, t *Turn, replies []Reply) {
	lines := []store.LoggedMessage{{ResidentID: t.Resident.ID, Direction: store.DirectionIn, Channel: t.Channel, Text: t.Describe(), CreatedAt: t.At}}
	now := b.opt.Now()
	for _, r := range replies {
		lines = append(lines, store.LoggedMessage{ResidentID: t.Resident.ID, Direction: store.DirectionOut, Channel: t.Channel, Text: r.PlainText(), CreatedAt: now})
	}
	if err := b.st.LogMessages(ctx, lines); err != nil {
		b.opt.Logger.Warn("message log", "err", err)
	}
}

// language picks the resident's own choice, else the channel's hint, else
// the community default.
func (b *Bot) language(r store.Resident, m Message) string {
	if r.Language != "" {
		return r.Language
	}
	return LangHintOr(m.LangHint, b.opt.DefaultLang)
}

// LangHintOr maps a channel's language hint (e.g. Telegram's "en-US",
// WeChat's "zh_CN") to a catalog language, or returns def.
func LangHintOr(hint, def string) string {
	switch {
	case hint == "":
		return def
	case len(hint) >= 2 && (hint[:2] == "zh" || hint[:2] == "ZH"):
		return LangZH
	case len(hint) >= 2 && (hint[:2] == "en" || hint[:2] == "EN"):
		return LangEN
	}
	return def
}

func messageKind(m Message) string {
	switch {
	case m.Event != "":
		return "event"
	case m.Payload != "":
		return "button"
	case m.Image != nil:
		return "image"
	case m.Location != nil:
		return "location"
	case m.Voice:
		return "voice"
	default:
		return "text"
	}
}

// Package telegram is the Telegram channel of linli: residents talk to the
// bot in private chats and staff work in the staff group. It turns updates
// into bot.Messages, renders replies (inline keyboards for choices), and
// sends outbox rows as a notify.Sender.
//
// It uses github.com/go-telegram/bot's models and parameter types; the
// calls every update makes go as JSON through call (call.go), setup calls
// through the library. It works around the library's traps (see tgfake's
// package doc):
//
//   - Updates are received by this package's own long poll or webhook
//     handler, never the library's: its webhook handler answers 200 to a
//     wrong secret and reads unbounded bodies, and its poller confirms an
//     update before it is handled. Here a poll confirms a batch only once
//     it is stored (or after Options.MaxHold, so one slow chat cannot hold
//     up the rest), and the webhook answers once the update is stored; the
//     replies follow.
//   - Handlers would run concurrently in no order: updates are queued per
//     chat instead and handled one at a time in arrival order per chat,
//     different chats in parallel, with panics recovered.
//   - 429 errors are *bot.TooManyRequestsError, unwrapped: matched with
//     errors.As; an immediate reply waits retry_after and tries again, an
//     outbox row is handed back to the dispatcher with RetryAfter.
//   - The library's default handlers log whole updates with the standard
//     log package: both are replaced, and nothing here logs message text.
package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"linli/bot"
	"linli/store"
)

// Handler handles one message (the router, *bot.Bot).
type Handler interface {
	Handle(ctx context.Context, m bot.Message) ([]bot.Reply, error)
}

// Marker records that a Telegram user can no longer be reached (they
// blocked the bot); *store.Store satisfies it.
type Marker interface {
	SetIdentityUnreachable(ctx context.Context, channel, externalID string, v bool) error
}

// Enqueuer stores outbox rows for the dispatcher; *notify.Outbox satisfies it.
type Enqueuer interface {
	Enqueue(ctx context.Context, rows ...store.OutboxRow) error
}

// IdentityFinder looks up who a Telegram user is; *store.Store satisfies it.
type IdentityFinder interface {
	FindIdentity(ctx context.Context, channel, externalID string) (store.Identity, error)
}

// Command is one entry of the bot's command menu.
type Command struct {
	Name        string
	Description string
}

// Options configure a Channel beyond its Config.
type Options struct {
	Logger *slog.Logger
	// Marker records residents who blocked the bot; nil: not recorded.
	Marker Marker
	// HTTPClient carries API calls other than the long poll; nil: a client
	// with a 30 s timeout that keeps connections for many chats at once
	// (bot.NewAPIClient).
	HTTPClient *http.Client
	// PollClient carries the long poll; its timeout must exceed
	// PollTimeout. Nil: a client with PollTimeout + 15 s.
	PollClient *http.Client
	// WebhookURL is the public https URL registered with setWebhook in
	// webhook mode (server.public_url + telegram.webhook_path).
	WebhookURL string
	// Commands are the residents' command menus by Telegram language code:
	// "" is the default list, "zh" and "en" the translations.
	Commands map[string][]Command
	// StaffCommands are listed in the staff group, by language code.
	StaffCommands map[string][]Command
	// PollTimeout is how long one long poll waits (default 50 s).
	PollTimeout time.Duration
	// MaxHold bounds how long a poll waits for its updates to be stored
	// before it confirms them and fetches more (default 5 s).
	MaxHold time.Duration
	// MaxRetryWait is the longest retry_after an immediate reply waits for
	// (default 30 s); longer ones hand the reply to Outbox.
	MaxRetryWait time.Duration
	// Outbox takes the immediate replies that could not go out at once (a
	// 5xx, the network, a long 429), so the dispatcher sends them later;
	// nil: such replies are logged and lost.
	Outbox Enqueuer
	// Identities finds the resident of a private chat, so a queued reply
	// is filed under them; nil: queued replies name only the chat.
	Identities IdentityFinder
	// Progress records how far a message of several parts (a long text, a
	// photo and its text) got, so a retried outbox row does not send its
	// first parts twice; nil: a retry starts again from the first part.
	Progress ProgressStore
	// Now is the clock of queued replies' due times; nil means time.Now.
	Now func() time.Time
}

// Channel is the Telegram channel.
type Channel struct {
	cfg     Config
	opt     Options
	base    string
	api     *tgbot.Bot
	h       Handler
	log     *slog.Logger
	runner  *runner
	buttons *usedButtons
	// parts records how far a send of several parts got (progress.go).
	parts bot.Parts
	// sleep waits for a retry; tests replace it to record the waits.
	sleep func(ctx context.Context, d time.Duration) error
}

// New builds the channel. It makes no network call: setup (commands,
// webhook) happens in Run.
func New(cfg Config, h Handler, opt Options) (*Channel, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("telegram: no token")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.PollTimeout <= 0 {
		opt.PollTimeout = 50 * time.Second
	}
	if opt.MaxHold <= 0 {
		opt.MaxHold = 5 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxRetryWait <= 0 {
		opt.MaxRetryWait = 30 * time.Second
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = bot.NewAPIClient(30 * time.Second)
	}
	if opt.PollClient == nil {
		opt.PollClient = &http.Client{Timeout: opt.PollTimeout + 15*time.Second}
	}
	base := strings.TrimRight(cfg.APIBaseURL, "/")
	if base == "" {
		base = "https://api.telegram.org"
	}
	c := &Channel{cfg: cfg, opt: opt, base: base, h: h, log: opt.Logger.With("channel", bot.ChannelTelegram),
		buttons: newUsedButtons(4096), sleep: sleepCtx}
	c.runner = newRunner(c.log)
	c.parts = bot.Parts{KV: opt.Progress, Log: c.log, Now: opt.Now, Prefix: "telegram:parts:"}
	api, err := tgbot.New(cfg.Token,
		tgbot.WithServerURL(base),
		tgbot.WithSkipGetMe(),
		tgbot.WithHTTPClient(opt.PollTimeout, opt.HTTPClient),
		tgbot.WithDefaultHandler(func(context.Context, *tgbot.Bot, *models.Update) {}),
		tgbot.WithErrorsHandler(func(err error) { c.log.Warn("telegram library", "err", c.redact(err.Error())) }),
		tgbot.WithDebugHandler(func(string, ...any) {}),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: %s", c.redact(err.Error()))
	}
	c.api = api
	return c, nil
}

// API is the underlying go-telegram/bot client.
func (c *Channel) API() *tgbot.Bot { return c.api }

// Run sets the bot up (command menus; the webhook, or no webhook for
// polling) and receives updates until ctx ends: by long polling, or in
// webhook mode through ServeHTTP. It returns once every update it took is
// handled.
func (c *Channel) Run(ctx context.Context) error {
	c.setup(ctx)
	if c.cfg.Mode == "webhook" {
		<-ctx.Done()
	} else {
		c.poll(ctx)
	}
	c.runner.wait()
	return nil
}

// allowedUpdates are the update kinds linli asks for.
var allowedUpdates = []string{models.AllowedUpdateMessage, models.AllowedUpdateCallbackQuery, models.AllowedUpdateMyChatMember}

// setup registers the command menus and the webhook. Failures are logged:
// the bot still works without a menu, and polling retries by itself.
func (c *Channel) setup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for lang, cmds := range c.opt.Commands {
		if err := c.setCommands(ctx, cmds, lang, nil); err != nil {
			c.log.Warn("telegram: set commands", "lang", lang, "err", err)
		}
	}
	if c.cfg.StaffChatID != 0 {
		for lang, cmds := range c.opt.StaffCommands {
			scope := &models.BotCommandScopeChat{ChatID: c.cfg.StaffChatID}
			if err := c.setCommands(ctx, cmds, lang, scope); err != nil {
				c.log.Warn("telegram: set staff commands", "lang", lang, "err", err)
			}
		}
	}
	if c.cfg.Mode == "webhook" {
		_, err := c.api.SetWebhook(ctx, &tgbot.SetWebhookParams{URL: c.opt.WebhookURL, SecretToken: c.cfg.WebhookSecret, AllowedUpdates: allowedUpdates})
		if err != nil {
			c.log.Error("telegram: set webhook", "url", c.opt.WebhookURL, "err", c.redact(err.Error()))
		}
		return
	}
	// getUpdates is refused while a webhook is set; deleting it keeps the
	// updates waiting.
	if _, err := c.api.DeleteWebhook(ctx, &tgbot.DeleteWebhookParams{}); err != nil {
		c.log.Warn("telegram: delete webhook", "err", c.redact(err.Error()))
	}
}

func (c *Channel) setCommands(ctx context.Context, cmds []Command, lang string, scope models.BotCommandScope) error {
	list := make([]models.BotCommand, len(cmds))
	for i, cmd := range cmds {
		list[i] = models.BotCommand{Command: cmd.Name, Description: cmd.Description}
	}
	_, err := c.api.SetMyCommands(ctx, &tgbot.SetMyCommandsParams{Commands: list, Scope: scope, LanguageCode: lang})
	if err != nil {
		return errors.New(c.redact(err.Error()))
	}
	return nil
}

// redact keeps the token out of anything logged or returned.
func (c *Channel) redact(s string) string {
	if c.cfg.Token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.cfg.Token, "***")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// usedButtons remembers private-chat messages whose keyboard already
// served a choice, so that a second press (a double tap, or a press that
// raced the keyboard's removal) does not act twice.
type usedButtons struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string
	next int
}

func newUsedButtons(n int) *usedButtons {
	return &usedButtons{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

// use marks a message's keyboard used; false if it already was.
func (u *usedButtons) use(chat int64, msg int) bool {
	k := strconv.FormatInt(chat, 10) + ":" + strconv.Itoa(msg)
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.set[k]; ok {
		return false
	}
	if old := u.ring[u.next]; old != "" {
		delete(u.set, old)
	}
	u.ring[u.next] = k
	u.next = (u.next + 1) % len(u.ring)
	u.set[k] = struct{}{}
	return true
}

package tgfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot/models"
)

// DefaultToken is the token a Fake accepts unless WithToken says otherwise.
// It has the real shape (bot id, colon, 35 characters) because
// go-telegram/bot derives Bot.ID from the part before the colon.
const DefaultToken = "7000000001:AAFakeTokenForLinliTests-0123456789"

// Fake is a stand-in for the Telegram Bot API served by an httptest.Server.
// All methods are safe for concurrent use.
type Fake struct {
	srv   *httptest.Server
	token string
	clock func() time.Time

	closed    chan struct{}
	closeOnce sync.Once

	mu sync.Mutex
	// changed is closed and replaced on every change of recorded state, so
	// waiters (WaitFor, long polls) wake without polling or sleeping.
	changed chan struct{}

	botUser models.User
	calls   []*Call

	updates      []queuedUpdate
	nextUpdateID int64
	pollGen      uint64
	allowed      []string

	chats     map[int64]*chatState
	users     map[int64]models.User
	sent      []*SentMessage
	sentIndex map[msgKey]*SentMessage

	files     map[string]*storedFile
	photoSets map[string][]models.PhotoSize
	nextFile  int

	callbacks    map[string]*callbackState
	nextCallback int64

	faults      []*fault
	limits      *Limits
	globalSends []time.Time

	webhook  WebhookState
	commands map[string][]models.BotCommand
}

// Option configures a Fake.
type Option func(*Fake)

// WithToken sets the only token the fake accepts; any other gets 401.
func WithToken(token string) Option {
	return func(f *Fake) { f.token = token }
}

// WithClock sets the clock used for message dates, rate limits and the
// 48-hour deletion window, so that rate tests move time instead of sleeping.
// The long-poll timeout of getUpdates still uses real time: a test ends a
// poll by pushing an update or cancelling the client's context.
func WithClock(now func() time.Time) Option {
	return func(f *Fake) { f.clock = now }
}

// WithBotUsername sets the username getMe reports (default "linli_test_bot").
func WithBotUsername(username string) Option {
	return func(f *Fake) { f.botUser.Username = username }
}

// New starts a fake Bot API server. Stop it with Close (t.Cleanup(f.Close)).
func New(opts ...Option) *Fake {
	f := &Fake{
		token:     DefaultToken,
		clock:     time.Now,
		closed:    make(chan struct{}),
		changed:   make(chan struct{}),
		chats:     map[int64]*chatState{},
		users:     map[int64]models.User{},
		sentIndex: map[msgKey]*SentMessage{},
		files:     map[string]*storedFile{},
		photoSets: map[string][]models.PhotoSize{},
		callbacks: map[string]*callbackState{},
		commands:  map[string][]models.BotCommand{},
		botUser: models.User{
			IsBot:                   true,
			FirstName:               "Linli Test",
			Username:                "linli_test_bot",
			CanJoinGroups:           true,
			CanReadAllGroupMessages: false,
		},
	}
	for _, o := range opts {
		o(f)
	}
	id, _, _ := strings.Cut(f.token, ":")
	f.botUser.ID, _ = strconv.ParseInt(id, 10, 64)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	return f
}

// URL is the base URL to give go-telegram/bot with bot.WithServerURL.
func (f *Fake) URL() string { return f.srv.URL }

// Token is the token the fake accepts.
func (f *Fake) Token() string { return f.token }

// BotUser is the user getMe returns; its ID is the token's numeric prefix.
func (f *Fake) BotUser() models.User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.botUser
}

// Client returns an *http.Client that talks to the fake.
func (f *Fake) Client() *http.Client { return f.srv.Client() }

// Close ends pending long polls and waiters, then shuts the server down.
// It is safe to call more than once.
func (f *Fake) Close() {
	f.closeOnce.Do(func() {
		// Pollers must leave before httptest.Server.Close, which waits for
		// every outstanding request.
		close(f.closed)
		f.srv.Close()
	})
}

// Call is one request the fake received.
type Call struct {
	// Method is the API method as the fake knows it (e.g. "sendMessage"),
	// the path segment as sent when the method is unknown, or "file" for a
	// download from /file/bot<token>/<file_path>.
	Method string
	// Params holds every parameter, decoded: see Params.
	Params Params
	// Files are the uploaded files of a multipart request.
	Files []File
	// ContentType is the request's media type, e.g. "multipart/form-data".
	ContentType string
	// At is the fake clock's time when the request arrived.
	At time.Time
	// Code is the HTTP status answered (200 on success). It is 0 while a
	// getUpdates long poll is still waiting.
	Code int
	// Description is the error description answered, if any.
	Description string
}

// OK reports whether the call was answered successfully.
func (c Call) OK() bool { return c.Code == http.StatusOK }

// File is an uploaded file of a multipart request.
type File struct {
	// Field is the multipart field name ("photo", or the name an
	// attach://name reference points to).
	Field string
	// Name is the file name the client gave.
	Name        string
	ContentType string
	Size        int64
	Data        []byte
}

// SentMessage is a message the bot sent, in its current state: edits are
// applied and a deleted message is kept with Deleted set.
type SentMessage struct {
	Method    string // "sendMessage" or "sendPhoto"
	ChatID    int64
	MessageID int
	Text      string
	Caption   string
	ParseMode string
	// ReplyTo is the message id replied to (reply_parameters.message_id or
	// the legacy reply_to_message_id), 0 if none.
	ReplyTo int
	// ReplyMarkup is the decoded reply_markup JSON, nil if none.
	ReplyMarkup any
	// InlineKeyboard is ReplyMarkup's inline keyboard, nil if it has none.
	InlineKeyboard [][]models.InlineKeyboardButton
	// Photo is the file_id of the largest size of a sent photo.
	Photo string
	// Upload is the uploaded photo file, nil when a file_id or URL was sent.
	Upload  *File
	Edits   int
	Deleted bool
	At      time.Time
}

// Calls returns every call received since New or Reset, oldest first.
// Treat the returned params as read-only.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.callsLocked()
}

// CallsTo returns the calls of one method, oldest first.
func (f *Fake) CallsTo(method string) []Call {
	return filterCalls(f.Calls(), method)
}

func filterCalls(calls []Call, method string) []Call {
	var out []Call
	for _, c := range calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (f *Fake) callsLocked() []Call {
	out := make([]Call, len(f.calls))
	for i, c := range f.calls {
		out[i] = *c
		out[i].Files = append([]File(nil), c.Files...)
	}
	return out
}

// Sent returns the messages the bot sent to one chat, oldest first.
func (f *Fake) Sent(chatID int64) []SentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sentLocked(&chatID)
}

// AllSent returns the messages the bot sent to any chat, oldest first.
func (f *Fake) AllSent() []SentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sentLocked(nil)
}

func (f *Fake) sentLocked(chatID *int64) []SentMessage {
	var out []SentMessage
	for _, s := range f.sent {
		if chatID == nil || s.ChatID == *chatID {
			out = append(out, *s)
		}
	}
	return out
}

// ErrClosed is returned by the Wait methods when the fake is closed.
var ErrClosed = errors.New("tgfake: closed")

// WaitFor blocks until pred holds for the calls received so far, ctx ends
// or the fake is closed. pred is called again after every change, without
// the fake's lock held, on a snapshot it may keep. The last snapshot is
// returned in every case.
func (f *Fake) WaitFor(ctx context.Context, pred func(calls []Call) bool) ([]Call, error) {
	for {
		f.mu.Lock()
		calls := f.callsLocked()
		ch := f.changed
		f.mu.Unlock()
		if pred(calls) {
			return calls, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return calls, fmt.Errorf("tgfake: wait: %w", ctx.Err())
		case <-f.closed:
			return calls, ErrClosed
		}
	}
}

// WaitCalls blocks until at least n calls of method were received and
// returns them. A getUpdates call counts as soon as it arrives, so a test
// can wait for the bot's long poll to start and then push an update.
func (f *Fake) WaitCalls(ctx context.Context, method string, n int) ([]Call, error) {
	calls, err := f.WaitFor(ctx, func(calls []Call) bool {
		return len(filterCalls(calls, method)) >= n
	})
	got := filterCalls(calls, method)
	if err != nil {
		return got, fmt.Errorf("tgfake: waiting for %d %s calls, got %d: %w", n, method, len(got), err)
	}
	return got, nil
}

// WaitSent blocks until the bot has sent at least n messages to chatID and
// returns them.
func (f *Fake) WaitSent(ctx context.Context, chatID int64, n int) ([]SentMessage, error) {
	for {
		f.mu.Lock()
		got := f.sentLocked(&chatID)
		ch := f.changed
		f.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return got, fmt.Errorf("tgfake: waiting for %d messages to chat %d, got %d: %w", n, chatID, len(got), ctx.Err())
		case <-f.closed:
			return got, ErrClosed
		}
	}
}

// Reset forgets what happened: recorded calls, sent-message records,
// pending updates, pending faults and rate-limit windows. The world stays:
// known messages (which can still be edited, replied to or deleted),
// files, callback queries, the webhook, commands, blocked and migrated
// chats, and whether rate limits are on. Ids keep increasing.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
	f.sent = nil
	f.sentIndex = map[msgKey]*SentMessage{}
	f.updates = nil
	f.faults = nil
	f.globalSends = nil
	for _, cs := range f.chats {
		cs.sends = nil
	}
	f.notifyLocked()
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) now() time.Time { return f.clock() }

// WebhookState is what setWebhook registered.
type WebhookState struct {
	URL            string
	SecretToken    string
	MaxConnections int
	AllowedUpdates []string
	IPAddress      string
}

// Webhook returns the registered webhook; URL is empty when none is set.
func (f *Fake) Webhook() WebhookState {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.webhook
	w.AllowedUpdates = append([]string(nil), w.AllowedUpdates...)
	return w
}

// Commands returns the commands set for a scope and language code. scope
// is the BotCommandScope type ("" means "default"), followed by ":chat_id"
// and ":user_id" for the scopes that have them, e.g. "chat:-1001234".
func (f *Fake) Commands(scope, languageCode string) []models.BotCommand {
	if scope == "" {
		scope = "default"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]models.BotCommand(nil), f.commands[scope+"|"+languageCode]...)
}

// Pending returns how many updates are queued and not yet confirmed by a
// getUpdates offset.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.updates)
}

// SetUser sets the profile (names, username, language_code) the update
// helpers use for a user. A private chat takes its names from the user
// when first used, so call SetUser before that.
func (f *Fake) SetUser(u models.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
}

// SetChat sets a chat's type, title or username for messages made after
// it. Without it a positive id
// is a private chat, an id at or below -1000000000000 a supergroup and any
// other negative id a basic group.
func (f *Fake) SetChat(c models.Chat) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chatLocked(c.ID).chat = c
}

// BlockChat makes every call on the chat answer 403 as the real API does
// when a user blocked the bot ("Forbidden: bot was blocked by the user"),
// or when the bot was removed from a group.
func (f *Fake) BlockChat(chatID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chatLocked(chatID).blocked = true
}

// UnblockChat undoes BlockChat.
func (f *Fake) UnblockChat(chatID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chatLocked(chatID).blocked = false
}

// MigrateChat makes calls on a basic group answer 400 with
// parameters.migrate_to_chat_id, as after the group became a supergroup
// (go-telegram/bot turns that into *bot.MigrateError).
func (f *Fake) MigrateChat(from, to int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chatLocked(from).migrateTo = to
}

// jsonOf marshals v for a response; the models only fail to marshal on
// programming errors in the fake, so a failure panics the handler.
func jsonOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("tgfake: marshal %T: %v", v, err))
	}
	return b
}

package telegram

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"linli/bot"
	"linli/notify"
	"linli/store"
)

// Telegram's limits on one message, in UTF-16 code units.
const (
	maxText    = 4096
	maxCaption = 1024
	maxData    = 64 // callback_data, in bytes
)

// Error is a failed Bot API call, classified for the outbox dispatcher
// (notify reads Unreachable, Temporary and RetryAfter).
type Error struct {
	Method      string
	Err         error
	unreachable bool
	temporary   bool
	retryAfter  time.Duration
}

func (e *Error) Error() string { return "telegram: " + e.Method + ": " + e.Err.Error() }

// Unwrap returns the library's error.
func (e *Error) Unwrap() error { return e.Err }

// Unreachable reports that this chat cannot receive messages (the user
// blocked the bot, never started it, or the bot left the group).
func (e *Error) Unreachable() bool { return e.unreachable }

// Temporary reports that the same message may succeed later.
func (e *Error) Temporary() bool { return e.temporary }

// RetryAfter is the wait Telegram asked for (429), or 0.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// classify turns a library error into an *Error; the token never appears
// in it (the library already masks it in URLs; redact is the belt).
func (c *Channel) classify(method string, err error) *Error {
	e := &Error{Method: method, Err: errors.New(c.redact(err.Error())), temporary: true}
	var tm *tgbot.TooManyRequestsError
	var mig *tgbot.MigrateError
	switch {
	case errors.As(err, &tm):
		e.retryAfter = time.Duration(max(tm.RetryAfter, 1)) * time.Second
	case errors.Is(err, tgbot.ErrorForbidden):
		e.unreachable, e.temporary = true, false
	case errors.Is(err, tgbot.ErrorBadRequest) && strings.Contains(err.Error(), "chat not found"):
		e.unreachable, e.temporary = true, false
	case errors.Is(err, tgbot.ErrorBadRequest), errors.As(err, &mig):
		e.temporary = false
	}
	return e
}

// outgoing is one message to send.
type outgoing struct {
	text     string
	choices  []bot.Choice
	photo    string // a file_id or an http(s) URL
	threadTo int    // reply to this message id, if it still exists
}

// KindChatReply is the outbox kind of an immediate reply that could not be
// sent at once and goes later through the outbox.
const KindChatReply = "chat_reply"

// outgoingOf renders one reply of a turn.
func outgoingOf(r bot.Reply, threadTo int) outgoing {
	o := outgoing{text: r.Text, choices: r.Choices, threadTo: threadTo}
	if r.Image != nil {
		o.photo = r.Image.URL
		if o.photo == "" {
			o.photo = r.Image.Ref
		}
	}
	return o
}

// deliver sends a turn's replies to its chat. A reply that cannot go stops
// the rest, so they never arrive out of order: when the failure may pass
// (a 5xx, the network, a 429 longer than MaxRetryWait) that reply and the
// rest are queued in the outbox instead, because an answer such as the new
// ticket's number must reach the resident; a blocked chat drops them.
func (c *Channel) deliver(ctx context.Context, in inbound, replies []bot.Reply) {
	for i, r := range replies {
		threadTo := 0
		if i == 0 {
			threadTo = in.replyTo
		}
		o := outgoingOf(r, threadTo)
		var p progress
		if _, err := c.sendParts(ctx, in.chat, o, true, &p, nil); err != nil {
			e := c.classify("send", err)
			if e.Unreachable() && !in.msg.Group {
				c.markUnreachable(ctx, in.msg.UserID)
			}
			if e.Temporary() && c.opt.Outbox != nil {
				// Part of this reply may be out: its row must start after
				// it, and the dispatcher may take the row the moment it is
				// stored, so the record goes first.
				key := c.progressKey(in.chat, o)
				if p.done > 0 {
					c.saveProgress(ctx, key, p)
				}
				if c.queue(in, replies, i, e) {
					c.log.Warn("telegram: reply not sent, queued for the outbox", "update_kind", kindOf(in.msg), "replies", len(replies)-i, "err", e)
					return
				}
				if p.done > 0 {
					c.clearProgress(ctx, key)
				}
			}
			c.log.Warn("telegram: reply not sent", "update_kind", kindOf(in.msg), "err", e)
			return
		}
	}
}

// queue stores replies[from:] as outbox rows to the turn's chat, due when
// Telegram said to come back (or at once), keyed by the update so a
// redelivered update cannot double them. It reports whether they are stored.
func (c *Channel) queue(in inbound, replies []bot.Reply, from int, cause *Error) bool {
	// The update's context may be ending (shutdown): the rows must still be stored.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resident int64
	if !in.msg.Group && c.opt.Identities != nil {
		if id, err := c.opt.Identities.FindIdentity(ctx, bot.ChannelTelegram, in.msg.UserID); err == nil {
			resident = id.ResidentID
		}
	}
	due := c.opt.Now().Add(cause.RetryAfter())
	chat := strconv.FormatInt(in.chat, 10)
	rows := make([]store.OutboxRow, 0, len(replies)-from)
	for i := from; i < len(replies); i++ {
		threadTo := 0
		if i == 0 {
			threadTo = in.replyTo
		}
		row := store.OutboxRow{Kind: KindChatReply, ResidentID: resident, TargetChannel: bot.ChannelTelegram, TargetAddress: chat,
			Body: bodyOf(outgoingOf(replies[i], threadTo)), Urgent: true, DueAt: due}
		if in.msg.DedupeKey != "" {
			row.DedupeKey = "telegram:" + chat + ":" + in.msg.DedupeKey + ":" + strconv.Itoa(i)
		}
		rows = append(rows, row)
	}
	if err := c.opt.Outbox.Enqueue(ctx, rows...); err != nil {
		c.log.Error("telegram: replies not queued", "count", len(rows), "err", err)
		return false
	}
	return true
}

// bodyOf is the outbox body that Send renders back into o.
func bodyOf(o outgoing) store.OutboxBody {
	b := store.OutboxBody{Text: o.text, ImageURL: o.photo}
	for _, ch := range o.choices {
		b.Choices = append(b.Choices, store.OutboxChoice{Payload: ch.Payload, Label: ch.Label})
	}
	if o.threadTo != 0 {
		b.ThreadRef = strconv.Itoa(o.threadTo)
	}
	return b
}

func kindOf(m bot.Message) string {
	switch {
	case m.Event != "":
		return "event"
	case m.Payload != "":
		return "button"
	}
	return "message"
}

func (c *Channel) markUnreachable(ctx context.Context, userID string) {
	if c.opt.Marker == nil {
		return
	}
	if err := c.opt.Marker.SetIdentityUnreachable(ctx, bot.ChannelTelegram, userID, true); err != nil {
		c.log.Error("telegram: mark unreachable", "err", err)
	}
}

// Send implements notify.Sender for outbox rows: text with the row's
// choices as an inline keyboard, a photo by URL or file_id, threaded under
// ThreadRef. It returns the message id (of the last message, the one with
// the keyboard, when the text had to be split) as the provider id.
func (c *Channel) Send(ctx context.Context, to notify.Recipient, body store.OutboxBody) (string, error) {
	chat, err := strconv.ParseInt(to.Address, 10, 64)
	if err != nil || chat == 0 {
		return "", &Error{Method: "send", Err: fmt.Errorf("not a chat id: %q", to.Address)}
	}
	o := outgoingOfBody(body)
	id, err := c.sendResumable(ctx, chat, o)
	var mig *tgbot.MigrateError
	if errors.As(err, &mig) && mig.MigrateToChatID != 0 {
		// The staff group became a supergroup: send there, and tell the
		// operator to update the config (replies to alerts map by chat).
		c.log.Warn("telegram: chat migrated; update telegram.staff_chat_id", "from", chat, "to", mig.MigrateToChatID)
		id, err = c.sendResumable(ctx, int64(mig.MigrateToChatID), o)
	}
	if err != nil {
		e := c.classify("send", err)
		if e.Unreachable() && chat > 0 {
			c.markUnreachable(ctx, to.Address) // a private chat's id is the user's id
		}
		return "", e
	}
	return strconv.Itoa(id), nil
}

// render is what o becomes on Telegram: the keyboard, the text (with the
// choices the keyboard cannot carry), and whether a photo carries the text
// as its caption.
func render(o outgoing) (kb models.ReplyMarkup, text string, captioned bool) {
	kb, extra := keyboard(o.choices)
	text = o.text
	if extra != "" {
		text = strings.TrimSpace(text + "\n" + extra)
	}
	return kb, text, o.photo != "" && utf16Len(text) <= maxCaption
}

// textParts are the messages a text takes; an empty one still says
// something, so that the keyboard has a message to sit under.
func textParts(text string) []string {
	if strings.TrimSpace(text) == "" {
		text = "…"
	}
	return split(text, maxText)
}

// steps is how many Bot API calls o takes.
func steps(o outgoing) int {
	_, text, captioned := render(o)
	if o.photo != "" && (captioned || text == "") {
		return 1
	}
	n := 0
	if o.photo != "" {
		n = 1
	}
	if utf16Len(text) <= maxText {
		return n + 1
	}
	return n + len(split(text, maxText))
}

// sendResumable sends an outbox row's message, starting after the parts an
// earlier try of the same message to the same chat already sent.
func (c *Channel) sendResumable(ctx context.Context, chat int64, o outgoing) (int, error) {
	if steps(o) == 1 {
		return c.send(ctx, chat, o, false)
	}
	key := c.progressKey(chat, o)
	p := c.loadProgress(ctx, key)
	recorded := p.done > 0
	id, err := c.sendParts(ctx, chat, o, false, &p, func(p progress) {
		c.saveProgress(ctx, key, p)
		recorded = true
	})
	if err == nil && recorded {
		c.clearProgress(ctx, key)
	}
	return id, err
}

// outgoingOfBody is the message of an outbox row; bodyOf is its inverse.
func outgoingOfBody(body store.OutboxBody) outgoing {
	o := outgoing{text: body.Text, photo: body.ImageURL}
	for _, ch := range body.Choices {
		o.choices = append(o.choices, bot.Choice{Payload: ch.Payload, Label: ch.Label})
	}
	if body.ThreadRef != "" {
		o.threadTo, _ = strconv.Atoi(body.ThreadRef)
	}
	return o
}

// send sends one outgoing message from scratch and returns the id of its
// last part. wait makes it honour a 429 by waiting retry_after (immediate
// replies); otherwise the 429 is returned for the outbox to reschedule.
func (c *Channel) send(ctx context.Context, chat int64, o outgoing, wait bool) (int, error) {
	return c.sendParts(ctx, chat, o, wait, &progress{}, nil)
}

// sendParts sends o from step p.done on, advancing p after every message.
// save, when set, is called after every step but the last, so the steps
// already done are known even if a later one fails or the process stops.
func (c *Channel) sendParts(ctx context.Context, chat int64, o outgoing, wait bool, p *progress, save func(progress)) (int, error) {
	kb, text, captioned := render(o)
	first := 0 // the step of the first text part
	if o.photo != "" {
		first = 1
	}
	var parts []string // the text's messages, unless the photo carries it
	if o.photo == "" || !(captioned || text == "") {
		parts = textParts(text)
	}
	if p.done >= first+len(parts) {
		*p = progress{} // a record of a finished send cannot be ours
	}
	var reply *models.ReplyParameters
	if o.threadTo != 0 {
		reply = &models.ReplyParameters{MessageID: o.threadTo, AllowSendingWithoutReply: true}
	}
	if o.photo != "" {
		if p.done == 0 {
			caption := ""
			if captioned {
				caption = text
			}
			ph := &tgbot.SendPhotoParams{ChatID: chat, Photo: &models.InputFileString{Data: o.photo}, Caption: caption, ReplyParameters: reply}
			if captioned || text == "" {
				ph.ReplyMarkup = kb
			}
			m, err := c.retry(ctx, wait, func() (*models.Message, error) { return c.sendPhoto(ctx, ph) })
			switch {
			case err == nil && (captioned || text == ""):
				return m.ID, nil
			case err == nil:
				*p = progress{done: 1, last: m.ID}
			case errors.Is(err, tgbot.ErrorBadRequest) && !strings.Contains(err.Error(), "chat not found"):
				// A file_id of another bot or a URL Telegram cannot fetch: the
				// text still matters more than the picture.
				c.log.Warn("telegram: photo refused, sending the text alone", "err", c.redact(err.Error()))
				*p = progress{done: 1}
				if parts == nil {
					parts = textParts(text) // the caption that did not go
				}
			default:
				return 0, err
			}
			if save != nil {
				save(*p)
			}
		}
		if p.last != 0 && p.done == 1 {
			reply = &models.ReplyParameters{MessageID: p.last, AllowSendingWithoutReply: true}
		}
	}
	for i, part := range parts {
		if first+i < p.done {
			continue // sent by an earlier try
		}
		params := &tgbot.SendMessageParams{ChatID: chat, Text: part}
		if i == 0 {
			params.ReplyParameters = reply
		}
		if i == len(parts)-1 {
			params.ReplyMarkup = kb
		}
		m, err := c.retry(ctx, wait, func() (*models.Message, error) { return c.sendMessage(ctx, params) })
		if err != nil {
			return 0, err
		}
		*p = progress{done: first + i + 1, last: m.ID}
		if save != nil && i < len(parts)-1 {
			save(*p)
		}
	}
	return p.last, nil
}

// retry calls fn, and when wait is set and Telegram answers 429, waits
// retry_after and tries again (three times at most, never longer than
// MaxRetryWait in one wait).
func (c *Channel) retry(ctx context.Context, wait bool, fn func() (*models.Message, error)) (*models.Message, error) {
	for attempt := 0; ; attempt++ {
		m, err := fn()
		var tm *tgbot.TooManyRequestsError
		if err == nil || !wait || attempt == 3 || !errors.As(err, &tm) {
			return m, err
		}
		d := time.Duration(max(tm.RetryAfter, 1)) * time.Second
		if d > c.opt.MaxRetryWait {
			return m, err
		}
		if err := c.sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

// keyboard renders choices as an inline keyboard: one row for up to three
// short choices (yes/no, the alert's buttons), else one per row. A choice
// whose payload Telegram cannot carry is listed as a numbered line of text
// instead, which the flows accept as well.
func keyboard(cs []bot.Choice) (models.ReplyMarkup, string) {
	if len(cs) == 0 {
		return nil, ""
	}
	short := len(cs) <= 3
	for _, ch := range cs {
		if utf8.RuneCountInString(ch.Label) > 12 {
			short = false
		}
	}
	var rows [][]models.InlineKeyboardButton
	var extra []string
	for i, ch := range cs {
		label := ch.Label
		if label == "" {
			label = ch.Payload
		}
		if len(ch.Payload) < 1 || len(ch.Payload) > maxData || label == "" {
			extra = append(extra, strconv.Itoa(i+1)+". "+label)
			continue
		}
		b := models.InlineKeyboardButton{Text: label, CallbackData: ch.Payload}
		if short && len(rows) == 1 {
			rows[0] = append(rows[0], b)
		} else {
			rows = append(rows, []models.InlineKeyboardButton{b})
		}
	}
	if len(rows) == 0 {
		return nil, strings.Join(extra, "\n")
	}
	return &models.InlineKeyboardMarkup{InlineKeyboard: rows}, strings.Join(extra, "\n")
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// split cuts text into parts of at most limit UTF-16 units, at a line
// break when there is one in the second half of a part.
func split(text string, limit int) []string {
	var parts []string
	for utf16Len(text) > limit {
		rs := []rune(text)
		n, units := 0, 0
		for n < len(rs) {
			u := 1
			if rs[n] >= 0x10000 {
				u = 2
			}
			if units+u > limit {
				break
			}
			units += u
			n++
		}
		cut := n
		if i := strings.LastIndex(string(rs[:n]), "\n"); i >= 0 && utf8.RuneCountInString(string(rs[:n])[:i]) > n/2 {
			cut = utf8.RuneCountInString(string(rs[:n])[:i]) + 1
		}
		parts = append(parts, string(rs[:cut]))
		text = string(rs[cut:])
	}
	return append(parts, text)
}

package telegram

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"linli/bot"
)

// inbound is an update turned into a message, with where its replies go.
type inbound struct {
	msg  bot.Message
	chat int64
	// replyTo is the message the first reply answers, in groups, so the
	// staff see which command or alert it belongs to.
	replyTo int
}

// chatKey is the chat an update belongs to, for ordering.
func chatKey(u *models.Update) int64 {
	switch {
	case u.Message != nil:
		return u.Message.Chat.ID
	case u.CallbackQuery != nil:
		if m := u.CallbackQuery.Message.Message; m != nil {
			return m.Chat.ID
		}
		if m := u.CallbackQuery.Message.InaccessibleMessage; m != nil {
			return m.Chat.ID
		}
		return u.CallbackQuery.From.ID
	case u.MyChatMember != nil:
		return u.MyChatMember.Chat.ID
	}
	return 0
}

// take queues an update behind its chat's earlier ones and calls stored
// exactly once: when the router is done with it (the turn and the update's
// dedupe key committed), or when it is ignored or its handler panicked.
// The webhook answers, and a poll confirms, on stored; the replies follow.
func (c *Channel) take(ctx context.Context, u *models.Update, stored func()) {
	var once sync.Once
	done := func() { once.Do(stored) }
	c.runner.submit(chatKey(u), func() {
		defer done()
		c.handle(ctx, u, done)
	})
}

// handle runs one update: it becomes a message for the router and the
// replies are sent back to its chat. stored is called once the router is
// done with it, before the replies go out.
func (c *Channel) handle(ctx context.Context, u *models.Update, stored func()) {
	in, ok := c.inbound(ctx, u)
	if !ok {
		return
	}
	replies, err := c.h.Handle(ctx, in.msg)
	stored()
	if errors.Is(err, bot.ErrDuplicate) {
		return // Telegram sent it again after a restart or a timeout
	}
	if err != nil {
		c.log.Error("telegram: message not handled", "update", u.ID, "err", err)
		return
	}
	c.deliver(ctx, in, replies)
}

// inbound converts an update. ok is false for updates linli ignores (edits,
// channel posts, other bots, a second press of a used keyboard).
func (c *Channel) inbound(ctx context.Context, u *models.Update) (inbound, bool) {
	switch {
	case u.Message != nil:
		return c.fromMessage(u)
	case u.CallbackQuery != nil:
		return c.fromCallback(ctx, u)
	case u.MyChatMember != nil:
		return c.fromMembership(u)
	}
	return inbound{}, false
}

func isGroup(ch models.Chat) bool {
	return ch.Type == models.ChatTypeGroup || ch.Type == models.ChatTypeSupergroup
}

func displayName(u *models.User) string {
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// base fills what every message from user in chat has.
func base(u *models.Update, from *models.User, chat models.Chat, date int) inbound {
	m := bot.Message{
		Channel:     bot.ChannelTelegram,
		UserID:      strconv.FormatInt(from.ID, 10),
		DisplayName: displayName(from),
		LangHint:    from.LanguageCode,
		DedupeKey:   "u" + strconv.FormatInt(u.ID, 10),
		Group:       isGroup(chat),
	}
	if date > 0 {
		m.At = time.Unix(int64(date), 0)
	}
	if m.Group {
		m.ChatID = strconv.FormatInt(chat.ID, 10)
	}
	return inbound{msg: m, chat: chat.ID}
}

func (c *Channel) fromMessage(u *models.Update) (inbound, bool) {
	tm := u.Message
	if tm.From == nil || tm.From.IsBot || (tm.Chat.Type != models.ChatTypePrivate && !isGroup(tm.Chat)) {
		return inbound{}, false
	}
	in := base(u, tm.From, tm.Chat, tm.Date)
	m := &in.msg
	m.Text = tm.Text
	if m.Text == "" {
		m.Text = tm.Caption
	}
	if len(tm.Photo) > 0 {
		m.Image = &bot.Image{Ref: largest(tm.Photo).FileID}
	}
	switch {
	case tm.Venue != nil:
		m.Location = &bot.Location{Latitude: tm.Venue.Location.Latitude, Longitude: tm.Venue.Location.Longitude,
			Label: strings.TrimSpace(tm.Venue.Title + " " + tm.Venue.Address)}
	case tm.Location != nil:
		m.Location = &bot.Location{Latitude: tm.Location.Latitude, Longitude: tm.Location.Longitude}
	}
	if tm.Voice != nil || tm.Audio != nil {
		m.Voice = true
	}
	if tm.Contact != nil && m.Text == "" {
		m.Text = tm.Contact.PhoneNumber // a shared contact answers "your phone number?"
	}
	if tm.ReplyToMessage != nil {
		m.ReplyTo = strconv.Itoa(tm.ReplyToMessage.ID)
	}
	if m.Group {
		in.replyTo = tm.ID
	} else if name, payload, ok := command(m.Text); ok && name == "start" {
		// /start opens a private chat; with a payload it is a deep link
		// (t.me/bot?start=report) that names what to start.
		m.Text = ""
		if payload != "" {
			m.Event, m.EventKey = bot.EventStart, payload
		} else {
			m.Event = bot.EventSubscribe
		}
	}
	return in, true
}

// command splits "/start@linli_bot report" into "start" and "report".
func command(text string) (name, args string, ok bool) {
	if !strings.HasPrefix(text, "/") {
		return "", "", false
	}
	name, args, _ = strings.Cut(strings.TrimPrefix(text, "/"), " ")
	name, _, _ = strings.Cut(name, "@")
	return strings.ToLower(name), strings.TrimSpace(args), name != ""
}

// largest picks the biggest size of a photo (Telegram lists them smallest
// first, but says nothing of the order).
func largest(ps []models.PhotoSize) models.PhotoSize {
	best := ps[0]
	for _, p := range ps[1:] {
		if p.Width*p.Height > best.Width*best.Height {
			best = p
		}
	}
	return best
}

// fromCallback turns a pressed inline button into a message. The query is
// always answered, so the button stops spinning. In private chats the
// keyboard is removed after its first use, so an old button cannot act
// twice; in groups the alert buttons stay, since the desk's actions tell a
// second press that it is too late.
func (c *Channel) fromCallback(ctx context.Context, u *models.Update) (inbound, bool) {
	cq := u.CallbackQuery
	if err := c.answerCallback(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: cq.ID}); err != nil {
		c.log.Warn("telegram: answer callback", "err", c.redact(err.Error()))
	}
	var chat models.Chat
	msgID, date := 0, 0
	switch {
	case cq.Message.Message != nil:
		chat, msgID, date = cq.Message.Message.Chat, cq.Message.Message.ID, cq.Message.Message.Date
	case cq.Message.InaccessibleMessage != nil:
		chat, msgID = cq.Message.InaccessibleMessage.Chat, cq.Message.InaccessibleMessage.MessageID
	default:
		return inbound{}, false // a button of an inline-mode message: linli sends none
	}
	if cq.Data == "" || cq.From.IsBot {
		return inbound{}, false
	}
	in := base(u, &cq.From, chat, date)
	in.msg.At = time.Time{} // the router stamps the press's own time
	in.msg.Payload = cq.Data
	if in.msg.Group {
		in.replyTo = msgID
		return in, true
	}
	if !c.buttons.use(chat.ID, msgID) {
		return inbound{}, false
	}
	if cq.Message.Message != nil && cq.Message.Message.ReplyMarkup != nil {
		err := c.editReplyMarkup(ctx, &tgbot.EditMessageReplyMarkupParams{ChatID: chat.ID, MessageID: msgID})
		if err != nil {
			c.log.Debug("telegram: remove keyboard", "err", c.redact(err.Error()))
		}
	}
	return in, true
}

// fromMembership notices a resident blocking the bot: no more pushes to
// them until they write again.
func (c *Channel) fromMembership(u *models.Update) (inbound, bool) {
	cm := u.MyChatMember
	if cm.Chat.Type != models.ChatTypePrivate || cm.NewChatMember.Type != models.ChatMemberTypeBanned {
		return inbound{}, false
	}
	in := base(u, &cm.From, cm.Chat, cm.Date)
	in.msg.Event = bot.EventUnsubscribe
	return in, true
}

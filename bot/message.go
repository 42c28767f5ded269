// Package bot holds the channel-neutral message and reply types and the
// router that turns a channel's message into the engine's replies: it
// de-duplicates, finds the resident, keeps each resident's messages in order,
// runs the engine and logs both directions. It knows no flow's details.
package bot

import (
	"strconv"
	"time"
)

// Channels linli serves.
const (
	ChannelWeChat   = "wechat"
	ChannelTelegram = "telegram"
	ChannelWeb      = "web"
	ChannelConsole  = "console"
	ChannelSMS      = "sms"
)

// Languages of the message catalogs.
const (
	LangZH = "zh-CN"
	LangEN = "en"
)

// Events a channel can report besides messages.
const (
	EventSubscribe   = "subscribe"   // followed the account / started the bot; EventKey may name a flow to start
	EventUnsubscribe = "unsubscribe" // unfollowed / blocked: no more pushes
	EventMenu        = "menu"        // a menu button; EventKey names the flow
	EventStart       = "start"       // a deep link or QR code; EventKey is its payload
)

// Image is a picture a resident sent or a reply shows.
type Image struct {
	Ref string // the channel's own reference: WeChat MediaId, Telegram file_id, web upload path
	URL string // where staff can see it, when the channel gives one
}

// Location is a place a resident shared.
type Location struct {
	Latitude  float64
	Longitude float64
	Label     string
}

// Message is one inbound message or event from any channel.
type Message struct {
	Channel     string
	UserID      string // the sender on that channel: openid, Telegram user id, session id, console name, phone
	ChatID      string // where replies go, when it differs from UserID (a Telegram group)
	DisplayName string
	LangHint    string // the channel's idea of the sender's language, if any
	DedupeKey   string // the platform's message id; empty: the channel never redelivers
	Text        string // typed text, a link rendered as text, or a voice transcript
	Payload     string // the payload of a pressed button
	Voice       bool   // the message was a voice message (Text holds its transcript, if any)
	Image       *Image
	Location    *Location
	Event       string
	EventKey    string
	// Params is data that an event's source carries for the flow it starts,
	// set by configuration (a QR code on a notice board gives "building").
	Params  map[string]string
	ReplyTo string // the channel's id of the message this one answers (Telegram reply)
	Group   bool   // sent in a group chat (the staff group)
	At      time.Time
}

// Choice is one option offered to the resident: a button where the channel
// has them, a numbered line where it does not.
type Choice struct {
	Payload string // what comes back when it is pressed
	Label   string
}

// Reply is one message to the sender.
type Reply struct {
	Text    string
	Choices []Choice
	Image   *Image
}

// Describe renders a message as one line for the message log.
func (m Message) Describe() string {
	s := m.Text
	if m.Payload != "" && s == "" {
		s = "[button] " + m.Payload
	}
	if m.Image != nil {
		s = joinNonEmpty(s, "[image]")
	}
	if m.Location != nil {
		s = joinNonEmpty(s, "[location] "+m.Location.Label)
	}
	if m.Voice && m.Text == "" {
		s = joinNonEmpty(s, "[voice]")
	}
	if m.Event != "" {
		s = joinNonEmpty(s, "[event] "+m.Event+" "+m.EventKey)
	}
	return s
}

// PlainText renders a reply as text, choices numbered, for channels without
// buttons and for the message log.
func (r Reply) PlainText() string {
	s := r.Text
	for i, c := range r.Choices {
		if s != "" {
			s += "\n"
		}
		s += strconv.Itoa(i+1) + ". " + c.Label
	}
	return s
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

package telegram

import (
	"context"
	"strconv"

	"linli/bot"
)

// A message can take several Bot API calls: a photo whose text is too long
// for a caption is followed by that text, and a text over 4096 units is
// split. The sender records how far it got (bot.Parts), keyed by what is
// sent and where (chat, thread, photo, text, choices).

// ProgressStore keeps those records; *store.Store satisfies it (its kv
// table).
type ProgressStore = bot.KV

// progress is how far a multi-part send got: the steps done (the photo is
// step one when there is one, then each text part) and the id of the last
// message sent (0 when the photo was refused and skipped).
type progress struct{ done, last int }

// progressKey names the record of sending o to chat.
func (c *Channel) progressKey(chat int64, o outgoing) string {
	fields := []string{strconv.FormatInt(chat, 10), strconv.Itoa(o.threadTo), o.photo, o.text}
	for _, ch := range o.choices {
		fields = append(fields, ch.Payload, ch.Label)
	}
	return c.parts.Key(fields...)
}

// loadProgress reads the record at key; none is a fresh start.
func (c *Channel) loadProgress(ctx context.Context, key string) progress {
	var p progress
	if v := c.parts.Load(ctx, key); len(v) == 2 {
		p.done, p.last = v[0], v[1]
	}
	return p
}

// saveProgress records p at key.
func (c *Channel) saveProgress(ctx context.Context, key string, p progress) {
	c.parts.Save(ctx, key, p.done, p.last)
}

// clearProgress removes the record of a send that has finished.
func (c *Channel) clearProgress(ctx context.Context, key string) { c.parts.Clear(ctx, key) }

package telegram

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"linli/store"
)

// A message can take several Bot API calls: a photo whose text is too long
// for a caption is followed by that text, and a text over 4096 units is
// split. When a later call fails and the outbox row is tried again, the
// parts already sent must not go out a second time. So the sender records,
// after every part but the last, how far it got; the retry starts there.
//
// notify.Sender is not told the row's id, so the record is keyed by what is
// sent and where (chat, thread, photo, text, choices). Two identical rows to
// one chat are interchangeable: the dispatcher sends one target's rows one
// after another, so whichever resumes the record, the chat still gets one
// full copy per row.

// ProgressStore keeps those records; *store.Store satisfies it (its kv
// table).
type ProgressStore interface {
	GetValue(ctx context.Context, key string) (string, time.Time, error)
	SetValue(ctx context.Context, key, value string, expires time.Time) error
	DeleteValue(ctx context.Context, key string) error
}

// progressLife bounds how long a record waits for its row's retry; the
// dispatcher gives a row up long before.
const progressLife = 24 * time.Hour

// progress is how far a multi-part send got: the steps done (the photo is
// step one when there is one, then each text part) and the id of the last
// message sent (0 when the photo was refused and skipped).
type progress struct{ done, last int }

// progressKey names the record of sending o to chat.
func progressKey(chat int64, o outgoing) string {
	h := sha256.New()
	for _, s := range []string{strconv.FormatInt(chat, 10), strconv.Itoa(o.threadTo), o.photo, o.text} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, ch := range o.choices {
		h.Write([]byte(ch.Payload + "\x00" + ch.Label + "\x00"))
	}
	return "telegram:parts:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// loadProgress reads the record at key; none (or no store) is a fresh start.
func (c *Channel) loadProgress(ctx context.Context, key string) progress {
	if c.opt.Progress == nil {
		return progress{}
	}
	v, _, err := c.opt.Progress.GetValue(ctx, key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("telegram: read send progress", "err", err)
		}
		return progress{}
	}
	done, last, _ := strings.Cut(v, " ")
	var p progress
	p.done, _ = strconv.Atoi(done)
	p.last, _ = strconv.Atoi(last)
	return p
}

// saveProgress records p at key. A failure is logged: the retry then sends
// the early parts again, as it did before records existed.
func (c *Channel) saveProgress(ctx context.Context, key string, p progress) {
	if c.opt.Progress == nil {
		return
	}
	// The send's own context may be ending; the record is what keeps the
	// parts already out from going again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	v := strconv.Itoa(p.done) + " " + strconv.Itoa(p.last)
	if err := c.opt.Progress.SetValue(ctx, key, v, c.opt.Now().Add(progressLife)); err != nil {
		c.log.Warn("telegram: record send progress", "err", err)
	}
}

// clearProgress removes the record of a send that has finished.
func (c *Channel) clearProgress(ctx context.Context, key string) {
	if c.opt.Progress == nil {
		return
	}
	if err := c.opt.Progress.DeleteValue(context.WithoutCancel(ctx), key); err != nil {
		c.log.Warn("telegram: clear send progress", "err", err)
	}
}

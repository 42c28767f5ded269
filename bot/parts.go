package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"linli/store"
)

// A message a channel sends later (an outbox row) can take several API
// calls: a text over the platform's limit is split, a photo is followed by
// its text. When a later call fails and the row is tried again, the parts
// already out must not go a second time. So the channel records, after
// every part but the last, how far it got, and the retry starts there.
//
// notify.Sender is not told the row's id, so a record is keyed by what is
// sent and where. Two identical rows to one chat are interchangeable: the
// dispatcher sends one target's rows one after another, so whichever
// resumes the record, the chat still gets one full copy per row.

// KV keeps such records; *store.Store satisfies it (its kv table).
type KV interface {
	GetValue(ctx context.Context, key string) (string, time.Time, error)
	SetValue(ctx context.Context, key, value string, expires time.Time) error
	DeleteValue(ctx context.Context, key string) error
}

// partsLife bounds how long a record waits for its row's retry; the
// dispatcher gives a row up long before.
const partsLife = 24 * time.Hour

// Parts reads and writes a channel's send-progress records. A failure to
// record is logged, never returned: the retry then sends the early parts
// again, as it would without records.
type Parts struct {
	KV     KV // nil: nothing is recorded
	Log    *slog.Logger
	Now    func() time.Time
	Prefix string // e.g. "telegram:parts:"
}

// Key names the record of one send by the fields that identify it (where it
// goes and what it carries).
func (p Parts) Key(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return p.Prefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// Load returns the numbers recorded at key; none (or no store) is a fresh
// start: nil.
func (p Parts) Load(ctx context.Context, key string) []int {
	if p.KV == nil {
		return nil
	}
	v, _, err := p.KV.GetValue(ctx, key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.Log.Warn("read send progress", "err", err)
		}
		return nil
	}
	var out []int
	for _, f := range strings.Fields(v) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// Save records nums at key. The send's own context may be ending; the
// record is what keeps the parts already out from going again, so it is
// written regardless, within 10 s.
func (p Parts) Save(ctx context.Context, key string, nums ...int) {
	if p.KV == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	fs := make([]string, len(nums))
	for i, n := range nums {
		fs[i] = strconv.Itoa(n)
	}
	if err := p.KV.SetValue(ctx, key, strings.Join(fs, " "), p.Now().Add(partsLife)); err != nil {
		p.Log.Warn("record send progress", "err", err)
	}
}

// Clear removes the record of a send that has finished.
func (p Parts) Clear(ctx context.Context, key string) {
	if p.KV == nil {
		return
	}
	if err := p.KV.DeleteValue(context.WithoutCancel(ctx), key); err != nil {
		p.Log.Warn("forget send progress", "err", err)
	}
}

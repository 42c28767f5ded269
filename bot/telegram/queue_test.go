package telegram_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"linli/bot"
	"linli/bot/telegram"
	"linli/notify"
	"linli/store"
)

// outboxEnv is a real store with an outbox and a dispatcher that sends
// Telegram rows through the channel under test.
type outboxEnv struct {
	st  *store.Store
	ob  *notify.Outbox
	now time.Time
}

func newOutboxEnv(t *testing.T) *outboxEnv {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &outboxEnv{st: st, ob: notify.NewOutbox(st), now: time.Date(2026, 4, 26, 9, 0, 0, 0, time.UTC)}
	st.SetClock(e.clock)
	return e
}

func (e *outboxEnv) clock() time.Time { return e.now }

func (e *outboxEnv) options(o *telegram.Options) {
	o.Outbox, o.Identities, o.Now = e.ob, e.st, e.clock
}

// dispatch runs the dispatcher once with the channel registered.
func (e *outboxEnv) dispatch(t *testing.T, ch *telegram.Channel) {
	t.Helper()
	d := notify.NewDispatcher(e.st, notify.LogSMS{Log: quietLog()}, quietLog(), e.clock)
	d.Register(bot.ChannelTelegram, ch)
	if _, err := d.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *outboxEnv) rows(t *testing.T) []store.OutboxRow {
	t.Helper()
	rows, err := e.st.RecentOutbox(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

// A 502 on the first reply of a turn: the reply and the one after it are
// queued for the resident's chat, and the dispatcher delivers both, in order.
func TestFailedReplyIsQueued(t *testing.T) {
	e := newOutboxEnv(t)
	s := newSetup(t, "webhook", func(bot.Message) []bot.Reply {
		return []bot.Reply{{Text: "提交成功！工单号 T1001"}, {Text: "还有什么可以帮您？", Choices: []bot.Choice{{Payload: "menu", Label: "菜单"}}}}
	}, e.options)
	res, _, _, err := e.st.ResolveIdentity(context.Background(), store.IdentityKey{Channel: bot.ChannelTelegram, ExternalID: "1001"}, e.now)
	if err != nil {
		t.Fatal(err)
	}
	s.f.FailNext("sendMessage", 1, 502, "", 0)
	u := s.f.TextUpdate(resident, resident, "好")
	if code := s.post(t, u, secret); code != 200 {
		t.Fatalf("status %d", code)
	}
	if got := s.f.Sent(resident); len(got) != 0 {
		t.Fatalf("sent %+v", got)
	}
	rows := e.rows(t)
	if len(rows) != 2 {
		t.Fatalf("%d rows queued", len(rows))
	}
	for i, r := range rows {
		if r.Kind != telegram.KindChatReply || r.TargetChannel != bot.ChannelTelegram || r.TargetAddress != "1001" ||
			r.ResidentID != res.ID || !r.Urgent || r.Status != store.OutboxPending || r.DedupeKey == "" {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	if rows[0].Body.Text != "提交成功！工单号 T1001" || len(rows[1].Body.Choices) != 1 || rows[1].Body.Choices[0].Payload != "menu" {
		t.Fatalf("bodies %+v / %+v", rows[0].Body, rows[1].Body)
	}
	e.dispatch(t, s.ch)
	sent := s.f.Sent(resident)
	if len(sent) != 2 || sent[0].Text != "提交成功！工单号 T1001" || sent[1].Text != "还有什么可以帮您？" || len(sent[1].InlineKeyboard) != 1 {
		t.Fatalf("sent %+v", sent)
	}
}

// The first reply went out; the second hits a 429 longer than an
// immediate reply may wait: only the second is queued, due when Telegram
// said to come back.
func TestQueuedReplyWaitsForRetryAfter(t *testing.T) {
	e := newOutboxEnv(t)
	var fileID string
	s := newSetup(t, "webhook", func(m bot.Message) []bot.Reply {
		return []bot.Reply{{Text: "一", Image: &bot.Image{Ref: fileID}}, {Text: "二"}}
	}, e.options)
	fileID = s.f.PhotoUpdate(resident, resident, "").Message.Photo[2].FileID
	telegram.SetSleep(s.ch, func(context.Context, time.Duration) error { t.Error("waited inside a reply"); return nil })
	s.f.FailNext("sendMessage", 1, 429, "", 120)
	s.post(t, s.f.TextUpdate(resident, resident, "好"), secret)
	if sent := s.f.Sent(resident); len(sent) != 1 || sent[0].Method != "sendPhoto" {
		t.Fatalf("sent %+v", sent)
	}
	rows := e.rows(t)
	if len(rows) != 1 || rows[0].Body.Text != "二" || !rows[0].DueAt.Equal(e.now.Add(120*time.Second)) || rows[0].ResidentID != 0 {
		t.Fatalf("rows %+v", rows)
	}
	e.dispatch(t, s.ch) // not due yet
	if len(s.f.Sent(resident)) != 1 {
		t.Fatal("sent before retry_after")
	}
	e.now = e.now.Add(2 * time.Minute)
	e.dispatch(t, s.ch)
	if sent := s.f.Sent(resident); len(sent) != 2 || sent[1].Text != "二" {
		t.Fatalf("sent %+v", sent)
	}
}

// In the staff group the queued reply keeps its thread (the command it
// answers) and names no resident; a blocked private chat queues nothing.
func TestQueuedGroupReplyKeepsThread(t *testing.T) {
	e := newOutboxEnv(t)
	s := newSetup(t, "webhook", func(bot.Message) []bot.Reply { return []bot.Reply{{Text: "已认领 T1001"}} }, e.options)
	s.f.FailNext("sendMessage", 1, 500, "", 0)
	u := s.f.TextUpdate(staffChat, 900, "/claim T1001")
	s.post(t, u, secret)
	rows := e.rows(t)
	if len(rows) != 1 || rows[0].TargetAddress != strconv.FormatInt(staffChat, 10) || rows[0].ResidentID != 0 ||
		rows[0].Body.ThreadRef != strconv.Itoa(u.Message.ID) {
		t.Fatalf("rows %+v", rows)
	}
	e.dispatch(t, s.ch)
	if g := s.f.Sent(staffChat); len(g) != 1 || g[0].ReplyTo != u.Message.ID || g[0].Text != "已认领 T1001" {
		t.Fatalf("group %+v", g)
	}

	s.f.BlockChat(resident)
	s.post(t, s.f.TextUpdate(resident, resident, "hi"), secret)
	if rows := e.rows(t); len(rows) != 1 {
		t.Fatalf("a blocked chat's reply was queued: %+v", rows[1:])
	}
}

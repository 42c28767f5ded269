package flows

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testConfig() Config {
	return Config{
		Community: Community{Name: "普惠苑社区", Timezone: "Asia/Shanghai", Language: "zh-CN", Phone: "010-12345678"},
		Staff:     []StaffMember{{Name: "王主任", Role: "admin", TelegramID: 900}},
		Categories: []Category{
			{Key: "sanitation", Name: "环境卫生", NameEN: "Sanitation", TargetHours: 24},
			{Key: "repairs", Name: "设施维修", NameEN: "Repairs", TargetHours: 48},
			{Key: "safety", Name: "治安安全", NameEN: "Safety", TargetHours: 2},
			{Key: "disputes", Name: "邻里纠纷", NameEN: "Neighbour disputes", TargetHours: 24},
			{Key: "noise", Name: "噪音扰民", NameEN: "Noise", TargetHours: 12},
			{Key: "other", Name: "其他", NameEN: "Other", TargetHours: 48},
		},
	}
}

// harness is a real engine and router on a real SQLite file.
type harness struct {
	t     testing.TB
	path  string
	st    *store.Store
	eng   *Engine
	bot   *bot.Bot
	clock *clock
	cfg   Config
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "linli.db"), cfg: testConfig(),
		clock: &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}}
	h.open()
	return h
}

// open (re)builds the store, engine and router on the harness's file, as a
// restarted process would.
func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(context.Background(), h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	st.SetClock(h.clock.Now)
	eng, err := New(st, h.cfg, Options{Now: h.clock.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	h.st, h.eng = st, eng
	h.bot = bot.New(st, eng, bot.Options{DefaultLang: "zh-CN", Unavailable: Unavailable, Now: h.clock.Now})
	h.t.Cleanup(func() { st.Close() })
}

func (h *harness) restart() {
	h.st.Close()
	h.open()
}

// say sends text as user on the console channel and returns the replies.
func (h *harness) say(user, text string) []bot.Reply {
	h.t.Helper()
	return h.send(bot.Message{Channel: bot.ChannelConsole, UserID: user, Text: text})
}

func (h *harness) send(m bot.Message) []bot.Reply {
	h.t.Helper()
	if m.Channel == "" {
		m.Channel = bot.ChannelConsole
	}
	rs, err := h.bot.Handle(context.Background(), m)
	if err != nil {
		h.t.Fatalf("handle %q: %v", m.Text, err)
	}
	return rs
}

func joined(rs []bot.Reply) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.PlainText())
		b.WriteString("\n")
	}
	return b.String()
}

// expect fails unless the replies contain every fragment.
func expect(t testing.TB, rs []bot.Reply, fragments ...string) {
	t.Helper()
	all := joined(rs)
	for _, f := range fragments {
		if !strings.Contains(all, f) {
			t.Fatalf("reply lacks %q; got:\n%s", f, all)
		}
	}
}

func expectNot(t testing.TB, rs []bot.Reply, fragments ...string) {
	t.Helper()
	all := joined(rs)
	for _, f := range fragments {
		if strings.Contains(all, f) {
			t.Fatalf("reply unexpectedly has %q; got:\n%s", f, all)
		}
	}
}

// conv returns the persisted state of user's conversation (zero if none).
func (h *harness) conv(user string) state {
	h.t.Helper()
	id, err := h.st.FindIdentity(context.Background(), bot.ChannelConsole, user)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := h.st.Conversation(context.Background(), id.ResidentID)
	if err != nil {
		return state{}
	}
	st, _, err := h.eng.load(context.Background(), id.ResidentID)
	if err != nil {
		h.t.Fatal(err)
	}
	_ = c
	return *st
}

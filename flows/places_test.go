package flows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

// The harness clock starts at 2026-11-25 10:00 UTC: Wednesday 18:00 in
// Shanghai. Thursday 26 November is the first day with slots.

func placesConfig() Config {
	cfg := testConfig()
	cfg.Services = []Service{
		{Key: "bp", Name: "血压测量", NameEN: "Blood-pressure check", Place: "卫生服务站", PlaceEN: "Health station",
			Slots:    []SlotRule{{Days: []string{"tue", "thu"}, From: "09:00", To: "11:00", Every: 30 * time.Minute}},
			Capacity: 2, DaysAhead: 14, CancelCutoff: 2 * time.Hour},
		{Key: "legal", Name: "法律咨询", NameEN: "Legal advice", Place: "调解室",
			Slots:    []SlotRule{{Days: []string{"sat"}, From: "09:00", To: "09:30", Every: 30 * time.Minute}},
			Capacity: 1, DaysAhead: 7, CancelCutoff: 24 * time.Hour},
	}
	cfg.Targets = []Target{
		{Key: "training_pt", Name: "培训人次", NameEN: "Training person-times", EventKind: "training", Metric: "person_times", Goal: 5000, From: "2026-01-01", To: "2027-12-31"},
		{Key: "shows", Name: "文艺晚会场次", NameEN: "Evening shows", EventKind: "show", Metric: "events", Goal: 12, From: "2026-01-01", To: "2026-12-31"},
	}
	cfg.PublicURL = "https://linli.example/"
	return cfg
}

func newPlacesHarness(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t)
	h.cfg = placesConfig()
	h.restart()
	return h
}

// shanghai is a time in community time.
func shanghai(y int, m time.Month, d, hh, mm int) time.Time {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	return time.Date(y, m, d, hh, mm, 0, 0, loc)
}

// event creates an event starting at start with registration until deadline.
func (h *harness) event(title, kind string, capacity, companions int, start, deadline time.Time) store.Event {
	h.t.Helper()
	ev, err := h.st.CreateEvent(context.Background(), store.Event{Title: title, Kind: kind, StartsAt: start, EndsAt: start.Add(2 * time.Hour),
		Deadline: deadline, Place: "社区活动室", Capacity: capacity, Companions: companions})
	if err != nil {
		h.t.Fatal(err)
	}
	return ev
}

// staff sends a command from the staff group as 王主任.
func (h *harness) staffSays(text string) []bot.Reply {
	h.t.Helper()
	return h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "900", ChatID: "-100", Group: true, Text: text})
}

// outbox lists the rows of a kind for user, oldest first.
func (h *harness) outboxOf(user, kind string) []store.OutboxRow {
	h.t.Helper()
	rows, err := h.st.RecentOutbox(context.Background(), 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	rid := h.residentID(user)
	var out []store.OutboxRow
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Kind == kind && rows[i].ResidentID == rid {
			out = append(out, rows[i])
		}
	}
	return out
}

// flowStep is one step of a flow: what reaches it from the step before, and
// a fragment of its question.
type flowStep struct {
	name   string
	reach  string
	prompt string
}

// checkGlobalWords sends every global word, in both languages, at every
// step of a flow (the checks of TestReportGlobalWordsAtEveryStep), on a
// fresh harness made by setup; created counts what the flow made, which
// cancel must leave at zero.
func checkGlobalWords(t *testing.T, title string, steps []flowStep, setup func(t *testing.T) *harness, created func(h *harness) int) {
	walk := func(h *harness, user string, i int) {
		t.Helper()
		var rs []bot.Reply
		for _, s := range steps[:i+1] {
			rs = h.say(user, s.reach)
		}
		expect(t, rs, steps[i].prompt)
		if got := h.conv(user).Step; got != steps[i].name {
			t.Fatalf("at step %q, want %q", got, steps[i].name)
		}
	}
	for i, s := range steps {
		for _, w := range []string{"取消", "cancel", "返回", "back", "菜单", "menu", "帮助", "help"} {
			t.Run(fmt.Sprintf("%s/%s", s.name, w), func(t *testing.T) {
				h := setup(t)
				user := "gw"
				walk(h, user, i)
				before := created(h)
				rs := h.say(user, w)
				switch w {
				case "取消", "cancel":
					expect(t, rs, "已取消", "邻里服务。请选择")
					if st := h.conv(user); st.Flow != "" {
						t.Fatalf("flow %q still active after cancel", st.Flow)
					}
					if created(h) != before {
						t.Fatal("cancel made something")
					}
				case "返回", "back":
					if i == 0 {
						expect(t, rs, "已经是第一步了", steps[0].prompt)
						return
					}
					expect(t, rs, steps[i-1].prompt)
					if got := h.conv(user).Step; got != steps[i-1].name {
						t.Fatalf("after back at %s: step %q", s.name, got)
					}
					expect(t, h.say(user, s.reach), s.prompt)
				case "菜单", "menu":
					expect(t, rs, "已暂停“"+title+"”", "邻里服务。请选择", "发送“继续”")
					st := h.conv(user)
					if !st.Paused || st.Step != s.name {
						t.Fatalf("after menu: %+v", st)
					}
					expect(t, h.say(user, "继续"), s.prompt)
				default:
					expect(t, rs, "您正在填写“"+title+"”", s.prompt)
					if got := h.conv(user).Step; got != s.name {
						t.Fatalf("help moved the flow to %q", got)
					}
				}
			})
		}
	}
}

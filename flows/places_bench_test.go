package flows

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"linli/bot"
)

// BenchmarkRegisterThroughBot measures the last step of the events flow,
// the confirmation that takes a place, for many residents at once through
// the whole router on a real SQLite file: identity, state, the immediate
// transaction, the reminders, the message log. Residents are walked to the
// confirmation before the timer starts; half of them find a place.
func BenchmarkRegisterThroughBot(b *testing.B) {
	h := newPlacesHarness(b)
	ev := h.training(max(b.N/2, 1), 0)
	for i := 0; i < b.N; i++ {
		u := fmt.Sprintf("b%d", i)
		h.say(u, "活动")
		h.say(u, "1")
		h.say(u, "报名")
	}
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := fmt.Sprintf("b%d", next.Add(1)-1)
			rs, err := h.bot.Handle(ctx, bot.Message{Channel: bot.ChannelConsole, UserID: u, Text: "确认"})
			if err != nil || len(rs) == 0 || !(strings.Contains(rs[0].Text, "报名成功") || strings.Contains(rs[0].Text, "候补")) {
				b.Errorf("%s: %v %v", u, rs, err)
				return
			}
		}
	})
	b.StopTimer()
	if u, _ := h.st.EventUse(ctx, ev.ID); u.Held != max(b.N/2, 1) && b.N > 1 {
		b.Fatalf("use %+v after %d", u, b.N)
	}
}

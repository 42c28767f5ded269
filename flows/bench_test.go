package flows

import (
	"context"
	"testing"

	"linli/bot"
	"linli/bot/benchcpu"
)

// BenchmarkEngineStep measures one step of the report flow through the whole
// router on a real SQLite file in WAL mode: identity lookup, state load, the
// step, state save and the message log. It alternates answering the
// description question and going back to it, so every iteration is a step.
func BenchmarkEngineStep(b *testing.B) {
	h := newHarness(b)
	h.toStep("bench", 1)
	ctx := context.Background()
	msgs := []bot.Message{
		{Channel: bot.ChannelConsole, UserID: "bench", Text: "楼道灯坏了三天，晚上很黑"},
		{Channel: bot.ChannelConsole, UserID: "bench", Text: "返回"},
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	for i := 0; i < b.N; i++ {
		rs, err := h.bot.Handle(ctx, msgs[i%2])
		if err != nil || len(rs) == 0 {
			b.Fatalf("step %d: %v %v", i, rs, err)
		}
	}
}

// BenchmarkEngineStepParallel runs steps of different residents at once.
func BenchmarkEngineStepParallel(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var next int64
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	b.RunParallel(func(pb *testing.PB) {
		<-mu
		next++
		user := "p" + itoa64(next)
		mu <- struct{}{}
		msgs := []string{"报修", "2", "返回"}
		i := 0
		for pb.Next() {
			if _, err := h.bot.Handle(ctx, bot.Message{Channel: bot.ChannelConsole, UserID: user, Text: msgs[i%3]}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

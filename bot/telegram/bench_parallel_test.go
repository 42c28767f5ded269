package telegram_test

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-telegram/bot/models"

	"linli/bot/benchcpu"
	"linli/bot/telegram/tgfake"
)

// The serial benchmarks above measure one chat's round trip: the latency
// of an update. These measure throughput, which is what a webhook under
// load needs: many chats at once (benchChats in flight), each chat's
// updates one after another, as Telegram delivers them. Run them together:
//
//	go test -run XXX -bench 'Telegram.*Parallel' ./bot/telegram
//
// An update counts as done when its answer has reached the fake. For the
// baseline, each chat posts its next update when its handler's sendMessage
// has returned (its webhook answers before handling). linli's webhook
// answers once the turn is stored, and the chat's next update waits in
// linli behind the reply's send; the timer stops when the fake has every
// answer.

// benchChats is how many chats post at once.
const benchChats = 32

// chatPool hands each of the benchmark's goroutines its own chat.
type chatPool struct {
	ids  []int64
	next atomic.Int64
}

func newChatPool() *chatPool {
	p := &chatPool{}
	for i := range benchChats {
		p.ids = append(p.ids, 700_000+int64(i))
	}
	return p
}

func (p *chatPool) take(b *testing.B) int64 {
	i := p.next.Add(1) - 1
	if int(i) >= len(p.ids) {
		b.Fatalf("more goroutines than chats (%d)", len(p.ids))
	}
	return p.ids[i]
}

// parallelism makes RunParallel start benchChats goroutines.
func parallelism(b *testing.B) {
	b.SetParallelism(max(benchChats/runtime.GOMAXPROCS(0), 1))
}

func marshal(b *testing.B, u models.Update) []byte {
	body, err := json.Marshal(u)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkTelegramEchoBaselineParallel is BenchmarkTelegramEchoBaseline
// with benchChats chats at once.
func BenchmarkTelegramEchoBaselineParallel(b *testing.B) {
	f := tgfake.New()
	defer f.Close()
	var answered sync.Map // chat id → chan struct{}
	// The same connection pool as linli's client: http.DefaultTransport
	// (the library's default) would open a connection for most calls.
	srv := echoBot(b, f, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}, func(chat int64) {
		if ch, ok := answered.Load(chat); ok {
			ch.(chan struct{}) <- struct{}{}
		}
	})
	pool := newChatPool()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchChats}}
	b.ReportAllocs()
	parallelism(b)
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		chat := pool.take(b)
		done := make(chan struct{}, 1)
		answered.Store(chat, done)
		p := benchPoster{client: client, url: srv.URL}
		for pb.Next() {
			p.post(b, marshal(b, f.TextUpdate(chat, chat, "楼道灯坏了三天，晚上很黑")))
			<-done
		}
	})
}

// BenchmarkTelegramUpdateParallel is BenchmarkTelegramUpdate with
// benchChats residents at once, each at the description step of a report.
func BenchmarkTelegramUpdateParallel(b *testing.B) {
	w := newWorld(b)
	pool := newChatPool()
	for _, chat := range pool.ids {
		for _, text := range []string{"报修", "1"} {
			if code := postTo(w.srv.URL+"/telegram", w.f.TextUpdate(chat, chat, text), secret); code != 200 {
				b.Fatalf("setup answered %d", code)
			}
		}
		if _, err := w.f.WaitSent(context.Background(), chat, 2); err != nil {
			b.Fatalf("setup: %v", err)
		}
	}
	w.f.Reset()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchChats}}
	texts := []string{"楼道灯坏了三天，晚上很黑", "返回"}
	b.ReportAllocs()
	parallelism(b)
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		chat := pool.take(b)
		p := benchPoster{client: client, url: w.srv.URL + "/telegram"}
		for i := 0; pb.Next(); i++ {
			p.post(b, marshal(b, w.f.TextUpdate(chat, chat, texts[i%2])))
		}
	})
	// Every update was a step with one answer.
	_, err := w.f.WaitFor(context.Background(), func(calls []tgfake.Call) bool { return len(calls) >= b.N })
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if got, want := len(w.f.AllSent()), b.N; got != want {
		b.Fatalf("the fake has %d answers for %d updates", got, want)
	}
}

package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"linli/bot"
	"linli/bot/benchcpu"
	"linli/bot/telegram"
	"linli/bot/telegram/tgfake"
)

// Both benchmarks post pre-built updates to a webhook over HTTP and count
// an iteration done when the fake Bot API has recorded the sendMessage
// that answers it. Run them together:
//
//	go test -run XXX -bench Telegram ./bot/telegram

// benchPoster posts update bodies with one keep-alive client.
type benchPoster struct {
	client *http.Client
	url    string
}

func (p benchPoster) post(b *testing.B, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(body))
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	resp, err := p.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// waitOne waits for the answer to reach the fake and forgets it, so the
// fake's records stay small whatever b.N is.
func waitOne(b *testing.B, f *tgfake.Fake, chat int64) {
	if _, err := f.WaitSent(context.Background(), chat, 1); err != nil {
		b.Fatal(err)
	}
	f.Reset()
}

// bodies builds b.N update bodies before the timer starts.
func bodies(b *testing.B, build func(i int) models.Update) [][]byte {
	out := make([][]byte, b.N)
	for i := range out {
		body, err := json.Marshal(build(i))
		if err != nil {
			b.Fatal(err)
		}
		out[i] = body
	}
	return out
}

// echoBot is go-telegram/bot on its own, serving its webhook: a handler
// answers every update with a fixed sendMessage to the fake through hc,
// then calls answered with the chat.
func echoBot(b *testing.B, f *tgfake.Fake, hc *http.Client, answered func(chat int64)) *httptest.Server {
	api, err := tgbot.New(f.Token(), tgbot.WithServerURL(f.URL()), tgbot.WithSkipGetMe(),
		tgbot.WithHTTPClient(time.Minute, hc),
		tgbot.WithWebhookSecretToken(secret), tgbot.WithErrorsHandler(func(error) {}),
		tgbot.WithDefaultHandler(func(ctx context.Context, bt *tgbot.Bot, u *models.Update) {
			if _, err := bt.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: u.Message.Chat.ID, Text: "收到"}); err != nil && ctx.Err() == nil {
				b.Error(err)
			}
			answered(u.Message.Chat.ID)
		}))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go api.StartWebhook(ctx)
	srv := httptest.NewServer(api.WebhookHandler())
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkTelegramEchoBaseline is go-telegram/bot on its own (echoBot).
func BenchmarkTelegramEchoBaseline(b *testing.B) {
	f := tgfake.New()
	defer f.Close()
	srv := echoBot(b, f, &http.Client{}, func(int64) {})
	p := benchPoster{client: &http.Client{}, url: srv.URL}
	in := bodies(b, func(i int) models.Update {
		return f.TextUpdate(resident, resident, "楼道灯坏了三天，晚上很黑")
	})
	f.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	for i := 0; i < b.N; i++ {
		p.post(b, in[i])
		waitOne(b, f, resident)
	}
}

// BenchmarkTelegramUpdate is linli's whole path for one update: the
// webhook handler, the router (dedupe, identity, per-sender order, message
// log), one step of the report flow with its state saved in SQLite, and the
// reply sent to the fake. It alternates answering the description question
// and going back to it, so every update is a real step with one reply.
func BenchmarkTelegramUpdate(b *testing.B) {
	w := newWorld(b)
	for _, text := range []string{"报修", "1"} {
		if code := postTo(w.srv.URL+"/telegram", w.f.TextUpdate(resident, resident, text), secret); code != 200 {
			b.Fatalf("setup answered %d", code)
		}
	}
	texts := []string{"楼道灯坏了三天，晚上很黑", "返回"}
	in := bodies(b, func(i int) models.Update { return w.f.TextUpdate(resident, resident, texts[i%2]) })
	w.f.Reset()
	p := benchPoster{client: &http.Client{}, url: w.srv.URL + "/telegram"}
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	for i := 0; i < b.N; i++ {
		p.post(b, in[i])
		waitOne(b, w.f, resident)
	}
}

// BenchmarkTelegramAdapterOnly is linli's Telegram channel with a handler
// that answers at once (no router, no database): it separates the
// channel's own cost from the router's and the store's.
func BenchmarkTelegramAdapterOnly(b *testing.B) {
	f := tgfake.New()
	defer f.Close()
	ch, err := telegram.New(telegram.Config{Enabled: true, Token: f.Token(), Mode: "webhook", WebhookPath: "/telegram",
		WebhookSecret: secret, APIBaseURL: f.URL()}, newRecorder(func(bot.Message) []bot.Reply { return []bot.Reply{{Text: "收到"}} }),
		telegram.Options{Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(bot.Guard(quietLog(), ch))
	defer srv.Close()
	p := benchPoster{client: &http.Client{}, url: srv.URL}
	in := bodies(b, func(i int) models.Update {
		return f.TextUpdate(resident, resident, "楼道灯坏了三天，晚上很黑")
	})
	f.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	for i := 0; i < b.N; i++ {
		p.post(b, in[i])
		waitOne(b, f, resident)
	}
}

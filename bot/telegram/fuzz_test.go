package telegram_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"linli/bot"
	"linli/bot/telegram"
	"linli/bot/telegram/tgfake"
)

// echo answers every message with a reply that has buttons, so the fuzzed
// update also goes through the send path.
type echo struct{}

func (echo) Handle(_ context.Context, m bot.Message) ([]bot.Reply, error) {
	return []bot.Reply{{Text: "收到 " + m.Text, Choices: []bot.Choice{{Payload: "a", Label: "甲"}}}}, nil
}

// FuzzWebhook posts arbitrary bodies, with the right secret, to the webhook:
// whatever Telegram (or anyone who learned the secret) sends, the channel
// answers 200 or 400 and never panics.
func FuzzWebhook(f *testing.F) {
	fake := tgfake.New()
	f.Cleanup(fake.Close)
	ch, err := telegram.New(telegram.Config{Enabled: true, Token: fake.Token(), Mode: "webhook", WebhookPath: "/telegram",
		WebhookSecret: "s3cret", APIBaseURL: fake.URL(), StaffChatID: -1001}, echo{}, telegram.Options{Logger: quietLog()})
	if err != nil {
		f.Fatal(err)
	}
	for _, u := range []any{
		fake.TextUpdate(42, 42, "报修"),
		fake.TextUpdate(42, 42, "/start report"),
		fake.TextUpdate(-1001, 900, "/claim@linli_bot T1001"),
		fake.PhotoUpdate(42, 42, "楼道灯坏了"),
		fake.LocationUpdate(42, 42, 39.9, 116.4),
		fake.CallbackUpdate(42, 42, 7, "desk:claim:T1001"),
		fake.ReplyUpdate(-1001, 900, 5, "明天上午来修"),
	} {
		b, err := json.Marshal(u)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"update_id":1,"my_chat_member":{"chat":{"id":42,"type":"private"},"from":{"id":42},"date":1,"old_chat_member":{"status":"member"},"new_chat_member":{"status":"kicked"}}}`))
	f.Add([]byte(`{"update_id":2,"message":{"message_id":1,"date":1,"chat":{"id":0,"type":""},"text":""}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"update_id":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/telegram", strings.NewReader(string(body)))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "s3cret")
		rec := httptest.NewRecorder()
		ch.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

package telegram_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"linli/bot"
	"linli/bot/telegram"
)

// TestCallErrorsMatchTheLibrary: for every kind of answer the Bot API
// gives, the channel's JSON sendMessage fails with the same error, by
// errors.Is/As and by text, as go-telegram/bot's SendMessage does, so
// classify and retry cannot tell the two paths apart. It also checks the
// request is JSON and that the fake read the same parameters from it.
func TestCallErrorsMatchTheLibrary(t *testing.T) {
	s := newSetup(t, "webhook", func(bot.Message) []bot.Reply { return nil })
	ctx := ctxT(t)
	s.f.MigrateChat(-100500, -100600)
	s.f.BlockChat(resident + 1)
	cases := []struct {
		name  string
		chat  int64
		fault func()
	}{
		{"ok", resident, func() {}},
		{"blocked", resident + 1, func() {}},
		{"chat not found", 424242, func() {}},
		{"migrated", -100500, func() {}},
		{"429", resident, func() { s.f.FailNext("sendMessage", 1, http.StatusTooManyRequests, "", 9) }},
		{"401", resident, func() { s.f.FailNext("sendMessage", 1, http.StatusUnauthorized, "", 0) }},
		{"404", resident, func() { s.f.FailNext("sendMessage", 1, http.StatusNotFound, "", 0) }},
		{"409", resident, func() { s.f.FailNext("sendMessage", 1, http.StatusConflict, "", 0) }},
		{"500", resident, func() { s.f.FailNext("sendMessage", 1, http.StatusInternalServerError, "", 0) }},
		{"502 page", resident, func() { s.f.FailNextHTTP("sendMessage", 1, http.StatusBadGateway, "<html>bad gateway</html>") }},
	}
	sentinels := []error{tgbot.ErrorForbidden, tgbot.ErrorBadRequest, tgbot.ErrorUnauthorized, tgbot.ErrorNotFound, tgbot.ErrorConflict}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &tgbot.SendMessageParams{ChatID: tc.chat, Text: "测试 test", ReplyParameters: nil}
			tc.fault()
			libMsg, libErr := s.ch.API().SendMessage(ctx, p)
			tc.fault()
			ourMsg, ourErr := telegram.SendMessageJSON(ctx, s.ch, p)
			if (libErr == nil) != (ourErr == nil) {
				t.Fatalf("library %v, channel %v", libErr, ourErr)
			}
			if libErr == nil {
				if ourMsg.Chat.ID != libMsg.Chat.ID || ourMsg.Text != libMsg.Text || ourMsg.ID == libMsg.ID {
					t.Fatalf("messages: library %+v, channel %+v", libMsg, ourMsg)
				}
				return
			}
			for _, e := range sentinels {
				if errors.Is(libErr, e) != errors.Is(ourErr, e) {
					t.Errorf("errors.Is(%v): library %v, channel %v", e, libErr, ourErr)
				}
			}
			var lt, ot *tgbot.TooManyRequestsError
			if errors.As(libErr, &lt) != errors.As(ourErr, &ot) || (lt != nil && *lt != *ot) {
				t.Errorf("429: library %v, channel %v", lt, ot)
			}
			var lm, om *tgbot.MigrateError
			if errors.As(libErr, &lm) != errors.As(ourErr, &om) || (lm != nil && *lm != *om) {
				t.Errorf("migrate: library %v, channel %v", lm, om)
			}
			if tc.name != "502 page" && libErr.Error() != ourErr.Error() {
				t.Errorf("text: library %q, channel %q", libErr, ourErr)
			}
			if strings.Contains(ourErr.Error(), s.f.Token()) {
				t.Errorf("token in %q", ourErr)
			}
		})
	}
	calls := s.f.CallsTo("sendMessage")
	last := calls[len(calls)-1]
	if !strings.HasPrefix(last.ContentType, "application/json") || last.Params["text"] != "测试 test" {
		t.Fatalf("last call %+v", last)
	}
}

// TestSendPhotoKeepsTheURL: a photo URL with characters JSON must escape
// reaches the API exactly as the library's multipart form sends it.
func TestSendPhotoKeepsTheURL(t *testing.T) {
	s := newSetup(t, "webhook", nil)
	ctx := ctxT(t)
	for _, url := range []string{`https://img.example.org/a"b.png`, `https://img.example.org/a\b.png`, `https://img.example.org/a\u0041.png`, "https://img.example.org/a\tb.png"} {
		p := &tgbot.SendPhotoParams{ChatID: resident, Photo: &models.InputFileString{Data: url}, Caption: "图"}
		if _, err := s.ch.API().SendPhoto(ctx, p); err != nil {
			t.Fatalf("library: %v", err)
		}
		if _, err := telegram.SendPhotoJSON(ctx, s.ch, p); err != nil {
			t.Fatalf("channel: %q: %v", url, err)
		}
		calls := s.f.CallsTo("sendPhoto")
		lib, ours := calls[len(calls)-2], calls[len(calls)-1]
		if lib.Params["photo"] != url || ours.Params["photo"] != url || ours.Params["caption"] != "图" {
			t.Fatalf("photo %q: library sent %q, channel %q", url, lib.Params["photo"], ours.Params["photo"])
		}
	}
}

package tgfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"linli/bot/telegram/tgfake"
)

func TestNewCallsGetMeWithMultipart(t *testing.T) {
	f := newFake(t)
	b, err := bot.New(f.Token(), bot.WithServerURL(f.URL()))
	if err != nil {
		t.Fatalf("bot.New: %v", err)
	}
	calls := f.CallsTo("getMe")
	if len(calls) != 1 || !calls[0].OK() {
		t.Fatalf("getMe calls = %+v", calls)
	}
	// go-telegram/bot posts every method as multipart/form-data, even one
	// without parameters (then with an empty body).
	if calls[0].ContentType != "multipart/form-data" {
		t.Errorf("content type = %q", calls[0].ContentType)
	}
	me, err := b.GetMe(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != b.ID() || me.ID != f.BotUser().ID || !me.IsBot || me.Username != "linli_test_bot" {
		t.Errorf("getMe = %+v, bot id %d", me, b.ID())
	}
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	f := newFake(t)
	_, err := bot.New("7000000001:not-the-token", bot.WithServerURL(f.URL()))
	wantErrContains(t, err, bot.ErrorUnauthorized, "Unauthorized")

	req, _ := http.NewRequest(http.MethodGet, f.URL()+"/bot1:wrong/getMe", nil)
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || strings.TrimSpace(string(body)) != `{"ok":false,"error_code":401,"description":"Unauthorized"}` {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	for _, c := range f.Calls() {
		if c.Code != 401 && c.Method == "getMe" {
			t.Errorf("call %+v answered %d", c, c.Code)
		}
	}
}

func TestUnknownMethodIsNotFound(t *testing.T) {
	f := newFake(t)
	status, a := raw(t, testCtx(t), f, "sendTelepathy", "", "")
	if status != 404 || a.OK || a.ErrorCode != 404 || a.Description != "Not Found" {
		t.Errorf("unknown method: %d %+v", status, a)
	}
	// Method names are case-insensitive in the real API.
	status, a = raw(t, testCtx(t), f, "GETME", "", "")
	if status != 200 || !a.OK {
		t.Errorf("GETME: %d %+v", status, a)
	}
}

func TestSendMessageWithInlineKeyboardAndReply(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	in := f.TextUpdate(resident, resident, "报修")

	msg, err := b.SendMessage(ctx, &bot.SendMessageParams{
		ChatID: resident,
		Text:   "请选择类别",
		ReplyMarkup: keyboard(
			[]models.InlineKeyboardButton{{Text: "水电", CallbackData: "cat:water"}, {Text: "电梯", CallbackData: "cat:lift"}},
			[]models.InlineKeyboardButton{{Text: "取消", CallbackData: "cancel"}},
		),
		ReplyParameters: &models.ReplyParameters{MessageID: in.Message.ID},
	})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	// One id sequence per chat for both directions.
	if msg.ID != in.Message.ID+1 || msg.Chat.ID != resident || msg.Chat.Type != models.ChatTypePrivate {
		t.Errorf("message = %+v", msg)
	}
	if msg.Text != "请选择类别" || msg.From == nil || msg.From.ID != b.ID() || msg.Date == 0 {
		t.Errorf("message = %+v", msg)
	}
	if msg.ReplyToMessage == nil || msg.ReplyToMessage.Text != "报修" {
		t.Errorf("reply_to_message = %+v", msg.ReplyToMessage)
	}
	if msg.ReplyMarkup == nil || msg.ReplyMarkup.InlineKeyboard[0][1].CallbackData != "cat:lift" {
		t.Errorf("echoed reply_markup = %+v", msg.ReplyMarkup)
	}

	sent := f.Sent(resident)
	if len(sent) != 1 {
		t.Fatalf("sent = %+v", sent)
	}
	s := sent[0]
	if s.Text != "请选择类别" || s.ReplyTo != in.Message.ID || s.MessageID != msg.ID || s.Method != "sendMessage" {
		t.Errorf("sent = %+v", s)
	}
	if len(s.InlineKeyboard) != 2 || s.InlineKeyboard[1][0].CallbackData != "cancel" {
		t.Errorf("inline keyboard = %+v", s.InlineKeyboard)
	}

	c := f.CallsTo("sendMessage")[0]
	if id, ok := c.Params["chat_id"].(int64); !ok || id != resident {
		t.Errorf("chat_id = %#v", c.Params["chat_id"])
	}
	rm, ok := c.Params["reply_markup"].(map[string]any)
	if !ok {
		t.Fatalf("reply_markup = %#v", c.Params["reply_markup"])
	}
	if _, ok := rm["inline_keyboard"].([]any); !ok {
		t.Errorf("inline_keyboard = %#v", rm["inline_keyboard"])
	}
	var kb models.InlineKeyboardMarkup
	if err := c.Params.Decode("reply_markup", &kb); err != nil || kb.InlineKeyboard[0][0].Text != "水电" {
		t.Errorf("Decode reply_markup = %+v, %v", kb, err)
	}
	if rp, _ := c.Params["reply_parameters"].(map[string]any); rp["message_id"] != int64(in.Message.ID) {
		t.Errorf("reply_parameters = %#v", c.Params["reply_parameters"])
	}
}

func TestSendMessageChecks(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	cases := []struct {
		name   string
		params *bot.SendMessageParams
		want   string
	}{
		// The library sends a nil ChatID as the string "null".
		{"nil chat", &bot.SendMessageParams{Text: "x"}, "Bad Request: chat not found"},
		{"username", &bot.SendMessageParams{ChatID: "@nobody", Text: "x"}, "Bad Request: chat not found"},
		{"no text", &bot.SendMessageParams{ChatID: resident}, "Bad Request: message text is empty"},
		{"too long", &bot.SendMessageParams{ChatID: resident, Text: strings.Repeat("邻", 4097)}, "Bad Request: message is too long"},
		{"parse mode", &bot.SendMessageParams{ChatID: resident, Text: "x", ParseMode: "markdown2"}, "Bad Request: unsupported parse_mode"},
		{"unknown reply", &bot.SendMessageParams{ChatID: resident, Text: "x", ReplyParameters: &models.ReplyParameters{MessageID: 999}}, "Bad Request: message to be replied not found"},
		{"long callback data", &bot.SendMessageParams{ChatID: resident, Text: "x",
			ReplyMarkup: keyboard([]models.InlineKeyboardButton{{Text: "a", CallbackData: strings.Repeat("d", 65)}})}, "Bad Request: BUTTON_DATA_INVALID"},
		{"text-only button", &bot.SendMessageParams{ChatID: resident, Text: "x",
			ReplyMarkup: keyboard([]models.InlineKeyboardButton{{Text: "a"}})}, "Text buttons are unallowed in the inline keyboard"},
		{"bad url", &bot.SendMessageParams{ChatID: resident, Text: "x",
			ReplyMarkup: keyboard([]models.InlineKeyboardButton{{Text: "a", URL: "javascript:alert(1)"}})}, "Bad Request: BUTTON_URL_INVALID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.SendMessage(ctx, tc.params)
			wantErrContains(t, err, bot.ErrorBadRequest, tc.want)
		})
	}
	if n := len(f.AllSent()); n != 0 {
		t.Errorf("refused sends recorded as sent: %d", n)
	}
	status, a := raw(t, ctx, f, "sendMessage", "application/json", `{"text":"x"}`)
	if status != 400 || a.Description != "Bad Request: chat_id is empty" {
		t.Errorf("no chat_id: %d %+v", status, a)
	}
	// Replying to an unknown message is fine when the client allows it.
	_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "x",
		ReplyParameters: &models.ReplyParameters{MessageID: 999, AllowSendingWithoutReply: true}})
	if err != nil {
		t.Errorf("allow_sending_without_reply: %v", err)
	}
}

func TestParametersDecodeTheSameWhateverTheEncoding(t *testing.T) {
	f := newFake(t)
	ctx := testCtx(t)
	markup := `{"inline_keyboard":[[{"text":"好","callback_data":"ok"}]]}`
	form := url.Values{"chat_id": {"-4321"}, "text": {"你好"}, "reply_markup": {markup}, "disable_notification": {"true"}}
	jsonBody := fmt.Sprintf(`{"chat_id":-4321,"text":"你好","reply_markup":%s,"disable_notification":true}`, markup)
	jsonStringified := fmt.Sprintf(`{"chat_id":"-4321","text":"你好","reply_markup":%q,"disable_notification":"true"}`, markup)

	for _, tc := range []struct{ name, method, ct, body string }{
		{"json", "sendMessage", "application/json", jsonBody},
		{"json with strings", "sendMessage", "application/json", jsonStringified},
		{"urlencoded", "sendMessage", "application/x-www-form-urlencoded", form.Encode()},
		{"query", "sendMessage?" + form.Encode(), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Reset()
			status, a := raw(t, ctx, f, tc.method, tc.ct, tc.body)
			if status != 200 || !a.OK {
				t.Fatalf("answer %d %+v", status, a)
			}
			p := f.CallsTo("sendMessage")[0].Params
			if p["chat_id"] != basicChat || p["text"] != "你好" || p["disable_notification"] != true {
				t.Errorf("params = %#v", p)
			}
			var kb models.InlineKeyboardMarkup
			if err := p.Decode("reply_markup", &kb); err != nil || kb.InlineKeyboard[0][0].CallbackData != "ok" {
				t.Errorf("reply_markup %#v: %v", p["reply_markup"], err)
			}
		})
	}
}

func TestUploadPhoto(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	img := tgfake.SampleJPEG(640, 480)

	msg, err := b.SendPhoto(ctx, &bot.SendPhotoParams{
		ChatID:  staffChat,
		Photo:   &models.InputFileUpload{Filename: "ticket.jpg", Data: bytes.NewReader(img)},
		Caption: "T1024 楼道灯坏了",
	})
	if err != nil {
		t.Fatalf("SendPhoto: %v", err)
	}
	if len(msg.Photo) != 2 || msg.Photo[1].Width != 640 || msg.Photo[1].Height != 480 || msg.Photo[0].Width != 90 {
		t.Errorf("photo sizes = %+v", msg.Photo)
	}
	if msg.Caption != "T1024 楼道灯坏了" || msg.Chat.Type != models.ChatTypeSupergroup {
		t.Errorf("message = %+v", msg)
	}
	call := f.CallsTo("sendPhoto")[0]
	if len(call.Files) != 1 || call.Files[0].Field != "photo" || call.Files[0].Name != "ticket.jpg" || call.Files[0].Size != int64(len(img)) {
		t.Errorf("files = %+v", call.Files)
	}
	s := f.Sent(staffChat)[0]
	if s.Upload == nil || s.Upload.Size != int64(len(img)) || s.Photo != msg.Photo[1].FileID {
		t.Errorf("sent = %+v", s)
	}

	file, err := b.GetFile(ctx, &bot.GetFileParams{FileID: s.Photo})
	if err != nil || file.FilePath == "" || file.FileSize != int64(len(img)) {
		t.Fatalf("GetFile = %+v, %v", file, err)
	}
	resp, err := f.Client().Get(b.FileDownloadLink(file))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, img) {
		t.Errorf("downloaded %d bytes, want the %d uploaded", len(got), len(img))
	}

	_, err = b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: staffChat,
		Photo: &models.InputFileUpload{Filename: "x.jpg", Data: strings.NewReader("not an image")}})
	wantErrContains(t, err, bot.ErrorBadRequest, "IMAGE_PROCESS_FAILED")
	// The library sends a nil Photo as the string "null".
	_, err = b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: staffChat})
	wantErrContains(t, err, bot.ErrorBadRequest, "wrong file identifier/HTTP URL specified")
	status, a := raw(t, ctx, f, "sendPhoto", "application/json", fmt.Sprintf(`{"chat_id":%d}`, staffChat))
	if status != 400 || a.Description != "Bad Request: there is no photo in the request" {
		t.Errorf("no photo: %d %+v", status, a)
	}
}

func TestResidentPhotoCanBeFetchedAndForwarded(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	u := f.PhotoUpdate(resident, resident, "漏水")
	if len(u.Message.Photo) != 3 || u.Message.Photo[2].Width != 800 || u.Message.Caption != "漏水" {
		t.Fatalf("photo update = %+v", u.Message)
	}
	largest := u.Message.Photo[2]
	file, err := b.GetFile(ctx, &bot.GetFileParams{FileID: largest.FileID})
	if err != nil || file.FileSize != int64(largest.FileSize) {
		t.Fatalf("GetFile = %+v, %v", file, err)
	}
	msg, err := b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: staffChat, Photo: &models.InputFileString{Data: largest.FileID}})
	if err != nil {
		t.Fatalf("SendPhoto by file_id: %v", err)
	}
	if len(msg.Photo) != 3 || msg.Photo[2].FileID != largest.FileID {
		t.Errorf("forwarded photo = %+v", msg.Photo)
	}
	_, err = b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: staffChat, Photo: &models.InputFileString{Data: "AgACnope"}})
	wantErrContains(t, err, bot.ErrorBadRequest, "wrong file identifier/HTTP URL specified")
	_, err = b.GetFile(ctx, &bot.GetFileParams{FileID: "AgACnope"})
	wantErrContains(t, err, bot.ErrorBadRequest, "invalid file_id")
}

func TestLongPollDeliversUpdatePushedAfterPollStarted(t *testing.T) {
	f := newFake(t)
	got := make(chan *models.Update, 4)
	b := newBot(t, f, bot.WithDefaultHandler(func(_ context.Context, _ *bot.Bot, u *models.Update) { got <- u }))
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan struct{})
	go func() { b.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	polls, err := f.WaitCalls(ctx, "getUpdates", 1)
	if err != nil {
		t.Fatal(err)
	}
	if polls[0].Params.Int("timeout") < 1 || polls[0].Code != 0 {
		t.Errorf("first poll = %+v (want a waiting long poll)", polls[0])
	}
	u := f.TextUpdate(resident, resident, "/start")
	f.Push(u)
	select {
	case upd := <-got:
		if upd.ID != u.ID || upd.Message.Text != "/start" || upd.Message.Entities[0].Type != models.MessageEntityTypeBotCommand {
			t.Errorf("update = %+v", upd)
		}
	case <-ctx.Done():
		t.Fatal("update not delivered")
	}
	// The next poll confirms it with offset = update_id + 1.
	if _, err := f.WaitFor(ctx, func(calls []tgfake.Call) bool {
		for _, c := range calls {
			if c.Method == "getUpdates" && c.Params.Int("offset") == u.ID+1 {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if n := f.Pending(); n != 0 {
		t.Errorf("pending = %d after confirmation", n)
	}
}

func TestGetUpdatesOffsetLimitAndConflicts(t *testing.T) {
	f := newFake(t)
	ctx := testCtx(t)
	f.Push(f.TextUpdate(resident, resident, "a"), f.TextUpdate(resident2, resident2, "b"))
	if err := f.PushRaw([]byte(`{"message":{"message_id":7,"date":1,"chat":{"id":1003,"type":"private"},"text":"c"}}`)); err != nil {
		t.Fatal(err)
	}
	ids := func(a apiAnswer) []int64 {
		var us []models.Update
		if err := json.Unmarshal(a.Result, &us); err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	_, a := raw(t, ctx, f, "getUpdates?limit=2", "", "")
	if got := ids(a); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("limit 2: %v", got)
	}
	_, a = raw(t, ctx, f, "getUpdates?offset=2", "", "")
	if got := ids(a); fmt.Sprint(got) != "[2 3]" {
		t.Errorf("offset 2: %v", got)
	}
	_, a = raw(t, ctx, f, "getUpdates?offset=4", "", "")
	if got := ids(a); len(got) != 0 || string(a.Result) != "[]" {
		t.Errorf("offset 4: %s", a.Result)
	}

	// A second long poll ends the first with 409, as when two instances run.
	first := make(chan apiAnswer)
	go func() {
		_, a := raw(t, ctx, f, "getUpdates?offset=4&timeout=50", "", "")
		first <- a
	}()
	if _, err := f.WaitCalls(ctx, "getUpdates", 4); err != nil {
		t.Fatal(err)
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	second := make(chan apiAnswer)
	go func() {
		req, _ := http.NewRequestWithContext(pollCtx, http.MethodGet, f.URL()+"/bot"+f.Token()+"/getUpdates?offset=4&timeout=50", nil)
		resp, err := f.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		second <- apiAnswer{}
	}()
	a = <-first
	if a.OK || a.ErrorCode != 409 || !strings.Contains(a.Description, "terminated by other getUpdates request") {
		t.Errorf("replaced poll answered %+v", a)
	}
	// A client that goes away ends its poll; no sleep, the context says so.
	stopPoll()
	<-second
}

func TestRateLimits(t *testing.T) {
	clock := newManualClock()
	f := newFake(t, tgfake.WithClock(clock.Now))
	b := newBot(t, f)
	ctx := testCtx(t)
	send := func(chat int64) error {
		_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: chat, Text: "通知"})
		return err
	}
	// Off by default.
	for i := 0; i < 5; i++ {
		if err := send(resident); err != nil {
			t.Fatalf("limits off: %v", err)
		}
	}
	f.EnableRateLimits(tgfake.DefaultLimits())

	if err := send(resident); err != nil {
		t.Fatal(err)
	}
	err := send(resident)
	var tooMany *bot.TooManyRequestsError
	if !errors.As(err, &tooMany) || tooMany.RetryAfter != 1 {
		t.Fatalf("second message in a second: %v", err)
	}
	clock.Advance(time.Second)
	if err := send(resident); err != nil {
		t.Fatalf("after a second: %v", err)
	}

	for i := 0; i < 20; i++ {
		if err := send(staffChat); err != nil {
			t.Fatalf("group message %d: %v", i, err)
		}
	}
	err = send(staffChat)
	if !errors.As(err, &tooMany) || tooMany.RetryAfter != 60 {
		t.Fatalf("21st group message in a minute: %v", err)
	}
	clock.Advance(45 * time.Second)
	err = send(staffChat)
	if !errors.As(err, &tooMany) || tooMany.RetryAfter != 15 {
		t.Fatalf("45 s later: %v", err)
	}
	clock.Advance(15 * time.Second)
	if err := send(staffChat); err != nil {
		t.Fatalf("a minute later: %v", err)
	}

	clock.Advance(time.Minute)
	for i := int64(0); i < 30; i++ {
		if err := send(2000 + i); err != nil {
			t.Fatalf("broadcast %d: %v", i, err)
		}
	}
	err = send(3000)
	if !errors.As(err, &tooMany) || tooMany.RetryAfter != 1 {
		t.Fatalf("31st message in a second overall: %v", err)
	}
	f.DisableRateLimits()
	if err := send(3000); err != nil {
		t.Fatalf("limits off again: %v", err)
	}
}

func TestTooManyRequestsSurfacesAsLibraryErrorWithoutRetry(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	f.FailNext("sendMessage", 1, 429, "", 7)
	_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "x"})

	var tooMany *bot.TooManyRequestsError
	if !errors.As(err, &tooMany) || tooMany.RetryAfter != 7 {
		t.Fatalf("err = %#v", err)
	}
	if !bot.IsTooManyRequestsError(err) {
		t.Error("IsTooManyRequestsError false on the unwrapped error")
	}
	// IsTooManyRequestsError is a plain type assertion: it misses the
	// error once wrapped, and the error does not wrap the sentinel.
	if bot.IsTooManyRequestsError(fmt.Errorf("telegram: %w", err)) {
		t.Error("IsTooManyRequestsError sees through wrapping now; update the package doc")
	}
	if errors.Is(err, bot.ErrorTooManyRequests) {
		t.Error("errors.Is(err, ErrorTooManyRequests) holds now; update the package doc")
	}
	if err.Error() != "too many requests, Too Many Requests: retry after 7: retry_after 7" {
		t.Errorf("message = %q", err.Error())
	}
	if n := len(f.CallsTo("sendMessage")); n != 1 {
		t.Errorf("library made %d calls, want 1 (no retry)", n)
	}
	// The fault is used up.
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "x"}); err != nil {
		t.Errorf("after the fault: %v", err)
	}
}

func TestFailNextVariants(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)

	f.FailNext("*", 2, 500, "", 0)
	for i := 0; i < 2; i++ {
		_, err := b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: resident, Action: models.ChatActionTyping})
		wantErrContains(t, err, nil, "500 Internal Server Error")
	}
	f.FailNextHTTP("sendMessage", 1, 502, "<html><body>502 Bad Gateway</body></html>")
	_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "x"})
	wantErrContains(t, err, nil, "error decode response body")
	if c := f.CallsTo("sendMessage"); c[0].Code != 502 {
		t.Errorf("recorded code %d", c[0].Code)
	}
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "x"}); err != nil {
		t.Errorf("after faults: %v", err)
	}
}

func TestBlockedKickedAndMigratedChats(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	f.BlockChat(resident)
	_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "您的报修已受理"})
	wantErrContains(t, err, bot.ErrorForbidden, "Forbidden: bot was blocked by the user")
	_, err = b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: resident, Action: models.ChatActionTyping})
	wantErrContains(t, err, bot.ErrorForbidden, "bot was blocked by the user")
	if c := f.CallsTo("sendMessage")[0]; c.Code != 403 || len(f.Sent(resident)) != 0 {
		t.Errorf("call %+v, sent %v", c, f.Sent(resident))
	}
	f.UnblockChat(resident)
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "x"}); err != nil {
		t.Errorf("unblocked: %v", err)
	}

	f.BlockChat(staffChat)
	_, err = b.SendMessage(ctx, &bot.SendMessageParams{ChatID: staffChat, Text: "x"})
	wantErrContains(t, err, bot.ErrorForbidden, "Forbidden: bot was kicked from the supergroup chat")

	f.MigrateChat(basicChat, staffChat-1)
	_, err = b.SendMessage(ctx, &bot.SendMessageParams{ChatID: basicChat, Text: "x"})
	var migrate *bot.MigrateError
	if !errors.As(err, &migrate) || int64(migrate.MigrateToChatID) != staffChat-1 {
		t.Errorf("migrated group: %#v", err)
	}
}

func TestSetMyCommandsValidation(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	ok, err := b.SetMyCommands(ctx, &bot.SetMyCommandsParams{
		Commands:     []models.BotCommand{{Command: "/open", Description: "未结工单"}, {Command: "claim", Description: " 认领工单 "}},
		Scope:        &models.BotCommandScopeChat{ChatID: staffChat},
		LanguageCode: "zh",
	})
	if err != nil || !ok {
		t.Fatalf("SetMyCommands: %v", err)
	}
	// Like TDLib, the fake trims and drops a leading "/".
	want := []models.BotCommand{{Command: "open", Description: "未结工单"}, {Command: "claim", Description: "认领工单"}}
	if got := f.Commands(fmt.Sprintf("chat:%d", staffChat), "zh"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %v", got)
	}
	got, err := b.GetMyCommands(ctx, &bot.GetMyCommandsParams{Scope: &models.BotCommandScopeChat{ChatID: staffChat}, LanguageCode: "zh"})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GetMyCommands = %v, %v", got, err)
	}
	if got := f.Commands("", ""); len(got) != 0 {
		t.Errorf("default scope got %v", got)
	}

	for _, tc := range []struct {
		name string
		cmds []models.BotCommand
		lang string
		want string
	}{
		{"upper case", []models.BotCommand{{Command: "Open", Description: "x"}}, "", "Bad Request: BOT_COMMAND_INVALID"},
		{"hyphen", []models.BotCommand{{Command: "my-tickets", Description: "x"}}, "", "Bad Request: BOT_COMMAND_INVALID"},
		{"chinese", []models.BotCommand{{Command: "报修", Description: "x"}}, "", "Bad Request: BOT_COMMAND_INVALID"},
		{"empty", []models.BotCommand{{Command: "/", Description: "x"}}, "", "Bad Request: command must be non-empty"},
		{"too long", []models.BotCommand{{Command: strings.Repeat("a", 33), Description: "x"}}, "", "Bad Request: command length must not exceed 32"},
		{"no description", []models.BotCommand{{Command: "open", Description: "  "}}, "", "Bad Request: command description must be non-empty"},
		{"long description", []models.BotCommand{{Command: "open", Description: strings.Repeat("长", 257)}}, "", "Bad Request: command description length must not exceed 256"},
		{"language tag", []models.BotCommand{{Command: "open", Description: "x"}}, "zh-CN", "Bad Request: invalid language code specified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: tc.cmds, LanguageCode: tc.lang})
			wantErrContains(t, err, bot.ErrorBadRequest, tc.want)
		})
	}
	ok32, err := b.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: []models.BotCommand{{Command: strings.Repeat("a", 32), Description: strings.Repeat("长", 256)}}})
	if err != nil || !ok32 {
		t.Errorf("limits themselves are allowed: %v", err)
	}
	if _, err := b.DeleteMyCommands(ctx, &bot.DeleteMyCommandsParams{}); err != nil || len(f.Commands("default", "")) != 0 {
		t.Errorf("DeleteMyCommands: %v, left %v", err, f.Commands("default", ""))
	}
}

func TestEditAnswerAndDelete(t *testing.T) {
	clock := newManualClock()
	f := newFake(t, tgfake.WithClock(clock.Now))
	b := newBot(t, f)
	ctx := testCtx(t)
	kb := keyboard([]models.InlineKeyboardButton{{Text: "认领", CallbackData: "claim:T1024"}})
	alert, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: staffChat, Text: "新工单 T1024", ReplyMarkup: kb})
	if err != nil {
		t.Fatal(err)
	}

	press := f.CallbackUpdate(staffChat, 77, alert.ID, "claim:T1024")
	cq := press.CallbackQuery
	if cq.Message.Message == nil || cq.Message.Message.Text != "新工单 T1024" || cq.From.ID != 77 || cq.Data != "claim:T1024" {
		t.Errorf("callback = %+v", cq)
	}
	if ok, err := b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: cq.ID, Text: "已认领"}); err != nil || !ok {
		t.Errorf("answer: %v", err)
	}
	_, err = b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: cq.ID})
	wantErrContains(t, err, bot.ErrorBadRequest, "query is too old and response timeout expired or query ID is invalid")

	edited, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: staffChat, MessageID: alert.ID, Text: "T1024 已由 77 认领", ReplyMarkup: kb})
	if err != nil || edited.Text != "T1024 已由 77 认领" || edited.EditDate == 0 {
		t.Fatalf("edit = %+v, %v", edited, err)
	}
	_, err = b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: staffChat, MessageID: alert.ID, Text: "T1024 已由 77 认领", ReplyMarkup: kb})
	wantErrContains(t, err, bot.ErrorBadRequest, "Bad Request: message is not modified")
	if _, err := b.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: staffChat, MessageID: alert.ID}); err != nil {
		t.Errorf("remove keyboard: %v", err)
	}
	in := f.TextUpdate(staffChat, 77, "收到")
	_, err = b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: staffChat, MessageID: in.Message.ID, Text: "x"})
	wantErrContains(t, err, bot.ErrorBadRequest, "message can't be edited")
	_, err = b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: staffChat, MessageID: 9999, Text: "x"})
	wantErrContains(t, err, bot.ErrorBadRequest, "message to edit not found")

	s := f.Sent(staffChat)[0]
	if s.Text != "T1024 已由 77 认领" || s.InlineKeyboard != nil || s.Edits != 2 {
		t.Errorf("sent after edits = %+v", s)
	}

	if ok, err := b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: staffChat, MessageID: alert.ID}); err != nil || !ok {
		t.Errorf("delete: %v", err)
	}
	_, err = b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: staffChat, MessageID: alert.ID})
	wantErrContains(t, err, bot.ErrorBadRequest, "message to delete not found")
	if !f.Sent(staffChat)[0].Deleted {
		t.Error("deleted message not marked")
	}
	clock.Advance(49 * time.Hour)
	_, err = b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: staffChat, MessageID: in.Message.ID})
	wantErrContains(t, err, bot.ErrorBadRequest, "message can't be deleted for everyone")
}

func TestStaffReplyUpdateQuotesTheAlert(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	alert, err := b.SendMessage(testCtx(t), &bot.SendMessageParams{ChatID: staffChat, Text: "新工单 T1024"})
	if err != nil {
		t.Fatal(err)
	}
	u := f.ReplyUpdate(staffChat, 77, alert.ID, "已派人处理")
	m := u.Message
	if m.Chat.Type != models.ChatTypeSupergroup || m.From.ID != 77 || m.ReplyToMessage == nil ||
		m.ReplyToMessage.ID != alert.ID || m.ReplyToMessage.Text != "新工单 T1024" || m.ID != alert.ID+1 {
		t.Errorf("reply update = %+v", m)
	}
	loc := f.LocationUpdate(resident, resident, 31.2304, 121.4737)
	if loc.Message.Location == nil || loc.Message.Location.Latitude != 31.2304 || loc.ID != u.ID+1 {
		t.Errorf("location update = %+v", loc)
	}
	if basic := f.TextUpdate(basicChat, 5, "hi"); basic.Message.Chat.Type != models.ChatTypeGroup {
		t.Errorf("basic group chat = %+v", basic.Message.Chat)
	}
}

func TestCommandEntitiesUseUTF16Offsets(t *testing.T) {
	f := newFake(t)
	u := f.TextUpdate(staffChat, 77, "你好 /r@linli_test_bot T1024 好的 /t")
	es := u.Message.Entities
	if len(es) != 2 || es[0].Offset != 3 || es[0].Length != len("/r@linli_test_bot") || es[1].Offset != 30 || es[1].Length != 2 {
		t.Errorf("entities = %+v", es)
	}
	if es := f.TextUpdate(resident, resident, "a/b /😀").Message.Entities; len(es) != 0 {
		t.Errorf("no commands expected, got %+v", es)
	}
}

func TestWebhookAndGetUpdatesConflict(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	_, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: "http://desk.example.org/telegram"})
	wantErrContains(t, err, bot.ErrorBadRequest, "An HTTPS URL must be provided for webhook")
	_, err = b.SetWebhook(ctx, &bot.SetWebhookParams{URL: "https://desk.example.org:8080/telegram"})
	wantErrContains(t, err, bot.ErrorBadRequest, "ports 80, 88, 443 or 8443")
	_, err = b.SetWebhook(ctx, &bot.SetWebhookParams{URL: "https://desk.example.org/telegram", SecretToken: "no spaces allowed"})
	wantErrContains(t, err, bot.ErrorBadRequest, "secret token contains unallowed characters")

	ok, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: "https://desk.example.org/telegram", SecretToken: "s3cret_-X", AllowedUpdates: []string{"message", "callback_query"}})
	if err != nil || !ok {
		t.Fatalf("SetWebhook: %v", err)
	}
	w := f.Webhook()
	if w.URL != "https://desk.example.org/telegram" || w.SecretToken != "s3cret_-X" || fmt.Sprint(w.AllowedUpdates) != "[message callback_query]" {
		t.Errorf("webhook = %+v", w)
	}
	info, err := b.GetWebhookInfo(ctx)
	if err != nil || info.URL != w.URL {
		t.Errorf("info = %+v, %v", info, err)
	}
	status, a := raw(t, ctx, f, "getUpdates", "", "")
	if status != 409 || !strings.Contains(a.Description, "can't use getUpdates method while webhook is active") {
		t.Errorf("getUpdates with webhook: %d %+v", status, a)
	}
	f.Push(f.TextUpdate(resident, resident, "x"))
	if ok, err := b.DeleteWebhook(ctx, &bot.DeleteWebhookParams{DropPendingUpdates: true}); err != nil || !ok {
		t.Errorf("DeleteWebhook: %v", err)
	}
	if f.Webhook().URL != "" || f.Pending() != 0 {
		t.Errorf("after delete: %+v, pending %d", f.Webhook(), f.Pending())
	}
}

func TestSendChatAction(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	if ok, err := b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: resident, Action: models.ChatActionTyping}); err != nil || !ok {
		t.Errorf("typing: %v", err)
	}
	_, err := b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: resident, Action: "dancing"})
	wantErrContains(t, err, bot.ErrorBadRequest, "wrong parameter action in request")
	if c := f.CallsTo("sendChatAction")[0]; c.Params.Str("action") != "typing" {
		t.Errorf("params = %#v", c.Params)
	}
}

func TestWaitEndsWithContextOrClose(t *testing.T) {
	f := tgfake.New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.WaitCalls(ctx, "sendMessage", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	errc := make(chan error)
	go func() {
		_, err := f.WaitSent(context.Background(), resident, 1)
		errc <- err
	}()
	f.Close()
	if err := <-errc; !errors.Is(err, tgfake.ErrClosed) {
		t.Errorf("wait across Close: %v", err)
	}
	f.Close() // twice is fine
}

func TestResetKeepsTheWorld(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	m, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "a"})
	if err != nil {
		t.Fatal(err)
	}
	f.Push(f.TextUpdate(resident, resident, "b"))
	f.FailNext("sendMessage", 1, 500, "", 0)
	f.Reset()
	if len(f.Calls()) != 0 || len(f.AllSent()) != 0 || f.Pending() != 0 {
		t.Errorf("after reset: calls %d, sent %d, pending %d", len(f.Calls()), len(f.AllSent()), f.Pending())
	}
	if _, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: resident, MessageID: m.ID, Text: "a2"}); err != nil {
		t.Errorf("edit after reset: %v", err)
	}
	m2, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: resident, Text: "c"})
	if err != nil || m2.ID != m.ID+2 {
		t.Errorf("after reset: %+v, %v (ids keep increasing, fault forgotten)", m2, err)
	}
}

func TestConcurrentSendsKeepPerChatSequences(t *testing.T) {
	f := newFake(t)
	b := newBot(t, f)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for chat := int64(1); chat <= 5; chat++ {
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: chat, Text: "x"}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for chat := int64(1); chat <= 5; chat++ {
		seen := map[int]bool{}
		for _, s := range f.Sent(chat) {
			seen[s.MessageID] = true
		}
		for id := 1; id <= 10; id++ {
			if !seen[id] {
				t.Errorf("chat %d: ids %v, missing %d", chat, seen, id)
			}
		}
	}
	if n := len(f.CallsTo("sendMessage")); n != 50 {
		t.Errorf("calls = %d", n)
	}
}

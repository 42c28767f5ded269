package wechat

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linli/bot"
	"linli/bot/wechat/wechatfake"
	"linli/notify"
	"linli/store"
)

// stubEngine records turns and answers with replies(turn); with a gate it
// waits for the test before answering (a slow step).
type stubEngine struct {
	mu      sync.Mutex
	turns   []bot.Turn
	gate    chan struct{}
	started chan struct{}
	replies func(t *bot.Turn) []bot.Reply
}

func (e *stubEngine) Handle(ctx context.Context, t *bot.Turn) ([]bot.Reply, error) {
	e.mu.Lock()
	e.turns = append(e.turns, *t)
	e.mu.Unlock()
	if e.started != nil {
		e.started <- struct{}{}
	}
	if e.gate != nil {
		<-e.gate
	}
	if e.replies != nil {
		return e.replies(t), nil
	}
	return []bot.Reply{{Text: "收到：" + t.Text, Choices: []bot.Choice{{Payload: "a", Label: "甲"}, {Payload: "b", Label: "乙"}}}}, nil
}

func (e *stubEngine) Turns() []bot.Turn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bot.Turn(nil), e.turns...)
}

// hEnv is the handler on a real router and store, with a fake WeChat API
// behind the outbox.
type hEnv struct {
	*apiEnv
	eng    *stubEngine
	h      *Handler
	srv    http.Handler
	outbox *notify.Outbox
	disp   *notify.Dispatcher
	cfg    Config
}

const (
	hToken  = "linli-token"
	hAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	hAppID  = "wxfakeappid00001" // the fake's default, so safe mode and the API share it
)

func newHandlerEnv(t testing.TB, mutate func(*Config, *HandlerOptions)) *hEnv {
	t.Helper()
	e := &hEnv{apiEnv: newAPIEnv(t, wechatfake.Config{}), eng: &stubEngine{}}
	e.cfg = e.apiEnv.cfg
	e.cfg.Token, e.cfg.EncodingAESKey, e.cfg.AppID = hToken, hAESKey, hAppID
	e.cfg.ReplyBudget = 4 * time.Second
	e.cfg.QRScenes = []QRScene{{Scene: "b3", Flow: "report", Building: "3"}}
	e.outbox = notify.NewOutbox(e.st)
	router := bot.New(e.st, e.eng, bot.Options{Now: e.clk.Now, Logger: quietLog()})
	opt := HandlerOptions{Router: router, Outbox: e.outbox, Deliveries: e.st, Now: e.clk.Now, Logger: quietLog()}
	if mutate != nil {
		mutate(&e.cfg, &opt)
	}
	h, err := NewHandler(e.cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	e.h, e.srv = h, bot.Guard(quietLog(), h)
	e.disp = notify.NewDispatcher(e.st, nil, quietLog(), e.clk.Now)
	e.disp.Register(bot.ChannelWeChat, NewSender(e.client(t), e.st, e.cfg.Templates, e.clk.Now, quietLog()))
	return e
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var msgSeq atomic.Int64

func nextMsgID() int64 { return 24529383470000000 + msgSeq.Add(1) }

// xmlMsg renders an inbound message from fields in WeChat's order.
func xmlMsg(from string, createTime int64, msgType string, fields ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<xml><ToUserName><![CDATA[gh_office]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[%s]]></MsgType>", from, createTime, msgType)
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", fields[i], fields[i+1], fields[i])
	}
	b.WriteString("</xml>")
	return b.String()
}

func (e *hEnv) textMsg(from, text string, msgID int64) string {
	return xmlMsg(from, e.clk.Now().Unix(), "text", "Content", text, "MsgId", strconv.FormatInt(msgID, 10))
}

// post sends a signed plain-mode request and returns status and body.
func (e *hEnv) post(body string) (int, string) {
	ts := strconv.FormatInt(e.clk.Now().Unix(), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {"42"}, "signature": {refSignature(hToken, ts, "42")}}
	return e.do(http.MethodPost, q, body)
}

func (e *hEnv) do(method string, q url.Values, body string) (int, string) {
	req := httptest.NewRequest(method, "/wechat?"+q.Encode(), strings.NewReader(body))
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// passiveReply parses a plain passive text reply.
func passiveReply(t testing.TB, body string) (to, content string) {
	t.Helper()
	var r struct {
		ToUserName, FromUserName, MsgType, Content string
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil || r.MsgType != "text" {
		t.Fatalf("not a passive text reply: %q (%v)", body, err)
	}
	return r.ToUserName, r.Content
}

// counts returns the rows of the tables a handled message writes.
func (e *hEnv) counts(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tbl := range []string{"inbound_keys", "identities", "message_log", "outbox", "conversations"} {
		var n int
		if err := e.st.DB().QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tbl] = n
	}
	return out
}

func (e *hEnv) nothingStored(t testing.TB) {
	t.Helper()
	for tbl, n := range e.counts(t) {
		if n != 0 {
			t.Fatalf("%s has %d rows", tbl, n)
		}
	}
	if len(e.eng.Turns()) != 0 {
		t.Fatal("the engine ran")
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func TestVerifyURLPublishedVector(t *testing.T) {
	e := newHandlerEnv(t, func(c *Config, _ *HandlerOptions) { c.Token = "AAAAA"; c.EncodingAESKey = "" })
	q := url.Values{"signature": {"f464b24fc39322e44b38aa78f5edd27bd1441696"}, "timestamp": {"1714036504"}, "nonce": {"1514711492"}, "echostr": {"4375120948345356249"}}
	if code, body := e.do(http.MethodGet, q, ""); code != 200 || body != "4375120948345356249" {
		t.Fatalf("%d %q", code, body)
	}
	q.Set("signature", "f464b24fc39322e44b38aa78f5edd27bd1441697")
	if code, body := e.do(http.MethodGet, q, ""); code != 403 || strings.Contains(body, "4375120948345356249") {
		t.Fatalf("wrong signature: %d %q", code, body)
	}
	if code, _ := e.do(http.MethodPut, q, ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", code)
	}
}

func TestBadSignatureStoresNothing(t *testing.T) {
	e := newHandlerEnv(t, nil)
	body := e.textMsg("oA", "报修", nextMsgID())
	ts := strconv.FormatInt(e.clk.Now().Unix(), 10)
	for name, q := range map[string]url.Values{
		"wrong":   {"timestamp": {ts}, "nonce": {"42"}, "signature": {refSignature("other-token", ts, "42")}},
		"missing": {"timestamp": {ts}, "nonce": {"42"}},
		"stale":   {"timestamp": {"1000"}, "nonce": {"42"}, "signature": {refSignature(hToken, "1000", "42")}},
		"safe mode, wrong msg_signature": {"timestamp": {ts}, "nonce": {"42"}, "signature": {refSignature(hToken, ts, "42")},
			"encrypt_type": {"aes"}, "msg_signature": {strings.Repeat("0", 40)}},
	} {
		b := body
		if strings.HasPrefix(name, "safe") {
			b = "<xml><Encrypt><![CDATA[" + refSeal(t, hAESKey, append(refFrame([]byte(body), uint32(len(body)), hAppID, nil), pkcs7(20+len(body)+len(hAppID))...)) + "]]></Encrypt></xml>"
		}
		if code, _ := e.do(http.MethodPost, q, b); code != http.StatusForbidden {
			t.Fatalf("%s: %d", name, code)
		}
	}
	e.nothingStored(t)
}

func TestMalformedAndOversizedStoreNothing(t *testing.T) {
	e := newHandlerEnv(t, nil)
	for name, body := range map[string]string{
		"not xml":       "hello",
		"truncated":     "<xml><FromUserName>oA</From",
		"wrong root":    "<msg><FromUserName>oA</FromUserName><MsgType>text</MsgType></msg>",
		"no sender":     "<xml><MsgType>text</MsgType></xml>",
		"bad number":    xmlMsg("oA", 1, "text", "MsgId", "12x"),
		"entity":        `<!DOCTYPE x [<!ENTITY e "boom">]><xml><FromUserName>&e;</FromUserName><MsgType>text</MsgType></xml>`,
		"empty":         "",
		"nan latitude":  xmlMsg("oA", 1, "location", "Location_X", "NaN"),
		"encrypted bad": "<xml><Encrypt>!!!</Encrypt></xml>",
	} {
		if code, _ := e.post(body); code != http.StatusBadRequest && !(name == "encrypted bad" && code == http.StatusForbidden) {
			t.Fatalf("%s: %d", name, code)
		}
	}
	huge := e.textMsg("oA", strings.Repeat("长", 1<<20), nextMsgID())
	if code, _ := e.post(huge); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over 1 MiB: %d", code)
	}
	// Above what WeChat ever sends but below bot.Guard's limit: refused too.
	big := e.textMsg("oA", strings.Repeat("x", MaxBodyBytes), nextMsgID())
	if code, _ := e.post(big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over 64 KiB: %d", code)
	}
	e.nothingStored(t)
}

func TestTextGetsPassiveReplyWithNumberedChoices(t *testing.T) {
	e := newHandlerEnv(t, nil)
	code, body := e.post(e.textMsg("oA", "你好", nextMsgID()))
	if code != 200 {
		t.Fatalf("%d %q", code, body)
	}
	to, content := passiveReply(t, body)
	if to != "oA" || content != "收到：你好\n1. 甲\n2. 乙" {
		t.Fatalf("to %q content %q", to, content)
	}
	if !strings.Contains(body, "<FromUserName><![CDATA[gh_office]]></FromUserName>") {
		t.Fatalf("reply not from the account: %s", body)
	}
	c := e.counts(t)
	if c["inbound_keys"] != 1 || c["message_log"] != 2 || c["outbox"] != 0 {
		t.Fatalf("stored %v", c)
	}
}

// Every message type reaches the engine as the issue lists.
func TestMessageTypesMapped(t *testing.T) {
	e := newHandlerEnv(t, nil)
	e.eng.replies = func(t *bot.Turn) []bot.Reply {
		if t.Event != "" && t.Event != bot.EventSubscribe && t.Event != bot.EventMenu && t.Event != bot.EventStart {
			return nil // the engine says nothing to recorded events
		}
		return []bot.Reply{{Text: "ok"}}
	}
	now := e.clk.Now().Unix()
	id := func() string { return strconv.FormatInt(nextMsgID(), 10) }
	cases := []struct {
		name    string
		body    string
		check   func(bot.Turn) bool
		success bool // answered "success", no passive reply
	}{
		{"image", xmlMsg("oA", now, "image", "PicUrl", "http://mmbiz/pic.jpg", "MediaId", "MEDIA1", "MsgId", id()),
			func(t bot.Turn) bool {
				return t.Image != nil && t.Image.Ref == "MEDIA1" && t.Image.URL == "http://mmbiz/pic.jpg"
			}, false},
		{"voice with transcript", xmlMsg("oA", now, "voice", "MediaId", "V1", "Format", "amr", "Recognition", "楼道灯坏了", "MsgId", id()),
			func(t bot.Turn) bool { return t.Voice && t.Text == "楼道灯坏了" }, false},
		{"voice without", xmlMsg("oA", now, "voice", "MediaId", "V2", "Format", "amr", "MsgId", id()),
			func(t bot.Turn) bool { return t.Voice && t.Text == "" }, false},
		{"location", xmlMsg("oA", now, "location", "Location_X", "39.9", "Location_Y", "116.4", "Scale", "15", "Label", "3号楼", "MsgId", id()),
			func(t bot.Turn) bool {
				return t.Location != nil && t.Location.Latitude == 39.9 && t.Location.Longitude == 116.4 && t.Location.Label == "3号楼"
			}, false},
		{"link", xmlMsg("oA", now, "link", "Title", "通知", "Description", "停水", "Url", "http://x/y", "MsgId", id()),
			func(t bot.Turn) bool { return t.Text == "通知\n停水\nhttp://x/y" }, false},
		{"subscribe via QR", xmlMsg("oB", now, "event", "Event", "subscribe", "EventKey", "qrscene_b3", "Ticket", "TK"),
			func(t bot.Turn) bool {
				return t.Event == bot.EventSubscribe && t.EventKey == "report" && t.Params["building"] == "3"
			}, false},
		{"subscribe plain", xmlMsg("oC", now, "event", "Event", "subscribe"),
			func(t bot.Turn) bool { return t.Event == bot.EventSubscribe && t.EventKey == "" && t.Params == nil }, false},
		{"subscribe unknown scene", xmlMsg("oD", now, "event", "Event", "subscribe", "EventKey", "qrscene_nope"),
			func(t bot.Turn) bool { return t.Event == bot.EventSubscribe && t.EventKey == "" }, false},
		{"scan", xmlMsg("oA", now+1, "event", "Event", "SCAN", "EventKey", "b3", "Ticket", "TK"),
			func(t bot.Turn) bool {
				return t.Event == bot.EventStart && t.EventKey == "report" && t.Params["building"] == "3"
			}, false},
		{"click", xmlMsg("oA", now+2, "event", "Event", "CLICK", "EventKey", "book"),
			func(t bot.Turn) bool { return t.Event == bot.EventMenu && t.EventKey == "book" }, false},
		{"view", xmlMsg("oA", now+3, "event", "Event", "VIEW", "EventKey", "http://x/"),
			func(t bot.Turn) bool { return t.Event == EventView && t.EventKey == "http://x/" }, true},
		{"location event", xmlMsg("oA", now+4, "event", "Event", "LOCATION", "Latitude", "39.9", "Longitude", "116.4", "Precision", "30"),
			func(t bot.Turn) bool {
				return t.Event == EventLocation && t.Location != nil && t.Location.Latitude == 39.9
			}, true},
	}
	for _, tc := range cases {
		before := len(e.eng.Turns())
		code, body := e.post(tc.body)
		if code != 200 {
			t.Fatalf("%s: %d %q", tc.name, code, body)
		}
		turns := e.eng.Turns()
		if len(turns) != before+1 || !tc.check(turns[len(turns)-1]) {
			t.Fatalf("%s: turn %+v", tc.name, turns[len(turns)-1].Message)
		}
		if tc.success != (body == "success") {
			t.Fatalf("%s: answered %q", tc.name, body)
		}
		if turns[len(turns)-1].Channel != bot.ChannelWeChat {
			t.Fatalf("%s: channel %q", tc.name, turns[len(turns)-1].Channel)
		}
	}
	// Recorded events are in the message log.
	id2, _ := e.st.FindIdentity(context.Background(), bot.ChannelWeChat, "oA")
	log, _ := e.st.RecentMessages(context.Background(), id2.ResidentID, 50)
	var all []string
	for _, l := range log {
		all = append(all, l.Text)
	}
	if s := strings.Join(all, "|"); !strings.Contains(s, "[event] view http://x/") || !strings.Contains(s, "[event] location") {
		t.Fatalf("log %s", s)
	}
}

func TestUnsubscribeMarksIdentityUnreachable(t *testing.T) {
	e := newHandlerEnv(t, nil)
	e.post(e.textMsg("oA", "你好", nextMsgID()))
	code, body := e.post(xmlMsg("oA", e.clk.Now().Unix()+1, "event", "Event", "unsubscribe"))
	if code != 200 || body != "success" {
		t.Fatalf("%d %q", code, body)
	}
	id, _ := e.st.FindIdentity(context.Background(), bot.ChannelWeChat, "oA")
	if !id.Unreachable {
		t.Fatal("identity still reachable")
	}
}

func TestTemplateJobFinishedRecorded(t *testing.T) {
	e := newHandlerEnv(t, nil)
	ctx := context.Background()
	ids, _ := e.st.EnqueueOutbox(ctx, []store.OutboxRow{{Kind: "ticket_update", Body: ticketUpdate}, {Kind: "ticket_update", Body: ticketUpdate}})
	e.st.FinishOutbox(ctx, ids[0], store.OutboxOutcome{Status: store.OutboxSent, Channel: "wechat", Provider: "wechat", ProviderID: "template:200163836"})
	e.st.FinishOutbox(ctx, ids[1], store.OutboxOutcome{Status: store.OutboxSent, Channel: "wechat", Provider: "wechat", ProviderID: "template:200163837"})
	for _, ev := range []struct{ id, status string }{{"200163836", "success"}, {"200163837", "failed:user block"}, {"999", "success"}} {
		code, body := e.post(xmlMsg("oA", e.clk.Now().Unix(), "event", "Event", "TEMPLATESENDJOBFINISH", "MsgID", ev.id, "Status", ev.status))
		if code != 200 || body != "success" {
			t.Fatalf("%d %q", code, body)
		}
	}
	r0, _ := e.st.OutboxRowByID(ctx, ids[0])
	r1, _ := e.st.OutboxRowByID(ctx, ids[1])
	if r0.Status != store.OutboxDelivered || r1.Status != store.OutboxFailed || r1.Error != "failed:user block" {
		t.Fatalf("rows %s %s %q", r0.Status, r1.Status, r1.Error)
	}
	if len(e.eng.Turns()) != 0 {
		t.Fatal("a delivery report reached the engine")
	}
}

// A step that outlasts the budget: "success" now, the reply later through
// the customer-service API.
func TestSlowStepRepliesThroughCustomService(t *testing.T) {
	e := newHandlerEnv(t, func(c *Config, _ *HandlerOptions) { c.ReplyBudget = 20 * time.Millisecond })
	e.eng.gate = make(chan struct{})
	e.fake.Touch("oA", e.clk.Now())
	code, body := e.post(e.textMsg("oA", "慢", nextMsgID()))
	if code != 200 || body != "success" {
		t.Fatalf("%d %q", code, body)
	}
	close(e.eng.gate)
	waitFor(t, "the late reply in the outbox", func() bool { return e.counts(t)["outbox"] == 1 })
	if _, err := e.disp.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := e.fake.CustomMessages()
	if len(msgs) != 1 || msgs[0].ToUser != "oA" || msgs[0].Content != "收到：慢\n1. 甲\n2. 乙" {
		t.Fatalf("customer-service messages %+v\n%s", msgs, e.fake)
	}
}

// Several replies: the first passively, the rest in order through the
// customer-service API.
func TestSeveralReplies(t *testing.T) {
	e := newHandlerEnv(t, nil)
	e.eng.replies = func(*bot.Turn) []bot.Reply {
		return []bot.Reply{{Text: "一"}, {Text: "二", Choices: []bot.Choice{{Payload: "x", Label: "选项"}}}, {Text: "三"}}
	}
	e.fake.Touch("oA", e.clk.Now())
	_, body := e.post(e.textMsg("oA", "hi", nextMsgID()))
	if _, content := passiveReply(t, body); content != "一" {
		t.Fatalf("passive %q", content)
	}
	e.disp.RunOnce(context.Background())
	msgs := e.fake.CustomMessages()
	if len(msgs) != 2 || msgs[0].Content != "二\n1. 选项" || msgs[1].Content != "三" {
		t.Fatalf("customer-service messages %+v", msgs)
	}
}

// WeChat retries a request it got no answer to. The retry that arrives
// while the step runs waits for it and owns the answer; the step runs once.
func TestRetryWhileRunningWaitsAndRunsOnce(t *testing.T) {
	e := newHandlerEnv(t, nil)
	e.eng.gate = make(chan struct{})
	e.eng.started = make(chan struct{}, 4)
	body := e.textMsg("oA", "重试", nextMsgID())
	type answer struct {
		code int
		body string
	}
	first, retry := make(chan answer, 1), make(chan answer, 1)
	go func() { c, b := e.post(body); first <- answer{c, b} }()
	<-e.eng.started
	go func() { c, b := e.post(body); retry <- answer{c, b} }()
	waitFor(t, "the retry to join", func() bool {
		e.h.mu.Lock()
		defer e.h.mu.Unlock()
		for _, f := range e.h.flights {
			f.mu.Lock()
			n := f.latest
			f.mu.Unlock()
			return n == 2
		}
		return false
	})
	close(e.eng.gate)
	a, b := <-first, <-retry
	if a.body != "success" {
		t.Fatalf("the abandoned request answered %q", a.body)
	}
	if _, content := passiveReply(t, b.body); !strings.HasPrefix(content, "收到：重试") {
		t.Fatalf("retry answered %q", b.body)
	}
	if n := len(e.eng.Turns()); n != 1 {
		t.Fatalf("engine ran %d times", n)
	}
}

// A retry after the answer was given (it was lost on the way) gets the same
// passive reply; once the flight is forgotten, "success"; never a second run.
func TestRetryAfterAnswer(t *testing.T) {
	e := newHandlerEnv(t, nil)
	body := e.textMsg("oA", "你好", nextMsgID())
	_, first := e.post(body)
	for i := 0; i < 3; i++ {
		_, again := e.post(body)
		if _, c1 := passiveReply(t, first); c1 != mustContent(t, again) {
			t.Fatalf("retry %d answered %q", i, again)
		}
	}
	e.h.mu.Lock()
	e.h.flights = map[string]*flight{} // as after the retention time
	e.h.mu.Unlock()
	if _, again := e.post(body); again != "success" {
		t.Fatalf("late retry answered %q", again)
	}
	if n := len(e.eng.Turns()); n != 1 {
		t.Fatalf("engine ran %d times", n)
	}
	if c := e.counts(t); c["message_log"] != 2 || c["outbox"] != 0 {
		t.Fatalf("stored %v", c)
	}
}

func mustContent(t testing.TB, body string) string {
	t.Helper()
	_, c := passiveReply(t, body)
	return c
}

// Finished flights are forgotten after the retention time.
func TestFlightsAreForgotten(t *testing.T) {
	e := newHandlerEnv(t, func(_ *Config, o *HandlerOptions) { o.Retain = time.Millisecond })
	for i := 0; i < 20; i++ {
		e.post(e.textMsg("oA", "hi", nextMsgID()))
	}
	waitFor(t, "flights to be forgotten", func() bool {
		e.h.mu.Lock()
		defer e.h.mu.Unlock()
		return len(e.h.flights) == 0
	})
}

// safeRequest seals msg as WeChat does in safe mode (the independent
// implementation of proto_test.go), with or without the compatible-mode
// plain copy.
func safeRequest(t testing.TB, ts, nonce, msg string, compatible bool) (url.Values, string) {
	t.Helper()
	raw := append(refFrame([]byte(msg), uint32(len(msg)), hAppID, nil), pkcs7(20+len(msg)+len(hAppID))...)
	enc := refSeal(t, hAESKey, raw)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {refSignature(hToken, ts, nonce)},
		"encrypt_type": {"aes"}, "msg_signature": {refSignature(hToken, ts, nonce, enc)}, "openid": {"oA"}}
	body := "<xml><ToUserName><![CDATA[gh_office]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	if compatible {
		body = strings.TrimSuffix(msg, "</xml>") + "<Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	}
	return q, body
}

// openReply checks and opens an encrypted passive reply independently.
func openReply(t testing.TB, body string) string {
	t.Helper()
	var env struct{ Encrypt, MsgSignature, TimeStamp, Nonce string }
	if err := xml.Unmarshal([]byte(body), &env); err != nil || env.Encrypt == "" {
		t.Fatalf("not an encrypted reply: %q (%v)", body, err)
	}
	if want := refSignature(hToken, env.TimeStamp, env.Nonce, env.Encrypt); env.MsgSignature != want {
		t.Fatalf("MsgSignature %s, independent %s", env.MsgSignature, want)
	}
	msg, appID := refOpen(t, hAESKey, env.Encrypt)
	if appID != hAppID {
		t.Fatalf("appid %q", appID)
	}
	return string(msg)
}

func TestSafeModeRoundTrip(t *testing.T) {
	for _, compatible := range []bool{false, true} {
		e := newHandlerEnv(t, nil)
		ts := strconv.FormatInt(e.clk.Now().Unix(), 10)
		q, body := safeRequest(t, ts, "77", e.textMsg("oA", "安全模式", nextMsgID()), compatible)
		code, out := e.do(http.MethodPost, q, body)
		if code != 200 {
			t.Fatalf("%d %q", code, out)
		}
		inner := openReply(t, out)
		if to, content := passiveReply(t, inner); to != "oA" || content != "收到：安全模式\n1. 甲\n2. 乙" {
			t.Fatalf("compatible=%v: reply %q", compatible, inner)
		}
		// Nothing to say: plain "success", never an encrypted empty reply.
		e.eng.replies = func(*bot.Turn) []bot.Reply { return nil }
		q, body = safeRequest(t, ts, "78", e.textMsg("oA", "静默", nextMsgID()), compatible)
		if code, out := e.do(http.MethodPost, q, body); code != 200 || out != "success" {
			t.Fatalf("empty reply in safe mode: %d %q", code, out)
		}
	}
}

// An encrypted request when no EncodingAESKey is configured is refused and
// nothing is stored.
func TestSafeModeWithoutKey(t *testing.T) {
	e := newHandlerEnv(t, func(c *Config, _ *HandlerOptions) { c.EncodingAESKey = "" })
	q, body := safeRequest(t, strconv.FormatInt(e.clk.Now().Unix(), 10), "1", e.textMsg("oA", "x", nextMsgID()), false)
	if code, _ := e.do(http.MethodPost, q, body); code < 400 {
		t.Fatalf("answered %d", code)
	}
	e.nothingStored(t)
}

func TestNewHandlerValidates(t *testing.T) {
	if _, err := NewHandler(Config{Token: "t"}, HandlerOptions{}); err == nil {
		t.Fatal("no router accepted")
	}
	st := openStore(t, nil)
	router := bot.New(st, &stubEngine{}, bot.Options{})
	if _, err := NewHandler(Config{}, HandlerOptions{Router: router, Outbox: notify.NewOutbox(st)}); err == nil {
		t.Fatal("no token accepted")
	}
	if _, err := NewHandler(Config{Token: "t", EncodingAESKey: "short", AppID: "wx"}, HandlerOptions{Router: router, Outbox: notify.NewOutbox(st)}); err == nil {
		t.Fatal("bad key accepted")
	}
}

// Drain waits for a step that outlived its request.
func TestDrainWaitsForBackgroundSteps(t *testing.T) {
	e := newHandlerEnv(t, func(c *Config, _ *HandlerOptions) { c.ReplyBudget = 10 * time.Millisecond })
	e.eng.gate = make(chan struct{})
	if _, body := e.post(e.textMsg("oA", "慢", nextMsgID())); body != "success" {
		t.Fatalf("answered %q", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.h.Drain(ctx); err == nil {
		t.Fatal("Drain returned while the step was running")
	}
	close(e.eng.gate)
	if err := e.h.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.counts(t)["outbox"]; n != 1 {
		t.Fatalf("%d replies queued after Drain", n)
	}
}

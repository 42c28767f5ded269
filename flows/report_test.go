package flows

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

// reportSteps are the steps of the report flow in order: the input that
// reaches the step, and a fragment of its question.
var reportSteps = []struct {
	name   string
	reach  string // what to say to get from the previous step to this one
	prompt string
}{
	{"category", "报修", "请选择问题类别"},
	{"description", "2", "请描述一下问题"},
	{"photo", "楼道灯坏了三天", "如方便，请发一张现场照片"},
	{"location", "跳过", "问题在哪里"},
	{"contact", "3栋2单元501", "请留一个联系电话"},
	{"confirm", "13812345678", "请确认您的报修"},
}

// toStep walks user to step i of the report flow.
func (h *harness) toStep(user string, i int) []bot.Reply {
	h.t.Helper()
	var rs []bot.Reply
	for _, s := range reportSteps[:i+1] {
		rs = h.say(user, s.reach)
	}
	expect(h.t, rs, reportSteps[i].prompt)
	if got := h.conv(user).Step; got != reportSteps[i].name {
		h.t.Fatalf("at step %q, want %q", got, reportSteps[i].name)
	}
	return rs
}

func TestReportHappyPath(t *testing.T) {
	h := newHarness(t)
	rs := h.toStep("alice", 5)
	expect(t, rs, "设施维修", "楼道灯坏了三天", "3栋2单元501", "13812345678", "确认提交")
	rs = h.say("alice", "1")
	expect(t, rs, "提交成功", "T1001", "48 小时")
	tk, err := h.st.Ticket(context.Background(), "T1001")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Category != "repairs" || tk.Description != "楼道灯坏了三天" || tk.Address != "3栋2单元501" || tk.ContactPhone != "13812345678" || tk.Status != store.TicketOpen {
		t.Fatalf("ticket = %+v", tk)
	}
	if want := h.clock.Now().Add(48 * time.Hour); !tk.DueAt.Equal(want.Truncate(time.Second)) {
		t.Fatalf("due %v, want %v", tk.DueAt, want)
	}
	if h.conv("alice").Flow != "" {
		t.Fatal("flow still active after the ticket was created")
	}
	res, _ := h.st.Resident(context.Background(), tk.ResidentID)
	if res.Building != "3" {
		t.Fatalf("building = %q, want 3", res.Building)
	}
	// The second report gets the next number.
	h.toStep("alice", 5)
	expect(t, h.say("alice", "确认"), "T1002")
}

func TestReportWithPhotoAndLocation(t *testing.T) {
	h := newHarness(t)
	h.say("bob", "report")
	h.say("bob", "Sanitation")
	h.say("bob", "垃圾桶满了没人清")
	rs := h.send(bot.Message{UserID: "bob", Image: &bot.Image{Ref: "media-1", URL: "http://img/1.jpg"}})
	expect(t, rs, "问题在哪里")
	rs = h.send(bot.Message{UserID: "bob", Location: &bot.Location{Latitude: 39.9, Longitude: 116.4, Label: "3号楼门口"}})
	expect(t, rs, "请留一个联系电话")
	h.say("bob", "跳过")
	rs = h.say("bob", "1")
	expect(t, rs, "T1001")
	tk, _ := h.st.Ticket(context.Background(), "T1001")
	if tk.Photo != "media-1" || tk.PhotoURL != "http://img/1.jpg" || tk.Latitude == nil || *tk.Latitude != 39.9 || tk.LocationLabel != "3号楼门口" || tk.ContactPhone != "" {
		t.Fatalf("ticket = %+v", tk)
	}
}

func TestReportInEnglish(t *testing.T) {
	h := newHarness(t)
	expect(t, h.say("eve", "English"), "English from now on")
	rs := h.say("eve", "report")
	expect(t, rs, "What kind of problem", "Noise")
	h.say("eve", "noise")
	h.say("eve", "Loud music every night after 23:00")
	h.say("eve", "skip")
	h.say("eve", "Building 5, unit 1, 302")
	h.say("eve", "skip")
	rs = h.say("eve", "submit")
	expect(t, rs, "Your ticket number is T1001", "12 hours")
	expect(t, h.say("eve", "中文"), "中文")
}

// TestReportGlobalWordsAtEveryStep sends every global word, in both
// languages, at every step of the report flow.
func TestReportGlobalWordsAtEveryStep(t *testing.T) {
	words := []struct {
		word  string
		check func(t *testing.T, h *harness, user string, step int, rs []bot.Reply)
	}{
		{"取消", checkCancel}, {"cancel", checkCancel},
		{"返回", checkBack}, {"back", checkBack},
		{"菜单", checkMenu}, {"menu", checkMenu},
		{"帮助", checkHelp}, {"help", checkHelp},
	}
	for i, s := range reportSteps {
		for _, w := range words {
			t.Run(fmt.Sprintf("%s/%s", s.name, w.word), func(t *testing.T) {
				h := newHarness(t)
				user := "u"
				h.toStep(user, i)
				rs := h.say(user, w.word)
				w.check(t, h, user, i, rs)
			})
		}
	}
}

func checkCancel(t *testing.T, h *harness, user string, step int, rs []bot.Reply) {
	expect(t, rs, "已取消", "邻里服务。请选择")
	if st := h.conv(user); st.Flow != "" {
		t.Fatalf("flow %q still active after cancel", st.Flow)
	}
	n, _ := h.st.ResidentTickets(context.Background(), 1, false)
	if len(n) != 0 {
		t.Fatal("cancel created a ticket")
	}
}

func checkBack(t *testing.T, h *harness, user string, step int, rs []bot.Reply) {
	if step == 0 {
		expect(t, rs, "已经是第一步了", reportSteps[0].prompt)
		return
	}
	expect(t, rs, reportSteps[step-1].prompt)
	if got := h.conv(user).Step; got != reportSteps[step-1].name {
		t.Fatalf("after back at %s: step %q", reportSteps[step].name, got)
	}
	// The answer given before still carries the flow forward.
	expect(t, h.say(user, reportSteps[step].reach), reportSteps[step].prompt)
}

func checkMenu(t *testing.T, h *harness, user string, step int, rs []bot.Reply) {
	expect(t, rs, "已暂停“报事报修”", "邻里服务。请选择", "发送“继续”")
	st := h.conv(user)
	if !st.Paused || st.Step != reportSteps[step].name {
		t.Fatalf("after menu: %+v", st)
	}
	// 继续 brings the resident back to the same question.
	expect(t, h.say(user, "继续"), reportSteps[step].prompt)
}

func checkHelp(t *testing.T, h *harness, user string, step int, rs []bot.Reply) {
	expect(t, rs, "您正在填写“报事报修”", reportSteps[step].prompt)
	if got := h.conv(user).Step; got != reportSteps[step].name {
		t.Fatalf("help moved the flow to %q", got)
	}
}

func TestInvalidInputRepromptsThenOffersPerson(t *testing.T) {
	h := newHarness(t)
	h.toStep("carol", 0)
	for i := 1; i < maxTries; i++ {
		rs := h.say("carol", "99")
		expect(t, rs, "请从列表中选择一个类别", "请选择问题类别")
		expectNot(t, rs, "联系工作人员")
		if got := h.conv("carol").Tries; got != i {
			t.Fatalf("tries = %d, want %d", got, i)
		}
	}
	rs := h.say("carol", "不知道")
	expect(t, rs, "看起来遇到了困难", "再试一次", "回到主菜单", "联系工作人员")
	// "Try again" goes back to the question with a fresh count.
	expect(t, h.say("carol", "1"), "请选择问题类别")
	if st := h.conv("carol"); st.Stuck || st.Tries != 0 {
		t.Fatalf("after retry: %+v", st)
	}
	for i := 0; i < maxTries; i++ {
		h.say("carol", "xyz")
	}
	rs = h.say("carol", "3")
	expect(t, rs, "已为您转接工作人员", "T1001", "010-12345678")
	tk, err := h.st.Ticket(context.Background(), "T1001")
	if err != nil || tk.Category != "other" || !strings.Contains(tk.Description, "xyz") {
		t.Fatalf("handoff ticket %+v, %v", tk, err)
	}
	if h.conv("carol").Flow != "" {
		t.Fatal("flow still active after handoff")
	}
}

func TestStuckMenuPausesFlow(t *testing.T) {
	h := newHarness(t)
	h.toStep("dan", 1) // description
	for i := 0; i < maxTries; i++ {
		h.say("dan", "x") // one character is too short
	}
	expect(t, h.say("dan", "2"), "邻里服务。请选择", "发送“继续”")
	expect(t, h.say("dan", "continue"), "请描述一下问题")
}

func TestExpiryAndResumeAcrossRestart(t *testing.T) {
	h := newHarness(t)
	h.toStep("erin", 3) // location
	h.clock.Advance(31 * time.Minute)
	h.restart()
	rs := h.say("erin", "你好")
	expect(t, rs, "因长时间未回复已暂停", "24 小时内发送“继续”", "邻里服务。请选择")
	// The notice is said once.
	expectNot(t, h.say("erin", "随便"), "因长时间未回复已暂停")
	h.clock.Advance(2 * time.Hour)
	h.restart()
	rs = h.say("erin", "继续")
	expect(t, rs, "好的，我们接着来", "问题在哪里")
	// The data given before the restart is still there.
	h.say("erin", "跳过")
	rs = h.say("erin", "跳过")
	expect(t, rs, "楼道灯坏了三天")
}

func TestExpiredFlowCannotResumeAfterADay(t *testing.T) {
	h := newHarness(t)
	h.toStep("finn", 2)
	h.clock.Advance(31 * time.Minute)
	h.say("finn", "hello") // learns it expired
	h.clock.Advance(25 * time.Hour)
	expect(t, h.say("finn", "继续"), "没有可以继续的事项")
	if h.conv("finn").Flow != "" {
		t.Fatal("stale flow kept")
	}
}

func TestExpiryNoticeThenNewFlow(t *testing.T) {
	h := newHarness(t)
	h.toStep("gus", 4)
	h.clock.Advance(time.Hour)
	rs := h.say("gus", "报修")
	expect(t, rs, "因长时间未回复已暂停", "请选择问题类别")
}

func TestVoiceWithoutTranscriptAsksToType(t *testing.T) {
	h := newHarness(t)
	h.toStep("hal", 1)
	rs := h.send(bot.Message{UserID: "hal", Voice: true})
	expect(t, rs, "没能识别这条语音")
	rs = h.send(bot.Message{UserID: "hal", Voice: true, Text: "电梯不动了"})
	expect(t, rs, "如方便，请发一张现场照片")
}

func TestConfirmTwiceMakesOneTicket(t *testing.T) {
	h := newHarness(t)
	h.toStep("ivy", 5)
	// The same confirmation replayed with the flow state it had (a retried
	// step after a crash between the ticket and the state save).
	id, _ := h.st.FindIdentity(context.Background(), bot.ChannelConsole, "ivy")
	saved, _ := h.st.Conversation(context.Background(), id.ResidentID)
	expect(t, h.say("ivy", "1"), "T1001")
	if err := h.st.SaveConversation(context.Background(), saved); err != nil {
		t.Fatal(err)
	}
	expect(t, h.say("ivy", "1"), "T1001")
	ts, _ := h.st.ResidentTickets(context.Background(), id.ResidentID, false)
	if len(ts) != 1 {
		t.Fatalf("%d tickets, want 1", len(ts))
	}
}

// TestNumberedSkip answers the numbered "1. 跳过" choice with its number, as
// residents on channels without buttons do.
func TestNumberedSkip(t *testing.T) {
	h := newHarness(t)
	h.toStep("num", 2) // photo
	expect(t, h.say("num", "1"), reportSteps[3].prompt)
	expect(t, h.say("num", "1"), reportSteps[4].prompt)
	rs := h.say("num", "1")
	expect(t, rs, "请确认您的报修", "地点：无", "照片：无", "电话：无")
}

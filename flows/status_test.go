package flows

import (
	"context"
	"testing"

	"linli/bot"
	"linli/store"
)

// report makes a ticket for user and returns its number.
func (h *harness) report(user string) string {
	h.t.Helper()
	h.toStep(user, 5)
	rs := h.say(user, "1")
	expect(h.t, rs, "提交成功")
	ts, err := h.st.ResidentTickets(context.Background(), h.residentID(user), false)
	if err != nil || len(ts) == 0 {
		h.t.Fatalf("no ticket: %v", err)
	}
	return ts[0].Number
}

func (h *harness) residentID(user string) int64 {
	h.t.Helper()
	id, err := h.st.FindIdentity(context.Background(), bot.ChannelConsole, user)
	if err != nil {
		h.t.Fatal(err)
	}
	return id.ResidentID
}

func TestStatusListsOpenTickets(t *testing.T) {
	h := newHarness(t)
	expect(t, h.say("amy", "我的"), "您目前没有进行中的事项")
	n1 := h.report("amy")
	n2 := h.report("amy")
	rs := h.say("amy", "status")
	expect(t, rs, "您进行中的事项", n1, n2, "设施维修", "待受理", "楼道灯坏了三天")
	if len(rs[0].Choices) != 2 || rs[0].Choices[0].Payload != n2 {
		t.Fatalf("choices = %+v", rs[0].Choices)
	}
	// A resolved ticket is no longer listed.
	if _, err := h.st.ChangeTicket(context.Background(), store.TicketChange{Number: n1, To: store.TicketResolved,
		Event: store.TicketEvent{Kind: store.EventResolved, Actor: "王主任"}}); err != nil {
		t.Fatal(err)
	}
	rs = h.say("amy", "我的")
	expect(t, rs, n2)
	expectNot(t, rs, n1)
}

func TestTicketViewOnlyForOwner(t *testing.T) {
	h := newHarness(t)
	n := h.report("owner")
	rs := h.say("owner", n)
	expect(t, rs, "工单 "+n, "设施维修", "待受理", "楼道灯坏了三天", "3栋2单元501", "已提交", "取消这个工单")
	// Lower case and a button payload work too.
	expect(t, h.send(bot.Message{UserID: "owner", Payload: n}), "工单 "+n)
	expect(t, h.say("owner", "t1001"), "工单 T1001")
	// Anyone else is told it does not exist, exactly as for a made-up number.
	other := h.say("stranger", n)
	expect(t, other, "没有找到工单 "+n)
	expectNot(t, other, "楼道灯坏了三天", "设施维修")
	expect(t, h.say("stranger", "T9999"), "没有找到工单 T9999")
}

func TestTicketHistoryShowsStaffReplies(t *testing.T) {
	h := newHarness(t)
	n := h.report("zoe")
	ctx := context.Background()
	if _, err := h.st.ChangeTicket(ctx, store.TicketChange{Number: n, From: []string{store.TicketOpen}, To: store.TicketClaimed,
		Assignee: "王主任", FirstResponse: true, Event: store.TicketEvent{Kind: store.EventClaimed, Actor: "王主任"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.ChangeTicket(ctx, store.TicketChange{Number: n, FirstResponse: true,
		Event: store.TicketEvent{Kind: store.EventReplied, Actor: "王主任", Note: "明天上午派电工"}}); err != nil {
		t.Fatal(err)
	}
	rs := h.say("zoe", n)
	expect(t, rs, "处理中", "工作人员已受理", "工作人员回复：明天上午派电工")
	expectNot(t, rs, "取消这个工单")
}

func TestResidentCancelsUnclaimedTicket(t *testing.T) {
	h := newHarness(t)
	n := h.report("ben")
	rs := h.say("ben", "取消")
	expect(t, rs, "确定取消 工单 "+n)
	expect(t, h.say("ben", "不了"), "保留不变")
	tk, _ := h.st.Ticket(context.Background(), n)
	if tk.Status != store.TicketOpen {
		t.Fatalf("status %s after keeping", tk.Status)
	}
	h.say("ben", "cancel")
	expect(t, h.say("ben", "yes"), "工单 "+n+" 已取消")
	tk, _ = h.st.Ticket(context.Background(), n)
	if tk.Status != store.TicketCancelled {
		t.Fatalf("status %s", tk.Status)
	}
	evs, _ := h.st.TicketEvents(context.Background(), tk.ID)
	if last := evs[len(evs)-1]; last.Kind != store.EventCancelled || last.Actor != "resident" {
		t.Fatalf("last event %+v", last)
	}
	expect(t, h.say("ben", "取消"), "您没有可以取消的事项")
}

func TestCancelFromTicketButtonAndPick(t *testing.T) {
	h := newHarness(t)
	n1 := h.report("kim")
	n2 := h.report("kim")
	rs := h.say("kim", "取消")
	expect(t, rs, "要取消哪一项", n1, n2)
	rs = h.say("kim", "2") // the older one is listed second
	expect(t, rs, "确定取消 工单 "+n1)
	expect(t, h.say("kim", "确定"), n1+" 已取消")
	// The ticket view's button.
	rs = h.send(bot.Message{UserID: "kim", Payload: "cancel:ticket:" + n2})
	expect(t, rs, "确定取消 工单 "+n2)
	expect(t, h.say("kim", "1"), n2+" 已取消")
	// A forged payload for someone else's ticket finds nothing.
	n3 := h.report("lee")
	expect(t, h.send(bot.Message{UserID: "kim", Payload: "cancel:ticket:" + n3}), "这一项已经不能取消了")
	tk, _ := h.st.Ticket(context.Background(), n3)
	if tk.Status != store.TicketOpen {
		t.Fatal("another resident's ticket was cancelled")
	}
}

func TestClaimedTicketCannotBeCancelled(t *testing.T) {
	h := newHarness(t)
	n := h.report("max")
	rs := h.say("max", "取消")
	expect(t, rs, "确定取消")
	// Staff claim it while the resident is deciding.
	if _, err := h.st.ChangeTicket(context.Background(), store.TicketChange{Number: n, From: []string{store.TicketOpen},
		To: store.TicketClaimed, Event: store.TicketEvent{Kind: store.EventClaimed, Actor: "王主任"}}); err != nil {
		t.Fatal(err)
	}
	expect(t, h.say("max", "确定"), "这一项已经不能取消了")
	tk, _ := h.st.Ticket(context.Background(), n)
	if tk.Status != store.TicketClaimed {
		t.Fatalf("status %s", tk.Status)
	}
}

func TestMenuAndUnrecognised(t *testing.T) {
	h := newHarness(t)
	rs := h.say("ned", "今天天气不错")
	expect(t, rs, "普惠苑社区 邻里服务", "1. 报事报修", "我的事项")
	expect(t, h.say("ned", "1"), "请选择问题类别")
	h.say("ned", "取消")
	expect(t, h.say("ned", "/menu"), "邻里服务")
	expect(t, h.say("ned", "２"), "您目前没有进行中的事项") // full-width digit picks "my items"
}

func TestSubscribeEventWelcomesAndStartsFlow(t *testing.T) {
	h := newHarness(t)
	rs := h.send(bot.Message{UserID: "sub", Event: bot.EventSubscribe})
	expect(t, rs, "欢迎来到普惠苑社区", "邻里服务")
	rs = h.send(bot.Message{UserID: "sub2", Event: bot.EventSubscribe, EventKey: "report"})
	expect(t, rs, "欢迎来到", "请选择问题类别")
	rs = h.send(bot.Message{UserID: "sub3", Event: bot.EventMenu, EventKey: "status"})
	expect(t, rs, "您目前没有进行中的事项")
}

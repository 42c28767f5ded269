package flows

import (
	"context"
	"fmt"
	"testing"
)

// Inside a flow, the words that work everywhere do what they say instead
// of becoming the step's answer: status words and a ticket number answer
// and re-ask the step, TD unsubscribes and re-asks, and the start words of
// another flow pause this one and start that one. Free text that merely
// contains such a word is still an answer.
func TestWordsThatWorkEverywhereInsideAFlow(t *testing.T) {
	const descQ = "请描述一下问题"
	for _, w := range []string{"我的", "status", "查询"} {
		t.Run("status/"+w, func(t *testing.T) {
			h := newHarness(t)
			num := h.report("ann")
			h.toStep("ann", 1)
			rs := h.say("ann", w)
			expect(t, rs, "您进行中的事项", num, descQ)
			expectNot(t, rs, "邻里服务。请选择")
			if st := h.conv("ann"); st.Step != "description" || st.Data["description"] != "" || st.Tries != 0 {
				t.Fatalf("state after %q: %+v", w, st)
			}
			expect(t, h.say("ann", "楼道灯坏了三天"), "如方便，请发一张现场照片")
		})
	}
	t.Run("status with nothing open", func(t *testing.T) {
		h := newHarness(t)
		h.toStep("amos", 1)
		rs := h.say("amos", "我的")
		expect(t, rs, "您目前没有进行中的事项", descQ)
		expectNot(t, rs, "邻里服务。请选择")
	})
	t.Run("ticket number", func(t *testing.T) {
		h := newHarness(t)
		num := h.report("ben")
		h.toStep("ben", 1)
		rs := h.say("ben", num)
		expect(t, rs, "工单 "+num+" · 设施维修", "楼道灯坏了三天", descQ)
		if st := h.conv("ben"); st.Step != "description" || st.Data["description"] != "" {
			t.Fatalf("state %+v", st)
		}
	})
	for _, w := range []string{"TD", "退订", "unsubscribe"} {
		t.Run("unsubscribe/"+w, func(t *testing.T) {
			h := newHarness(t)
			h.toStep("cat", 1)
			expect(t, h.say("cat", w), "已为您退订社区通知", descQ)
			r, _ := h.st.Resident(context.Background(), h.residentID("cat"))
			if !r.Unsubscribed || h.conv("cat").Step != "description" {
				t.Fatalf("unsubscribed %v, state %+v", r.Unsubscribed, h.conv("cat"))
			}
		})
	}
	for _, w := range []string{"我的灯坏了", "TD 楼下一直在修路", "预约的师傅没来"} {
		t.Run("free text/"+w, func(t *testing.T) {
			h := newHarness(t)
			h.toStep("dan", 1)
			expect(t, h.say("dan", w), "如方便，请发一张现场照片")
			if st := h.conv("dan"); st.Data["description"] != w {
				t.Fatalf("description %q", st.Data["description"])
			}
		})
	}
	t.Run("nothing to start", func(t *testing.T) {
		h := newHarness(t) // no services, no events
		h.toStep("eva", 1)
		rs := h.say("eva", "活动")
		expect(t, rs, "近期没有可报名的活动", descQ)
		expectNot(t, rs, "已暂停", "邻里服务。请选择")
		expect(t, h.say("eva", "预约"), descQ)
		if st := h.conv("eva"); st.Flow != "report" || st.Step != "description" || st.Paused {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("own start word", func(t *testing.T) {
		h := newHarness(t)
		h.toStep("eli", 1)
		expect(t, h.say("eli", "报修"), "您正在填写“报事报修”", descQ)
		if st := h.conv("eli"); st.Flow != "report" || st.Step != "description" || st.Data["category"] != "repairs" {
			t.Fatalf("state %+v", st)
		}
	})
}

// The start word of another flow pauses the current one, which 继续 brings
// back once the other is done or given up.
func TestStartWordPausesTheFlowAndStartsAnother(t *testing.T) {
	for _, c := range []struct{ word, prompt, flow string }{
		{"预约", "请选择要预约的服务", "book"},
		{"book", "请选择要预约的服务", "book"},
		{"活动", "近期活动", "events"},
		{"绑定手机", "请输入您要绑定的手机号码", "phone"},
	} {
		t.Run(c.word, func(t *testing.T) {
			h := newPlacesHarness(t)
			h.training(10, 0)
			h.toStep("fay", 2) // the photo step, with category and description given
			rs := h.say("fay", c.word)
			expect(t, rs, "已暂停“报事报修”", c.prompt)
			if st := h.conv("fay"); st.Flow != c.flow || st.Paused {
				t.Fatalf("state %+v", st)
			}
			rs = h.say("fay", "取消")
			expect(t, rs, "已取消", "发送“继续”")
			if st := h.conv("fay"); st.Flow != "report" || !st.Paused || st.Step != "photo" {
				t.Fatalf("report not kept: %+v", st)
			}
			expect(t, h.say("fay", "继续"), "如方便，请发一张现场照片")
			expect(t, h.say("fay", "跳过"), "问题在哪里")
			if d := h.conv("fay").Data["description"]; d != "楼道灯坏了三天" {
				t.Fatalf("description lost: %q", d)
			}
		})
	}
}

// A paused report survives a booking made in the middle of it.
func TestReportResumesAfterACompletedBooking(t *testing.T) {
	h := newPlacesHarness(t)
	h.toStep("gil", 3) // location step
	expect(t, h.say("gil", "预约"), "已暂停“报事报修”", "请选择要预约的服务")
	h.say("gil", "1")
	h.say("gil", "1")
	h.say("gil", "1")
	rs := h.say("gil", "确认")
	expect(t, rs, "B1001", "您有一项未完成的“报事报修”，发送“继续”接着填写")
	expect(t, h.say("gil", "继续"), "问题在哪里")
	h.say("gil", "3栋2单元501")
	h.say("gil", "跳过")
	expect(t, h.say("gil", "确认"), "提交成功")
	// Booking words inside the booking flow re-ask its step.
	h.say("gil", "预约")
	expect(t, h.say("gil", "预约"), "您正在填写“预约服务”", "请选择要预约的服务")
	_ = fmt.Sprint
}

// A shelved flow survives the flow after the one that shelved it (the
// event detail's "cancel my registration" switches to cancelling).
func TestShelvedFlowSurvivesASwitch(t *testing.T) {
	h := newPlacesHarness(t)
	h.training(10, 0)
	h.say("hu", "活动")
	h.say("hu", "1")
	h.say("hu", "报名")
	expect(t, h.say("hu", "确认"), "报名成功")
	h.toStep("hu", 1)
	expect(t, h.say("hu", "活动"), "已暂停“报事报修”")
	h.say("hu", "1")
	expect(t, h.say("hu", "取消报名"), "确定取消")
	rs := h.say("hu", "确定")
	expect(t, rs, "已取消", "您有一项未完成的“报事报修”")
	expect(t, h.say("hu", "继续"), "请描述一下问题")
}

// TestWordsThatWorkEverywhereAtEveryStep sends 我的, TD and the start word
// of another flow at every step of the report, booking and events flows
// (the companion of the global-word tests).
func TestWordsThatWorkEverywhereAtEveryStep(t *testing.T) {
	var report []flowStep
	for _, s := range reportSteps {
		report = append(report, flowStep{s.name, s.reach, s.prompt})
	}
	flows := []struct {
		title string
		steps []flowStep
		setup func(t *testing.T) *harness
	}{
		{"报事报修", report, func(t *testing.T) *harness { return newHarness(t) }},
		{"预约服务", []flowStep{
			{"service", "预约", "请选择要预约的服务"},
			{"day", "1", "哪天方便"},
			{"slot", "1", "有这些时段"},
			{"full", "1", "这个时段已约满"},
			{"confirm", "1", "请确认您的预约"},
		}, func(t *testing.T) *harness {
			h := newPlacesHarness(t)
			h.book("x", "1", "1")
			h.book("y", "1", "1")
			return h
		}},
		{"活动报名", []flowStep{
			{"list", "活动", "近期活动"},
			{"detail", "1", "报名截止"},
			{"companions", "1", "您带几位同行"},
			{"confirm", "1", "请确认报名"},
		}, func(t *testing.T) *harness {
			h := newPlacesHarness(t)
			h.training(20, 2)
			return h
		}},
	}
	for _, f := range flows {
		for i, s := range f.steps {
			for _, w := range []string{"我的", "TD", "绑定手机"} {
				t.Run(fmt.Sprintf("%s/%s/%s", f.title, s.name, w), func(t *testing.T) {
					h := f.setup(t)
					user := "ew"
					for _, st := range f.steps[:i+1] {
						h.say(user, st.reach)
					}
					if got := h.conv(user).Step; got != s.name {
						t.Fatalf("at step %q, want %q", got, s.name)
					}
					rs := h.say(user, w)
					switch w {
					case "我的":
						expect(t, rs, "事项", s.prompt)
					case "TD":
						expect(t, rs, "已为您退订", s.prompt)
					default:
						expect(t, rs, "已暂停“"+f.title+"”", "请输入您要绑定的手机号码")
						h.say(user, "取消")
						expect(t, h.say(user, "继续"), s.prompt)
					}
					if st := h.conv(user); st.Step != s.name || st.Paused {
						t.Fatalf("after %q: %+v", w, st)
					}
				})
			}
		}
	}
}

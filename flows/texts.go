package flows

import (
	"fmt"
	"strings"
)

// text is one message in both languages; fmt verbs take the arguments.
type text struct {
	zh string
	en string
}

// catalog maps a message key to its texts. Each feature keeps its own
// catalog in its own file; catalogs lists them all.
type catalog map[string]text

// catalogs is every catalog the engine looks keys up in.
var catalogs = []catalog{coreTexts, reportTexts, statusTexts, staffTexts, prefillTexts, placeTexts, bookingTexts, eventTexts, eventStaffTexts, notifyTexts, deskTexts, rateTexts, statsTexts, commandTexts, privacyTexts, anywhereTexts, deskReplyTexts, eventChangeTexts, wechatStaffTexts}

// lookup finds a key in the catalogs.
func lookup(key string) (text, bool) {
	for _, c := range catalogs {
		if t, ok := c[key]; ok {
			return t, true
		}
	}
	return text{}, false
}

// T renders a message in lang. A missing key is a bug that a test catches;
// at run time it shows the key rather than nothing.
func T(lang, key string, args ...any) string {
	t, ok := lookup(key)
	if !ok {
		return key
	}
	s := t.zh
	if lang == "en" {
		s = t.en
	}
	if len(args) > 0 {
		s = fmt.Sprintf(s, args...)
	}
	return s
}

// pick returns the zh or en form of a pair of names.
func pick(lang, zh, en string) string {
	if lang == "en" && en != "" {
		return en
	}
	if zh == "" {
		return en
	}
	return zh
}

// lines joins non-empty lines.
func lines(ls ...string) string {
	out := ls[:0:0]
	for _, l := range ls {
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var coreTexts = catalog{
	"menu.title":          {"%s 邻里服务。请选择：", "%s neighbourhood service. Please choose:"},
	"menu.report":         {"报事报修", "Report a problem"},
	"menu.book":           {"预约服务", "Book a service"},
	"menu.events":         {"社区活动", "Community events"},
	"menu.status":         {"我的事项", "My items"},
	"menu.phone":          {"绑定手机", "Bind my phone"},
	"menu.hint":           {"随时发送“菜单”回到这里，“取消”退出当前操作，“返回”回到上一步。English: send “English”.", "Send “menu” to come back here, “cancel” to leave what you are doing, “back” for the previous step. 中文请发送“中文”。"},
	"menu.resume_hint":    {"您有一项未完成的“%s”，发送“继续”接着填写。", "You have an unfinished “%s”; send “continue” to pick it up."},
	"welcome":             {"您好，欢迎来到%s！您可以在这里报事报修、预约服务、报名活动、查询进度。", "Hello and welcome to %s! Here you can report problems, book services, sign up for events and follow up on them."},
	"lang.set":            {"好的，以后用中文和您交流。", "OK, I will talk to you in English from now on."},
	"cancelled":           {"已取消。", "Cancelled."},
	"nothing_to_cancel":   {"您没有可以取消的事项。", "You have nothing that can be cancelled."},
	"back.first":          {"已经是第一步了。", "This is already the first step."},
	"help.step":           {"您正在填写“%s”。请按提示回复；也可以发送“返回”回到上一步，“取消”退出，“菜单”回到主菜单。", "You are filling in “%s”. Answer the question below; or send “back” for the previous step, “cancel” to stop, “menu” for the main menu."},
	"expired":             {"您的“%s”因长时间未回复已暂停。24 小时内发送“继续”可以接着填写。", "Your “%s” was paused because there was no answer for a while. Send “continue” within 24 hours to pick it up."},
	"resume.none":         {"没有可以继续的事项。", "There is nothing to continue."},
	"resume.ok":           {"好的，我们接着来。", "OK, let's carry on."},
	"paused.menu":         {"已暂停“%s”，发送“继续”可以回来。", "“%s” is paused; send “continue” to come back to it."},
	"invalid.choice":      {"请回复选项前的数字，或点选一个按钮。", "Please answer with the number of an option, or press a button."},
	"stuck":               {"看起来遇到了困难。您可以：", "It seems this is not working. You can:"},
	"stuck.retry":         {"再试一次", "Try again"},
	"stuck.menu":          {"回到主菜单", "Back to the main menu"},
	"stuck.person":        {"联系工作人员", "Talk to a person"},
	"handoff.done":        {"已为您转接工作人员（工单 %s），我们会尽快联系您。", "A member of staff has been asked to help you (ticket %s); we will contact you soon."},
	"handoff.phone":       {"也可以直接致电社区办公室：%s。", "You can also call the community office: %s."},
	"handoff.desc":        {"居民在“%s”中需要人工协助（步骤：%s）。最后的输入：%s", "The resident asked for a person during “%s” (step: %s). Last input: %s"},
	"unavailable":         {"抱歉，系统暂时出了点问题，请稍后再试。您刚才提交的内容不会丢失。", "Sorry, something went wrong on our side. Please try again in a moment; nothing you already sent is lost."},
	"voice.untranscribed": {"抱歉，没能识别这条语音，请打字告诉我们。", "Sorry, I could not make out that voice message. Please type it."},
	"not_available":       {"这项功能即将开通，敬请期待。", "This is not available yet; it is coming soon."},
	"word.skip":           {"跳过", "Skip"},
	"word.yes":            {"确定", "Yes"},
	"word.no":             {"不了", "No"},
	"status.open":         {"待受理", "waiting"},
	"status.claimed":      {"处理中", "in progress"},
	"status.resolved":     {"已办结", "resolved"},
	"status.cancelled":    {"已取消", "cancelled"},
	"flow.report":         {"报事报修", "report"},
	"flow.status":         {"查询", "status"},
	"flow.cancelitem":     {"取消事项", "cancellation"},
}

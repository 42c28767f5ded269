package flows

import (
	"strings"

	"linli/store"
)

// WeChat staff are reached like residents: by customer-service message only
// within 48 hours of their own last message to the account, otherwise by
// template message. A staff member who last wrote two days ago, or never,
// would get no alert at all from a row without a template, so every
// WeChat staff row about a ticket names the ticket_update template (the
// one the office configures for residents: ticket, status), which the
// sender uses when the window is closed.

var wechatStaffTexts = catalog{
	"desk.tpl_new":          {"新工单", "new ticket"},
	"desk.tpl_attention":    {"请处理", "needs attention"},
	"desk.tpl_read_in_chat": {"在公众号发送 /open 查看待办工单", "send /open to the account for the open tickets"},
}

// staffTemplate makes body, a staff message about ticket number, fall back
// to the ticket_update template with status (a catalog key). Rows about no
// ticket (the digest, delivery problems) are left as they are.
func staffTemplate(body store.OutboxBody, number, status string) store.OutboxBody {
	n, ok := store.NormalizeTicketNumber(number)
	if !ok || !strings.HasPrefix(number, "T") {
		return body
	}
	body.Template = "ticket_update"
	body.Params = map[string]string{"ticket": n, "status": T(body.Lang, status)}
	return body
}

package notify

import (
	"context"
	"errors"
	"net/http"
	"time"

	"linli/notify/aliyun"
)

// AliyunSMS is the SMS provider on Aliyun's dysmsapi. Rows name templates
// (OutboxBody.Template: verify_code, reminder, survey, notice,
// ticket_update); the config maps each name to an approved code.
type AliyunSMS struct {
	c         *aliyun.Client
	templates map[string]string
}

// NewAliyunSMS returns the provider; hc may be nil (see aliyun.New).
func NewAliyunSMS(cfg aliyun.Config, hc *http.Client) (*AliyunSMS, error) {
	c, err := aliyun.New(cfg, hc)
	if err != nil {
		return nil, err
	}
	t := cfg.Templates
	return &AliyunSMS{c: c, templates: map[string]string{
		KindVerifyCode:   t.VerifyCode,
		KindReminder:     t.Reminder,
		KindSurvey:       t.Survey,
		KindNotice:       t.Notice,
		KindTicketUpdate: t.TicketUpdate,
	}}, nil
}

// Name implements SMSProvider.
func (*AliyunSMS) Name() string { return "aliyun" }

// HasTemplate implements TemplateChecker: a name with no code configured
// is not sent by SMS.
func (a *AliyunSMS) HasTemplate(name string) bool { return a.templates[name] != "" }

// MaxSame implements BulkSMS (SendSms).
func (*AliyunSMS) MaxSame() int { return aliyun.MaxSendPhones }

// MaxEach implements BulkSMS (SendBatchSms).
func (*AliyunSMS) MaxEach() int { return aliyun.MaxBatchPhones }

func (a *AliyunSMS) code(name string) (string, error) {
	if c := a.templates[name]; c != "" {
		return c, nil
	}
	return "", &smsError{err: errors.New("aliyun: no template code for " + name)}
}

// SendSMS implements SMSProvider.
func (a *AliyunSMS) SendSMS(ctx context.Context, phone, template string, params map[string]string, outID string) (string, error) {
	return a.SendSame(ctx, []string{phone}, template, params, outID)
}

// SendSame implements BulkSMS with SendSms.
func (a *AliyunSMS) SendSame(ctx context.Context, phones []string, template string, params map[string]string, outID string) (string, error) {
	code, err := a.code(template)
	if err != nil {
		return "", err
	}
	res, err := a.c.Send(ctx, aliyun.SendRequest{Phones: phones, TemplateCode: code, Params: params, OutID: outID})
	if err != nil {
		return "", wrapAliyun(err)
	}
	return res.BizID, nil
}

// SendEach implements BulkSMS with SendBatchSms.
func (a *AliyunSMS) SendEach(ctx context.Context, items []SMSItem, template string, outID string) (string, error) {
	code, err := a.code(template)
	if err != nil {
		return "", err
	}
	req := aliyun.BatchRequest{TemplateCode: code, OutID: outID, Items: make([]aliyun.BatchItem, len(items))}
	for i, it := range items {
		req.Items[i] = aliyun.BatchItem{Phone: it.Phone, Params: it.Params}
	}
	res, err := a.c.SendBatch(ctx, req)
	if err != nil {
		return "", wrapAliyun(err)
	}
	return res.BizID, nil
}

// Lookup implements SMSLookup with QuerySendDetails on the day of the call.
func (a *AliyunSMS) Lookup(ctx context.Context, phone, outID string, sentAt time.Time) (SMSRecord, bool, error) {
	if sentAt.IsZero() {
		sentAt = time.Now()
	}
	// A call made just before midnight in Beijing may be filed on either day.
	days := []time.Time{sentAt}
	if next := sentAt.Add(5 * time.Minute); next.In(beijing).Day() != sentAt.In(beijing).Day() {
		days = append(days, next)
	}
	for _, day := range days {
		ds, err := a.c.QuerySendDetails(ctx, phone, day, "")
		if err != nil {
			return SMSRecord{}, false, wrapAliyun(err)
		}
		for _, d := range ds {
			if d.OutID == outID {
				return SMSRecord{BizID: d.BizID, Delivered: d.Status == aliyun.StatusDelivered, Failed: d.Status == aliyun.StatusFailed, Code: d.ErrCode}, true, nil
			}
		}
	}
	return SMSRecord{}, false, nil
}

// Receipt implements ReceiptQuerier: the delivery state of an accepted
// message, by its BizId.
func (a *AliyunSMS) Receipt(ctx context.Context, phone, bizID, outID string, sentAt time.Time) (SMSRecord, bool, error) {
	ds, err := a.c.QuerySendDetails(ctx, phone, sentAt, bizID)
	if err != nil {
		return SMSRecord{}, false, wrapAliyun(err)
	}
	for _, d := range ds {
		if outID == "" || d.OutID == outID {
			return SMSRecord{BizID: bizID, Delivered: d.Status == aliyun.StatusDelivered, Failed: d.Status == aliyun.StatusFailed, Code: d.ErrCode}, true, nil
		}
	}
	return SMSRecord{}, false, nil
}

var beijing = time.FixedZone("CST", 8*3600)

// smsError carries what the dispatcher must know about an Aliyun error.
type smsError struct {
	err         error
	temporary   bool
	mayHaveSent bool
	badNumber   bool
	ae          *aliyun.Error
}

func wrapAliyun(err error) error {
	e := &smsError{err: err, temporary: aliyun.IsTemporary(err), mayHaveSent: aliyun.MayHaveSent(err)}
	if errors.As(err, &e.ae) {
		e.badNumber = e.ae.Code == "isv.MOBILE_NUMBER_ILLEGAL"
	}
	return e
}

func (e *smsError) Error() string     { return e.err.Error() }
func (e *smsError) Unwrap() error     { return e.err }
func (e *smsError) Temporary() bool   { return e.temporary }
func (e *smsError) MayHaveSent() bool { return e.mayHaveSent }
func (e *smsError) BadNumber() bool   { return e.badNumber }

// RetryAt is Aliyun's hint for throttling (the end of a minute, an hour or
// the day); zero otherwise, for the backoff to decide.
func (e *smsError) RetryAt(now time.Time) time.Time {
	if e.ae != nil {
		return e.ae.RetryAt(now)
	}
	return time.Time{}
}

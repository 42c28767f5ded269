package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// ErrInvalidRequest is wrapped by every error for a request refused before
// it left the process (too many numbers, empty template code...). Retrying it
// unchanged cannot succeed.
var ErrInvalidRequest = errors.New("invalid request")

// Kind sorts Aliyun's answers by what the caller should do about them.
type Kind int

const (
	// KindRejected: this request is wrong (bad number, missing template
	// parameter, forbidden content). Do not retry it unchanged.
	KindRejected Kind = iota
	// KindThrottled: a rate or quota limit. The same request can succeed
	// later; Error.RetryAt says when.
	KindThrottled
	// KindUnavailable: Aliyun failed (isp.SYSTEM_ERROR, HTTP 5xx). Retry
	// with backoff; for sends, reconcile by OutId first, since a 5xx does not
	// prove the message was not sent.
	KindUnavailable
	// KindAccount: credentials, balance, sign name or template are wrong or
	// unusable. Every message will fail the same way until a person fixes
	// the account or the configuration.
	KindAccount
)

// String names the kind for logs and metrics labels.
func (k Kind) String() string {
	switch k {
	case KindThrottled:
		return "throttled"
	case KindUnavailable:
		return "unavailable"
	case KindAccount:
		return "account"
	default:
		return "rejected"
	}
}

// codeKinds classifies the codes Aliyun documents for dysmsapi ("国内消息API
// 错误码", help.aliyun.com/zh/sms/developer-reference/api-error-codes) and the
// POP gateway's own codes. Codes not listed fall back by prefix in kindOf.
var codeKinds = map[string]Kind{
	// Per-number frequency control (verification codes 1/min, 5/h, 10/day per
	// number; notices 50/day per number and template) and the account's
	// console-set daily total: both lift with time, the message is fine.
	"isv.BUSINESS_LIMIT_CONTROL": KindThrottled,
	"isv.DAY_LIMIT_CONTROL":      KindThrottled,
	// API call-rate control of the gateway.
	"Throttling":      KindThrottled,
	"Throttling.User": KindThrottled,
	"Throttling.Api":  KindThrottled,
	"Throttling.API":  KindThrottled,

	"isp.SYSTEM_ERROR":   KindUnavailable,
	"isp.GATEWAY_ERROR":  KindUnavailable,
	"InternalError":      KindUnavailable,
	"ServiceUnavailable": KindUnavailable,
	"UnknownError":       KindUnavailable,
	// The SDK makes a fresh nonce per attempt, so a retry cannot collide.
	"SignatureNonceUsed": KindUnavailable,

	"isv.MOBILE_NUMBER_ILLEGAL":         KindRejected,
	"isv.MOBILE_COUNT_OVER_LIMIT":       KindRejected,
	"isv.TEMPLATE_MISSING_PARAMETERS":   KindRejected,
	"isv.TEMPLATE_PARAMS_ILLEGAL":       KindRejected,
	"isv.INVALID_PARAMETERS":            KindRejected,
	"isv.INVALID_JSON_PARAM":            KindRejected,
	"isv.BLACK_KEY_CONTROL_LIMIT":       KindRejected,
	"isv.PARAM_LENGTH_LIMIT":            KindRejected,
	"isv.PARAM_NOT_SUPPORT_URL":         KindRejected,
	"isv.SMS_CONTENT_ILLEGAL":           KindRejected,
	"isv.DOMESTIC_NUMBER_NOT_SUPPORTED": KindRejected,
	"isv.EXTEND_CODE_ERROR":             KindRejected,

	// A wrong template code or sign name is configuration: every message of
	// that kind fails until an operator fixes it.
	"isv.SMS_TEMPLATE_ILLEGAL":          KindAccount,
	"isv.SMS_SIGNATURE_ILLEGAL":         KindAccount,
	"isv.SMS_SIGN_ILLEGAL":              KindAccount,
	"isv.SIGN_STATE_ILLEGAL":            KindAccount,
	"isv.SMS_SIGNATURE_SCENE_ILLEGAL":   KindAccount,
	"isv.AMOUNT_NOT_ENOUGH":             KindAccount,
	"isv.OUT_OF_SERVICE":                KindAccount,
	"isv.PRODUCT_UN_SUBSCRIPT":          KindAccount,
	"isv.PRODUCT_UNSUBSCRIBE":           KindAccount,
	"isv.ACCOUNT_NOT_EXISTS":            KindAccount,
	"isv.ACCOUNT_ABNORMAL":              KindAccount,
	"isv.DENY_IP_RANGE":                 KindAccount,
	"isv.MONTH_LIMIT_CONTROL":           KindAccount, // a month is too long to wait; raise the threshold
	"isp.RAM_PERMISSION_DENY":           KindAccount,
	"SignatureDoesNotMatch":             KindAccount, // wrong secret
	"IncompleteSignature":               KindAccount,
	"InvalidAccessKeyId.NotFound":       KindAccount,
	"InvalidAccessKeyId.Inactive":       KindAccount,
	"InvalidTimeStamp.Expired":          KindAccount, // this host's clock is off
	"InvalidTimeStamp.Format":           KindAccount,
	"InvalidVersion":                    KindAccount,
	"InvalidAction.NotFound":            KindAccount, // endpoint points somewhere else
	"InvalidApi.NotFound":               KindAccount,
	"Forbidden.RAM":                     KindAccount,
	"Forbidden.AccessKeyDisabled":       KindAccount,
	"Forbidden.SubUser":                 KindAccount,
	"InvalidSecurityToken.Expired":      KindAccount,
	"InvalidSecurityToken.Malformed":    KindAccount,
	"InvalidSecurityToken.MismatchWith": KindAccount,
}

func kindOf(code string, httpStatus int) Kind {
	if k, ok := codeKinds[code]; ok {
		return k
	}
	switch {
	case strings.HasPrefix(code, "Throttling"):
		return KindThrottled
	case httpStatus >= 500:
		return KindUnavailable
	case strings.HasPrefix(code, "isp."):
		// isp codes are the platform's side; the unknown ones are its faults.
		return KindUnavailable
	case strings.HasPrefix(code, "InvalidAccessKeyId"), strings.HasPrefix(code, "Forbidden"),
		httpStatus == 401, httpStatus == 403:
		return KindAccount
	}
	// Unknown isv.* codes and gateway 4xx: something about the request.
	return KindRejected
}

// Error is an answer from Aliyun other than Code "OK": a business error (HTTP
// 200, which the SDK returns with err == nil) or a gateway error (HTTP 4xx or
// 5xx). Message is Aliyun's text with phone numbers masked and the echoed
// string-to-sign cut off.
type Error struct {
	Op         string // "send", "send batch" or "query send details"
	Code       string // e.g. isv.BUSINESS_LIMIT_CONTROL
	Message    string
	RequestID  string
	HTTPStatus int
}

// Error reads "aliyun: OP: CODE: MESSAGE (request ID)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("aliyun: " + e.Op + ": ")
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Kind classifies the error; see the Kind constants.
func (e *Error) Kind() Kind { return kindOf(e.Code, e.HTTPStatus) }

// Temporary reports whether the same request may succeed later: throttling
// and Aliyun's own failures. Account problems are not temporary even though a
// person can fix them: retrying will not.
func (e *Error) Temporary() bool {
	k := e.Kind()
	return k == KindThrottled || k == KindUnavailable
}

// RetryAt suggests when to try again, given the current time: the end of the
// flow-control window for throttling (a minute, an hour, or the next day in
// Beijing time as the message says), a second for API rate limits. It
// returns the zero time when there is no hint (use your own backoff) or the
// error is not temporary.
func (e *Error) RetryAt(now time.Time) time.Time {
	if e.Kind() != KindThrottled {
		return time.Time{}
	}
	msg := strings.ToLower(e.Message)
	switch {
	case e.Code == "isv.DAY_LIMIT_CONTROL",
		strings.Contains(msg, "天级"), strings.Contains(msg, "day"):
		y, m, d := now.In(beijing).Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, beijing)
	case strings.Contains(msg, "小时级"), strings.Contains(msg, "hour"):
		return now.Add(time.Hour)
	case e.Code == "isv.BUSINESS_LIMIT_CONTROL":
		return now.Add(time.Minute)
	default:
		return now.Add(time.Second)
	}
}

// netError is a failure to get an answer at all: refused connection,
// timeout, reset, cancelled context. It is temporary; it may or may not mean
// the request reached Aliyun.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string {
	return "aliyun: " + e.op + ": no answer: " + sanitize(e.err.Error())
}
func (e *netError) Unwrap() error   { return e.err }
func (e *netError) Temporary() bool { return true }

// IsTemporary reports whether err may go away by itself: throttling, Aliyun
// failures, network failures and timeouts. It is false for nil, for
// ErrInvalidRequest and for business and account errors.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	var ne *netError
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, ErrInvalidRequest) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr)
}

// MayHaveSent reports whether a failed Send or SendBatch may nevertheless have
// been accepted by Aliyun: no answer arrived after the request could have
// left (timeout, reset) or the gateway failed with a 5xx. SendSms is not
// idempotent, so before resending such a message, look it up with
// QuerySendDetails by its OutId. A refused connection or a business error
// means nothing was sent.
func MayHaveSent(err error) bool {
	if err == nil {
		return true
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.HTTPStatus >= 500
	}
	var ne *netError
	if !errors.As(err, &ne) {
		return false
	}
	var op *net.OpError
	if errors.As(ne.err, &op) && op.Op == "dial" {
		return false
	}
	return true
}

// MaskPhone shows the first three and last four digits of a mainland number,
// e.g. 138****5678, after dropping a +86/0086/86 prefix. Anything shorter
// than eight characters is masked entirely.
func MaskPhone(p string) string {
	p = stripCountryCode(strings.TrimSpace(p))
	if len(p) < 8 {
		return "****"
	}
	return p[:3] + "****" + p[len(p)-4:]
}

func stripCountryCode(p string) string {
	for _, prefix := range []string{"+86", "0086", "86"} {
		if len(p) == len(prefix)+11 && strings.HasPrefix(p, prefix) {
			return p[len(prefix):]
		}
	}
	return p
}

var (
	digitRun     = regexp.MustCompile(`[0-9]+`)
	mobileNumber = regexp.MustCompile(`^(?:86|0086)?1[3-9][0-9]{9}$`)
	queryString  = regexp.MustCompile(`\?[^\s"']*`)
)

// maxMessage bounds how much of Aliyun's text (which may be a whole HTML error
// page from a proxy) goes into an error string.
const maxMessage = 300

// sanitize makes outside text fit for an error string and a log line: the
// SDK puts every parameter, phone numbers included, into the URL query, and
// Aliyun echoes its string to sign on SignatureDoesNotMatch.
func sanitize(s string) string {
	if i := strings.Index(s, "server string to sign is:"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = queryString.ReplaceAllString(s, "?…")
	s = digitRun.ReplaceAllStringFunc(s, func(run string) string {
		if mobileNumber.MatchString(run) {
			return MaskPhone(run)
		}
		return run
	})
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxMessage {
		s = string(r[:maxMessage]) + "…"
	}
	return s
}

package aliyun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestClassification(t *testing.T) {
	cases := []struct {
		code   string
		status int
		kind   Kind
	}{
		{"isv.BUSINESS_LIMIT_CONTROL", 200, KindThrottled},
		{"isv.DAY_LIMIT_CONTROL", 200, KindThrottled},
		{"Throttling.User", 400, KindThrottled},
		{"Throttling.SomethingNew", 400, KindThrottled},
		{"isp.SYSTEM_ERROR", 200, KindUnavailable},
		{"isp.SOMETHING_NEW", 200, KindUnavailable},
		{"InternalError", 500, KindUnavailable},
		{"", 502, KindUnavailable},
		{"isv.MOBILE_NUMBER_ILLEGAL", 200, KindRejected},
		{"isv.TEMPLATE_MISSING_PARAMETERS", 200, KindRejected},
		{"isv.MOBILE_COUNT_OVER_LIMIT", 200, KindRejected},
		{"isv.SOMETHING_NEW", 200, KindRejected},
		{"MissingPhoneNumbers", 400, KindRejected},
		{"isv.SMS_TEMPLATE_ILLEGAL", 200, KindAccount},
		{"isv.AMOUNT_NOT_ENOUGH", 200, KindAccount},
		{"isv.MONTH_LIMIT_CONTROL", 200, KindAccount},
		{"isp.RAM_PERMISSION_DENY", 200, KindAccount},
		{"SignatureDoesNotMatch", 400, KindAccount},
		{"InvalidAccessKeyId.NotFound", 404, KindAccount},
		{"InvalidAccessKeyId.Whatever", 400, KindAccount},
	}
	for _, c := range cases {
		e := &Error{Op: "send", Code: c.code, HTTPStatus: c.status}
		if got := e.Kind(); got != c.kind {
			t.Errorf("%s/%d: kind %v, want %v", c.code, c.status, got, c.kind)
		}
		wantTemp := c.kind == KindThrottled || c.kind == KindUnavailable
		if e.Temporary() != wantTemp || IsTemporary(fmt.Errorf("wrapped: %w", e)) != wantTemp {
			t.Errorf("%s: Temporary %v, want %v", c.code, e.Temporary(), wantTemp)
		}
	}
}

func TestRetryAt(t *testing.T) {
	now := time.Date(2024, 5, 1, 22, 30, 0, 0, beijing)
	cases := []struct {
		code, msg string
		want      time.Time
	}{
		{"isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1", now.Add(time.Minute)},
		{"isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5", now.Add(time.Hour)},
		{"isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:10", time.Date(2024, 5, 2, 0, 0, 0, 0, beijing)},
		{"isv.BUSINESS_LIMIT_CONTROL", "", now.Add(time.Minute)},
		{"isv.DAY_LIMIT_CONTROL", "触发日发送限额", time.Date(2024, 5, 2, 0, 0, 0, 0, beijing)},
		{"Throttling.User", "Request was denied due to user flow control.", now.Add(time.Second)},
		{"isp.SYSTEM_ERROR", "", time.Time{}},
		{"isv.MOBILE_NUMBER_ILLEGAL", "", time.Time{}},
	}
	for _, c := range cases {
		e := &Error{Code: c.code, Message: c.msg, HTTPStatus: 200}
		if got := e.RetryAt(now); !got.Equal(c.want) {
			t.Errorf("%s %q: %v, want %v", c.code, c.msg, got, c.want)
		}
	}
}

func TestIsTemporaryAndMayHaveSent(t *testing.T) {
	ne := &netError{op: "send", err: context.DeadlineExceeded}
	if !IsTemporary(ne) || !MayHaveSent(ne) {
		t.Fatal("timeout: want temporary and maybe sent")
	}
	inv := invalid("send", "no phone number")
	if IsTemporary(inv) || MayHaveSent(inv) || !errors.Is(inv, ErrInvalidRequest) {
		t.Fatal("invalid request: want permanent and not sent")
	}
	if IsTemporary(nil) || IsTemporary(errors.New("x")) {
		t.Fatal("nil or plain error temporary")
	}
	if MayHaveSent(&Error{Code: "isv.BUSINESS_LIMIT_CONTROL", HTTPStatus: 200}) {
		t.Fatal("a business refusal sent nothing")
	}
	if !MayHaveSent(&Error{Code: "InternalError", HTTPStatus: 500}) {
		t.Fatal("a 5xx may have been sent")
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"13812345678":     "138****5678",
		"+8613812345678":  "138****5678",
		"008613812345678": "138****5678",
		"12345":           "****",
		"":                "****",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSanitize(t *testing.T) {
	in := `Post "https://dysmsapi.aliyuncs.com/?AccessKeyId=x&PhoneNumbers=13812345678%2C13900001111&Signature=abc": EOF`
	got := sanitize(in)
	if strings.Contains(got, "13812345678") || strings.Contains(got, "13900001111") || strings.Contains(got, "Signature") {
		t.Fatalf("sanitize left secrets in %q", got)
	}
	got = sanitize("Specified signature is not matched with our calculation. server string to sign is:POST&%2F&PhoneNumbers%3D13812345678")
	if got != "Specified signature is not matched with our calculation." {
		t.Fatalf("%q", got)
	}
	if got := sanitize("号码 13812345678 与 BizId 848922680159657299^0"); got != "号码 138****5678 与 BizId 848922680159657299^0" {
		t.Fatalf("%q", got)
	}
	if got := sanitize(strings.Repeat("x", 1000)); len([]rune(got)) > maxMessage+1 {
		t.Fatalf("not truncated: %d", len(got))
	}
}

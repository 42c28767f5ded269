package aliyunfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var nonceSeq atomic.Int64

// call signs params the way the published rules say and sends them, GET with
// everything in the query, POST with everything in the form body.
func call(t *testing.T, s *Server, method string, params map[string]string, secret string) (int, map[string]any) {
	t.Helper()
	p := map[string]string{
		"AccessKeyId":      DefaultAccessKeyID,
		"Format":           "JSON",
		"RegionId":         "cn-hangzhou",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   fmt.Sprintf("nonce-%d", nonceSeq.Add(1)),
		"SignatureVersion": "1.0",
		"Timestamp":        time.Now().UTC().Format("2006-01-02T15:04:05Z"),
		"Version":          APIVersion,
	}
	for k, v := range params {
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	if _, ok := params["Signature"]; !ok {
		p["Signature"] = Sign(method, p, secret)
	}
	vals := url.Values{}
	for k, v := range p {
		vals.Set(k, v)
	}
	var req *http.Request
	if method == http.MethodGet {
		req, _ = http.NewRequest(method, s.URL()+"/?"+vals.Encode(), nil)
	} else {
		req, _ = http.NewRequest(method, s.URL()+"/", strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("body %q: %v", data, err)
	}
	return resp.StatusCode, body
}

func sendParams(phones string) map[string]string {
	return map[string]string{
		"Action":        "SendSms",
		"PhoneNumbers":  phones,
		"SignName":      "普惠苑社区",
		"TemplateCode":  "SMS_1",
		"TemplateParam": `{"code":"123456"}`,
		"OutId":         "outbox-1",
	}
}

func TestSendSmsGETAndPOST(t *testing.T) {
	s := NewServer()
	defer s.Close()
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		status, body := call(t, s, m, sendParams("13800138000"), DefaultAccessKeySecret)
		if status != 200 || body["Code"] != "OK" || body["BizId"] == "" || body["RequestId"] == "" {
			t.Fatalf("%s: %d %v", m, status, body)
		}
	}
	sent := s.Sent()
	if len(sent) != 2 || sent[0].Phone != "13800138000" || sent[0].Params["code"] != "123456" || sent[0].OutID != "outbox-1" || sent[0].SignName != "普惠苑社区" {
		t.Fatalf("records: %+v", sent)
	}
	if got := s.CountByPhone()["13800138000"]; got != 2 {
		t.Fatalf("CountByPhone = %d", got)
	}
	s.Reset()
	if len(s.Sent()) != 0 || s.Calls() != 0 {
		t.Fatal("Reset kept state")
	}
}

func TestGatewayChecks(t *testing.T) {
	s := NewServer(WithAccessKey("id2", "secret2"))
	defer s.Close()
	cases := []struct {
		name   string
		params map[string]string
		secret string
		status int
		code   string
	}{
		{"wrong secret", nil, "nope", 400, "SignatureDoesNotMatch"},
		{"default key replaced", nil, DefaultAccessKeySecret, 404, "InvalidAccessKeyId.NotFound"},
		{"no signature", map[string]string{"Signature": ""}, "secret2", 400, "MissingSignature"},
		{"no nonce", map[string]string{"SignatureNonce": ""}, "secret2", 400, "MissingSignatureNonce"},
		{"bad version", map[string]string{"Version": "2018-01-01"}, "secret2", 400, "InvalidVersion"},
		{"bad timestamp", map[string]string{"Timestamp": "2017-07-12 02:42:19"}, "secret2", 400, "InvalidTimeStamp.Format"},
		{"old timestamp", map[string]string{"Timestamp": "2017-07-12T02:42:19Z"}, "secret2", 400, "InvalidTimeStamp.Expired"},
		{"no phones", map[string]string{"PhoneNumbers": ""}, "secret2", 400, "MissingPhoneNumbers"},
		{"unknown action", map[string]string{"Action": "SendSmsNow"}, "secret2", 404, "InvalidAction.NotFound"},
	}
	for _, c := range cases {
		p := sendParams("13800138000")
		for k, v := range c.params {
			p[k] = v
		}
		if c.name != "default key replaced" {
			p["AccessKeyId"] = "id2"
		}
		status, body := call(t, s, http.MethodPost, p, c.secret)
		if status != c.status || body["Code"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, status, body["Code"], c.status, c.code)
		}
	}
	if n := len(s.Sent()); n != 0 {
		t.Fatalf("%d records after only bad requests", n)
	}
}

func TestNonceReuse(t *testing.T) {
	s := NewServer()
	defer s.Close()
	p := sendParams("13800138000")
	p["SignatureNonce"] = "same"
	if status, body := call(t, s, http.MethodGet, p, DefaultAccessKeySecret); status != 200 || body["Code"] != "OK" {
		t.Fatalf("first: %d %v", status, body)
	}
	if status, body := call(t, s, http.MethodGet, p, DefaultAccessKeySecret); status != 400 || body["Code"] != "SignatureNonceUsed" {
		t.Fatalf("replay: %d %v", status, body)
	}
}

func TestBusinessErrors(t *testing.T) {
	s := NewServer(WithSignNames("普惠苑社区"), WithTemplate("SMS_1", "code"))
	defer s.Close()
	many := strings.TrimSuffix(strings.Repeat("13800138000,", MaxSendPhones+1), ",")
	cases := []struct {
		name   string
		params map[string]string
		code   string
	}{
		{"illegal number", map[string]string{"PhoneNumbers": "12345"}, "isv.MOBILE_NUMBER_ILLEGAL"},
		{"one illegal among many", map[string]string{"PhoneNumbers": "13800138000,1380013800"}, "isv.MOBILE_NUMBER_ILLEGAL"},
		{"too many numbers", map[string]string{"PhoneNumbers": many}, "isv.MOBILE_COUNT_OVER_LIMIT"},
		{"param not JSON", map[string]string{"TemplateParam": "code=1"}, "isv.INVALID_JSON_PARAM"},
		{"param not string", map[string]string{"TemplateParam": `{"code":123456}`}, "isv.INVALID_JSON_PARAM"},
		{"unknown sign", map[string]string{"SignName": "别的社区"}, "isv.SMS_SIGNATURE_ILLEGAL"},
		{"unknown template", map[string]string{"TemplateCode": "SMS_2"}, "isv.SMS_TEMPLATE_ILLEGAL"},
		{"missing template param", map[string]string{"TemplateParam": `{"name":"x"}`}, "isv.TEMPLATE_MISSING_PARAMETERS"},
	}
	for _, c := range cases {
		p := sendParams("13800138000")
		for k, v := range c.params {
			p[k] = v
		}
		status, body := call(t, s, http.MethodPost, p, DefaultAccessKeySecret)
		if status != 200 || body["Code"] != c.code {
			t.Errorf("%s: %d %v, want 200 %s", c.name, status, body, c.code)
		}
	}
	if n := len(s.Sent()); n != 0 {
		t.Fatalf("%d records after only rejected sends", n)
	}
	// +86 is tolerated and normalised away.
	if _, body := call(t, s, http.MethodPost, sendParams("+8613800138000"), DefaultAccessKeySecret); body["Code"] != "OK" {
		t.Fatalf("+86 number: %v", body)
	}
	if s.Sent()[0].Phone != "13800138000" {
		t.Fatalf("phone not normalised: %q", s.Sent()[0].Phone)
	}
}

func batchParams(phones, signs, params string) map[string]string {
	return map[string]string{
		"Action":            "SendBatchSms",
		"PhoneNumberJson":   phones,
		"SignNameJson":      signs,
		"TemplateCode":      "SMS_1",
		"TemplateParamJson": params,
		"OutId":             "batch-1",
	}
}

func TestSendBatchSms(t *testing.T) {
	s := NewServer()
	defer s.Close()
	status, body := call(t, s, http.MethodPost, batchParams(`["13800138000","13900139000"]`, `["甲","乙"]`, `[{"code":"1"},{"code":"2"}]`), DefaultAccessKeySecret)
	if status != 200 || body["Code"] != "OK" {
		t.Fatalf("%d %v", status, body)
	}
	sent := s.Sent()
	if len(sent) != 2 || sent[1].Phone != "13900139000" || sent[1].SignName != "乙" || sent[1].Params["code"] != "2" || sent[0].BizID != sent[1].BizID {
		t.Fatalf("records: %+v", sent)
	}
	phones101 := make([]string, MaxBatchPhones+1)
	signs101 := make([]string, MaxBatchPhones+1)
	for i := range phones101 {
		phones101[i], signs101[i] = "13800138000", "甲"
	}
	p101, _ := json.Marshal(phones101)
	s101, _ := json.Marshal(signs101)
	for name, c := range map[string]struct{ p, s, tp, code string }{
		"unequal signs":  {`["13800138000","13900139000"]`, `["甲"]`, ``, "isv.INVALID_PARAMETERS"},
		"unequal params": {`["13800138000","13900139000"]`, `["甲","乙"]`, `[{"code":"1"}]`, "isv.INVALID_PARAMETERS"},
		"not an array":   {`"13800138000"`, `["甲"]`, ``, "isv.INVALID_PARAMETERS"},
		"too many":       {string(p101), string(s101), ``, "isv.MOBILE_COUNT_OVER_LIMIT"},
		"illegal number": {`["13800138000","1"]`, `["甲","乙"]`, ``, "isv.MOBILE_NUMBER_ILLEGAL"},
		"param number":   {`["13800138000"]`, `["甲"]`, `[{"code":1}]`, "isv.INVALID_JSON_PARAM"},
	} {
		if _, body := call(t, s, http.MethodPost, batchParams(c.p, c.s, c.tp), DefaultAccessKeySecret); body["Code"] != c.code {
			t.Errorf("%s: %v, want %s", name, body, c.code)
		}
	}
	if len(s.Sent()) != 2 {
		t.Fatalf("rejected batches were recorded: %d", len(s.Sent()))
	}
}

func TestQuerySendDetails(t *testing.T) {
	s := NewServer(WithDeliveryStatus(func(r Record) (int, string) {
		if r.OutID == "fails" {
			return StatusFailed, "MK:0001"
		}
		return StatusDelivered, "DELIVERED"
	}))
	defer s.Close()
	p := sendParams("13800138000")
	_, first := call(t, s, http.MethodPost, p, DefaultAccessKeySecret)
	p["OutId"] = "fails"
	call(t, s, http.MethodPost, p, DefaultAccessKeySecret)
	call(t, s, http.MethodPost, sendParams("13900139000"), DefaultAccessKeySecret)

	today := time.Now().In(chinaTime).Format("20060102")
	q := map[string]string{"Action": "QuerySendDetails", "PhoneNumber": "13800138000", "SendDate": today, "PageSize": "10", "CurrentPage": "1"}
	_, body := call(t, s, http.MethodPost, q, DefaultAccessKeySecret)
	if body["Code"] != "OK" || body["TotalCount"] != float64(2) {
		t.Fatalf("query: %v", body)
	}
	items := body["SmsSendDetailDTOs"].(map[string]any)["SmsSendDetailDTO"].([]any)
	second := items[1].(map[string]any)
	if second["OutId"] != "fails" || second["SendStatus"] != float64(StatusFailed) || second["ErrCode"] != "MK:0001" || second["PhoneNum"] != "13800138000" {
		t.Fatalf("second detail: %v", second)
	}

	q["BizId"] = first["BizId"].(string)
	_, body = call(t, s, http.MethodPost, q, DefaultAccessKeySecret)
	if body["TotalCount"] != float64(1) {
		t.Fatalf("by BizId: %v", body)
	}
	delete(q, "BizId")
	q["PageSize"], q["CurrentPage"] = "1", "2"
	_, body = call(t, s, http.MethodPost, q, DefaultAccessKeySecret)
	items = body["SmsSendDetailDTOs"].(map[string]any)["SmsSendDetailDTO"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["OutId"] != "fails" {
		t.Fatalf("page 2: %v", body)
	}
	q["SendDate"] = "20170712"
	_, body = call(t, s, http.MethodPost, q, DefaultAccessKeySecret)
	if body["TotalCount"] != float64(0) {
		t.Fatalf("other day: %v", body)
	}
	q["PageSize"] = "51"
	if _, body = call(t, s, http.MethodPost, q, DefaultAccessKeySecret); body["Code"] != "isv.INVALID_PARAMETERS" {
		t.Fatalf("page size 51: %v", body)
	}
}

func TestThrottleIsDeterministic(t *testing.T) {
	pattern := func() string {
		s := NewServer(WithThrottle(0.3, 42))
		defer s.Close()
		var b strings.Builder
		for range 40 {
			if _, body := call(t, s, http.MethodPost, sendParams("13800138000"), DefaultAccessKeySecret); body["Code"] == "OK" {
				b.WriteByte('.')
			} else if body["Code"] == "isv.BUSINESS_LIMIT_CONTROL" {
				b.WriteByte('T')
			} else {
				t.Fatalf("unexpected %v", body)
			}
		}
		return b.String()
	}
	a, b := pattern(), pattern()
	if a != b {
		t.Fatalf("same seed, different throttling:\n%s\n%s", a, b)
	}
	if n := strings.Count(a, "T"); n == 0 || n == 40 {
		t.Fatalf("throttled %d of 40 at rate 0.3: %s", n, a)
	}
}

func TestFaults(t *testing.T) {
	s := NewServer(
		FailNth(1, Fault{Status: 500}),
		FailNth(2, Fault{Code: "isv.AMOUNT_NOT_ENOUGH", Message: "账户余额不足"}),
		FailNth(3, Fault{DropResponse: true}),
	)
	defer s.Close()
	if status, body := call(t, s, http.MethodPost, sendParams("13800138000"), DefaultAccessKeySecret); status != 500 || body["Code"] != "InternalError" {
		t.Fatalf("1st: %d %v", status, body)
	}
	if status, body := call(t, s, http.MethodPost, sendParams("13800138000"), DefaultAccessKeySecret); status != 200 || body["Code"] != "isv.AMOUNT_NOT_ENOUGH" {
		t.Fatalf("2nd: %d %v", status, body)
	}
	if len(s.Sent()) != 0 {
		t.Fatal("failed calls were recorded")
	}
	// The 3rd is accepted but its answer is lost.
	vals := url.Values{"Action": {"SendSms"}}
	resp, err := s.Client().PostForm(s.URL()+"/", vals)
	if err == nil {
		resp.Body.Close()
		t.Fatal("dropped response arrived")
	}
	if s.Calls() != 3 {
		t.Fatalf("Calls = %d", s.Calls())
	}
}

func TestDropResponseStillRecords(t *testing.T) {
	s := NewServer(FailNth(1, Fault{DropResponse: true}))
	defer s.Close()
	p := map[string]string{
		"AccessKeyId": DefaultAccessKeyID, "Action": "SendSms", "Format": "JSON", "SignatureMethod": "HMAC-SHA1",
		"SignatureNonce": "n1", "SignatureVersion": "1.0", "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
		"Version": APIVersion, "PhoneNumbers": "13800138000", "SignName": "甲", "TemplateCode": "SMS_1", "OutId": "row-7",
	}
	p["Signature"] = Sign("POST", p, DefaultAccessKeySecret)
	vals := url.Values{}
	for k, v := range p {
		vals.Set(k, v)
	}
	if resp, err := s.Client().PostForm(s.URL()+"/", vals); err == nil {
		resp.Body.Close()
		t.Fatal("dropped response arrived")
	}
	if sent := s.Sent(); len(sent) != 1 || sent[0].OutID != "row-7" {
		t.Fatalf("records: %+v", sent)
	}
}

func TestXMLByDefault(t *testing.T) {
	s := NewServer()
	defer s.Close()
	resp, err := http.Get(s.URL() + "/?Action=SendSms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(data), "<Code>MissingAccessKeyId</Code>") {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
}

func TestPersistAndConcurrency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sent.jsonl")
	s := NewServer(Persist(path))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := sendParams("13800138000")
			p["OutId"] = fmt.Sprint(i)
			if _, body := call(t, s, http.MethodPost, p, DefaultAccessKeySecret); body["Code"] != "OK" {
				t.Errorf("send %d: %v", i, body)
			}
		}()
	}
	wg.Wait()
	s.Close()
	recs, err := ReadRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20 {
		t.Fatalf("persisted %d records", len(recs))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.OutID] = true
	}
	if len(seen) != 20 {
		t.Fatalf("distinct out ids: %d", len(seen))
	}
}

func TestTLS(t *testing.T) {
	s := NewServer(WithTLS())
	defer s.Close()
	if s.Scheme() != "https" || !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("scheme %s url %s", s.Scheme(), s.URL())
	}
	if _, body := call(t, s, http.MethodPost, sendParams("13800138000"), DefaultAccessKeySecret); body["Code"] != "OK" {
		t.Fatalf("%v", body)
	}
}

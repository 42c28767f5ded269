package aliyun_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/notify/aliyun"
	"linli/notify/aliyun/aliyunfake"
)

const phone1, phone2 = "13812345678", "13900001111"

func fakeConfig(s *aliyunfake.Server) aliyun.Config {
	return aliyun.Config{
		AccessKeyID:     aliyunfake.DefaultAccessKeyID,
		AccessKeySecret: aliyunfake.DefaultAccessKeySecret,
		Endpoint:        s.Endpoint(),
		Scheme:          s.Scheme(),
		SignName:        "普惠苑社区",
		Templates:       aliyun.Templates{VerifyCode: "SMS_100", Reminder: "SMS_200"},
	}
}

func setup(t *testing.T, opts ...aliyunfake.Option) (*aliyunfake.Server, *aliyun.Client) {
	t.Helper()
	s := aliyunfake.NewServer(opts...)
	t.Cleanup(s.Close)
	c, err := aliyun.New(fakeConfig(s), s.Client())
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// assertClean fails if err's text shows a full phone number or the secret.
func assertClean(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{phone1, phone2, aliyunfake.DefaultAccessKeySecret, "string to sign"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error text contains %q: %v", s, err)
		}
	}
	if !strings.HasPrefix(err.Error(), "aliyun: ") {
		t.Fatalf("error without package prefix: %v", err)
	}
}

func TestSend(t *testing.T) {
	s, c := setup(t)
	res, err := c.Send(context.Background(), aliyun.SendRequest{
		Phones:       []string{phone1, phone2},
		TemplateCode: "SMS_200",
		Params:       map[string]string{"event": "<晚会> & 联欢", "time": "19:30"},
		OutID:        "outbox-17",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.BizID == "" || res.RequestID == "" {
		t.Fatalf("result %+v", res)
	}
	sent := s.Sent()
	if len(sent) != 2 {
		t.Fatalf("fake got %d messages", len(sent))
	}
	for i, want := range []string{phone1, phone2} {
		r := sent[i]
		if r.Phone != want || r.TemplateCode != "SMS_200" || r.SignName != "普惠苑社区" || r.OutID != "outbox-17" || r.BizID != res.BizID {
			t.Errorf("record %d: %+v", i, r)
		}
		if r.Params["event"] != "<晚会> & 联欢" || r.Params["time"] != "19:30" {
			t.Errorf("record %d params: %v", i, r.Params)
		}
	}
}

func TestSendWithoutParams(t *testing.T) {
	s, c := setup(t)
	if _, err := c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_200"}); err != nil {
		t.Fatal(err)
	}
	if p := s.Sent()[0].Params; p != nil {
		t.Fatalf("params %v", p)
	}
}

func TestSendBatch(t *testing.T) {
	s, c := setup(t)
	res, err := c.SendBatch(context.Background(), aliyun.BatchRequest{
		Items: []aliyun.BatchItem{
			{Phone: phone1, Params: map[string]string{"name": "张阿姨"}},
			{Phone: phone2}, // no parameters: sent as {}
		},
		TemplateCode: "SMS_200",
		OutID:        "batch-3",
	})
	if err != nil {
		t.Fatal(err)
	}
	sent := s.Sent()
	if len(sent) != 2 || sent[0].Params["name"] != "张阿姨" || len(sent[1].Params) != 0 ||
		sent[1].SignName != "普惠苑社区" || sent[0].BizID != res.BizID || sent[1].OutID != "batch-3" {
		t.Fatalf("records %+v", sent)
	}
}

func TestQuerySendDetailsReconcilesByOutID(t *testing.T) {
	s, c := setup(t, aliyunfake.WithDeliveryStatus(func(r aliyunfake.Record) (int, string) {
		if r.OutID == "row-2" {
			return aliyunfake.StatusWaiting, ""
		}
		return aliyunfake.StatusDelivered, "DELIVERED"
	}))
	ctx := context.Background()
	var first aliyun.SendResult
	for i := range 60 {
		res, err := c.Send(ctx, aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100", OutID: fmt.Sprintf("row-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = res
		}
	}
	if _, err := c.Send(ctx, aliyun.SendRequest{Phones: []string{phone2}, TemplateCode: "SMS_100", OutID: "other"}); err != nil {
		t.Fatal(err)
	}

	all, err := c.QuerySendDetails(ctx, phone1, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 60 {
		t.Fatalf("walked %d records over the pages, want 60", len(all))
	}
	var waiting *aliyun.Detail
	for i := range all {
		if all[i].Phone != phone1 {
			t.Fatalf("other number in results: %+v", all[i])
		}
		if all[i].OutID == "row-2" {
			waiting = &all[i]
		}
	}
	if waiting == nil || waiting.Status != aliyun.StatusWaiting || !waiting.ReceiveDate.IsZero() || waiting.SendDate.IsZero() {
		t.Fatalf("row-2: %+v", waiting)
	}
	if d := all[0]; d.Status != aliyun.StatusDelivered || d.ErrCode != "DELIVERED" || d.TemplateCode != "SMS_100" || d.ReceiveDate.IsZero() {
		t.Fatalf("row-0: %+v", d)
	}

	byBiz, err := c.QuerySendDetails(ctx, phone1, time.Now(), first.BizID)
	if err != nil {
		t.Fatal(err)
	}
	if len(byBiz) != 1 || byBiz[0].OutID != "row-0" || byBiz[0].BizID != first.BizID {
		t.Fatalf("by BizID: %+v", byBiz)
	}

	page, err := c.QuerySendDetails(ctx, phone1, time.Now(), "", aliyun.Page{Number: 2, Size: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 10 || page[0].OutID != "row-50" {
		t.Fatalf("page 2: %d records, first %+v", len(page), page)
	}

	none, err := c.QuerySendDetails(ctx, phone1, time.Now().AddDate(0, 0, -3), "")
	if err != nil || len(none) != 0 {
		t.Fatalf("three days ago: %v %v", none, err)
	}
	_ = s
}

func TestBusinessErrorsAreTyped(t *testing.T) {
	t.Run("throttled is temporary", func(t *testing.T) {
		s, c := setup(t, aliyunfake.WithThrottle(1, 7))
		_, err := c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
		var ae *aliyun.Error
		if !errors.As(err, &ae) || ae.Code != "isv.BUSINESS_LIMIT_CONTROL" || ae.Kind() != aliyun.KindThrottled {
			t.Fatalf("%#v", err)
		}
		if !ae.Temporary() || !aliyun.IsTemporary(err) || aliyun.MayHaveSent(err) {
			t.Fatalf("throttled: temporary %v, may have sent %v", ae.Temporary(), aliyun.MayHaveSent(err))
		}
		now := time.Now()
		if got := ae.RetryAt(now); !got.Equal(now.Add(time.Minute)) {
			t.Fatalf("RetryAt %v", got)
		}
		if !strings.HasPrefix(err.Error(), "aliyun: send: isv.BUSINESS_LIMIT_CONTROL") || ae.RequestID == "" {
			t.Fatalf("%v", err)
		}
		if len(s.Sent()) != 0 {
			t.Fatal("throttled message recorded")
		}
	})
	t.Run("illegal number is permanent", func(t *testing.T) {
		_, c := setup(t)
		_, err := c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1, "1234567890"}, TemplateCode: "SMS_100"})
		var ae *aliyun.Error
		if !errors.As(err, &ae) || ae.Code != "isv.MOBILE_NUMBER_ILLEGAL" || ae.Kind() != aliyun.KindRejected || aliyun.IsTemporary(err) {
			t.Fatalf("%v", err)
		}
		assertClean(t, err)
	})
	t.Run("missing template parameter in a batch", func(t *testing.T) {
		_, c := setup(t, aliyunfake.WithTemplate("SMS_100", "code"))
		_, err := c.SendBatch(context.Background(), aliyun.BatchRequest{
			Items:        []aliyun.BatchItem{{Phone: phone1, Params: map[string]string{"code": "1"}}, {Phone: phone2}},
			TemplateCode: "SMS_100",
		})
		var ae *aliyun.Error
		if !errors.As(err, &ae) || ae.Code != "isv.TEMPLATE_MISSING_PARAMETERS" || ae.Temporary() {
			t.Fatalf("%v", err)
		}
		if !strings.HasPrefix(err.Error(), "aliyun: send batch: ") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("out of balance needs a person", func(t *testing.T) {
		_, c := setup(t, aliyunfake.WithFault(func(aliyunfake.Call) *aliyunfake.Fault {
			return &aliyunfake.Fault{Code: "isv.AMOUNT_NOT_ENOUGH", Message: "账户余额不足"}
		}))
		_, err := c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
		var ae *aliyun.Error
		if !errors.As(err, &ae) || ae.Kind() != aliyun.KindAccount || ae.Temporary() || ae.Message != "账户余额不足" {
			t.Fatalf("%v", err)
		}
	})
}

func TestWrongSecretIsPermanentSignatureError(t *testing.T) {
	s := aliyunfake.NewServer()
	defer s.Close()
	cfg := fakeConfig(s)
	cfg.AccessKeySecret = "not-the-secret"
	c, err := aliyun.New(cfg, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
	var ae *aliyun.Error
	if !errors.As(err, &ae) || ae.Code != "SignatureDoesNotMatch" || ae.HTTPStatus != 400 {
		t.Fatalf("%v", err)
	}
	if ae.Temporary() || aliyun.IsTemporary(err) || ae.Kind() != aliyun.KindAccount || aliyun.MayHaveSent(err) {
		t.Fatalf("wrong secret classified as temporary: %v", err)
	}
	assertClean(t, err)
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Fatal("secret in error")
	}
	if len(s.Sent()) != 0 {
		t.Fatal("unsigned message recorded")
	}
}

// captureTransport records the request the SDK built and answers with an
// error, so the request can be inspected without any network.
type captureTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	return nil, errors.New("captured, not sent")
}

func TestHTTPSByDefault(t *testing.T) {
	ct := &captureTransport{}
	c, err := aliyun.New(aliyun.Config{AccessKeyID: "id", AccessKeySecret: "secret", SignName: "普惠苑社区"}, &http.Client{Transport: ct})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
	if err == nil {
		t.Fatal("no error from a transport that fails")
	}
	if len(ct.reqs) != 1 {
		t.Fatalf("%d requests", len(ct.reqs))
	}
	u := ct.reqs[0].URL
	if u.Scheme != "https" || u.Host != "dysmsapi.aliyuncs.com" || u.Path != "/" || ct.reqs[0].Method != http.MethodPost {
		t.Fatalf("request went to %s %s://%s%s", ct.reqs[0].Method, u.Scheme, u.Host, u.Path)
	}
	if q := u.Query(); q.Get("RegionId") != "cn-hangzhou" || q.Get("Version") != "2017-05-25" || q.Get("Action") != "SendSms" {
		t.Fatalf("query %v", q)
	}
	// The SDK puts the numbers into the URL; the error must not repeat it.
	assertClean(t, err)
	if !aliyun.IsTemporary(err) || !aliyun.MayHaveSent(err) {
		t.Fatalf("transport failure: temporary %v, may have sent %v", aliyun.IsTemporary(err), aliyun.MayHaveSent(err))
	}
}

func TestEndpointSchemeAndRegionConfigurable(t *testing.T) {
	ct := &captureTransport{}
	c, err := aliyun.New(aliyun.Config{
		AccessKeyID: "id", AccessKeySecret: "secret", SignName: "x",
		Endpoint: "sms-proxy.internal:8443", Scheme: "http", RegionID: "cn-shanghai",
	}, &http.Client{Transport: ct})
	if err != nil {
		t.Fatal(err)
	}
	c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
	u := ct.reqs[0].URL
	if u.Scheme != "http" || u.Host != "sms-proxy.internal:8443" || u.Query().Get("RegionId") != "cn-shanghai" {
		t.Fatalf("%s://%s region %s", u.Scheme, u.Host, u.Query().Get("RegionId"))
	}
}

func TestHTTPSAgainstTLSFake(t *testing.T) {
	s := aliyunfake.NewServer(aliyunfake.WithTLS())
	defer s.Close()
	cfg := fakeConfig(s)
	cfg.Scheme = "" // the default must be HTTPS
	c, err := aliyun.New(cfg, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"}); err != nil {
		t.Fatal(err)
	}
	if len(s.Sent()) != 1 {
		t.Fatal("not recorded")
	}
}

func TestLimitsEnforcedBeforeCalling(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	many := make([]string, aliyun.MaxSendPhones+1)
	for i := range many {
		many[i] = phone1
	}
	items := make([]aliyun.BatchItem, aliyun.MaxBatchPhones+1)
	for i := range items {
		items[i] = aliyun.BatchItem{Phone: phone1}
	}
	checks := map[string]error{}
	_, checks["1001 numbers"] = c.Send(ctx, aliyun.SendRequest{Phones: many, TemplateCode: "SMS_100"})
	_, checks["no numbers"] = c.Send(ctx, aliyun.SendRequest{TemplateCode: "SMS_100"})
	_, checks["comma in number"] = c.Send(ctx, aliyun.SendRequest{Phones: []string{phone1 + "," + phone2}, TemplateCode: "SMS_100"})
	_, checks["no template"] = c.Send(ctx, aliyun.SendRequest{Phones: []string{phone1}})
	_, checks["101 in a batch"] = c.SendBatch(ctx, aliyun.BatchRequest{Items: items, TemplateCode: "SMS_100"})
	_, checks["empty batch"] = c.SendBatch(ctx, aliyun.BatchRequest{TemplateCode: "SMS_100"})
	_, checks["page size 51"] = c.QuerySendDetails(ctx, phone1, time.Now(), "", aliyun.Page{Number: 1, Size: 51})
	_, checks["page 0"] = c.QuerySendDetails(ctx, phone1, time.Now(), "", aliyun.Page{Number: 0, Size: 10})
	_, checks["no date"] = c.QuerySendDetails(ctx, phone1, time.Time{}, "")
	for name, err := range checks {
		if !errors.Is(err, aliyun.ErrInvalidRequest) || aliyun.IsTemporary(err) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		assertClean(t, err)
	}
	if n := s.Calls(); n != 0 {
		t.Fatalf("%d calls reached the fake", n)
	}
	// Exactly at the limits is fine.
	if _, err := c.Send(ctx, aliyun.SendRequest{Phones: many[:aliyun.MaxSendPhones], TemplateCode: "SMS_100"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendBatch(ctx, aliyun.BatchRequest{Items: items[:aliyun.MaxBatchPhones], TemplateCode: "SMS_100"}); err != nil {
		t.Fatal(err)
	}
	if got := s.CountByPhone()[phone1]; got != aliyun.MaxSendPhones+aliyun.MaxBatchPhones {
		t.Fatalf("recorded %d", got)
	}
}

func TestConcurrentSendsAreRaceFree(t *testing.T) {
	s, c := setup(t)
	const workers, each = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := c.Send(context.Background(), aliyun.SendRequest{
					Phones: []string{phone1}, TemplateCode: "SMS_100", OutID: fmt.Sprintf("%d-%d", w, i),
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(s.Sent()); n != workers*each {
		t.Fatalf("recorded %d, want %d", n, workers*each)
	}
}

func TestServerErrorIsTemporaryAndAmbiguous(t *testing.T) {
	s, c := setup(t, aliyunfake.FailNth(1, aliyunfake.Fault{Status: 503}))
	_, err := c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
	var ae *aliyun.Error
	if !errors.As(err, &ae) || ae.HTTPStatus != 503 || !ae.Temporary() || !aliyun.MayHaveSent(err) {
		t.Fatalf("%v", err)
	}
	if _, err := c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"}); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if len(s.Sent()) != 1 {
		t.Fatal("want exactly one recorded send")
	}
}

// A send whose answer is lost: the error says "may have been sent", and the
// OutId finds the message again, so the outbox does not send it twice.
func TestLostAnswerIsFoundByOutID(t *testing.T) {
	s, c := setup(t, aliyunfake.FailNth(1, aliyunfake.Fault{DropResponse: true}))
	ctx := context.Background()
	_, err := c.Send(ctx, aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100", OutID: "row-42"})
	if err == nil || !aliyun.IsTemporary(err) || !aliyun.MayHaveSent(err) {
		t.Fatalf("lost answer: %v", err)
	}
	assertClean(t, err)
	details, err := c.QuerySendDetails(ctx, phone1, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(details) != 1 || details[0].OutID != "row-42" {
		t.Fatalf("details %+v", details)
	}
	if len(s.Sent()) != 1 {
		t.Fatal("fake did not record the message")
	}
}

func TestContextCancelStopsTheCall(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	_, c := setup(t, aliyunfake.WithFault(func(aliyunfake.Call) *aliyunfake.Fault {
		entered <- struct{}{}
		<-release
		return nil
	}))
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
		done <- err
	}()
	<-entered
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !aliyun.IsTemporary(err) {
		t.Fatalf("%v", err)
	}
	assertClean(t, err)
}

func TestTimeoutFromHTTPClient(t *testing.T) {
	release := make(chan struct{})
	s := aliyunfake.NewServer(aliyunfake.WithFault(func(aliyunfake.Call) *aliyunfake.Fault {
		<-release
		return nil
	}))
	defer s.Close()
	defer close(release)
	hc := *s.Client() // a copy: the server hands out one shared client
	hc.Timeout = 50 * time.Millisecond
	c, err := aliyun.New(fakeConfig(s), &hc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
	if err == nil || !aliyun.IsTemporary(err) || !aliyun.MayHaveSent(err) {
		t.Fatalf("%v", err)
	}
	assertClean(t, err)
}

func TestConnectionRefusedSentNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := aliyun.New(aliyun.Config{AccessKeyID: "id", AccessKeySecret: "s", SignName: "x", Endpoint: addr, Scheme: "http"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), aliyun.SendRequest{Phones: []string{phone1}, TemplateCode: "SMS_100"})
	if err == nil || !aliyun.IsTemporary(err) || aliyun.MayHaveSent(err) {
		t.Fatalf("refused: temporary %v may have sent %v: %v", aliyun.IsTemporary(err), aliyun.MayHaveSent(err), err)
	}
	assertClean(t, err)
}

// Package aliyun sends SMS through Aliyun's dysmsapi (SendSms, SendBatchSms,
// QuerySendDetails) and parses the delivery receipts and replies Aliyun pushes
// back.
//
// It wraps github.com/aliyun/alibaba-cloud-sdk-go and disarms its traps:
// HTTPS instead of the SDK's HTTP default, business errors (HTTP 200 with
// Code != "OK") turned into *Error, no SDK client shared between goroutines,
// no automatic retries of a non-idempotent send, context cancellation, and
// no phone numbers or secrets in error strings.
package aliyun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/dysmsapi"
)

// Limits Aliyun enforces per call; the client refuses more before calling.
const (
	MaxSendPhones  = 1000 // numbers sharing one parameter set in one SendSms
	MaxBatchPhones = 100  // numbers with their own parameters in one SendBatchSms
	MaxPageSize    = 50   // records per QuerySendDetails page
)

// maxQueryPages bounds QuerySendDetails when it walks every page. Aliyun's
// own limits (at most 50 notices a day per number and template) keep real
// days far below 40 pages of 50.
const maxQueryPages = 40

// DefaultTimeout bounds one API call when the caller's http.Client has none.
const DefaultTimeout = 10 * time.Second

// beijing is the zone of Aliyun's SendDate parameter and of every date string
// it returns. China has no daylight saving, so a fixed zone is exact and needs
// no tzdata on the host.
var beijing = time.FixedZone("CST", 8*3600)

const dateTimeLayout = "2006-01-02 15:04:05"

// Client sends through one Aliyun account. It is safe for concurrent use:
// every call builds its own SDK client, because the SDK client mutates its
// HTTP client and transport on each request.
type Client struct {
	cfg       Config
	transport http.RoundTripper
	timeout   time.Duration
}

// New checks cfg (see Config.Validate) and returns a client. hc supplies the
// transport (proxies, TLS roots, connection pool) and the per-call timeout;
// nil means a transport of our own and DefaultTimeout. Only hc.Transport and
// hc.Timeout are used.
func New(cfg Config, hc *http.Client) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("aliyun: config: %w", err)
	}
	c := &Client{cfg: cfg.WithDefaults(), timeout: DefaultTimeout}
	if hc != nil {
		c.transport = hc.Transport
		if hc.Timeout > 0 {
			c.timeout = hc.Timeout
		}
	}
	if c.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 5 * time.Second
		t.ResponseHeaderTimeout = c.timeout
		c.transport = t
	}
	return c, nil
}

// contextTransport attaches the caller's context to the SDK's request, which
// the SDK builds with context.Background(). Being something other than
// *http.Transport also stops the SDK from rewriting the shared transport's
// dialer, TLS config and proxy on every call, which is where it races.
type contextTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t contextTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

// sdkClient makes the single-use SDK client for one call.
func (c *Client) sdkClient(ctx context.Context) (*dysmsapi.Client, error) {
	conf := sdk.NewConfig()
	conf.Scheme = strings.ToUpper(c.cfg.Scheme)
	// SendSms is not idempotent: retries belong to the outbox, which
	// reconciles by OutId first.
	conf.AutoRetry = false
	conf.MaxRetryTime = 0
	conf.Timeout = c.timeout
	conf.Transport = contextTransport{ctx: ctx, base: c.transport}
	// Built by hand rather than with dysmsapi.NewClientWithOptions, which
	// lazily fills a package-level endpoint map without a lock.
	cl := &dysmsapi.Client{}
	if err := cl.InitWithOptions(c.cfg.RegionID, conf, credentials.NewAccessKeyCredential(c.cfg.AccessKeyID, c.cfg.AccessKeySecret)); err != nil {
		return nil, err
	}
	cl.Domain = c.cfg.Endpoint
	cl.SetCloseTrace(true)
	return cl, nil
}

// prepare sets what every request needs regardless of the client defaults.
func (c *Client) prepare(r *requests.RpcRequest) {
	r.Scheme = strings.ToUpper(c.cfg.Scheme)
	r.Domain = c.cfg.Endpoint
	r.RegionId = c.cfg.RegionID
	r.SetReadTimeout(c.timeout)
}

// SendRequest is one message text (template and parameters) to one or more
// numbers.
type SendRequest struct {
	Phones       []string          // 1 to MaxSendPhones mainland numbers
	TemplateCode string            // an approved code, e.g. Config.Templates.Reminder
	Params       map[string]string // the template's ${name} values; may be nil
	// OutID comes back in receipts and QuerySendDetails. Use the outbox row id:
	// it is how a message whose answer was lost is found again.
	OutID string
}

// SendResult identifies an accepted send.
type SendResult struct {
	BizID     string // Aliyun's receipt id, used by QuerySendDetails and receipts
	RequestID string
}

// Send calls SendSms. A business refusal comes back as *Error; a failure to
// get an answer as a temporary error for which MayHaveSent is true.
func (c *Client) Send(ctx context.Context, req SendRequest) (SendResult, error) {
	const op = "send"
	if err := checkPhones(op, req.Phones, MaxSendPhones); err != nil {
		return SendResult{}, err
	}
	if strings.TrimSpace(req.TemplateCode) == "" {
		return SendResult{}, invalid(op, "template code is empty")
	}
	r := dysmsapi.CreateSendSmsRequest()
	c.prepare(r.RpcRequest)
	r.PhoneNumbers = strings.Join(req.Phones, ",")
	r.SignName = c.cfg.SignName
	r.TemplateCode = req.TemplateCode
	r.OutId = req.OutID
	if len(req.Params) > 0 {
		r.TemplateParam = string(marshal(req.Params))
	}
	if err := ctx.Err(); err != nil {
		return SendResult{}, fmt.Errorf("aliyun: %s: %w", op, err)
	}
	cl, err := c.sdkClient(ctx)
	if err != nil {
		return SendResult{}, fail(op, err)
	}
	resp, err := cl.SendSms(r)
	if err != nil {
		return SendResult{}, fail(op, err)
	}
	if resp.Code != "OK" {
		return SendResult{}, business(op, resp.Code, resp.Message, resp.RequestId, resp.GetHttpStatus())
	}
	return SendResult{BizID: resp.BizId, RequestID: resp.RequestId}, nil
}

// BatchItem is one number and its own template parameters.
type BatchItem struct {
	Phone  string
	Params map[string]string
}

// BatchRequest is one template sent to up to MaxBatchPhones numbers, each
// with its own parameters, under the configured sign name.
type BatchRequest struct {
	Items        []BatchItem
	TemplateCode string
	OutID        string
}

// SendBatch calls SendBatchSms. Aliyun accepts or refuses the batch as a
// whole and gives it a single BizID.
func (c *Client) SendBatch(ctx context.Context, req BatchRequest) (SendResult, error) {
	const op = "send batch"
	phones := make([]string, len(req.Items))
	for i, it := range req.Items {
		phones[i] = it.Phone
	}
	if err := checkPhones(op, phones, MaxBatchPhones); err != nil {
		return SendResult{}, err
	}
	if strings.TrimSpace(req.TemplateCode) == "" {
		return SendResult{}, invalid(op, "template code is empty")
	}
	signs := make([]string, len(req.Items))
	params := make([]map[string]string, len(req.Items))
	anyParams := false
	for i, it := range req.Items {
		signs[i] = c.cfg.SignName
		params[i] = it.Params
		if params[i] == nil {
			params[i] = map[string]string{}
		} else {
			anyParams = true
		}
	}
	r := dysmsapi.CreateSendBatchSmsRequest()
	c.prepare(r.RpcRequest)
	r.PhoneNumberJson = string(marshal(phones))
	r.SignNameJson = string(marshal(signs))
	r.TemplateCode = req.TemplateCode
	r.OutId = req.OutID
	if anyParams {
		r.TemplateParamJson = string(marshal(params))
	}
	if err := ctx.Err(); err != nil {
		return SendResult{}, fmt.Errorf("aliyun: %s: %w", op, err)
	}
	cl, err := c.sdkClient(ctx)
	if err != nil {
		return SendResult{}, fail(op, err)
	}
	resp, err := cl.SendBatchSms(r)
	if err != nil {
		return SendResult{}, fail(op, err)
	}
	if resp.Code != "OK" {
		return SendResult{}, business(op, resp.Code, resp.Message, resp.RequestId, resp.GetHttpStatus())
	}
	return SendResult{BizID: resp.BizId, RequestID: resp.RequestId}, nil
}

// DeliveryStatus is Aliyun's SendStatus.
type DeliveryStatus int

// Delivery states reported by QuerySendDetails.
const (
	StatusWaiting   DeliveryStatus = 1 // no receipt from the carrier yet
	StatusFailed    DeliveryStatus = 2
	StatusDelivered DeliveryStatus = 3
)

// String names the status for logs.
func (s DeliveryStatus) String() string {
	switch s {
	case StatusWaiting:
		return "waiting"
	case StatusFailed:
		return "failed"
	case StatusDelivered:
		return "delivered"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Detail is one message as QuerySendDetails reports it.
type Detail struct {
	Phone string
	OutID string
	// BizID is the one the query asked for; Aliyun does not return it per
	// record, so it is empty when the query had none.
	BizID        string
	TemplateCode string
	Content      string // the rendered text; it may hold a verification code
	Status       DeliveryStatus
	ErrCode      string // the carrier's code, e.g. DELIVERED
	SendDate     time.Time
	ReceiveDate  time.Time // zero while waiting
}

// Page selects one page of QuerySendDetails results.
type Page struct {
	Number int // from 1
	Size   int // 1 to MaxPageSize
}

// QuerySendDetails lists what was sent to phone on sendDate's day in Beijing
// time, optionally only under bizID. With a page it returns that page;
// without, it walks all pages (up to 2000 records). Use it to reconcile a
// send whose answer was lost: look for the outbox row id in Detail.OutID.
func (c *Client) QuerySendDetails(ctx context.Context, phone string, sendDate time.Time, bizID string, page ...Page) ([]Detail, error) {
	const op = "query send details"
	if err := checkPhones(op, []string{phone}, 1); err != nil {
		return nil, err
	}
	if sendDate.IsZero() {
		return nil, invalid(op, "send date is zero")
	}
	if len(page) > 1 {
		return nil, invalid(op, "more than one page given")
	}
	if len(page) == 1 {
		p := page[0]
		if p.Number < 1 || p.Size < 1 || p.Size > MaxPageSize {
			return nil, invalid(op, fmt.Sprintf("page %d of size %d: number must be >= 1 and size 1..%d", p.Number, p.Size, MaxPageSize))
		}
		out, _, err := c.queryPage(ctx, op, phone, sendDate, bizID, p)
		return out, err
	}
	var all []Detail
	for n := 1; n <= maxQueryPages; n++ {
		items, total, err := c.queryPage(ctx, op, phone, sendDate, bizID, Page{Number: n, Size: MaxPageSize})
		if err != nil {
			return all, err
		}
		all = append(all, items...)
		if len(items) < MaxPageSize || len(all) >= total {
			break
		}
	}
	return all, nil
}

func (c *Client) queryPage(ctx context.Context, op, phone string, sendDate time.Time, bizID string, p Page) ([]Detail, int, error) {
	r := dysmsapi.CreateQuerySendDetailsRequest()
	c.prepare(r.RpcRequest)
	r.PhoneNumber = phone
	r.SendDate = sendDate.In(beijing).Format("20060102")
	r.BizId = bizID
	r.PageSize = requests.NewInteger(p.Size)
	r.CurrentPage = requests.NewInteger(p.Number)
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("aliyun: %s: %w", op, err)
	}
	cl, err := c.sdkClient(ctx)
	if err != nil {
		return nil, 0, fail(op, err)
	}
	resp, err := cl.QuerySendDetails(r)
	if err != nil {
		return nil, 0, fail(op, err)
	}
	if resp.Code != "OK" {
		return nil, 0, business(op, resp.Code, resp.Message, resp.RequestId, resp.GetHttpStatus())
	}
	total, _ := strconv.Atoi(resp.TotalCount)
	items := resp.SmsSendDetailDTOs.SmsSendDetailDTO
	out := make([]Detail, 0, len(items))
	for _, d := range items {
		out = append(out, Detail{
			Phone:        d.PhoneNum,
			OutID:        d.OutId,
			BizID:        bizID,
			TemplateCode: d.TemplateCode,
			Content:      d.Content,
			Status:       DeliveryStatus(d.SendStatus),
			ErrCode:      d.ErrCode,
			SendDate:     parseBeijing(d.SendDate),
			ReceiveDate:  parseBeijing(d.ReceiveDate),
		})
	}
	return out, total, nil
}

// parseBeijing reads Aliyun's "2006-01-02 15:04:05"; anything else is zero
// rather than an error, so one odd record does not hide the others.
func parseBeijing(s string) time.Time {
	t, err := time.ParseInLocation(dateTimeLayout, strings.TrimSpace(s), beijing)
	if err != nil {
		return time.Time{}
	}
	return t
}

func checkPhones(op string, phones []string, max int) error {
	if len(phones) == 0 {
		return invalid(op, "no phone number")
	}
	if len(phones) > max {
		return invalid(op, fmt.Sprintf("%d phone numbers, at most %d per call", len(phones), max))
	}
	for i, p := range phones {
		if p == "" || strings.TrimSpace(p) != p || strings.ContainsAny(p, ", \t\r\n") {
			return invalid(op, fmt.Sprintf("phone number %d (%s) is empty or contains a separator", i+1, MaskPhone(p)))
		}
	}
	return nil
}

func invalid(op, why string) error {
	return fmt.Errorf("aliyun: %s: %w: %s", op, ErrInvalidRequest, why)
}

// marshal encodes template parameters as Aliyun wants them: plain JSON with
// <, > and & left as they are (a notice may well contain them).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings, slices and maps of strings cannot fail
	return bytes.TrimRight(b.Bytes(), "\n")
}

func business(op, code, message, requestID string, status int) *Error {
	if status == 0 {
		status = http.StatusOK
	}
	return &Error{Op: op, Code: code, Message: sanitize(message), RequestID: requestID, HTTPStatus: status}
}

// fail turns what the SDK returned into our errors. Every SDK error string
// may hold the request URL, and with it the residents' numbers, so none is
// passed on as it is.
func fail(op string, err error) error {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		msg := se.Message()
		if se.ErrorCode() == "" {
			// Not Aliyun's JSON: a proxy page or an empty 5xx.
			msg = http.StatusText(se.HttpStatus())
		}
		return &Error{Op: op, Code: se.ErrorCode(), Message: sanitize(msg), RequestID: se.RequestId(), HTTPStatus: se.HttpStatus()}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &netError{op: op, err: ue.Err}
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		if errors.As(ce.OriginError(), &ue) {
			return &netError{op: op, err: ue.Err}
		}
		return fmt.Errorf("aliyun: %s: %s: %s", op, ce.ErrorCode(), sanitize(ce.Message()))
	}
	return fmt.Errorf("aliyun: %s: %s", op, sanitize(err.Error()))
}

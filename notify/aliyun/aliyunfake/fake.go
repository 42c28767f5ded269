// Package aliyunfake is an in-process stand-in for Aliyun's SMS API
// (dysmsapi, version 2017-05-25) for tests of linli and of the packages that
// send through it.
//
// It checks what the real service checks before it accepts a message:
// Signature V1 (recomputed here, independently of the SDK), the access key,
// timestamp format and skew, nonce reuse, the API version, required parameters
// per action, phone number syntax and counts, and that template parameters are
// JSON objects of strings. It answers with Aliyun's codes and body shapes, and
// records every message it accepted so a test can assert on what would have
// reached residents' phones.
//
// Faults can be injected: a seeded, deterministic fraction of sends answered
// with isv.BUSINESS_LIMIT_CONTROL, a hook that fails chosen calls (HTTP 500,
// any business code, or a dropped response after the message was accepted),
// and illegal numbers, which fail as they would in production.
//
// The server listens on loopback through net/http/httptest, so a linli server
// started as a subprocess can be pointed at URL() or Endpoint() as well.
package aliyunfake

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Credentials the fake accepts unless WithAccessKey replaces them.
const (
	DefaultAccessKeyID     = "fake-access-key-id"
	DefaultAccessKeySecret = "fake-access-key-secret"
)

// APIVersion is the only dysmsapi version the fake (and linli) speaks.
const APIVersion = "2017-05-25"

// Limits the real service enforces per request.
const (
	MaxSendPhones  = 1000 // numbers in one SendSms
	MaxBatchPhones = 100  // numbers in one SendBatchSms
	MaxPageSize    = 50   // QuerySendDetails PageSize
)

// Delivery states as QuerySendDetails reports them.
const (
	StatusWaiting   = 1
	StatusFailed    = 2
	StatusDelivered = 3
)

// chinaTime is the zone of every date the SMS API shows or takes: Aliyun's
// SendDate parameter and its "2006-01-02 15:04:05" strings are Beijing time.
var chinaTime = time.FixedZone("CST", 8*3600)

const (
	timestampLayout = "2006-01-02T15:04:05Z"
	dateTimeLayout  = "2006-01-02 15:04:05"
	maxBody         = 1 << 20
)

// mainlandMobile is the number syntax Aliyun accepts for domestic templates.
var mainlandMobile = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// Record is one message the fake accepted for one phone number.
type Record struct {
	Action       string            `json:"action"` // SendSms or SendBatchSms
	Phone        string            `json:"phone"`
	SignName     string            `json:"sign_name"`
	TemplateCode string            `json:"template_code"`
	Params       map[string]string `json:"params,omitempty"`
	OutID        string            `json:"out_id,omitempty"`
	BizID        string            `json:"biz_id"`
	Time         time.Time         `json:"time"`
}

// Call describes one API request as the fault hook sees it.
type Call struct {
	N      int               // 1 for the first request the server received, counting every request
	Action string            // the Action parameter, possibly empty or unknown
	Params map[string]string // every parameter, query and form merged; do not modify
}

// Fault is what the fault hook asks the server to do instead of (or after)
// handling a call normally.
type Fault struct {
	// Status is the HTTP status to answer. Zero means 200 when Code is set
	// (a business error, as Aliyun sends them) and 500 otherwise.
	Status int
	// Code and Message go into the body. An empty Code with a 5xx status
	// answers InternalError, like the real gateway.
	Code    string
	Message string
	// DropResponse handles the call normally (so a send is recorded) and then
	// closes the connection without answering: the "did it go out?" case that
	// OutId reconciliation through QuerySendDetails exists for.
	DropResponse bool
}

// Option configures a Server.
type Option func(*config)

type template struct{ params []string }

type config struct {
	keys         map[string]string
	tls          bool
	now          func() time.Time
	maxSkew      time.Duration
	signNames    map[string]bool
	templates    map[string]template
	throttleRate float64
	seed         uint64
	faults       []func(Call) *Fault
	status       func(Record) (int, string)
	persistPath  string
}

// WithAccessKey makes the server accept this key pair. The first call
// replaces the default pair; later calls add more.
func WithAccessKey(id, secret string) Option {
	return func(c *config) {
		if c.keys == nil {
			c.keys = map[string]string{}
		}
		c.keys[id] = secret
	}
}

// WithTLS serves HTTPS with a self-signed certificate; use Server.Client to
// talk to it. This is how tests exercise the client's HTTPS default.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithClock sets the clock used to check request timestamps and to stamp
// records. A test that moves time should pass its fake clock here too.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMaxClockSkew sets how far a request's Timestamp may be from the clock
// (default 15 minutes, Aliyun's window). Zero or negative turns the check off.
func WithMaxClockSkew(d time.Duration) Option { return func(c *config) { c.maxSkew = d } }

// WithSignNames restricts the accepted sign names; others answer
// isv.SMS_SIGNATURE_ILLEGAL. Without it every non-empty sign name is approved.
func WithSignNames(names ...string) Option {
	return func(c *config) {
		if c.signNames == nil {
			c.signNames = map[string]bool{}
		}
		for _, n := range names {
			c.signNames[n] = true
		}
	}
}

// WithTemplate registers an approved template and the parameter names its
// text uses. Once any template is registered, other codes answer
// isv.SMS_TEMPLATE_ILLEGAL, and a send missing one of the names answers
// isv.TEMPLATE_MISSING_PARAMETERS.
func WithTemplate(code string, paramNames ...string) Option {
	return func(c *config) {
		if c.templates == nil {
			c.templates = map[string]template{}
		}
		c.templates[code] = template{params: paramNames}
	}
}

// WithThrottle answers the given fraction (0..1) of otherwise valid sends with
// isv.BUSINESS_LIMIT_CONTROL. The draws come from a generator seeded with
// seed, so the same sequence of calls is throttled the same way every run
// (and after Reset).
func WithThrottle(fraction float64, seed uint64) Option {
	return func(c *config) { c.throttleRate, c.seed = fraction, seed }
}

// WithFault installs a hook consulted for every request before anything else
// is checked; a non-nil Fault is applied. Several hooks run in order and the
// first non-nil answer wins.
func WithFault(hook func(Call) *Fault) Option {
	return func(c *config) { c.faults = append(c.faults, hook) }
}

// FailNth applies f to the n-th request the server receives (1-based).
func FailNth(n int, f Fault) Option {
	return WithFault(func(c Call) *Fault {
		if c.N == n {
			return &f
		}
		return nil
	})
}

// WithDeliveryStatus decides what QuerySendDetails reports for a record:
// StatusWaiting, StatusFailed or StatusDelivered, and the carrier's code.
// By default every record is StatusDelivered with code DELIVERED.
func WithDeliveryStatus(fn func(Record) (status int, errCode string)) Option {
	return func(c *config) { c.status = fn }
}

// Persist appends every accepted record to path as one JSON line, so a test
// can read what was sent even after the process that sent it is gone. The
// file is created if needed; ReadRecords reads it back.
func Persist(path string) Option { return func(c *config) { c.persistPath = path } }

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	cfg  config
	ts   *httptest.Server
	file *os.File

	mu    sync.Mutex
	calls int
	// batches holds the accepted records, one slice per request: a
	// broadcast of 100,000 appended one by one to a single slice spent most
	// of the fake's time copying it as it grew.
	batches [][]Record
	nrec    int
	nonces  map[string]time.Time
	rng     *rand.Rand
	seq     int64
}

// NewServer starts a fake on a loopback port. Like httptest.NewServer it
// panics if it cannot start (including when the Persist file cannot be
// opened); call Close when done.
func NewServer(opts ...Option) *Server {
	c := config{now: time.Now, maxSkew: 15 * time.Minute}
	for _, o := range opts {
		o(&c)
	}
	if c.keys == nil {
		c.keys = map[string]string{DefaultAccessKeyID: DefaultAccessKeySecret}
	}
	s := &Server{cfg: c, nonces: map[string]time.Time{}}
	s.rng = rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))
	if c.persistPath != "" {
		f, err := os.OpenFile(c.persistPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			panic("aliyunfake: persist: " + err.Error())
		}
		s.file = f
	}
	if c.tls {
		s.ts = httptest.NewTLSServer(s)
	} else {
		s.ts = httptest.NewServer(s)
	}
	return s
}

// URL is the base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.ts.URL }

// Endpoint is the host:port to put into linli's sms.aliyun.endpoint.
func (s *Server) Endpoint() string {
	return strings.TrimPrefix(strings.TrimPrefix(s.ts.URL, "http://"), "https://")
}

// Scheme is "https" for a WithTLS server and "http" otherwise.
func (s *Server) Scheme() string {
	if s.cfg.tls {
		return "https"
	}
	return "http"
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close shuts the server down and closes the Persist file.
func (s *Server) Close() {
	s.ts.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// Sent returns a copy of every accepted record, oldest first.
func (s *Server) Sent() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, s.nrec)
	s.eachLocked(func(r *Record) { out = append(out, r.clone()) })
	return out
}

// eachLocked calls f with every accepted record, oldest first.
func (s *Server) eachLocked(f func(r *Record)) {
	for _, b := range s.batches {
		for i := range b {
			f(&b[i])
		}
	}
}

// CountByPhone returns how many accepted messages each number got.
func (s *Server) CountByPhone() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	s.eachLocked(func(r *Record) { m[r.Phone]++ })
	return m
}

// Calls is how many requests the server has received, valid or not.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Reset forgets records, calls, used nonces and throttling draws (the seeded
// sequence starts again). The Persist file is left as it is.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = 0
	s.batches, s.nrec = nil, 0
	s.nonces = map[string]time.Time{}
	s.rng = rand.New(rand.NewPCG(s.cfg.seed, s.cfg.seed^0x9e3779b97f4a7c15))
}

// ReadRecords reads a file written through Persist. A torn last line (the
// writer was killed mid-write) is ignored; any other bad line is an error.
func ReadRecords(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Record
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			if i == len(lines)-1 {
				break
			}
			return out, fmt.Errorf("aliyunfake: %s line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (r Record) clone() Record {
	if r.Params != nil {
		p := make(map[string]string, len(r.Params))
		for k, v := range r.Params {
			p[k] = v
		}
		r.Params = p
	}
	return r
}

// apiError is an answer other than success.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

// business is an error Aliyun reports with HTTP 200 and Code != "OK".
func business(code, message string) *apiError {
	return &apiError{status: http.StatusOK, code: code, message: message}
}

func missing(name string) *apiError {
	return badRequest("Missing"+name, "%s is mandatory for this action.", name)
}

// ServeHTTP implements the dysmsapi RPC endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	params, perr := readParams(r)

	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()

	format := "XML" // Aliyun's default when Format is absent
	if f := strings.ToUpper(params["Format"]); f == "JSON" {
		format = "JSON"
	}
	out := responder{w: w, format: format, requestID: requestID, action: params["Action"]}

	var fault *Fault
	for _, hook := range s.cfg.faults {
		if fault = hook(Call{N: n, Action: params["Action"], Params: params}); fault != nil {
			break
		}
	}
	if fault != nil && !fault.DropResponse {
		out.fault(*fault)
		return
	}
	if perr != nil {
		out.error(perr)
		return
	}

	body, aerr := s.handle(r.Method, params)
	if fault != nil && fault.DropResponse {
		dropConnection(w)
		return
	}
	if aerr != nil {
		out.error(aerr)
		return
	}
	out.ok(body)
}

// dropConnection closes the TCP connection without an HTTP answer, which is
// what a client sees when the network fails after the server acted.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// readParams merges the query string and, for POST, the form body. A name
// given twice is refused: Aliyun's canonicalisation has no order for
// duplicates, so a request carrying them cannot have been signed sensibly.
func readParams(r *http.Request) (map[string]string, *apiError) {
	params := map[string]string{}
	add := func(vals url.Values) *apiError {
		for k, vs := range vals {
			if len(vs) > 1 {
				return badRequest("InvalidParameter", "Parameter %s is given more than once.", k)
			}
			if _, dup := params[k]; dup {
				return badRequest("InvalidParameter", "Parameter %s is given more than once.", k)
			}
			params[k] = vs[0]
		}
		return nil
	}
	if r.URL.Path != "/" && r.URL.Path != "" {
		return params, &apiError{status: http.StatusNotFound, code: "InvalidApi.NotFound", message: "Specified api is not found, please check your url and method."}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return params, badRequest("InvalidParameter", "The query string is malformed.")
	}
	if e := add(q); e != nil {
		return params, e
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return params, badRequest("InvalidParameter", "The request body could not be read.")
		}
		if len(data) > maxBody {
			return params, &apiError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge", message: "The request body is too large."}
		}
		if len(bytes.TrimSpace(data)) == 0 {
			break
		}
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/x-www-form-urlencoded" {
			return params, badRequest("InvalidParameter", "Content-Type %q is not supported; use application/x-www-form-urlencoded.", ct)
		}
		form, err := url.ParseQuery(string(data))
		if err != nil {
			return params, badRequest("InvalidParameter", "The form body is malformed.")
		}
		if e := add(form); e != nil {
			return params, e
		}
	default:
		return params, &apiError{status: http.StatusMethodNotAllowed, code: "UnsupportedHTTPMethod", message: "Specified HTTP method is not supported."}
	}
	return params, nil
}

func (s *Server) handle(method string, p map[string]string) (any, *apiError) {
	if err := s.authenticate(method, p); err != nil {
		return nil, err
	}
	switch p["Action"] {
	case "SendSms":
		return s.sendSms(p)
	case "SendBatchSms":
		return s.sendBatchSms(p)
	case "QuerySendDetails":
		return s.querySendDetails(p)
	default:
		return nil, &apiError{status: http.StatusNotFound, code: "InvalidAction.NotFound", message: "Specified api is not found, please check your url and method."}
	}
}

// authenticate runs the gateway checks in the order that makes a wrong key
// or signature report itself rather than a downstream symptom.
func (s *Server) authenticate(method string, p map[string]string) *apiError {
	for _, name := range []string{"AccessKeyId", "Action", "Version", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "Signature"} {
		if p[name] == "" {
			return missing(name)
		}
	}
	if p["Version"] != APIVersion {
		return badRequest("InvalidVersion", "Specified parameter Version is not valid.")
	}
	if p["SignatureMethod"] != "HMAC-SHA1" {
		return badRequest("InvalidSignatureMethod", "Specified signature method is not supported.")
	}
	if p["SignatureVersion"] != "1.0" {
		return badRequest("InvalidSignatureVersion", "Specified signature version is not supported.")
	}
	if f := p["Format"]; f != "" && !strings.EqualFold(f, "JSON") && !strings.EqualFold(f, "XML") {
		return badRequest("InvalidParameter.Format", "Specified parameter Format is not valid.")
	}
	ts, err := time.Parse(timestampLayout, p["Timestamp"])
	if err != nil {
		return badRequest("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
	}
	if s.cfg.maxSkew > 0 {
		if d := s.cfg.now().Sub(ts); d > s.cfg.maxSkew || -d > s.cfg.maxSkew {
			return badRequest("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
		}
	}
	secret, ok := s.cfg.keys[p["AccessKeyId"]]
	if !ok {
		return &apiError{status: http.StatusNotFound, code: "InvalidAccessKeyId.NotFound", message: "Specified access key is not found."}
	}
	if !Verify(method, p, secret) {
		return badRequest("SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", StringToSign(method, p))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	nonce := p["SignatureNonce"]
	if _, used := s.nonces[nonce]; used {
		return badRequest("SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	s.nonces[nonce] = ts
	if len(s.nonces)%4096 == 0 {
		// Nonces older than the timestamp window can no longer be replayed.
		for k, t := range s.nonces {
			if s.cfg.maxSkew > 0 && s.cfg.now().Sub(t) > 2*s.cfg.maxSkew {
				delete(s.nonces, k)
			}
		}
	}
	return nil
}

// normalizePhone strips the country prefixes Aliyun tolerates and checks the
// rest is a mainland mobile number.
func normalizePhone(p string) (string, bool) {
	p = strings.TrimSpace(p)
	for _, prefix := range []string{"+86", "0086", "86"} {
		if len(p) == 11+len(prefix) && strings.HasPrefix(p, prefix) {
			p = p[len(prefix):]
			break
		}
	}
	return p, mainlandMobile.MatchString(p)
}

// templateParams decodes one TemplateParam object. Aliyun accepts only string
// values ({"code":"123456"}, not {"code":123456}).
func templateParams(raw json.RawMessage) (map[string]string, *apiError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
		}
		out[k] = s
	}
	return out, nil
}

func (s *Server) checkSign(name string) *apiError {
	if name == "" || (s.cfg.signNames != nil && !s.cfg.signNames[name]) {
		return business("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
	}
	return nil
}

func (s *Server) checkTemplate(code string, params map[string]string) *apiError {
	if s.cfg.templates == nil {
		return nil
	}
	t, ok := s.cfg.templates[code]
	if !ok {
		return business("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
	}
	for _, name := range t.params {
		if _, ok := params[name]; !ok {
			return business("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
		}
	}
	return nil
}

// throttled draws from the seeded generator; callers hold no lock.
func (s *Server) throttled() bool {
	if s.cfg.throttleRate <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < s.cfg.throttleRate
}

type sendBody struct {
	XMLName   xml.Name `json:"-"`
	RequestID string   `json:"RequestId" xml:"RequestId"`
	Code      string   `json:"Code" xml:"Code"`
	Message   string   `json:"Message" xml:"Message"`
	BizID     string   `json:"BizId,omitempty" xml:"BizId,omitempty"`
}

func (s *Server) sendSms(p map[string]string) (any, *apiError) {
	for _, name := range []string{"PhoneNumbers", "SignName", "TemplateCode"} {
		if p[name] == "" {
			return nil, missing(name)
		}
	}
	raw := strings.Split(p["PhoneNumbers"], ",")
	if len(raw) > MaxSendPhones {
		return nil, business("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
	}
	phones := make([]string, len(raw))
	for i, ph := range raw {
		n, ok := normalizePhone(ph)
		if !ok {
			return nil, business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
		}
		phones[i] = n
	}
	var params map[string]string
	if tp := p["TemplateParam"]; tp != "" {
		var aerr *apiError
		if params, aerr = templateParams(json.RawMessage(tp)); aerr != nil {
			return nil, aerr
		}
	}
	if err := s.checkSign(p["SignName"]); err != nil {
		return nil, err
	}
	if err := s.checkTemplate(p["TemplateCode"], params); err != nil {
		return nil, err
	}
	if s.throttled() {
		return nil, business("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
	}
	recs := make([]Record, len(phones))
	for i, ph := range phones {
		recs[i] = Record{Action: "SendSms", Phone: ph, SignName: p["SignName"], TemplateCode: p["TemplateCode"], Params: params, OutID: p["OutId"]}
	}
	biz := s.accept(recs)
	return &sendBody{XMLName: xml.Name{Local: "SendSmsResponse"}, Code: "OK", Message: "OK", BizID: biz}, nil
}

func (s *Server) sendBatchSms(p map[string]string) (any, *apiError) {
	for _, name := range []string{"PhoneNumberJson", "SignNameJson", "TemplateCode"} {
		if p[name] == "" {
			return nil, missing(name)
		}
	}
	invalid := business("isv.INVALID_PARAMETERS", "参数异常")
	var phones, signs []string
	if json.Unmarshal([]byte(p["PhoneNumberJson"]), &phones) != nil || len(phones) == 0 {
		return nil, invalid
	}
	if len(phones) > MaxBatchPhones {
		return nil, business("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
	}
	if json.Unmarshal([]byte(p["SignNameJson"]), &signs) != nil || len(signs) != len(phones) {
		return nil, invalid
	}
	params := make([]map[string]string, len(phones))
	if tp := p["TemplateParamJson"]; tp != "" {
		var raws []json.RawMessage
		if json.Unmarshal([]byte(tp), &raws) != nil || len(raws) != len(phones) {
			return nil, invalid
		}
		for i, raw := range raws {
			var aerr *apiError
			if params[i], aerr = templateParams(raw); aerr != nil {
				return nil, aerr
			}
		}
	}
	recs := make([]Record, len(phones))
	for i, ph := range phones {
		n, ok := normalizePhone(ph)
		if !ok {
			return nil, business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
		}
		if err := s.checkSign(signs[i]); err != nil {
			return nil, err
		}
		if err := s.checkTemplate(p["TemplateCode"], params[i]); err != nil {
			return nil, err
		}
		recs[i] = Record{Action: "SendBatchSms", Phone: n, SignName: signs[i], TemplateCode: p["TemplateCode"], Params: params[i], OutID: p["OutId"]}
	}
	if s.throttled() {
		return nil, business("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
	}
	biz := s.accept(recs)
	return &sendBody{XMLName: xml.Name{Local: "SendBatchSmsResponse"}, Code: "OK", Message: "OK", BizID: biz}, nil
}

// accept records the messages of one request under one BizId, the way Aliyun
// gives a batch a single receipt id.
func (s *Server) accept(recs []Record) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	now := s.cfg.now()
	biz := fmt.Sprintf("%d%06d^0", now.Unix(), s.seq)
	for i := range recs {
		recs[i].BizID = biz
		recs[i].Time = now
		if s.file != nil {
			line, _ := json.Marshal(recs[i])
			s.file.Write(append(line, '\n'))
		}
	}
	s.batches = append(s.batches, recs)
	s.nrec += len(recs)
	return biz
}

type detailDTO struct {
	ErrCode      string `json:"ErrCode" xml:"ErrCode"`
	TemplateCode string `json:"TemplateCode" xml:"TemplateCode"`
	OutID        string `json:"OutId" xml:"OutId"`
	ReceiveDate  string `json:"ReceiveDate" xml:"ReceiveDate"`
	SendDate     string `json:"SendDate" xml:"SendDate"`
	PhoneNum     string `json:"PhoneNum" xml:"PhoneNum"`
	Content      string `json:"Content" xml:"Content"`
	SendStatus   int    `json:"SendStatus" xml:"SendStatus"`
}

type detailsBody struct {
	XMLName    xml.Name `json:"-" xml:"QuerySendDetailsResponse"`
	RequestID  string   `json:"RequestId" xml:"RequestId"`
	Code       string   `json:"Code" xml:"Code"`
	Message    string   `json:"Message" xml:"Message"`
	TotalCount int      `json:"TotalCount" xml:"TotalCount"`
	DTOs       struct {
		Items []detailDTO `json:"SmsSendDetailDTO" xml:"SmsSendDetailDTO"`
	} `json:"SmsSendDetailDTOs" xml:"SmsSendDetailDTOs"`
}

func (s *Server) querySendDetails(p map[string]string) (any, *apiError) {
	for _, name := range []string{"PhoneNumber", "SendDate", "PageSize", "CurrentPage"} {
		if p[name] == "" {
			return nil, missing(name)
		}
	}
	phone, ok := normalizePhone(p["PhoneNumber"])
	if !ok {
		return nil, business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
	}
	day, err := time.ParseInLocation("20060102", p["SendDate"], chinaTime)
	if err != nil {
		return nil, business("isv.INVALID_PARAMETERS", "参数异常")
	}
	size, err1 := strconv.Atoi(p["PageSize"])
	page, err2 := strconv.Atoi(p["CurrentPage"])
	if err1 != nil || err2 != nil || size < 1 || size > MaxPageSize || page < 1 {
		return nil, business("isv.INVALID_PARAMETERS", "参数异常")
	}
	biz := p["BizId"]

	s.mu.Lock()
	var match []Record
	s.eachLocked(func(r *Record) {
		if r.Phone != phone || (biz != "" && r.BizID != biz) {
			return
		}
		if y, m, d := r.Time.In(chinaTime).Date(); y != day.Year() || m != day.Month() || d != day.Day() {
			return
		}
		match = append(match, r.clone())
	})
	s.mu.Unlock()

	body := &detailsBody{Code: "OK", Message: "OK", TotalCount: len(match)}
	body.DTOs.Items = []detailDTO{}
	for i := (page - 1) * size; i < len(match) && i < page*size; i++ {
		r := match[i]
		status, code := StatusDelivered, "DELIVERED"
		if s.cfg.status != nil {
			status, code = s.cfg.status(r)
		}
		d := detailDTO{
			ErrCode:      code,
			TemplateCode: r.TemplateCode,
			OutID:        r.OutID,
			SendDate:     r.Time.In(chinaTime).Format(dateTimeLayout),
			PhoneNum:     r.Phone,
			Content:      render(r),
			SendStatus:   status,
		}
		if status != StatusWaiting {
			d.ReceiveDate = r.Time.In(chinaTime).Format(dateTimeLayout)
		}
		body.DTOs.Items = append(body.DTOs.Items, d)
	}
	return body, nil
}

// render stands in for the approved template text, which the fake does not
// know: the sign in 【】, the template code and the parameters in name order.
func render(r Record) string {
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("【" + r.SignName + "】" + r.TemplateCode)
	for _, k := range keys {
		b.WriteString(" " + k + "=" + r.Params[k])
	}
	return b.String()
}

// responder writes answers in the shape and format Aliyun uses.
type responder struct {
	w         http.ResponseWriter
	format    string
	requestID string
	action    string
}

type errorBody struct {
	XMLName   xml.Name `json:"-" xml:"Error"`
	RequestID string   `json:"RequestId" xml:"RequestId"`
	HostID    string   `json:"HostId" xml:"HostId"`
	Code      string   `json:"Code" xml:"Code"`
	Message   string   `json:"Message" xml:"Message"`
	Recommend string   `json:"Recommend" xml:"Recommend"`
}

func (o responder) write(status int, v any) {
	var data []byte
	if o.format == "JSON" {
		o.w.Header().Set("Content-Type", "application/json;charset=utf-8")
		data, _ = json.Marshal(v)
	} else {
		o.w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		data, _ = xml.Marshal(v)
		data = append([]byte(xml.Header), data...)
	}
	o.w.Header().Set("x-acs-request-id", o.requestID)
	o.w.WriteHeader(status)
	o.w.Write(data)
}

func (o responder) ok(body any) {
	switch b := body.(type) {
	case *sendBody:
		b.RequestID = o.requestID
	case *detailsBody:
		b.RequestID = o.requestID
	}
	o.write(http.StatusOK, body)
}

func (o responder) error(e *apiError) {
	if e.status == http.StatusOK {
		// Business errors keep the action's own response shape.
		name := o.action + "Response"
		if o.action == "" {
			name = "Response"
		}
		o.write(http.StatusOK, &sendBody{XMLName: xml.Name{Local: name}, RequestID: o.requestID, Code: e.code, Message: e.message})
		return
	}
	o.write(e.status, &errorBody{
		RequestID: o.requestID,
		HostID:    "dysmsapi.aliyuncs.com",
		Code:      e.code,
		Message:   e.message,
		Recommend: "https://next.api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) + "&product=Dysmsapi",
	})
}

func (o responder) fault(f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
		if f.Code != "" {
			status = http.StatusOK
		}
	}
	code, msg := f.Code, f.Message
	if code == "" && status >= 500 {
		code = "InternalError"
		if msg == "" {
			msg = "The request processing has failed due to some unknown error, exception or failure."
		}
	}
	o.error(&apiError{status: status, code: code, message: msg})
}

var requestSeq struct {
	sync.Mutex
	n uint64
}

// newRequestID makes a RequestId shaped like Aliyun's (a UUID in capitals).
func newRequestID() string {
	requestSeq.Lock()
	requestSeq.n++
	n := requestSeq.n
	requestSeq.Unlock()
	return fmt.Sprintf("FA4E0000-0000-4000-8000-%012X", n)
}

package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"linli/bot"
	"linli/store"
)

// The outbound half of the channel talks to the Official Account API with
// the standard library rather than the SDK's officialaccount clients. Those
// clients (v2.1.10) take no context, share the process-global
// util.DefaultHTTPClient (no timeout) and a global URI modifier, report
// errcodes only inside fmt strings, put the request URI — access_token
// included — into the text of an HTTP-status error, never refresh a token on
// 40001, and pull the SDK's cache package (go-redis, gomemcache) into the
// binary. Four small JSON calls are cheaper to own than to disarm.

// TokenStore keeps the access token where every process sees it and a
// restart does not lose it; *store.Store satisfies it (its kv table).
type TokenStore interface {
	GetValue(ctx context.Context, key string) (string, time.Time, error)
	SetValue(ctx context.Context, key, value string, expires time.Time) error
}

// ClientOptions configure a Client beyond its Config.
type ClientOptions struct {
	// HTTP is the client for API calls; nil means NewHTTPClient().
	HTTP *http.Client
	// Tokens caches the access token (required).
	Tokens TokenStore
	// Now is the clock for token expiry; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Client calls the WeChat Official Account API: access token, customer-
// service messages, template messages, the custom menu. It is safe for
// concurrent use.
type Client struct {
	base   string
	appID  string
	secret string
	http   *http.Client
	tokens TokenStore
	now    func() time.Time
	log    *slog.Logger
	// mu makes one goroutine of this process fetch a token at a time; the
	// others then find it in the store.
	mu sync.Mutex
}

// NewHTTPClient returns an HTTP client with the timeouts every API call
// needs: a hung connection must not hold an outbox lease or a reply.
func NewHTTPClient() *http.Client { return bot.NewAPIClient(15 * time.Second) }

// NewClient returns an API client for the account in cfg.
func NewClient(cfg Config, opt ClientOptions) (*Client, error) {
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, errors.New("wechat: app_id and app_secret are required for API calls")
	}
	if opt.Tokens == nil {
		return nil, errors.New("wechat: a token store is required")
	}
	base := strings.TrimRight(cfg.APIBaseURL, "/")
	if base == "" {
		base = "https://api.weixin.qq.com"
	}
	if opt.HTTP == nil {
		opt.HTTP = NewHTTPClient()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Client{base: base, appID: cfg.AppID, secret: cfg.AppSecret, http: opt.HTTP, tokens: opt.Tokens, now: opt.Now, log: opt.Logger}, nil
}

// WeChat errcodes the channel acts on.
const (
	CodeSystemBusy        = -1
	CodeInvalidCredential = 40001 // access token invalid or superseded
	CodeInvalidOpenID     = 40003
	CodeInvalidToken      = 40014 // malformed access token
	CodeTokenExpired      = 42001
	CodeRequireSubscribe  = 43004 // the resident has unfollowed
	CodeAPIQuota          = 45009 // daily API quota
	CodeAPIMinuteQuota    = 45011
	CodeOutOfWindow       = 45015 // 48 hours since the resident's last message
	CodeOutOfQuota        = 45047 // too many customer-service messages in this window
)

// APIError is an errcode the API answered. Branch on Code; Msg varies and
// carries a request id.
type APIError struct {
	Op   string // token, custom send, template send, menu create
	Code int
	Msg  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wechat: %s: errcode %d: %s", e.Op, e.Code, e.Msg)
}

// Unreachable reports that this channel cannot reach the resident now (the
// window closed, its quota is used up, they unfollowed): the dispatcher
// tries the next channel.
func (e *APIError) Unreachable() bool {
	switch e.Code {
	case CodeOutOfWindow, CodeOutOfQuota, CodeRequireSubscribe, CodeInvalidOpenID:
		return true
	}
	return false
}

// Temporary reports errors worth another try later; the rest (a bad
// template id, a message too long) will fail the same way again.
func (e *APIError) Temporary() bool {
	switch e.Code {
	case CodeSystemBusy, CodeAPIQuota, CodeAPIMinuteQuota, CodeInvalidCredential, CodeInvalidToken, CodeTokenExpired:
		return true
	}
	return false
}

// IsCode reports whether err is an APIError with one of codes.
func IsCode(err error, codes ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.Code == c {
			return true
		}
	}
	return false
}

func isTokenCode(code int) bool {
	return code == CodeInvalidCredential || code == CodeInvalidToken || code == CodeTokenExpired
}

// statusError is a non-200 answer. WeChat itself answers 200 with an
// errcode, so this comes from a proxy or gateway in between (a 502 while it
// restarts, a 503 while it is overloaded): nothing about the row is wrong.
type statusError struct {
	op     string
	status int
}

func (e *statusError) Error() string { return fmt.Sprintf("wechat: %s: HTTP %d", e.op, e.status) }

// Temporary reports that the same call may succeed later. Every status
// counts: even a 4xx from a misconfigured proxy is fixed by the operator,
// not by changing the row, so failing the row would only lose it.
func (e *statusError) Temporary() bool { return true }

// transportError is a call that got no answer at all: connection refused,
// DNS, TLS, timeout, reset. The net package's own errors say Temporary()
// false for most of these (a refused dial is a *net.OpError that is not
// "temporary"), and notify would then fail the row for good; to the
// outbox they are all passing.
type transportError struct {
	op  string
	err error
}

func (e *transportError) Error() string { return fmt.Sprintf("wechat: %s: %v", e.op, e.err) }

// Unwrap returns the transport's error (context.Canceled, a *net.OpError).
func (e *transportError) Unwrap() error { return e.err }

// Temporary reports that the call is worth another try later.
func (e *transportError) Temporary() bool { return true }

// maxResponse bounds what is read from the API; its answers are tiny.
const maxResponse = 1 << 20

// tokenKey is the kv key of the account's access token, shared by every
// process on the database so they do not invalidate each other's tokens.
func (c *Client) tokenKey() string { return "wechat:access_token:" + c.appID }

// Token returns a valid access token, from the store when it has one.
func (c *Client) Token(ctx context.Context) (string, error) {
	if tok, _, err := c.tokens.GetValue(ctx, c.tokenKey()); err == nil && tok != "" {
		return tok, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("wechat: token cache: %w", err)
	}
	return c.refresh(ctx, "")
}

// refresh fetches a new token unless another goroutine or process already
// replaced stale (the token that just failed) in the store.
func (c *Client) refresh(ctx context.Context, stale string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tok, _, err := c.tokens.GetValue(ctx, c.tokenKey()); err == nil && tok != "" && tok != stale {
		return tok, nil
	}
	q := url.Values{"grant_type": {"client_credential"}, "appid": {c.appID}, "secret": {c.secret}}
	var resp struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := c.do(ctx, "token", http.MethodGet, "/cgi-bin/token?"+q.Encode(), nil, &resp); err != nil {
		return "", err
	}
	if resp.AccessToken == "" {
		return "", &APIError{Op: "token", Code: CodeSystemBusy, Msg: "no access_token in the answer"}
	}
	// Expire it early in the cache so no call goes out with a token about
	// to die; WeChat keeps an old token valid a few minutes after a new one.
	life := time.Duration(resp.ExpiresIn)*time.Second - 5*time.Minute
	if life < time.Minute {
		life = time.Minute
	}
	if err := c.tokens.SetValue(ctx, c.tokenKey(), resp.AccessToken, c.now().Add(life)); err != nil {
		c.log.Warn("wechat: cannot cache the access token", "err", err)
	}
	return resp.AccessToken, nil
}

// call runs an authenticated API call, refreshing the token once and
// retrying when WeChat says it is invalid or expired.
func (c *Client) call(ctx context.Context, op, path string, body any, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("wechat: %s: %w", op, err)
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	err = c.do(ctx, op, http.MethodPost, path+"?access_token="+url.QueryEscape(tok), raw, out)
	var ae *APIError
	if errors.As(err, &ae) && isTokenCode(ae.Code) {
		if tok, err = c.refresh(ctx, tok); err != nil {
			return err
		}
		err = c.do(ctx, op, http.MethodPost, path+"?access_token="+url.QueryEscape(tok), raw, out)
	}
	return err
}

// do sends one request and parses errcode from the answer. Errors never
// carry the URL: it holds the access token or the app secret.
func (c *Client) do(ctx context.Context, op, method, pathAndQuery string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+pathAndQuery, rd)
	if err != nil {
		return fmt.Errorf("wechat: %s: bad request", op)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds the token or the secret
		}
		return &transportError{op: op, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return &transportError{op: op + ": read answer", err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{op: op, status: resp.StatusCode}
	}
	var st struct {
		Errcode json.Number `json:"errcode"`
		Errmsg  string      `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("wechat: %s: answer is not JSON", op)
	}
	if st.Errcode != "" && st.Errcode != "0" {
		code, err := strconv.Atoi(string(st.Errcode))
		if err != nil {
			return fmt.Errorf("wechat: %s: errcode %q is not a number", op, st.Errcode)
		}
		return &APIError{Op: op, Code: code, Msg: st.Errmsg}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("wechat: %s: answer: %w", op, err)
		}
	}
	return nil
}

// customMessage is the body of /cgi-bin/message/custom/send.
type customMessage struct {
	ToUser  string       `json:"touser"`
	MsgType string       `json:"msgtype"`
	Text    *customText  `json:"text,omitempty"`
	Image   *customImage `json:"image,omitempty"`
}

type customText struct {
	Content string `json:"content"`
}

type customImage struct {
	MediaID string `json:"media_id"`
}

// SendText sends a customer-service text message: allowed within 48 hours
// of the resident's last message, a few per window.
func (c *Client) SendText(ctx context.Context, openID, text string) error {
	return c.call(ctx, "custom send", "/cgi-bin/message/custom/send",
		customMessage{ToUser: openID, MsgType: "text", Text: &customText{Content: text}}, nil)
}

// SendImage sends a customer-service image message of an uploaded media item.
func (c *Client) SendImage(ctx context.Context, openID, mediaID string) error {
	return c.call(ctx, "custom send", "/cgi-bin/message/custom/send",
		customMessage{ToUser: openID, MsgType: "image", Image: &customImage{MediaID: mediaID}}, nil)
}

// TemplateField is one value of a template message.
type TemplateField struct {
	Value string `json:"value"`
	Color string `json:"color,omitempty"`
}

// TemplateMessage is a template message: the only push allowed once the
// 48-hour window has closed.
type TemplateMessage struct {
	ToUser     string                   `json:"touser"`
	TemplateID string                   `json:"template_id"`
	URL        string                   `json:"url,omitempty"`
	Data       map[string]TemplateField `json:"data"`
}

// SendTemplate sends a template message and returns its msgid, which the
// later TEMPLATESENDJOBFINISH event names.
func (c *Client) SendTemplate(ctx context.Context, m TemplateMessage) (int64, error) {
	var resp struct {
		MsgID int64 `json:"msgid"`
	}
	if err := c.call(ctx, "template send", "/cgi-bin/message/template/send", m, &resp); err != nil {
		return 0, err
	}
	return resp.MsgID, nil
}

// Button is one custom-menu button.
type Button struct {
	Type       string   `json:"type,omitempty"` // click, view
	Name       string   `json:"name"`
	Key        string   `json:"key,omitempty"`
	URL        string   `json:"url,omitempty"`
	SubButtons []Button `json:"sub_button,omitempty"`
}

// Menu is the account's custom menu.
type Menu struct {
	Buttons []Button `json:"button"`
}

// CreateMenu replaces the account's custom menu.
func (c *Client) CreateMenu(ctx context.Context, m Menu) error {
	return c.call(ctx, "menu create", "/cgi-bin/menu/create", m, nil)
}

package tgfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// apiError is an error answer of the Bot API.
type apiError struct {
	Code        int
	Description string
	RetryAfter  int
	MigrateTo   int64
	// rawBody, when set, is written as is instead of the JSON envelope
	// (a proxy's HTML error page).
	rawBody *string
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{Code: http.StatusBadRequest, Description: "Bad Request: " + fmt.Sprintf(format, args...)}
}

func conflict(description string) *apiError {
	return &apiError{Code: http.StatusConflict, Description: "Conflict: " + description}
}

func tooManyRequests(retryAfter int) *apiError {
	return &apiError{
		Code:        http.StatusTooManyRequests,
		Description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter),
		RetryAfter:  retryAfter,
	}
}

var (
	errUnauthorized = &apiError{Code: http.StatusUnauthorized, Description: "Unauthorized"}
	errNotFound     = &apiError{Code: http.StatusNotFound, Description: "Not Found"}
)

// result is a successful answer.
type result struct {
	Value       any
	Description string
}

type envelope struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result,omitempty"`
	ErrorCode   int             `json:"error_code,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  *respParams     `json:"parameters,omitempty"`
}

type respParams struct {
	RetryAfter      int   `json:"retry_after,omitempty"`
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
}

func writeResult(w http.ResponseWriter, r result) {
	writeJSON(w, http.StatusOK, envelope{OK: true, Result: jsonOf(r.Value), Description: r.Description})
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.rawBody != nil {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(e.Code)
		_, _ = w.Write([]byte(*e.rawBody))
		return
	}
	env := envelope{ErrorCode: e.Code, Description: e.Description}
	if e.RetryAfter > 0 || e.MigrateTo != 0 {
		env.Parameters = &respParams{RetryAfter: e.RetryAfter, MigrateToChatID: e.MigrateTo}
	}
	writeJSON(w, e.Code, env)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	// The real API answers with the error code as the HTTP status too.
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// handler implements one method. It runs with f.mu held and returns either
// a result or an error.
type handler func(f *Fake, c *Call) (result, *apiError)

// methods maps lower-cased method names (the real API ignores case) to the
// canonical name and handler. getUpdates is served separately because it
// waits without the lock.
var methods = map[string]struct {
	name string
	h    handler
}{}

func register(name string, h handler) {
	methods[strings.ToLower(name)] = struct {
		name string
		h    handler
	}{name, h}
}

func init() {
	register("getMe", (*Fake).getMe)
	register("sendMessage", (*Fake).sendMessage)
	register("sendPhoto", (*Fake).sendPhoto)
	register("editMessageText", (*Fake).editMessageText)
	register("editMessageReplyMarkup", (*Fake).editMessageReplyMarkup)
	register("answerCallbackQuery", (*Fake).answerCallbackQuery)
	register("deleteMessage", (*Fake).deleteMessage)
	register("getFile", (*Fake).getFile)
	register("setMyCommands", (*Fake).setMyCommands)
	register("getMyCommands", (*Fake).getMyCommands)
	register("deleteMyCommands", (*Fake).deleteMyCommands)
	register("setWebhook", (*Fake).setWebhook)
	register("deleteWebhook", (*Fake).deleteWebhook)
	register("getWebhookInfo", (*Fake).getWebhookInfo)
	register("sendChatAction", (*Fake).sendChatAction)
	register("getUpdates", nil)
}

func (f *Fake) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot"); ok {
		f.serveFile(w, rest)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	if !ok {
		writeError(w, errNotFound)
		return
	}
	token, method, ok := strings.Cut(rest, "/")
	if !ok {
		writeError(w, errNotFound)
		return
	}
	// bot.UseTestEnvironment puts "/test/" between token and method.
	method = strings.TrimPrefix(method, "test/")

	params, files, mediaType, decodeErr := decodeRequest(r)
	call := &Call{Method: method, Params: params, Files: files, ContentType: mediaType}

	f.mu.Lock()
	call.At = f.now()
	f.calls = append(f.calls, call)
	m, known := methods[strings.ToLower(method)]
	if known {
		call.Method = m.name
	}
	var apiErr *apiError
	switch {
	case token != f.token:
		apiErr = errUnauthorized
	case !known:
		apiErr = errNotFound
	case errors.Is(decodeErr, errTooLarge):
		apiErr = &apiError{Code: http.StatusRequestEntityTooLarge, Description: "Request Entity Too Large"}
	case decodeErr != nil:
		apiErr = badRequest("%v", decodeErr)
	default:
		apiErr = f.takeFaultLocked(call.Method)
	}
	if apiErr != nil {
		f.finishLocked(call, apiErr)
		f.mu.Unlock()
		writeError(w, apiErr)
		return
	}
	if m.h == nil {
		// getUpdates: visible as soon as it has confirmed updates by its
		// offset and starts waiting, so tests can wait for the poll to
		// start before pushing.
		gen, e := f.beginPollLocked(call)
		if e != nil {
			f.finishLocked(call, e)
			f.mu.Unlock()
			writeError(w, e)
			return
		}
		f.notifyLocked()
		f.mu.Unlock()
		f.waitPoll(w, r, call, gen)
		return
	}
	res, apiErr := m.h(f, call)
	f.finishLocked(call, apiErr)
	f.mu.Unlock()
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeResult(w, res)
}

func (f *Fake) finishLocked(c *Call, e *apiError) {
	c.Code = http.StatusOK
	if e != nil {
		c.Code = e.Code
		c.Description = e.Description
	}
	f.notifyLocked()
}

// fault is an injected failure for the next calls of a method.
type fault struct {
	method string
	left   int
	err    apiError
}

// FailNext makes the next n calls of method ("*" for any method) fail with
// the given HTTP/API error code and description, before any other check.
// An empty description takes the real API's wording for the code; a 429
// always carries parameters.retry_after (at least 1), as the real one does.
// Faults queue: a second FailNext applies after the first is used up.
// n < 1 adds nothing.
func (f *Fake) FailNext(method string, n, code int, description string, retryAfter int) {
	if description == "" {
		description = defaultDescription(code, retryAfter)
	}
	if code == http.StatusTooManyRequests && retryAfter < 1 {
		retryAfter = 1
	}
	f.addFault(&fault{method: method, left: n, err: apiError{Code: code, Description: description, RetryAfter: retryAfter}})
}

// FailNextHTTP makes the next n calls of method answer with a bare HTTP
// status and body, as a proxy in front of the API does (e.g. 502 with an
// HTML page): the client then fails to decode the answer.
func (f *Fake) FailNextHTTP(method string, n, status int, body string) {
	f.addFault(&fault{method: method, left: n, err: apiError{Code: status, rawBody: &body}})
}

func (f *Fake) addFault(ft *fault) {
	if ft.left < 1 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, ft)
}

func defaultDescription(code, retryAfter int) string {
	switch code {
	case http.StatusBadRequest:
		return "Bad Request"
	case http.StatusUnauthorized:
		return "Unauthorized"
	case http.StatusForbidden:
		return "Forbidden: bot was blocked by the user"
	case http.StatusNotFound:
		return "Not Found"
	case http.StatusConflict:
		return "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	case http.StatusTooManyRequests:
		return fmt.Sprintf("Too Many Requests: retry after %d", max(retryAfter, 1))
	}
	return http.StatusText(code)
}

func (f *Fake) takeFaultLocked(method string) *apiError {
	for i, ft := range f.faults {
		if ft.method != method && ft.method != "*" {
			continue
		}
		ft.left--
		if ft.left == 0 {
			f.faults = append(f.faults[:i], f.faults[i+1:]...)
		}
		e := ft.err
		return &e
	}
	return nil
}

// Limit allows N sends in any window of length Per; a zero Limit is no
// limit.
type Limit struct {
	N   int
	Per time.Duration
}

// Limits are the flood limits the fake enforces on sendMessage and
// sendPhoto when enabled.
type Limits struct {
	PrivateChat Limit
	GroupChat   Limit
	Global      Limit
}

// DefaultLimits are Telegram's documented limits: one message per second
// in a private chat, 20 per minute in a group, about 30 per second overall.
// The real server tolerates short bursts; the fake does not, so a sender
// that passes here passes there.
func DefaultLimits() Limits {
	return Limits{
		PrivateChat: Limit{N: 1, Per: time.Second},
		GroupChat:   Limit{N: 20, Per: time.Minute},
		Global:      Limit{N: 30, Per: time.Second},
	}
}

// EnableRateLimits turns flood control on (it is off by default). A send
// over a limit answers 429 "Too Many Requests: retry after N" with
// parameters.retry_after = N, the whole seconds until the window allows
// it, measured on the fake's clock. Refused sends do not count.
func (f *Fake) EnableRateLimits(l Limits) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limits = &l
}

// DisableRateLimits turns flood control off.
func (f *Fake) DisableRateLimits() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limits = nil
}

// checkRateLocked refuses a send over the limits, or counts it.
func (f *Fake) checkRateLocked(cs *chatState) *apiError {
	if f.limits == nil {
		return nil
	}
	now := f.now()
	per := f.limits.PrivateChat
	if cs.chat.Type != "private" {
		per = f.limits.GroupChat
	}
	wait := max(windowWait(&cs.sends, per, now), windowWait(&f.globalSends, f.limits.Global, now))
	if wait > 0 {
		return tooManyRequests(int(math.Ceil(wait.Seconds())))
	}
	cs.sends = append(cs.sends, now)
	f.globalSends = append(f.globalSends, now)
	return nil
}

// windowWait drops sends older than the window and returns how long until
// one more is allowed (0: now).
func windowWait(sends *[]time.Time, l Limit, now time.Time) time.Duration {
	if l.N <= 0 || l.Per <= 0 {
		return 0
	}
	s := *sends
	for len(s) > 0 && !s[0].After(now.Add(-l.Per)) {
		s = s[1:]
	}
	*sends = s
	if len(s) < l.N {
		return 0
	}
	return s[len(s)-l.N].Add(l.Per).Sub(now)
}

func (f *Fake) serveFile(w http.ResponseWriter, rest string) {
	token, path, _ := strings.Cut(rest, "/")
	f.mu.Lock()
	call := &Call{Method: "file", Params: Params{"file_path": path}, At: f.now()}
	f.calls = append(f.calls, call)
	if token != f.token {
		f.finishLocked(call, errUnauthorized)
		f.mu.Unlock()
		writeError(w, errUnauthorized)
		return
	}
	var file *storedFile
	for _, sf := range f.files {
		if sf.path == path {
			file = sf
			break
		}
	}
	if file == nil {
		f.finishLocked(call, errNotFound)
		f.mu.Unlock()
		writeError(w, errNotFound)
		return
	}
	data := file.content()
	f.finishLocked(call, nil)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data)
}

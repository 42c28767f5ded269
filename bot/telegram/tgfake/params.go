package tgfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Params are a call's parameters after decoding, whatever the encoding
// (query string, multipart/form-data, urlencoded form or JSON body), so a
// test asserts on values rather than on how a client happened to send them:
//
//   - integer parameters (chat_id, message_id, offset, …) are int64; a
//     chat_id that is not a number (an @username) stays a string;
//   - latitude and longitude are float64, flags (show_alert, …) bool;
//   - JSON-valued parameters (reply_markup, reply_parameters, commands,
//     scope, allowed_updates, entities, …) are decoded into map[string]any
//     and []any, with integral numbers as int64 and others as float64;
//   - everything else is a string.
//
// A value that fails to decode is kept as the string received, and the
// method then answers 400 as the real API would.
type Params map[string]any

// Has reports whether the parameter was sent.
func (p Params) Has(key string) bool {
	_, ok := p[key]
	return ok
}

// Int returns an integer parameter, 0 if absent or not an integer.
func (p Params) Int(key string) int64 {
	switch v := p[key].(type) {
	case int64:
		return v
	case float64:
		if v == float64(int64(v)) {
			return int64(v)
		}
	}
	return 0
}

// Float returns a number parameter, 0 if absent or not a number.
func (p Params) Float(key string) float64 {
	switch v := p[key].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

// Str returns a parameter as a string: strings as they are, numbers and
// flags formatted, "" if absent. JSON values are re-encoded.
func (p Params) Str(key string) string {
	switch v := p[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	default:
		return string(jsonOf(v))
	}
}

// Bool returns a flag parameter, false if absent.
func (p Params) Bool(key string) bool {
	v, _ := p[key].(bool)
	return v
}

// Decode re-encodes a parameter as JSON and decodes it into dst, e.g. a
// reply_markup into a models.InlineKeyboardMarkup.
func (p Params) Decode(key string, dst any) error {
	v, ok := p[key]
	if !ok {
		return fmt.Errorf("tgfake: parameter %q not sent", key)
	}
	if s, isString := v.(string); isString {
		return json.Unmarshal([]byte(s), dst)
	}
	return json.Unmarshal(jsonOf(v), dst)
}

func setOf(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

var (
	intParams = setOf("chat_id", "message_id", "reply_to_message_id", "user_id",
		"offset", "limit", "timeout", "cache_time", "max_connections",
		"message_thread_id", "from_chat_id", "until_date", "live_period", "heading")
	floatParams = setOf("latitude", "longitude", "horizontal_accuracy")
	boolParams  = setOf("disable_notification", "protect_content", "show_alert",
		"drop_pending_updates", "allow_sending_without_reply", "has_spoiler",
		"show_caption_above_media", "disable_web_page_preview", "allow_paid_broadcast")
	jsonParams = setOf("reply_markup", "reply_parameters", "commands", "scope",
		"allowed_updates", "entities", "caption_entities", "link_preview_options",
		"media", "message_ids")
)

// normalizeString turns a textual parameter (query, form field) into its
// typed value.
func normalizeString(key, s string) any {
	switch {
	case intParams[key]:
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			return n
		}
	case floatParams[key]:
		if x, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return x
		}
	case boolParams[key]:
		if b, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil {
			return b
		}
	case jsonParams[key]:
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil {
			return normalizeValue(v)
		}
	}
	return s
}

// normalizeJSON turns a top-level value of a JSON body into its typed
// value. Telegram accepts strings for numbers and JSON-encoded strings for
// objects in JSON bodies too, so strings go through normalizeString.
func normalizeJSON(key string, v any) any {
	if s, ok := v.(string); ok {
		return normalizeString(key, s)
	}
	v = normalizeValue(v)
	if floatParams[key] {
		if n, ok := v.(int64); ok {
			return float64(n)
		}
	}
	return v
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeValue(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeValue(e)
		}
		return x
	}
	return v
}

// maxRequestBody is the real API's upload limit for bots.
const maxRequestBody = 50 << 20

var errTooLarge = errors.New("request entity too large")

// decodeRequest reads the query string and the body of a call.
func decodeRequest(r *http.Request) (Params, []File, string, error) {
	params := Params{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			params[k] = normalizeString(k, vs[0])
		}
	}
	mediaType, mtParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return params, nil, mediaType, fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxRequestBody {
		return params, nil, mediaType, errTooLarge
	}
	// go-telegram/bot sends a multipart Content-Type with an empty body for
	// methods without parameters (getMe, getWebhookInfo): that is no
	// parameters, not a broken form.
	if len(bytes.TrimSpace(body)) == 0 {
		return params, nil, mediaType, nil
	}
	var files []File
	switch mediaType {
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), mtParams["boundary"])
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return params, files, mediaType, fmt.Errorf("can't parse multipart form: %w", err)
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return params, files, mediaType, fmt.Errorf("can't parse multipart form: %w", err)
			}
			if part.FileName() != "" {
				files = append(files, File{
					Field:       part.FormName(),
					Name:        part.FileName(),
					ContentType: part.Header.Get("Content-Type"),
					Size:        int64(len(data)),
					Data:        data,
				})
				continue
			}
			params[part.FormName()] = normalizeString(part.FormName(), string(data))
		}
	case "application/x-www-form-urlencoded":
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return params, nil, mediaType, fmt.Errorf("can't parse form: %w", err)
		}
		for k, vs := range values {
			if len(vs) > 0 {
				params[k] = normalizeString(k, vs[0])
			}
		}
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return params, nil, mediaType, fmt.Errorf("can't parse JSON object: %w", err)
		}
		for k, v := range m {
			params[k] = normalizeJSON(k, v)
		}
	}
	// Any other content type: the real API ignores the body, so the
	// method's own checks report what is missing.
	return params, files, mediaType, nil
}

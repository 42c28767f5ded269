package aliyun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Aliyun pushes two kinds of JSON arrays to the URLs set in its console
// ("HTTP批量推送模式"): SmsReport, the carrier's delivery receipts, and SmsUp,
// the texts residents send back. A push may hold several items and may
// repeat an earlier one (Aliyun retries after 1, 5 and 10 minutes when the
// answer is not HTTP 200 with a numeric code), so handlers must be
// idempotent, keyed by BizID+Phone for reports and SequenceID for replies.
//
// The documented examples disagree on a few types (sequence_id is a number in
// one version of the page and a string in another; sms_size a string), so
// scalar fields accept either form. Anything else malformed is an error.

// Report is one delivery receipt (SmsReport).
type Report struct {
	Phone      string    // phone_number
	SendTime   time.Time // send_time: handed to the carrier (Beijing time)
	ReportTime time.Time // report_time: the carrier's receipt arrived
	Success    bool      // success
	ErrCode    string    // err_code, e.g. DELIVERED
	ErrMsg     string    // err_msg, e.g. 用户接收成功
	SMSSize    int       // sms_size: billed parts of a long message
	BizID      string    // biz_id: SendResult.BizID of the send
	OutID      string    // out_id: SendRequest.OutID of the send
}

// Reply is one text a resident sent back (SmsUp).
type Reply struct {
	Phone      string    // phone_number
	SendTime   time.Time // send_time (Beijing time)
	Content    string    // content, e.g. "5" or "TD"
	SignName   string    // sign_name the resident replied to
	DestCode   string    // dest_code: the extension number
	SequenceID string    // sequence_id: unique per reply; the dedupe key
}

type rawReport struct {
	Phone      flexString `json:"phone_number"`
	SendTime   flexString `json:"send_time"`
	ReportTime flexString `json:"report_time"`
	Success    flexBool   `json:"success"`
	ErrCode    flexString `json:"err_code"`
	ErrMsg     flexString `json:"err_msg"`
	SMSSize    flexString `json:"sms_size"`
	BizID      flexString `json:"biz_id"`
	OutID      flexString `json:"out_id"`
}

type rawReply struct {
	Phone      flexString `json:"phone_number"`
	SendTime   flexString `json:"send_time"`
	Content    flexString `json:"content"`
	SignName   flexString `json:"sign_name"`
	DestCode   flexString `json:"dest_code"`
	SequenceID flexString `json:"sequence_id"`
}

// ParseReports parses an SmsReport push body. An empty array is valid and
// yields no reports; an empty body, anything but an array of objects, or an
// item without phone_number or biz_id is an error. Errors name the item by
// index, never by phone number.
func ParseReports(body []byte) ([]Report, error) {
	var raws []rawReport
	if err := decodeArray(body, &raws); err != nil {
		return nil, fmt.Errorf("aliyun: report: %w", err)
	}
	out := make([]Report, 0, len(raws))
	for i, r := range raws {
		rep := Report{
			Phone:   strings.TrimSpace(string(r.Phone)),
			Success: bool(r.Success),
			ErrCode: string(r.ErrCode),
			ErrMsg:  string(r.ErrMsg),
			BizID:   strings.TrimSpace(string(r.BizID)),
			OutID:   string(r.OutID),
		}
		if rep.Phone == "" {
			return nil, fmt.Errorf("aliyun: report: item %d: no phone_number", i)
		}
		if rep.BizID == "" {
			return nil, fmt.Errorf("aliyun: report: item %d: no biz_id", i)
		}
		var err error
		if rep.SendTime, err = pushTime(string(r.SendTime)); err != nil {
			return nil, fmt.Errorf("aliyun: report: item %d: send_time: %w", i, err)
		}
		if rep.ReportTime, err = pushTime(string(r.ReportTime)); err != nil {
			return nil, fmt.Errorf("aliyun: report: item %d: report_time: %w", i, err)
		}
		if s := strings.TrimSpace(string(r.SMSSize)); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("aliyun: report: item %d: sms_size %q is not a count", i, truncate(s))
			}
			rep.SMSSize = n
		}
		out = append(out, rep)
	}
	return out, nil
}

// ParseReplies parses an SmsUp push body, with the same rules as
// ParseReports; each item needs phone_number.
func ParseReplies(body []byte) ([]Reply, error) {
	var raws []rawReply
	if err := decodeArray(body, &raws); err != nil {
		return nil, fmt.Errorf("aliyun: reply: %w", err)
	}
	out := make([]Reply, 0, len(raws))
	for i, r := range raws {
		rep := Reply{
			Phone:      strings.TrimSpace(string(r.Phone)),
			Content:    string(r.Content),
			SignName:   string(r.SignName),
			DestCode:   string(r.DestCode),
			SequenceID: strings.TrimSpace(string(r.SequenceID)),
		}
		if rep.Phone == "" {
			return nil, fmt.Errorf("aliyun: reply: item %d: no phone_number", i)
		}
		var err error
		if rep.SendTime, err = pushTime(string(r.SendTime)); err != nil {
			return nil, fmt.Errorf("aliyun: reply: item %d: send_time: %w", i, err)
		}
		out = append(out, rep)
	}
	return out, nil
}

// decodeArray insists on exactly one JSON array and nothing after it.
func decodeArray(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return errors.New("empty body")
	}
	if body[0] != '[' {
		return errors.New("body is not a JSON array")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON array")
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input, which
// may contain phone numbers.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s where %s was expected (field %q)", te.Value, te.Type, te.Field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return sanitize(err.Error())
}

// pushTime reads "2006-01-02 15:04:05" in Beijing time. An empty value is the
// zero time. The compact form "20060102150405" appears in an older sample and
// is accepted too.
func pushTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{dateTimeLayout, "20060102150405"} {
		if t, err := time.ParseInLocation(layout, s, beijing); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2017-01-01 00:00:00", truncate(s))
}

// truncate shortens a bad value for quoting in an error, masking any phone
// number in it first.
func truncate(s string) string {
	s = sanitize(s)
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// flexString accepts a JSON string, number, boolean or null.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("empty value")
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case string(b) == "null":
		*f = ""
	case b[0] == '{' || b[0] == '[':
		return &json.UnmarshalTypeError{Value: "object or array", Type: stringType}
	default:
		// A number or true/false: keep its literal text, so a sequence_id
		// beyond 2^53 is not rounded the way float64 would round it.
		var n json.Number
		if err := json.Unmarshal(b, &n); err == nil {
			*f = flexString(n.String())
			return nil
		}
		var v bool
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = flexString(strconv.FormatBool(v))
	}
	return nil
}

// flexBool accepts true/false, "true"/"false", 1/0, "1"/"0" and null (false).
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(string(s))) {
	case "true", "1":
		*f = true
	case "false", "0", "":
		*f = false
	default:
		return &json.UnmarshalTypeError{Value: "value " + strconv.Quote(truncate(string(s))), Type: boolType}
	}
	return nil
}

var (
	stringType = reflect.TypeOf("")
	boolType   = reflect.TypeOf(false)
)

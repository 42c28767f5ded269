package aliyun

import (
	"strings"
	"testing"
	"time"
)

// reportSample is the example on Aliyun's SmsReport HTTP push page.
const reportSample = `[
  {
    "phone_number" : "13812345678",
    "send_time" : "2017-01-01 00:00:00",
    "report_time" : "2017-01-01 00:00:05",
    "success" : true,
    "err_code" : "DELIVERED",
    "err_msg" : "用户接收成功",
    "sms_size" : "1",
    "biz_id" : "932702304080415357^0",
    "out_id" : "1184"
  }
]`

// replySample is the example on Aliyun's SmsUp HTTP push page, with
// sequence_id as a number as in the older version of that page.
const replySample = `[ { "phone_number" : "13812345678", "send_time" : "2017-09-01 00:00:00",
  "content" : "TD", "sign_name" : "普惠苑社区", "dest_code" : "1234", "sequence_id" : 1234567890 } ]`

func TestParseReports(t *testing.T) {
	got, err := ParseReports([]byte(reportSample))
	if err != nil {
		t.Fatal(err)
	}
	want := Report{
		Phone:      "13812345678",
		SendTime:   time.Date(2017, 1, 1, 0, 0, 0, 0, beijing),
		ReportTime: time.Date(2017, 1, 1, 0, 0, 5, 0, beijing),
		Success:    true,
		ErrCode:    "DELIVERED",
		ErrMsg:     "用户接收成功",
		SMSSize:    1,
		BizID:      "932702304080415357^0",
		OutID:      "1184",
	}
	if len(got) != 1 || !got[0].SendTime.Equal(want.SendTime) || !got[0].ReportTime.Equal(want.ReportTime) {
		t.Fatalf("%+v", got)
	}
	got[0].SendTime, got[0].ReportTime = want.SendTime, want.ReportTime
	if got[0] != want {
		t.Fatalf("got %+v\nwant %+v", got[0], want)
	}
	if got[0].SendTime.UTC().Hour() != 16 {
		t.Fatal("send_time not read as Beijing time")
	}
}

func TestParseReportsVariants(t *testing.T) {
	body := `[{"phone_number":"13812345678","biz_id":"1^0","success":"false","sms_size":2,"err_code":"MK:0001","send_time":"","out_id":null},
	          {"phone_number":"13900001111","biz_id":"2^0","success":false,"extra_field":{"ignored":true}}]`
	got, err := ParseReports([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Success || got[0].SMSSize != 2 || !got[0].SendTime.IsZero() || got[0].OutID != "" || got[1].BizID != "2^0" {
		t.Fatalf("%+v", got)
	}
	empty, err := ParseReports([]byte(" [] "))
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty array: %v %v", empty, err)
	}
}

func TestParseReplies(t *testing.T) {
	got, err := ParseReplies([]byte(replySample))
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if len(got) != 1 || r.Phone != "13812345678" || r.Content != "TD" || r.SignName != "普惠苑社区" || r.DestCode != "1234" ||
		r.SequenceID != "1234567890" || !r.SendTime.Equal(time.Date(2017, 9, 1, 0, 0, 0, 0, beijing)) {
		t.Fatalf("%+v", got)
	}
	// The newer page shows sequence_id as a string and no sign_name; a large
	// number must not lose digits through float64.
	got, err = ParseReplies([]byte(`[{"phone_number":"13812345678","content":"5","send_time":"2017-09-01 00:00:00","dest_code":"1234","sequence_id":"1234567890"},
		{"phone_number":"13812345678","content":"4","sequence_id":123456789012345678901}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].SequenceID != "1234567890" || got[0].SignName != "" || got[1].SequenceID != "123456789012345678901" {
		t.Fatalf("%+v", got)
	}
}

func TestParsePushGarbage(t *testing.T) {
	bad := map[string]string{
		"empty":              ``,
		"blank":              "  \n",
		"null":               `null`,
		"object":             `{"phone_number":"13812345678","biz_id":"1"}`,
		"truncated":          `[{"phone_number":"13812345678"`,
		"trailing data":      `[] []`,
		"not JSON":           `phone_number=13812345678`,
		"array of strings":   `["13812345678"]`,
		"nested object":      `[{"phone_number":{"n":"13812345678"},"biz_id":"1"}]`,
		"no phone":           `[{"biz_id":"1^0"}]`,
		"bad time":           `[{"phone_number":"13812345678","biz_id":"1","send_time":"yesterday 13812345678"}]`,
		"bad success":        `[{"phone_number":"13812345678","biz_id":"1","success":"maybe"}]`,
		"bad size":           `[{"phone_number":"13812345678","biz_id":"1","sms_size":"two"}]`,
		"negative size":      `[{"phone_number":"13812345678","biz_id":"1","sms_size":-1}]`,
		"binary":             "\x00\xff[",
		"array in an array":  `[[]]`,
		"phone as array":     `[{"phone_number":["13812345678"],"biz_id":"1"}]`,
		"no biz id (report)": `[{"phone_number":"13812345678"}]`,
	}
	for name, body := range bad {
		reports, err := ParseReports([]byte(body))
		if err == nil {
			t.Errorf("reports %s: accepted: %+v", name, reports)
			continue
		}
		if !strings.HasPrefix(err.Error(), "aliyun: report: ") || strings.Contains(err.Error(), "13812345678") {
			t.Errorf("reports %s: %v", name, err)
		}
		if name == "no biz id (report)" || name == "bad size" || name == "negative size" || name == "bad success" {
			continue // fields only reports have
		}
		replies, err := ParseReplies([]byte(body))
		if err == nil {
			t.Errorf("replies %s: accepted: %+v", name, replies)
			continue
		}
		if !strings.HasPrefix(err.Error(), "aliyun: reply: ") || strings.Contains(err.Error(), "13812345678") {
			t.Errorf("replies %s: %v", name, err)
		}
	}
}

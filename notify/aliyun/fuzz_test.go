package aliyun

import (
	"strings"
	"testing"
)

// The push endpoints take whatever the internet sends them: parsing must
// never panic, and whatever it accepts must satisfy the documented promises.

func FuzzParseReports(f *testing.F) {
	f.Add([]byte(reportSample))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reports, err := ParseReports(body)
		if err != nil {
			if reports != nil {
				t.Fatal("reports returned with an error")
			}
			if !strings.HasPrefix(err.Error(), "aliyun: report: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		for _, r := range reports {
			if r.Phone == "" || r.BizID == "" || r.SMSSize < 0 {
				t.Fatalf("accepted an incomplete report: %+v", r)
			}
		}
	})
}

func FuzzParseReplies(f *testing.F) {
	f.Add([]byte(replySample))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		replies, err := ParseReplies(body)
		if err != nil {
			if replies != nil {
				t.Fatal("replies returned with an error")
			}
			if !strings.HasPrefix(err.Error(), "aliyun: reply: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		for _, r := range replies {
			if r.Phone == "" {
				t.Fatalf("accepted a reply without a phone: %+v", r)
			}
		}
	})
}

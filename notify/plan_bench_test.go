package notify

import (
	"fmt"
	"testing"

	"linli/notify/aliyun"
	"linli/notify/aliyun/aliyunfake"
	"linli/store"
)

// BenchmarkPlanCallsSameText plans a leased chunk of a broadcast: 2000
// rows with one text, each with its own copy of the parameters as the
// lease returns them.
func BenchmarkPlanCallsSameText(b *testing.B) {
	sms, err := NewAliyunSMS(aliyun.Config{AccessKeyID: aliyunfake.DefaultAccessKeyID, AccessKeySecret: aliyunfake.DefaultAccessKeySecret,
		Endpoint: "127.0.0.1:1", SignName: "普惠苑社区", Templates: aliyun.Templates{Notice: "SMS_2"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	d := NewDispatcher(nil, sms, nil, nil)
	jobs := make([]*smsJob, 2000)
	for i := range jobs {
		jobs[i] = &smsJob{phone: fmt.Sprintf("139%08d", i), row: &store.OutboxRow{ID: int64(i + 1), Kind: KindReminder,
			Body: store.OutboxBody{Template: KindNotice, Params: map[string]string{"content": "明天停水"}}}}
	}
	b.ResetTimer()
	for range b.N {
		if calls := d.planCalls(jobs); len(calls) != 2 || len(calls[0].jobs) != 1000 {
			b.Fatalf("%d calls", len(calls))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(jobs)), "ns/row")
}

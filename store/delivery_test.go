package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestRecordDelivery(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err := st.EnqueueOutbox(ctx, []OutboxRow{
		{Kind: "reply", Body: OutboxBody{Text: "a"}},
		{Kind: "reply", Body: OutboxBody{Text: "b"}},
		{Kind: "reply", Body: OutboxBody{Text: "c"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1714112445, 0)
	st.FinishOutbox(ctx, ids[0], OutboxOutcome{Status: OutboxSent, Channel: "wechat", Provider: "wechat", ProviderID: "template:7"})
	st.FinishOutbox(ctx, ids[1], OutboxOutcome{Status: OutboxSent, Channel: "wechat", Provider: "wechat", ProviderID: "template:8"})
	// ids[2] stays pending with no provider id.

	if id, err := st.RecordDelivery(ctx, "wechat", "template:7", true, "", at); err != nil || id != ids[0] {
		t.Fatalf("delivered: %d %v", id, err)
	}
	if id, err := st.RecordDelivery(ctx, "wechat", "template:8", false, "failed:user block", at); err != nil || id != ids[1] {
		t.Fatalf("failed: %d %v", id, err)
	}
	if _, err := st.RecordDelivery(ctx, "wechat", "template:9", true, "", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := st.RecordDelivery(ctx, "aliyun", "template:7", true, "", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other provider: %v", err)
	}
	if _, err := st.RecordDelivery(ctx, "", "", true, "", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty id matched the pending row: %v", err)
	}
	r0, _ := st.OutboxRowByID(ctx, ids[0])
	r1, _ := st.OutboxRowByID(ctx, ids[1])
	r2, _ := st.OutboxRowByID(ctx, ids[2])
	if r0.Status != OutboxDelivered || !r0.DeliveredAt.Equal(at) {
		t.Fatalf("row 0: %s %v", r0.Status, r0.DeliveredAt)
	}
	if r1.Status != OutboxFailed || r1.Error != "failed:user block" || !r1.DeliveredAt.IsZero() {
		t.Fatalf("row 1: %s %q %v", r1.Status, r1.Error, r1.DeliveredAt)
	}
	if r2.Status != OutboxPending {
		t.Fatalf("row 2: %s", r2.Status)
	}
}

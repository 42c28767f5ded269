package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestDeleteExpiredValuesKeepsOthers(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	st.SetClock(func() time.Time { return now })
	set := func(k string, exp time.Time) {
		t.Helper()
		if err := st.SetValue(ctx, k, "v", exp); err != nil {
			t.Fatal(err)
		}
	}
	set("web:replay:a", now.Add(-time.Second)) // expired: goes
	set("web:replay:b", now.Add(time.Minute))  // still valid
	set("web:replay;", now.Add(-time.Second))  // just past the prefix
	set("web:replax:c", now.Add(-time.Second)) // another prefix
	set("web:replay:forever", time.Time{})     // never expires
	set("web:replay_x", now.Add(-time.Second)) // '_' is no wildcard here
	n, err := st.DeleteExpiredValues(ctx, "web:replay:")
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	var left int
	if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM kv WHERE key LIKE 'web:repla%'").Scan(&left); err != nil || left != 5 {
		t.Fatalf("%d rows left, %v", left, err)
	}
	if _, err := st.DeleteExpiredValues(ctx, ""); err == nil {
		t.Fatal("an empty prefix would delete every expired value")
	}
}

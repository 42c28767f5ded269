package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Migration 0010 rebuilds inbound_keys without its rowid and its
// created_at index: keys claimed before it stay claimed, and the purge by
// age still works on the new table.
func TestInboundKeysSurviveTheirRebuild(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "linli.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1714112445, 0)
	// The table as 0001 made it, with a key claimed, and 0010 not applied.
	for _, q := range []string{
		"DROP TABLE inbound_keys",
		"CREATE TABLE inbound_keys (channel TEXT NOT NULL, key TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (channel, key))",
		"CREATE INDEX inbound_keys_created ON inbound_keys (created_at)",
		"DELETE FROM schema_migrations WHERE version = 10",
	} {
		if _, err := st.DB().Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	if fresh, err := st.ClaimInbound(ctx, "wechat", "msg:1", at); err != nil || !fresh {
		t.Fatalf("claim before: %v %v", fresh, err)
	}
	st.Close()

	st, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var sql string
	st.DB().QueryRow("SELECT sql FROM sqlite_master WHERE name = 'inbound_keys'").Scan(&sql)
	var indexes int
	st.DB().QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbound_keys' AND sql IS NOT NULL").Scan(&indexes)
	if want := "WITHOUT ROWID"; !strings.Contains(sql, want) || indexes != 0 {
		t.Fatalf("inbound_keys is %q with %d indexes", sql, indexes)
	}
	if fresh, err := st.ClaimInbound(ctx, "wechat", "msg:1", at); err != nil || fresh {
		t.Fatalf("the key claimed before the rebuild is fresh again: %v %v", fresh, err)
	}
	if fresh, err := st.ClaimInbound(ctx, "wechat", "msg:2", at.Add(time.Hour)); err != nil || !fresh {
		t.Fatalf("claim after: %v %v", fresh, err)
	}
	if n, err := st.PurgeInbound(ctx, at.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if fresh, _ := st.ClaimInbound(ctx, "wechat", "msg:2", at); fresh {
		t.Fatal("the purge took a key younger than its limit")
	}
}

package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestMergeMovesEveryReferencingTable adds a table the way a later feature
// would (test_bookings with a unique slot per resident) and checks that a merge
// moves its rows without anyone listing it, the survivor's row winning a
// clash.
func TestMergeMovesEveryReferencingTable(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB().Exec(`CREATE TABLE test_bookings (id INTEGER PRIMARY KEY, slot TEXT NOT NULL,
		resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE, UNIQUE (slot, resident_id))`); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	a, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "o1"}, now)
	b, _, _, _ := st.ResolveIdentity(ctx, IdentityKey{Channel: "telegram", ExternalID: "42"}, now)
	st.DB().Exec("INSERT INTO test_bookings (slot, resident_id) VALUES ('mon', ?), ('tue', ?), ('tue', ?)", a.ID, a.ID, b.ID)
	st.TagResident(ctx, a.ID, "楼长", now)
	st.CreateTicket(ctx, NewTicket{ResidentID: a.ID, Category: "other", Description: "x", DueAt: now})
	st.SetUnsubscribed(ctx, a.ID, true)
	if merged, err := st.BindPhone(ctx, a.ID, "13812345678", now); err != nil || len(merged) != 0 {
		t.Fatal(merged, err)
	}
	merged, err := st.BindPhone(ctx, b.ID, "13812345678", now)
	if err != nil || len(merged) != 1 || merged[0] != a.ID {
		t.Fatalf("merged %v %v", merged, err)
	}
	var n int
	st.DB().QueryRow("SELECT COUNT(*) FROM test_bookings WHERE resident_id = ?", b.ID).Scan(&n)
	if n != 2 {
		t.Fatalf("test_bookings of the survivor: %d, want mon and tue", n)
	}
	if ids, _ := st.Identities(ctx, b.ID); len(ids) != 2 {
		t.Fatalf("identities %+v", ids)
	}
	if ts, _ := st.ResidentTickets(ctx, b.ID, false); len(ts) != 1 {
		t.Fatalf("tickets %+v", ts)
	}
	if c, _ := st.TagCounts(ctx); c["楼长"] != 1 {
		t.Fatalf("tags %v", c)
	}
	r, _ := st.Resident(ctx, b.ID)
	if !r.Unsubscribed || r.Phone != "13812345678" {
		t.Fatalf("survivor %+v", r)
	}
	if _, err := st.Resident(ctx, a.ID); err != ErrNotFound {
		t.Fatalf("merged resident still there: %v", err)
	}
}

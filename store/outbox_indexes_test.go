package store

import (
	"context"
	"strings"
	"testing"
)

// TestOutboxQueriesUseIndexes pins the index each outbox look-up is served
// by after 0009 narrowed and dropped indexes: a partial index serves only a
// query whose WHERE repeats its condition, and a query that loses its index
// scans every row ever sent. The WHERE clauses are those of the methods
// named.
func TestOutboxQueriesUseIndexes(t *testing.T) {
	s, _ := openTest(t)
	cases := []struct{ method, sql, index string }{
		{"AlertOfMessage", `SELECT id FROM outbox WHERE kind = 'alert' AND provider_id = ? AND provider_id <> ''
			AND ((channel = ? AND target_address = ?) OR (channel = ? AND target_address = ?)) ORDER BY id DESC LIMIT 1`, "outbox_provider_id"},
		{"TicketOfMessage", `SELECT ref FROM outbox WHERE channel = ? AND provider_id = ? AND provider_id <> '' AND target_address = ?
			AND kind = 'alert' AND ref <> '' ORDER BY id DESC LIMIT 1`, "outbox_provider_id"},
		{"RecordDelivery", `UPDATE outbox SET status = ?, error = ?, delivered_at = COALESCE(?, delivered_at)
			WHERE provider = ? AND provider_id = ? AND provider_id <> '' AND status IN ('sent', 'delivered', 'failed') RETURNING id`, "outbox_provider_id"},
		{"RecordSMSReceipt by OutId", `UPDATE outbox SET status = ? WHERE sms_out_id = ? AND sms_out_id <> '' AND sms_phone = ?
			AND status IN ('sent', 'pending')`, "outbox_sms_out"},
		{"RecordSMSReceipt by BizId", `UPDATE outbox SET status = ? WHERE provider_id = ? AND provider_id <> '' AND sms_phone = ?
			AND status IN ('sent', 'pending')`, "outbox_provider_id"},
		{"BroadcastCounts", "SELECT status, COUNT(*) FROM outbox WHERE broadcast_id = ? GROUP BY status", "outbox_broadcast"},
		{"BroadcastHeldDue", "SELECT COUNT(*) FROM outbox WHERE +broadcast_id = ? AND status = 'held' AND hold_until IS NOT NULL", "outbox_hold_until"},
		{"CancelOutbox", "UPDATE outbox SET status = 'cancelled' WHERE resident_id = ? AND ref = ? AND status IN ('pending', 'held')", "outbox_resident"},
		{"MergeResidents", "UPDATE outbox SET resident_id = ? WHERE resident_id = ?", "outbox_resident"},
		{"SMSSentCounts", `SELECT sms_phone, COUNT(*) FROM outbox WHERE sms_phone <> '' AND sms_template = ?
			AND sms_try_at >= ? AND (status IN ('sent', 'delivered') OR sms_out_id <> '') AND sms_phone IN (?, ?) GROUP BY sms_phone`, "outbox_sms_phone"},
	}
	for _, c := range cases {
		got := queryPlan(t, s, c.sql)
		if !strings.Contains(got+" ", " INDEX "+c.index+" ") {
			t.Errorf("%s: plan %q, want it to use %s", c.method, got, c.index)
		}
	}
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q (its parameters all NULL),
// the details joined with "; ".
func queryPlan(t *testing.T, s *Store, q string) string {
	t.Helper()
	rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, make([]any, strings.Count(q, "?"))...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

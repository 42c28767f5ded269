package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Broadcast statuses.
const (
	BroadcastScheduled = "scheduled" // waiting for its time
	BroadcastSending   = "sending"   // rows enqueued, the dispatcher is at work
	BroadcastDone      = "done"      // every row has an outcome; final counts posted
	BroadcastCancelled = "cancelled"
)

// Broadcast channel policies.
const (
	PolicyBotFirst = "bot_first" // the resident's chat channels, SMS for the rest
	PolicySMSOnly  = "sms_only"
)

// Broadcast is a notice to many residents.
type Broadcast struct {
	ID           int64
	CreatedBy    string
	AudienceKind string // everyone | buildings | tag | event | service
	AudienceKey  string // comma-separated buildings, a tag, an event or service key
	Text         string
	Policy       string
	Urgent       bool
	Lang         string
	DueAt        time.Time
	Status       string
	Total        int
	CreatedAt    time.Time
	StartedAt    time.Time
	ReportedAt   time.Time
	FinishedAt   time.Time
}

const broadcastColumns = `id, created_by, audience_kind, audience_key, text, policy, urgent, lang, due_at, status, total,
	created_at, started_at, reported_at, finished_at`

func scanBroadcast(row interface{ Scan(...any) error }) (Broadcast, error) {
	var b Broadcast
	var due, created, started, reported, finished sql.NullInt64
	err := row.Scan(&b.ID, &b.CreatedBy, &b.AudienceKind, &b.AudienceKey, &b.Text, &b.Policy, &b.Urgent, &b.Lang, &due,
		&b.Status, &b.Total, &created, &started, &reported, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	b.DueAt, b.CreatedAt, b.StartedAt = fromUnix(due), fromUnix(created), fromUnix(started)
	b.ReportedAt, b.FinishedAt = fromUnix(reported), fromUnix(finished)
	return b, err
}

func scanBroadcasts(rows *sql.Rows, err error) ([]Broadcast, error) {
	return scanAll(rows, err, scanBroadcast)
}

// CreateBroadcast stores a scheduled broadcast.
func (s *Store) CreateBroadcast(ctx context.Context, b Broadcast) (Broadcast, error) {
	if b.CreatedAt.IsZero() {
		b.CreatedAt = s.now()
	}
	var out Broadcast
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanBroadcast(tx.QueryRowContext(ctx, `INSERT INTO broadcasts (created_by, audience_kind, audience_key, text, policy,
			urgent, lang, due_at, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+broadcastColumns,
			b.CreatedBy, b.AudienceKind, b.AudienceKey, b.Text, b.Policy, b.Urgent, b.Lang, b.DueAt.Unix(), BroadcastScheduled, b.CreatedAt.Unix()))
		return err
	})
	return out, err
}

// BroadcastByID returns one broadcast.
func (s *Store) BroadcastByID(ctx context.Context, id int64) (Broadcast, error) {
	return scanBroadcast(s.db.QueryRowContext(ctx, "SELECT "+broadcastColumns+" FROM broadcasts WHERE id = ?", id))
}

// BroadcastsIn lists broadcasts in a status, oldest due first; for
// scheduled ones only those due by now (zero: all).
func (s *Store) BroadcastsIn(ctx context.Context, status string, dueBy time.Time) ([]Broadcast, error) {
	q, args := "SELECT "+broadcastColumns+" FROM broadcasts WHERE status = ?", []any{status}
	if !dueBy.IsZero() {
		q += " AND due_at <= ?"
		args = append(args, dueBy.Unix())
	}
	return scanBroadcasts(s.db.QueryContext(ctx, q+" ORDER BY due_at, id", args...))
}

// SetBroadcastStatus moves a broadcast on, stamping the time that goes with
// the new status; it applies only from the status given (ErrConflict else).
func (s *Store) SetBroadcastStatus(ctx context.Context, id int64, from, to string, total int, at time.Time) error {
	col := map[string]string{BroadcastSending: "started_at", BroadcastDone: "finished_at", BroadcastCancelled: "finished_at"}[to]
	q := "UPDATE broadcasts SET status = ?"
	args := []any{to}
	if col != "" {
		q += ", " + col + " = ?"
		args = append(args, at.Unix())
	}
	if to == BroadcastSending {
		q += ", total = ?"
		args = append(args, total)
	}
	res, err := s.exec(ctx, q+" WHERE id = ? AND status = ?", append(args, id, from)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// NoteBroadcastReported records when progress was last posted.
func (s *Store) NoteBroadcastReported(ctx context.Context, id int64, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE broadcasts SET reported_at = ? WHERE id = ?", at.Unix(), id)
	return err
}

// BroadcastCounts returns the broadcast's rows by outbox status.
func (s *Store) BroadcastCounts(ctx context.Context, id int64) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT status, COUNT(*) FROM outbox WHERE broadcast_id = ? GROUP BY status", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// EnqueueBroadcast stores one outbox row per resident, copies of row with
// ResidentID set and the dedupe key "bc:<broadcast>:<resident>", so that
// enqueueing again after a crash adds only what is missing. Rows go in in
// transactions of a few thousand so that residents' turns are not held up
// behind one long write. It returns how many rows were new.
func (s *Store) EnqueueBroadcast(ctx context.Context, broadcastID int64, residentIDs []int64, row OutboxRow) (int, error) {
	body, err := json.Marshal(row.Body)
	if err != nil {
		return 0, err
	}
	now := s.now()
	due := row.DueAt
	if due.IsZero() {
		due = now
	}
	prefix := "bc:" + strconv.FormatInt(broadcastID, 10) + ":"
	const perTx = 5000
	const perStmt = 200 // rows per INSERT: 11 parameters each, well under SQLite's limit
	added := 0
	for len(residentIDs) > 0 {
		batch := residentIDs[:min(perTx, len(residentIDs))]
		residentIDs = residentIDs[len(batch):]
		err := s.tx(ctx, func(tx *sql.Tx) error {
			for len(batch) > 0 {
				part := batch[:min(perStmt, len(batch))]
				batch = batch[len(part):]
				q := `INSERT INTO outbox (kind, resident_id, target_channel, target_address, body, ref, dedupe_key, urgent, due_at,
					status, created_at, broadcast_id) VALUES ` +
					strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?),", len(part)), ",") +
					" ON CONFLICT DO NOTHING"
				args := make([]any, 0, 11*len(part))
				for _, rid := range part {
					args = append(args, row.Kind, rid, row.TargetChannel, row.TargetAddress, string(body), row.Ref,
						prefix+strconv.FormatInt(rid, 10), row.Urgent, due.Unix(), now.Unix(), broadcastID)
				}
				res, err := tx.ExecContext(ctx, q, args...)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				added += int(n)
			}
			return nil
		})
		if err != nil {
			return added, err
		}
	}
	return added, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// OutboxFinish is the outcome of one leased row, with the SMS bookkeeping
// the dispatcher keeps for crash safety and per-number caps.
type OutboxFinish struct {
	ID int64
	OutboxOutcome
	// SMSOutID is stored as given: the OutId of a call whose fate is unknown
	// (the row must be reconciled before it is sent again), the OutId of a
	// call that carried it (receipts match on it), or empty once a call is
	// known not to have carried it.
	SMSOutID string
	// OutIDOnRecord says the row already carries SMSOutID (the mark of its
	// call wrote it), so the column is left as it is: rewriting an indexed
	// column costs an index update per row even when its value stays.
	OutIDOnRecord bool
	// UndoAttempt returns the attempt its lease counted: the row was put off
	// (quiet hours, a per-number cap) before anything was tried.
	UndoAttempt bool
	// For Status held: HoldUntil is when the row moves on down its chain
	// (zero: never, it waits for the page); HoldChannel and HoldAddress, when
	// set, name the pull channel that collects it (the first hold).
	HoldUntil   time.Time
	HoldChannel string
	HoldAddress string
}

// update is the UPDATE (without WHERE) that records f, and its arguments.
// It sets only the columns the outcome changes: every indexed column in a
// SET list costs index work per row, whether or not its value changes, and
// a broadcast finishes a hundred thousand rows.
func (f OutboxFinish) update(now time.Time) (string, []any) {
	at := f.At
	if at.IsZero() {
		at = now
	}
	var b strings.Builder
	b.WriteString("UPDATE outbox SET status = ?, lease_until = NULL, channel = ?, provider = ?, provider_id = ?, error = ?")
	args := []any{f.Status, f.Channel, f.Provider, f.ProviderID, f.Error}
	switch f.Status {
	case OutboxSent:
		b.WriteString(", sent_at = ?")
		args = append(args, at.Unix())
	case OutboxDelivered:
		b.WriteString(", sent_at = ?, delivered_at = ?")
		args = append(args, at.Unix(), at.Unix())
	case OutboxPending:
		b.WriteString(", due_at = ?")
		args = append(args, f.RetryAt.Unix())
	case OutboxHeld:
		var until any
		if !f.HoldUntil.IsZero() {
			until = f.HoldUntil.Unix()
		}
		b.WriteString(", hold_until = ?")
		args = append(args, until)
		if f.HoldChannel != "" {
			b.WriteString(", hold_channel = ?, hold_address = ?")
			args = append(args, f.HoldChannel, f.HoldAddress)
		}
	}
	if !f.OutIDOnRecord {
		b.WriteString(", sms_out_id = ?")
		args = append(args, f.SMSOutID)
	}
	if f.UndoAttempt {
		b.WriteString(", attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END")
	}
	return b.String(), args
}

// FinishOutboxMany records the outcomes of many rows in one transaction.
func (s *Store) FinishOutboxMany(ctx context.Context, fs []OutboxFinish) error {
	_, err := s.WriteOutbox(ctx, OutboxWrites{Finishes: fs})
	return err
}

// FinishOutboxGroup records one outcome for many rows (an SMS call that
// carried them all) in one transaction; f.ID is ignored.
func (s *Store) FinishOutboxGroup(ctx context.Context, ids []int64, f OutboxFinish) error {
	_, err := s.WriteOutbox(ctx, OutboxWrites{Groups: []OutboxGroupFinish{{IDs: ids, Finish: f}}})
	return err
}

// OutboxGroupFinish is one outcome shared by many rows (an SMS call that
// carried them all); Finish.ID is ignored.
type OutboxGroupFinish struct {
	IDs    []int64
	Finish OutboxFinish
}

// SMSMark is what MarkSMSAttempt records for the rows of one provider call.
type SMSMark struct {
	Rows     []SMSAttempt
	OutID    string
	Template string
	At       time.Time
	// Lease, when set, is the end of the lease the rows were taken under
	// (OutboxRow.LeaseUntil of LeaseOutbox's copies): the mark is written
	// only if every row is still held by it. A lease that ran out may have
	// been taken over, and the new holder must not meet an OutId of a call
	// that is still to come.
	Lease time.Time
}

// OutboxLease names rows of one lease: their ids and the lease's end. A
// change under it applies only to rows still held by that lease; a zero
// Until matches any leased row.
type OutboxLease struct {
	IDs   []int64
	Until time.Time
}

// OutboxWrites is a set of changes to leased outbox rows that are written in
// one transaction. The dispatcher collects the outcomes of finished provider
// calls and writes them together with the marks of the next call: one
// transaction per call instead of one per kind of change.
type OutboxWrites struct {
	Finishes []OutboxFinish
	Groups   []OutboxGroupFinish
	// Release returns leased rows that were never attempted to pending and
	// undoes the attempt their lease counted (see ReleaseClaim).
	Release []OutboxLease
	// Unmark is Release for rows whose mark was written but whose call was
	// never made: their OutId is cleared too, as nothing can have gone out.
	Unmark []OutboxLease
	Marks  []SMSMark
}

// Empty reports whether w changes nothing.
func (w *OutboxWrites) Empty() bool {
	return len(w.Finishes) == 0 && len(w.Groups) == 0 && len(w.Release) == 0 && len(w.Unmark) == 0 && len(w.Marks) == 0
}

// Add appends o's changes to w.
func (w *OutboxWrites) Add(o OutboxWrites) {
	w.Finishes = append(w.Finishes, o.Finishes...)
	w.Groups = append(w.Groups, o.Groups...)
	w.Release = append(w.Release, o.Release...)
	w.Unmark = append(w.Unmark, o.Unmark...)
	w.Marks = append(w.Marks, o.Marks...)
}

// Rows counts the rows w changes.
func (w *OutboxWrites) Rows() int {
	n := len(w.Finishes)
	for _, g := range w.Groups {
		n += len(g.IDs)
	}
	for _, l := range w.Release {
		n += len(l.IDs)
	}
	for _, l := range w.Unmark {
		n += len(l.IDs)
	}
	for _, m := range w.Marks {
		n += len(m.Rows)
	}
	return n
}

// ErrLeaseLost is returned for a mark whose rows are no longer held by the
// lease it names.
var ErrLeaseLost = errors.New("store: outbox lease lost")

// WriteOutbox applies w in one transaction. A mark whose rows are no longer
// held by its lease is left out (and nothing of it written); its index in
// w.Marks is returned in lost. Everything else is written or nothing is.
func (s *Store) WriteOutbox(ctx context.Context, w OutboxWrites) (lost []int, err error) {
	if w.Empty() {
		return nil, nil
	}
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		lost = lost[:0]
		// Outcomes of one shape share a prepared statement (kept by the store).
		for _, f := range w.Finishes {
			q, args := f.update(now)
			if err := s.txExec(ctx, tx, q+" WHERE id = ?", append(args, f.ID)...); err != nil {
				return err
			}
		}
		for _, g := range w.Groups {
			q, args := g.Finish.update(now)
			if err := s.updateIDs(ctx, tx, q, args, g.IDs); err != nil {
				return err
			}
		}
		for _, l := range w.Release {
			if err := s.updateLeased(ctx, tx, releaseSQL, l); err != nil {
				return err
			}
		}
		for _, l := range w.Unmark {
			if err := s.updateLeased(ctx, tx, releaseSQL+", sms_out_id = ''", l); err != nil {
				return err
			}
		}
		for i, m := range w.Marks {
			if m.Lease.IsZero() {
				if _, err := s.writeMark(ctx, tx, m); err != nil {
					return err
				}
				continue
			}
			// The mark is written only if every row is still held by its
			// lease: its UPDATEs carry the lease as a condition, and a mark
			// that changed fewer rows than it has is undone. (Counting the
			// held rows first cost a read of every row under the lock.)
			if err := s.txExec(ctx, tx, "SAVEPOINT mark"); err != nil {
				return err
			}
			n, err := s.writeMark(ctx, tx, m)
			if err != nil {
				return err
			}
			if n != len(m.Rows) {
				lost = append(lost, i)
				if err := s.txExec(ctx, tx, "ROLLBACK TO SAVEPOINT mark"); err != nil {
					return err
				}
			}
			if err := s.txExec(ctx, tx, "RELEASE SAVEPOINT mark"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// markChunk is how many rows one UPDATE of writeMark carries.
const markChunk = 64

// writeMark records a mark's OutId, template and time, and each row's
// number, a chunk of rows per UPDATE: a statement per row cost more in
// database/sql and the driver than the update itself. The numbers are
// joined in from a VALUES list (UPDATE … FROM, in SQLite and PostgreSQL;
// the casts in its first row give PostgreSQL the columns' types). With a
// lease, only rows still held by it are written. It returns how many rows
// it wrote.
//
// Short chunks are padded with the id 0, which no row has (ids start at 1),
// so that the rows changed are exactly the rows of m that matched.
func (s *Store) writeMark(ctx context.Context, tx *sql.Tx, m SMSMark) (int, error) {
	rows := m.Rows
	total := 0
	for len(rows) > 0 {
		n := min(markChunk, len(rows))
		size := markChunk
		if n <= 8 {
			size = 8
		}
		args := make([]any, 0, 4+2*size)
		args = append(args, m.OutID, m.Template, m.At.Unix())
		for i := range size {
			if i < n {
				args = append(args, rows[i].ID, rows[i].Phone)
			} else {
				args = append(args, int64(0), "")
			}
		}
		if !m.Lease.IsZero() {
			args = append(args, m.Lease.Unix())
		}
		st, err := s.txStmt(ctx, tx, markSQL(size, !m.Lease.IsZero()))
		if err != nil {
			return 0, err
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return 0, err
		}
		c, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		total += int(c)
		rows = rows[n:]
	}
	return total, nil
}

// markSQL is writeMark's UPDATE for size rows, with the lease condition
// when lease is set.
func markSQL(size int, lease bool) string {
	q := `UPDATE outbox SET sms_out_id = ?, sms_template = ?, sms_try_at = ?, sms_phone = v.column2
			FROM (VALUES (CAST(? AS BIGINT), CAST(? AS TEXT))` + strings.Repeat(", (?, ?)", size-1) + `) AS v WHERE outbox.id = v.column1`
	if lease {
		// The unary plus keeps SQLite from finding the rows through
		// outbox_lease_expiry (lease_until, then rowid), which cost more
		// than the rowid look-up it otherwise does.
		q += " AND outbox.status = 'leased' AND +outbox.lease_until = ?"
	}
	return q
}

// updateLeased runs update on the rows of l that are still leased (by l's
// lease, when it names one).
func (s *Store) updateLeased(ctx context.Context, tx *sql.Tx, update string, l OutboxLease) error {
	if l.Until.IsZero() {
		return s.updateIDsAnd(ctx, tx, update, nil, l.IDs, "status = 'leased'")
	}
	return s.updateIDsAnd(ctx, tx, update, nil, l.IDs, "status = 'leased' AND lease_until = ?", l.Until.Unix())
}

// releaseSQL puts leased rows back without counting the attempt; rows whose
// lease another dispatcher has taken over are left alone.
const releaseSQL = `UPDATE outbox SET status = 'pending', lease_until = NULL,
	attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END`

// SMSAttempt is one row about to go out in a provider call.
type SMSAttempt struct {
	ID    int64
	Phone string
}

// MarkSMSAttempt records, before the provider call, which OutId, number and
// template the call will carry each row under. After a crash the rows are
// found by it and reconciled through the provider before any resend.
func (s *Store) MarkSMSAttempt(ctx context.Context, rows []SMSAttempt, outID, template string, at time.Time) error {
	_, err := s.WriteOutbox(ctx, OutboxWrites{Marks: []SMSMark{{Rows: rows, OutID: outID, Template: template, At: at}}})
	return err
}

// SMSSentCounts counts, per number, the SMS of one template that went out
// (or may have) since a time: the per-number caps are checked against it.
func (s *Store) SMSSentCounts(ctx context.Context, phones []string, template string, since time.Time) (map[string]int, error) {
	out := make(map[string]int, len(phones)) // sized: the caller counts every number in it
	for len(phones) > 0 {
		n := min(inChunk, len(phones))
		size := inSize(n)
		args := padded(append(make([]any, 0, 2+size), template, since.Unix()), phones[:n], size)
		// sms_phone <> '' lets SQLite use the partial index on it.
		st, err := s.prepared(ctx, `SELECT sms_phone, COUNT(*) FROM outbox WHERE sms_phone <> '' AND sms_template = ?
			AND sms_try_at >= ? AND (status IN ('sent', 'delivered') OR sms_out_id <> '')
			AND sms_phone IN `+placeholders(size)+` GROUP BY sms_phone`)
		if err != nil {
			return nil, err
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p string
			var c int
			if err := rows.Scan(&p, &c); err != nil {
				rows.Close()
				return nil, err
			}
			out[p] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		phones = phones[n:]
	}
	return out, nil
}

// CountOutboxTo counts rows of a kind addressed to one target (e.g.
// verification codes to a phone) created since a time, whatever became of
// them: a code asked for counts against the caps even before it is sent.
func (s *Store) CountOutboxTo(ctx context.Context, kind, address string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE kind = ? AND target_address = ? AND created_at >= ? AND status <> 'cancelled'",
		kind, address, since.Unix()).Scan(&n)
	return n, err
}

// RecordSMSReceipt applies a delivery receipt to the row(s) that an SMS
// call carried to phone: found by the call's OutId, or by its BizId when the
// receipt has no OutId. Rows still in doubt (a lost answer) are settled by
// it too. A repeated receipt changes nothing; it returns how many rows
// changed.
func (s *Store) RecordSMSReceipt(ctx context.Context, outID, bizID, phone string, delivered bool, detail string, at time.Time) (int64, error) {
	status, errText := OutboxDelivered, ""
	if !delivered {
		status, errText = OutboxFailed, "delivery: "+detail
	}
	// Both indexes are partial: the <> '' terms let SQLite use them.
	match, arg := "sms_out_id = ? AND sms_out_id <> ''", outID
	if outID == "" {
		if bizID == "" {
			return 0, nil
		}
		match, arg = "provider_id = ? AND provider_id <> ''", bizID
	}
	res, err := s.exec(ctx, `UPDATE outbox SET status = ?, error = CASE WHEN ? <> '' THEN ? ELSE error END,
		delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END, sent_at = COALESCE(sent_at, sms_try_at),
		provider_id = CASE WHEN provider_id = '' THEN ? ELSE provider_id END, lease_until = NULL
		WHERE `+match+` AND sms_phone = ? AND status IN ('sent', 'pending')`,
		status, errText, errText, status, at.Unix(), bizID, arg, phone)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AwaitingReceipt lists rows a provider accepted between from and to that
// have no receipt yet and were looked up fewer than maxChecks times, each
// look-up pushing the next one spacing later; service messages come before
// notices.
func (s *Store) AwaitingReceipt(ctx context.Context, provider string, from, to time.Time, spacing time.Duration, maxChecks, limit int) ([]OutboxRow, error) {
	return scanOutboxRows(s.db.QueryContext(ctx, "SELECT "+outboxColumns+` FROM outbox
		WHERE status = 'sent' AND provider = ? AND sent_at >= ? AND sent_at <= ? - receipt_checks * ? AND receipt_checks < ?
		AND sms_out_id <> '' ORDER BY CASE WHEN kind = 'notice' THEN 1 ELSE 0 END, sent_at, id LIMIT ?`,
		provider, from.Unix(), to.Unix(), int64(spacing/time.Second), maxChecks, limit))
}

// NoteReceiptCheck counts one unanswered receipt lookup.
func (s *Store) NoteReceiptCheck(ctx context.Context, id int64) error {
	_, err := s.exec(ctx, "UPDATE outbox SET receipt_checks = receipt_checks + 1 WHERE id = ?", id)
	return err
}

// LatestSMSOfKind returns the newest row of a kind that an SMS carried to
// one of the residents (e.g. the survey an SMS reply answers).
func (s *Store) LatestSMSOfKind(ctx context.Context, kind string, residentIDs []int64) (OutboxRow, error) {
	if len(residentIDs) == 0 {
		return OutboxRow{}, ErrNotFound
	}
	args := []any{kind}
	args = append(args, int64sToAny(residentIDs)...)
	return scanOutbox(s.db.QueryRowContext(ctx, "SELECT "+outboxColumns+` FROM outbox WHERE kind = ?
		AND resident_id IN (?`+strings.Repeat(", ?", len(residentIDs)-1)+`) AND status IN ('sent', 'delivered') AND channel = 'sms'
		ORDER BY id DESC LIMIT 1`, args...))
}

// OutboxByDedupe returns the row enqueued under a dedupe key.
func (s *Store) OutboxByDedupe(ctx context.Context, key string) (OutboxRow, error) {
	return scanOutbox(s.db.QueryRowContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE dedupe_key = ?", key))
}

// FailedOutboxSince lists rows that failed or reached nobody since a time,
// newest first (for the morning digest).
func (s *Store) FailedOutboxSince(ctx context.Context, since time.Time, limit int) ([]OutboxRow, error) {
	return scanOutboxRows(s.db.QueryContext(ctx, "SELECT "+outboxColumns+` FROM outbox
		WHERE status IN ('failed', 'unreachable') AND created_at >= ? AND kind <> 'notice' ORDER BY id DESC LIMIT ?`, since.Unix(), limit))
}

// ClearSMSDoubt forgets the OutId of rows the provider turned out not to
// have: they are sent again like any other.
func (s *Store) ClearSMSDoubt(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		return s.updateIDs(ctx, tx, "UPDATE outbox SET sms_out_id = ''", nil, ids)
	})
}

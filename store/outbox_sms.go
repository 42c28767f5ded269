package store

import (
	"context"
	"database/sql"
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
	// UndoAttempt returns the attempt its lease counted: the row was put off
	// (quiet hours, a per-number cap) before anything was tried.
	UndoAttempt bool
}

const finishSQL = `UPDATE outbox SET status = ?, lease_until = NULL, channel = ?, provider = ?, provider_id = ?, error = ?,
	sent_at = COALESCE(?, sent_at), delivered_at = COALESCE(?, delivered_at), due_at = COALESCE(?, due_at),
	sms_out_id = ?, attempts = CASE WHEN ? AND attempts > 0 THEN attempts - 1 ELSE attempts END`

func (f OutboxFinish) args(now time.Time) []any {
	at := f.At
	if at.IsZero() {
		at = now
	}
	var sent, delivered, due any
	switch f.Status {
	case OutboxSent:
		sent = at.Unix()
	case OutboxDelivered:
		sent, delivered = at.Unix(), at.Unix()
	case OutboxPending:
		due = f.RetryAt.Unix()
	}
	return []any{f.Status, f.Channel, f.Provider, f.ProviderID, f.Error, sent, delivered, due, f.SMSOutID, f.UndoAttempt}
}

// FinishOutboxMany records the outcomes of many rows in one transaction.
func (s *Store) FinishOutboxMany(ctx context.Context, fs []OutboxFinish) error {
	if len(fs) == 0 {
		return nil
	}
	now := s.now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, finishSQL+" WHERE id = ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, f := range fs {
			if _, err := stmt.ExecContext(ctx, append(f.args(now), f.ID)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// FinishOutboxGroup records one outcome for many rows (an SMS call that
// carried them all) in one transaction; f.ID is ignored.
func (s *Store) FinishOutboxGroup(ctx context.Context, ids []int64, f OutboxFinish) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		return updateIDs(ctx, tx, finishSQL, f.args(s.now()), ids)
	})
}

// SMSAttempt is one row about to go out in a provider call.
type SMSAttempt struct {
	ID    int64
	Phone string
}

// MarkSMSAttempt records, before the provider call, which OutId, number and
// template the call will carry each row under. After a crash the rows are
// found by it and reconciled through the provider before any resend.
func (s *Store) MarkSMSAttempt(ctx context.Context, rows []SMSAttempt, outID, template string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, "UPDATE outbox SET sms_out_id = ?, sms_phone = ?, sms_template = ?, sms_try_at = ? WHERE id = ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, outID, r.Phone, template, at.Unix(), r.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// SMSSentCounts counts, per number, the SMS of one template that went out
// (or may have) since a time: the per-number caps are checked against it.
func (s *Store) SMSSentCounts(ctx context.Context, phones []string, template string, since time.Time) (map[string]int, error) {
	out := map[string]int{}
	const chunk = 500
	for len(phones) > 0 {
		n := min(chunk, len(phones))
		args := []any{template, since.Unix()}
		for _, p := range phones[:n] {
			args = append(args, p)
		}
		// sms_phone <> '' lets SQLite use the partial index on it.
		rows, err := s.db.QueryContext(ctx, `SELECT sms_phone, COUNT(*) FROM outbox WHERE sms_phone <> '' AND sms_template = ?
			AND sms_try_at >= ? AND (status IN ('sent', 'delivered') OR sms_out_id <> '')
			AND sms_phone IN (?`+strings.Repeat(", ?", n-1)+`) GROUP BY sms_phone`, args...)
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
	match, arg := "sms_out_id = ?", outID
	if outID == "" {
		if bizID == "" {
			return 0, nil
		}
		match, arg = "provider_id = ?", bizID
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
		return updateIDs(ctx, tx, "UPDATE outbox SET sms_out_id = ''", nil, ids)
	})
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Outbox statuses.
const (
	OutboxPending     = "pending"     // waiting for its due time
	OutboxLeased      = "leased"      // a dispatcher is sending it
	OutboxSent        = "sent"        // handed to a channel or provider
	OutboxDelivered   = "delivered"   // the provider confirmed delivery
	OutboxFailed      = "failed"      // permanently failed
	OutboxUnreachable = "unreachable" // no channel could reach the resident
	OutboxCancelled   = "cancelled"   // withdrawn before it was sent
	OutboxHeld        = "held"        // waiting for a pull channel (web chat, console) to collect it
)

// OutboxBody is what an outbox row carries, in a channel-neutral form: the
// text and buttons for chat channels, and the approved template and its
// parameters for SMS and WeChat template messages, which cannot carry free text.
type OutboxBody struct {
	Text        string            `json:"text,omitempty"`
	Choices     []OutboxChoice    `json:"choices,omitempty"`
	ImageURL    string            `json:"image_url,omitempty"`
	Template    string            `json:"template,omitempty"` // a template name of the config: reminder, survey, notice, ticket_update, verify_code
	Params      map[string]string `json:"params,omitempty"`
	Lang        string            `json:"lang,omitempty"`
	ThreadRef   string            `json:"thread_ref,omitempty"` // a channel message this one continues (Telegram reply_to)
	SMSFallback bool              `json:"sms_fallback,omitempty"`
}

// OutboxChoice is a button carried by an outbox row.
type OutboxChoice struct {
	Payload string `json:"payload"`
	Label   string `json:"label"`
}

// OutboxRow is one message to be sent later than the immediate reply.
type OutboxRow struct {
	ID            int64
	Kind          string
	ResidentID    int64  // 0 for rows addressed to a target (e.g. the staff group)
	TargetChannel string // when set, send only there (e.g. telegram)
	TargetAddress string // e.g. a chat id
	Body          OutboxBody
	Ref           string // what it is about, e.g. a ticket number
	DedupeKey     string
	Urgent        bool
	DueAt         time.Time
	Status        string
	Attempts      int
	LeaseUntil    time.Time
	Channel       string // the channel that finally carried it
	Provider      string
	ProviderID    string
	Error         string
	CreatedAt     time.Time
	SentAt        time.Time
	DeliveredAt   time.Time
	// SMS bookkeeping (set by the dispatcher): the number and template an
	// SMS went to, and the OutId of a provider call that may have carried
	// the row; a row leased again with SMSOutID set is reconciled first.
	SMSPhone    string
	SMSTemplate string
	SMSOutID    string
	SMSTryAt    time.Time
	// BroadcastID links a notice row to its broadcast (0: none).
	BroadcastID int64
	// HoldChannel and HoldAddress name the pull channel (web chat, console)
	// and its address that a held row waits for; once set they stay, and
	// the row's chain skips pull channels from then on. HoldUntil is when a
	// held row moves on down its chain (zero: it waits for the page).
	HoldChannel string
	HoldAddress string
	HoldUntil   time.Time
}

const outboxColumns = `id, kind, resident_id, target_channel, target_address, body, ref, dedupe_key, urgent, due_at,
	status, attempts, lease_until, channel, provider, provider_id, error, created_at, sent_at, delivered_at,
	sms_phone, sms_template, sms_out_id, sms_try_at, broadcast_id, hold_channel, hold_address, hold_until`

func scanOutbox(row interface{ Scan(...any) error }) (OutboxRow, error) {
	return scanOutboxCached(row, nil)
}

// bodyCache keeps the last body decoded: the rows of a broadcast carry the
// same body, and decoding it was a fifth of reading a leased chunk.
type bodyCache struct {
	raw  string
	body OutboxBody
}

// decode sets o.Body from body, reusing the last body decoded when it is
// the same text (c may be nil).
func (c *bodyCache) decode(body string, o *OutboxRow) error {
	if c != nil && c.raw == body && body != "" {
		o.Body = c.body
		o.Body.Params = maps.Clone(c.body.Params)
		o.Body.Choices = slices.Clone(c.body.Choices)
		return nil
	}
	if err := json.Unmarshal([]byte(body), &o.Body); err != nil {
		return fmt.Errorf("store: outbox %d body: %w", o.ID, err)
	}
	if c != nil {
		c.raw, c.body = body, o.Body
		c.body.Params = maps.Clone(o.Body.Params)
		c.body.Choices = slices.Clone(o.Body.Choices)
	}
	return nil
}

// scanOutboxCached is scanOutbox reusing c's body when the row's is the
// same text. Each row gets its own copies of the maps and slices, so that
// one row's change never shows in another.
func scanOutboxCached(row interface{ Scan(...any) error }, c *bodyCache) (OutboxRow, error) {
	var o OutboxRow
	var resident, lease, due, created, sent, delivered, try, broadcast, hold sql.NullInt64
	var dedupe sql.NullString
	var body string
	err := row.Scan(&o.ID, &o.Kind, &resident, &o.TargetChannel, &o.TargetAddress, &body, &o.Ref, &dedupe, &o.Urgent, &due,
		&o.Status, &o.Attempts, &lease, &o.Channel, &o.Provider, &o.ProviderID, &o.Error, &created, &sent, &delivered,
		&o.SMSPhone, &o.SMSTemplate, &o.SMSOutID, &try, &broadcast, &o.HoldChannel, &o.HoldAddress, &hold)
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound
	}
	if err != nil {
		return o, err
	}
	if err := c.decode(body, &o); err != nil {
		return o, err
	}
	o.ResidentID, o.DedupeKey = resident.Int64, dedupe.String
	o.DueAt, o.LeaseUntil, o.CreatedAt = fromUnix(due), fromUnix(lease), fromUnix(created)
	o.SentAt, o.DeliveredAt = fromUnix(sent), fromUnix(delivered)
	o.SMSTryAt, o.BroadcastID = fromUnix(try), broadcast.Int64
	o.HoldUntil = fromUnix(hold)
	return o, nil
}

func scanOutboxRows(rows *sql.Rows, err error) ([]OutboxRow, error) {
	return scanAll(rows, err, scanOutbox)
}

const enqueueOutboxSQL = `INSERT INTO outbox (kind, resident_id, target_channel, target_address, body, ref,
	dedupe_key, urgent, due_at, status, created_at, broadcast_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING RETURNING id`

// EnqueueOutbox stores rows in one transaction and returns their ids. A row
// whose DedupeKey already exists is skipped (its id is 0 in the result), so
// a retried enqueue never doubles a message.
func (s *Store) EnqueueOutbox(ctx context.Context, rows []OutboxRow) ([]int64, error) {
	ids := make([]int64, len(rows))
	now := s.now()
	// Rows are enqueued while messages are handled (alerts, replies that
	// missed the passive answer), so they share the commits of turns.
	err := s.groupTx(ctx, func(tx *sql.Tx) error {
		stmt, err := s.txStmt(ctx, tx, enqueueOutboxSQL)
		if err != nil {
			return err
		}
		for i, r := range rows {
			var resident, dedupe, broadcast any
			if r.ResidentID != 0 {
				resident = r.ResidentID
			}
			if r.BroadcastID != 0 {
				broadcast = r.BroadcastID
			}
			if r.DedupeKey != "" {
				dedupe = r.DedupeKey
			}
			body, err := json.Marshal(r.Body)
			if err != nil {
				return err
			}
			due := r.DueAt
			if due.IsZero() {
				due = now
			}
			err = stmt.QueryRowContext(ctx, r.Kind, resident, r.TargetChannel, r.TargetAddress, string(body), r.Ref,
				dedupe, r.Urgent, due.Unix(), OutboxPending, now.Unix(), broadcast).Scan(&ids[i])
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		return nil
	})
	return ids, err
}

// OutboxRowByID returns one row.
func (s *Store) OutboxRowByID(ctx context.Context, id int64) (OutboxRow, error) {
	return scanOutbox(s.db.QueryRowContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE id = ?", id))
}

// LeaseOutbox claims up to limit due rows for one dispatcher until
// now+lease: first rows whose earlier lease ran out (a dispatcher died
// mid-send), then urgent rows, then held rows whose HoldUntil passed, then
// the rest, each oldest due first. The
// caller tells the rows of a dead dispatcher by Status == leased in the
// returned copy, and must reconcile those with SMSOutID set before resending.
// The copy shows each row as it was before this lease (Attempts not yet
// counted up), except LeaseUntil: the end of this lease, which later writes
// name to prove the rows are still theirs (OutboxLease, SMSMark.Lease).
//
// Each kind of row is claimed through its own index range by one UPDATE,
// so leasing stays cheap with a hundred thousand rows waiting, and the
// write lock is held only for the claim: the rows are read after it, when
// they are this dispatcher's and nobody else changes them.
//
// LeaseOutbox is ClaimOutbox and ReadClaim at once.
func (s *Store) LeaseOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int, channels ...string) ([]OutboxRow, error) {
	c, err := s.ClaimOutbox(ctx, now, lease, limit, channels...)
	if err != nil || c.Len() == 0 {
		return nil, err
	}
	return s.ReadClaim(ctx, c)
}

// OutboxClaim is a lease taken by ClaimOutbox whose rows are not read yet.
type OutboxClaim struct {
	claims []outboxClaimed
	until  time.Time
}

type outboxClaimed struct {
	id, order int64
	status    string // before the claim
}

// Len is how many rows the claim holds.
func (c OutboxClaim) Len() int { return len(c.claims) }

// ClaimOutbox is the write of LeaseOutbox: it leases the rows and returns
// which, in lease order, without reading them. A dispatcher claims its
// next chunk while it reads and plans the last one (ReadClaim), so the
// claim, which waits for the write lock, is all that stands between two
// chunks.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int, channels ...string) (OutboxClaim, error) {
	filter, fargs := "", []any{}
	if len(channels) > 0 {
		filter = " AND target_channel IN (?" + strings.Repeat(", ?", len(channels)-1) + ")"
		for _, c := range channels {
			fargs = append(fargs, c)
		}
	}
	queries := []struct {
		where  string
		args   []any
		status string // the rows' status before the claim
		order  string // the column they are taken in order of, unchanged by the claim
	}{
		{"status = 'leased' AND lease_until <= ?" + filter + " ORDER BY lease_until, id", append([]any{now.Unix()}, fargs...), OutboxLeased, "id"},
		{"status = 'pending' AND urgent = 1 AND due_at <= ?" + filter + " ORDER BY due_at, id", append([]any{now.Unix()}, fargs...), OutboxPending, "due_at"},
		// Rows held for a pull channel whose deadline passed move on down
		// their chain; they waited long enough already to go before the rest.
		{"status = 'held' AND hold_until <= ?" + filter + " ORDER BY hold_until, id", append([]any{now.Unix()}, fargs...), OutboxHeld, "hold_until"},
		{"status = 'pending' AND urgent = 0 AND due_at <= ?" + filter + " ORDER BY due_at, id", append([]any{now.Unix()}, fargs...), OutboxPending, "due_at"},
	}
	type claim = outboxClaimed
	claims := make([]claim, 0, min(limit, 4*inChunk)) // grown under the write lock otherwise
	// Stored in whole seconds, rounded up: a lease is never shorter than
	// asked, which the dispatcher counts on when it sees how much is left.
	end := now.Add(lease)
	until := time.Unix(end.Unix(), 0)
	if until.Before(end) {
		until = until.Add(time.Second)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		claims = claims[:0]
		for _, q := range queries {
			if len(claims) >= limit {
				break
			}
			args := append(append([]any{until.Unix()}, q.args...), limit-len(claims))
			st, err := s.txStmt(ctx, tx, `UPDATE outbox SET status = 'leased', lease_until = ?, attempts = attempts + 1
				WHERE id IN (SELECT id FROM outbox WHERE `+q.where+` LIMIT ?) RETURNING id, `+q.order)
			if err != nil {
				return err
			}
			rows, err := st.QueryContext(ctx, args...)
			if err != nil {
				return err
			}
			first := len(claims)
			for rows.Next() {
				c := claim{status: q.status}
				if err := rows.Scan(&c.id, &c.order); err != nil {
					rows.Close()
					return err
				}
				claims = append(claims, c)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			// RETURNING has no order of its own.
			part := claims[first:]
			sort.Slice(part, func(i, j int) bool {
				if part[i].order != part[j].order {
					return part[i].order < part[j].order
				}
				return part[i].id < part[j].id
			})
		}
		return nil
	})
	if err != nil || len(claims) == 0 {
		return OutboxClaim{}, err
	}
	return OutboxClaim{claims: claims, until: until}, nil
}

func (c OutboxClaim) ids() []int64 {
	ids := make([]int64, len(c.claims))
	for i, cl := range c.claims {
		ids[i] = cl.id
	}
	return ids
}

// ReadClaim reads the rows of a claim, as LeaseOutbox returns them. Rows
// erased since the claim are left out. When the read fails, nothing was
// tried: the rows go back (or, should that fail too, wait for their lease
// to run out).
func (s *Store) ReadClaim(ctx context.Context, c OutboxClaim) ([]OutboxRow, error) {
	ids := c.ids()
	read, _, err := s.outboxByIDs(ctx, ids)
	if err != nil {
		s.ReleaseClaim(context.WithoutCancel(ctx), c)
		return nil, err
	}
	// read is in claim order; rows erased in between are left out.
	out := read[:0]
	for k, cl := range c.claims {
		o := read[k]
		if o.ID != cl.id {
			continue // erased in between
		}
		o.Status, o.LeaseUntil = cl.status, c.until
		o.Attempts--
		out = append(out, o)
	}
	return out, nil
}

// ReleaseClaim returns the rows of a claim that was never read: due again
// at once, their attempt not counted.
func (s *Store) ReleaseClaim(ctx context.Context, c OutboxClaim) error {
	if c.Len() == 0 {
		return nil
	}
	_, err := s.WriteOutbox(ctx, OutboxWrites{Release: []OutboxLease{{IDs: c.ids(), Until: c.until}}})
	return err
}

// outboxByIDs reads rows by id, in chunks of an IN list. Each row is put
// at its id's index in ids, which at gives (a row erased meanwhile leaves
// a zero OutboxRow there): the lease's copies are then in claim order
// without a second slice of rows.
//
// Each column read costs the driver about as much as the rest of the row's
// step, and a row that was never tried has most of its columns empty: rows
// are read by the columns such a row may have, and only those with anything
// else set (an earlier attempt, a hold) are read again whole.
func (s *Store) outboxByIDs(ctx context.Context, ids []int64) (out []OutboxRow, at map[int64]int, err error) {
	out = make([]OutboxRow, len(ids))
	at = make(map[int64]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	var sc outboxScan
	var o OutboxRow
	var whole []int64
	err = s.readIDs(ctx, "SELECT "+outboxLeanColumns+" FROM outbox WHERE ", ids, func(rows *sql.Rows) error {
		o = OutboxRow{}
		full, err := sc.lean(rows, &o)
		if err != nil {
			return err
		}
		if !full {
			whole = append(whole, o.ID)
			return nil
		}
		out[at[o.ID]] = o
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	err = s.readIDs(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE ", whole, func(rows *sql.Rows) error {
		o, err := scanOutboxCached(rows, &sc.cache)
		if err != nil {
			return err
		}
		out[at[o.ID]] = o
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, at, nil
}

// readIDs runs query (ending in "WHERE ") for ids and hands each row to
// scan: for a run of consecutive ids (a broadcast's rows, residents
// imported together) as one range, else in chunks of an IN list.
func (s *Store) readIDs(ctx context.Context, query string, ids []int64, scan func(*sql.Rows) error) error {
	each := func(st *sql.Stmt, args []any) error {
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		return rows.Err()
	}
	if consecutive(ids) {
		st, err := s.prepared(ctx, query+"id BETWEEN ? AND ?")
		if err != nil {
			return err
		}
		return each(st, []any{ids[0], ids[len(ids)-1]})
	}
	for len(ids) > 0 {
		n := min(inChunk, len(ids))
		size := inSize(n)
		st, err := s.prepared(ctx, query+"id IN "+placeholders(size))
		if err != nil {
			return err
		}
		if err := each(st, padded(make([]any, 0, size), ids[:n], size)); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// outboxLeanColumns are the columns a row that was never tried may have
// set, and whether every other column is empty (else the row is read
// whole).
const outboxLeanColumns = `id, kind, resident_id, target_channel, target_address, body, ref, dedupe_key, urgent, due_at, status, attempts,
	lease_until, created_at, broadcast_id, channel = '' AND provider = '' AND provider_id = '' AND error = ''
	AND sent_at IS NULL AND delivered_at IS NULL AND sms_phone = '' AND sms_template = '' AND sms_out_id = '' AND sms_try_at IS NULL
	AND hold_channel = '' AND hold_address = '' AND hold_until IS NULL`

// outboxScan is what scanning lean rows reuses from row to row: its
// temporaries would otherwise be allocated for every row, as Scan takes
// their addresses.
type outboxScan struct {
	resident, due, lease, created, broadcast sql.NullInt64
	dedupe                                   sql.NullString
	body                                     string
	full                                     bool
	dest                                     []any
	cache                                    bodyCache
}

// lean scans outboxLeanColumns into o; full is false when the row has more
// set than those columns and must be read whole.
func (sc *outboxScan) lean(row interface{ Scan(...any) error }, o *OutboxRow) (full bool, err error) {
	sc.dest = append(sc.dest[:0], &o.ID, &o.Kind, &sc.resident, &o.TargetChannel, &o.TargetAddress, &sc.body, &o.Ref, &sc.dedupe,
		&o.Urgent, &sc.due, &o.Status, &o.Attempts, &sc.lease, &sc.created, &sc.broadcast, &sc.full)
	if err := row.Scan(sc.dest...); err != nil || !sc.full {
		return false, err
	}
	if err := sc.cache.decode(sc.body, o); err != nil {
		return false, err
	}
	o.ResidentID, o.DedupeKey, o.BroadcastID = sc.resident.Int64, sc.dedupe.String, sc.broadcast.Int64
	o.DueAt, o.LeaseUntil, o.CreatedAt = fromUnix(sc.due), fromUnix(sc.lease), fromUnix(sc.created)
	return true, nil
}

// updateIDs runs an UPDATE for many ids in chunks of an IN list, which is
// far cheaper than a statement per row.
func (s *Store) updateIDs(ctx context.Context, tx *sql.Tx, update string, args []any, ids []int64) error {
	return s.updateIDsAnd(ctx, tx, update, args, ids, "")
}

// updateIDsAnd is updateIDs with a further condition on the rows (e.g. that
// they are still leased), whose arguments follow the ids. The statements
// are cached (inlist.go): update and and must not embed values.
func (s *Store) updateIDsAnd(ctx context.Context, tx *sql.Tx, update string, args []any, ids []int64, and string, andArgs ...any) error {
	if and != "" {
		and = " AND " + and
	}
	if consecutive(ids) {
		// The rows of a call or a chunk of a broadcast: one range, with no
		// list to bind and sort.
		a := append(append(append(make([]any, 0, len(args)+2+len(andArgs)), args...), ids[0], ids[len(ids)-1]), andArgs...)
		return s.txExec(ctx, tx, update+" WHERE id BETWEEN ? AND ?"+and, a...)
	}
	for len(ids) > 0 {
		n := min(inChunk, len(ids))
		size := inSize(n)
		a := make([]any, 0, len(args)+size+len(andArgs))
		a = append(padded(append(a, args...), ids[:n], size), andArgs...)
		if err := s.txExec(ctx, tx, update+" WHERE id IN "+placeholders(size)+and, a...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func int64sToAny(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// OutboxOutcome is what happened to a leased row.
type OutboxOutcome struct {
	Status     string // sent, delivered, failed, unreachable, or pending to retry at RetryAt
	Channel    string
	Provider   string
	ProviderID string
	Error      string
	RetryAt    time.Time
	At         time.Time
}

// FinishOutbox records the outcome of a send and releases the lease.
func (s *Store) FinishOutbox(ctx context.Context, id int64, o OutboxOutcome) error {
	if o.At.IsZero() {
		o.At = s.now()
	}
	var sent, delivered any
	switch o.Status {
	case OutboxSent:
		sent = o.At.Unix()
	case OutboxDelivered:
		sent, delivered = o.At.Unix(), o.At.Unix()
	}
	due := any(nil)
	if o.Status == OutboxPending {
		due = o.RetryAt.Unix()
	}
	_, err := s.exec(ctx, `UPDATE outbox SET status = ?, lease_until = NULL, channel = ?, provider = ?, provider_id = ?, error = ?,
		sent_at = COALESCE(?, sent_at), delivered_at = COALESCE(?, delivered_at), due_at = COALESCE(?, due_at) WHERE id = ?`,
		o.Status, o.Channel, o.Provider, o.ProviderID, o.Error, sent, delivered, due, id)
	return err
}

// CancelOutbox withdraws pending rows about ref for a resident (e.g. the
// reminders of a cancelled booking), and rows still held for their web
// page, which would otherwise be shown, or move on to SMS, later. It returns
// how many were cancelled.
func (s *Store) CancelOutbox(ctx context.Context, residentID int64, ref string) (int64, error) {
	res, err := s.exec(ctx, "UPDATE outbox SET status = 'cancelled' WHERE resident_id = ? AND ref = ? AND status IN ('pending', 'held')", residentID, ref)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// HoldOutbox parks a leased row for a pull channel (the web chat, the
// console), which collects it when the resident is next there; it has no
// deadline (the dispatcher gives its holds one through WriteOutbox).
func (s *Store) HoldOutbox(ctx context.Context, id int64, channel, address string) error {
	_, err := s.exec(ctx, `UPDATE outbox SET status = 'held', lease_until = NULL, channel = ?, hold_channel = ?, hold_address = ?,
		hold_until = NULL WHERE id = ?`, channel, channel, address, id)
	return err
}

// HeldOutbox lists rows waiting for a pull channel to collect them for one
// address, oldest first. A row that went out on another channel after its
// hold's deadline is no longer held, so the page never shows it again.
func (s *Store) HeldOutbox(ctx context.Context, channel, address string) ([]OutboxRow, error) {
	return scanOutboxRows(s.db.QueryContext(ctx, "SELECT "+outboxColumns+` FROM outbox
		WHERE hold_channel = ? AND hold_address = ? AND status = 'held' ORDER BY id`,
		channel, address))
}

// OutboxCounts returns the number of rows by status and kind.
func (s *Store) OutboxCounts(ctx context.Context) (map[[2]string]int, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT status, kind, COUNT(*) FROM outbox GROUP BY status, kind")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[2]string]int{}
	for rows.Next() {
		var st, kind string
		var n int
		if err := rows.Scan(&st, &kind, &n); err != nil {
			return nil, err
		}
		out[[2]string{st, kind}] = n
	}
	return out, rows.Err()
}

// RecentOutbox lists the newest rows, for the operator's dev page.
func (s *Store) RecentOutbox(ctx context.Context, limit int) ([]OutboxRow, error) {
	return scanOutboxRows(s.db.QueryContext(ctx, "SELECT "+outboxColumns+" FROM outbox ORDER BY id DESC LIMIT ?", limit))
}

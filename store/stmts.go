package store

import (
	"context"
	"database/sql"
	"sync"
)

// modernc.org/sqlite does not cache statements: every Exec or Query parses
// its SQL again, which was a quarter of the CPU of a message's round trip.
// The statements of the per-message path are therefore prepared once and
// kept for the life of the store. database/sql prepares a *sql.Stmt lazily
// on each pooled connection and reuses it there, also inside transactions
// (Tx.StmtContext finds the connection's copy).

// stmtCache holds prepared statements by their SQL.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepared returns the cached statement for query, preparing it on first use.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if st, ok := s.stmts.m[query]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.stmts.m == nil {
		s.stmts.m = map[string]*sql.Stmt{}
	}
	s.stmts.m[query] = st
	return st, nil
}

// closeStmts releases the cached statements (Close calls it).
func (s *Store) closeStmts() {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	for _, st := range s.stmts.m {
		st.Close()
	}
	s.stmts.m = nil
}

// execPrepared runs a cached write statement outside a transaction.
func (s *Store) execPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.wrapWrite(ctx) {
		var res sql.Result
		err := s.tx(ctx, func(tx *sql.Tx) error {
			st, err := s.txStmt(ctx, tx, query)
			if err != nil {
				return err
			}
			res, err = st.ExecContext(ctx, args...)
			return err
		})
		return res, err
	}
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	defer s.lockWrite()()
	return st.ExecContext(ctx, args...)
}

// queryRowPrepared runs a cached read statement.
func (s *Store) queryRowPrepared(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, query)
	if err != nil {
		// A *sql.Row cannot be built with an error; the plain query
		// reports the same preparation error through Scan.
		return s.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// txStmt is the cached statement for query bound to tx.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// txExec runs the cached statement for query inside tx.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

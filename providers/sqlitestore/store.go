package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/providers"
)

// space numbers the key spaces in the record table. The values are part of
// the file format: never renumber them.
type space int64

const (
	spaceGroup        space = 1
	spaceKeyPackage   space = 2
	spaceSigKey       space = 3
	spaceEncKey       space = 4
	spacePSK          space = 5
	spaceEpochSecrets space = 6
	spaceTree         space = 7
	spaceSecretTree   space = 8
)

var spaceNames = map[space]string{
	spaceGroup:        "group state",
	spaceKeyPackage:   "key package",
	spaceSigKey:       "signature key pair",
	spaceEncKey:       "encryption key pair",
	spacePSK:          "PSK",
	spaceEpochSecrets: "epoch secrets",
	spaceTree:         "ratchet tree",
	spaceSecretTree:   "secret tree node",
}

// rkey addresses one record of a namespace.
type rkey struct {
	space space
	key   []byte
	// epoch is 8 bytes big-endian in the epoch key spaces, 12 in the
	// secret tree's (the epoch, then the node, big-endian), empty
	// elsewhere.
	epoch []byte
}

func flat(sp space, k []byte) rkey { return rkey{space: sp, key: nonNil(k), epoch: []byte{}} }
func byEpoch(sp space, g []byte, e uint64) rkey {
	return rkey{space: sp, key: nonNil(g), epoch: binary.BigEndian.AppendUint64(nil, e)}
}

// byNode addresses node x of the secret tree of epoch e of group g.
func byNode(g []byte, e uint64, x uint32) rkey {
	return rkey{space: spaceSecretTree, key: nonNil(g), epoch: binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, e), x)}
}

// nodeRange returns the bounds of the epoch column of the nodes of epoch e.
func nodeRange(e uint64) (lo, hi []byte) {
	return byNode(nil, e, 0).epoch, byNode(nil, e, ^uint32(0)).epoch
}

func (k rkey) String() string {
	if len(k.epoch) == 12 {
		return fmt.Sprintf("%s %d of group %x epoch %d", spaceNames[k.space], binary.BigEndian.Uint32(k.epoch[8:]), k.key, binary.BigEndian.Uint64(k.epoch))
	}
	if len(k.epoch) == 8 {
		return fmt.Sprintf("%s of group %x epoch %d", spaceNames[k.space], k.key, binary.BigEndian.Uint64(k.epoch))
	}
	return fmt.Sprintf("%s %x", spaceNames[k.space], k.key)
}

// nonNil returns b, or an empty non-nil slice (the driver binds nil as
// NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Store is the [providers.Storage] of one namespace of a [DB]. It is safe
// for concurrent use; get one from [DB.Store].
type Store struct {
	db *DB
	ns []byte
}

// Namespace returns the store's namespace.
func (s *Store) Namespace() []byte { return append([]byte(nil), s.ns...) }

// DB returns the database the store belongs to.
func (s *Store) DB() *DB { return s.db }

// Update implements providers.Transactor: fn runs inside one SQLite
// transaction (BEGIN IMMEDIATE, so transactions of this and other
// processes are serialized) that commits when fn returns nil and rolls
// back otherwise.
//
// An error of the database itself inside the transaction (a full disk, an
// I/O error, corruption) ends it: the transaction is rolled back, later
// calls on tx return that error, and Update returns it even if fn returns
// nil. ErrNotFound does not end it.
//
// Transactions that queue up for the writer are committed as a group (see
// the package documentation): fn's changes are kept or dropped on their
// own, and Update returns once the group is durable; a database error
// inside another transaction of the group fails this one too.
//
// fn must not call Update, or a single Write or Delete method, of any
// Store of the same DB: they wait for the transaction and would never
// start. Reads outside tx (on the Store) are fine and see the state before
// the transaction.
func (s *Store) Update(fn func(tx providers.Records) error) error {
	return s.db.update("transaction", func(t *tx) error { return fn(&txView{t: t, ns: s.ns}) })
}

// update runs fn in a write transaction on the writer connection, then
// (EraseOnCommit) checkpoints if fn erased a record.
//
// Group commit: writers that arrive while another one holds the writer
// queue up, and the next of them to get it runs every queued fn in one
// SQLite transaction, each inside its own savepoint, so that the group
// costs one commit (one flush to stable storage with SyncFull) and at most
// one checkpoint instead of one each. Each fn still runs alone, one after
// another (serializable, as if in its own transaction); a fn that returns
// an error or panics has its savepoint rolled back, leaving the others'
// changes; each update returns only once the group is committed (and
// checkpointed), or with the error that kept it from committing, in which
// case none of the group's changes is stored. A database error inside one
// fn (a full disk, an I/O error) ends the whole group: SQLite may have
// rolled the transaction back, so every fn of the group that had not
// already failed fails with it. A writer that finds no other waiting runs
// alone, exactly as without grouping.
func (db *DB) update(op string, fn func(t *tx) error) error {
	p := &pendingTx{op: op, fn: fn}
	db.qmu.Lock()
	db.queue = append(db.queue, p)
	db.qmu.Unlock()
	db.lead(p)
	if p.panicked {
		panic(p.panicValue)
	}
	return p.err
}

// lead takes the writer and, unless a writer before it already ran p, runs
// every queued transaction, p included. A panic of p's function alone
// (runOne) goes up to p's caller, as without grouping.
func (db *DB) lead(p *pendingTx) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if p.done { // a writer before us ran it, holding wmu
		return
	}
	db.qmu.Lock()
	group := db.queue
	db.queue = nil
	db.qmu.Unlock()
	if len(group) == 1 {
		db.runOne(p)
	} else {
		db.runGroup(group)
	}
}

// pendingTx is a write transaction waiting for the writer, and its
// outcome once done (set while holding wmu).
type pendingTx struct {
	op         string
	fn         func(t *tx) error
	done       bool
	err        error
	panicked   bool
	panicValue any
	stored     bool // its changes are in the group's transaction
}

// runOne runs p alone in its own transaction. The caller holds wmu.
func (db *DB) runOne(p *pendingTx) {
	p.done = true
	if db.closed.Load() {
		p.err = &Error{Op: p.op, Kind: ErrClosed, Err: ErrClosed}
		return
	}
	ctx := context.Background()
	sqlTx, err := db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE, see dsn
	if err != nil {
		p.err = dbErr(p.op, err)
		return
	}
	t := &tx{db: db, ctx: ctx, sqlTx: sqlTx}
	defer func() {
		if !t.done {
			// fn panicked: give the connection back, unchanged.
			t.done = true
			sqlTx.Rollback()
		}
	}()
	err = p.fn(t)
	t.done = true
	if err == nil {
		err = t.failed
	}
	if err != nil {
		sqlTx.Rollback()
		p.err = err
		return
	}
	if err := sqlTx.Commit(); err != nil {
		sqlTx.Rollback()
		p.err = dbErr(p.op, err)
		return
	}
	db.commits++
	db.afterCommit(t.erased)
}

// runGroup runs the transactions of group in one SQLite transaction, each
// in a savepoint (see update). The caller holds wmu.
func (db *DB) runGroup(group []*pendingTx) {
	defer func() {
		for _, p := range group {
			p.done = true
		}
	}()
	failAll := func(err func(op string) error) {
		for _, p := range group {
			if p.err == nil && !p.panicked {
				p.err = err(p.op)
			}
		}
	}
	if db.closed.Load() {
		failAll(func(op string) error { return &Error{Op: op, Kind: ErrClosed, Err: ErrClosed} })
		return
	}
	ctx := context.Background()
	sqlTx, err := db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE, see dsn
	if err != nil {
		failAll(func(op string) error { return dbErr(op, err) })
		return
	}
	erased, stored := false, 0
	var fatal error
	for _, p := range group {
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT grouped"); err != nil {
			fatal = err
			break
		}
		t := &tx{db: db, ctx: ctx, sqlTx: sqlTx}
		err := p.call(t)
		t.done = true
		if t.failed != nil {
			// A database error: SQLite may have rolled back the whole
			// transaction.
			p.err = t.failed
			fatal = t.failed
			break
		}
		if err != nil || p.panicked {
			p.err = err
			if _, err := sqlTx.ExecContext(ctx, "ROLLBACK TO grouped"); err != nil {
				fatal = err
				break
			}
			if _, err := sqlTx.ExecContext(ctx, "RELEASE grouped"); err != nil {
				fatal = err
				break
			}
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE grouped"); err != nil {
			fatal = err
			break
		}
		p.stored = true
		erased = erased || t.erased
		stored++
	}
	if fatal != nil {
		sqlTx.Rollback()
		failAll(func(op string) error { return dbErr(op, fatal) })
		return
	}
	if stored == 0 {
		sqlTx.Rollback()
		return
	}
	if err := sqlTx.Commit(); err != nil {
		sqlTx.Rollback()
		failAll(func(op string) error { return dbErr(op, err) })
		return
	}
	db.commits++
	db.afterCommit(erased)
}

// call runs p's function on t, turning a panic into p.panicked (update
// panics again in p's own goroutine).
func (p *pendingTx) call(t *tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.panicked, p.panicValue = true, r
			err = nil
		}
	}()
	return p.fn(t)
}

// afterCommit checkpoints (EraseOnCommit) or schedules a checkpoint
// (EraseOnCheckpoint with an EraseDelay) after a transaction that erased
// a record, and retries a checkpoint that could not finish. The caller
// holds wmu.
func (db *DB) afterCommit(erased bool) {
	if (erased && db.opts.Erasure == EraseOnCommit) || db.checkpointDue {
		// The transaction is committed; a checkpoint that cannot finish
		// now (a reader in the way) is retried after the next one and
		// by Close.
		_ = db.checkpoint(context.Background())
	} else if erased {
		db.scheduleErase()
	}
}

// tx is a write transaction on the writer connection.
type tx struct {
	db    *DB
	ctx   context.Context
	sqlTx *sql.Tx
	st    [numStmts]*sql.Stmt
	// erased is set when the transaction deleted or overwrote a record.
	erased bool
	// insertFirst is set when the transaction's last write created a
	// record: the next one tries INSERT first (see write).
	insertFirst bool
	// failed is the database error that ended the transaction.
	failed error
	done   bool
}

func (t *tx) stmt(i int) *sql.Stmt {
	if t.st[i] == nil {
		t.st[i] = t.sqlTx.StmtContext(t.ctx, t.db.wst.all[i])
	}
	return t.st[i]
}

// fail records err, a database error, as the end of the transaction.
func (t *tx) fail(op string, err error) error {
	err = dbErr(op, err)
	if t.failed == nil {
		t.failed = err
	}
	return err
}

// usable returns the error for a call on a finished or failed transaction.
func (t *tx) usable() error {
	if t.done {
		return ErrTxDone
	}
	return t.failed
}

func (t *tx) write(ns []byte, k rkey, version uint16, value []byte) error {
	if err := t.usable(); err != nil {
		return err
	}
	v, err := t.db.seal(ns, k, version, value)
	if err != nil {
		return err
	}
	// A write is an UPDATE of the record or, where there is none, an
	// INSERT; only an UPDATE replaces (erases) a value. The statement
	// tried first is the one that did the previous write of the
	// transaction: a receiver's batch creates records (a new ratchet
	// state per sender, one statement each), steady traffic overwrites
	// them (also one each), and a miss costs what UPDATE-then-INSERT
	// always cost.
	args := []any{ns, int64(k.space), k.key, k.epoch, int64(version), v}
	first, second := stUpdate, stInsert
	if t.insertFirst {
		first, second = stInsert, stUpdate
	}
	n, err := t.exec(first, args)
	if err == nil && n == 0 {
		t.insertFirst = !t.insertFirst
		first = second
		n, err = t.exec(first, args)
	}
	if err != nil {
		return t.fail("write "+k.String(), err)
	}
	if n == 0 { // neither updated nor inserted: not possible in a write transaction
		return t.fail("write "+k.String(), errors.New("the record was neither updated nor inserted"))
	}
	if first == stUpdate {
		t.erased = true
	}
	return nil
}

// exec runs the statement i with args and returns the number of rows it
// changed.
func (t *tx) exec(i int, args []any) (int64, error) {
	res, err := t.stmt(i).ExecContext(t.ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *tx) del(ns []byte, k rkey) error {
	if err := t.usable(); err != nil {
		return err
	}
	res, err := t.stmt(stDelete).ExecContext(t.ctx, ns, int64(k.space), k.key, k.epoch)
	if err != nil {
		return t.fail("delete "+k.String(), err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		t.erased = true
	}
	return nil
}

func (t *tx) read(ns []byte, k rkey) (uint16, []byte, error) {
	if err := t.usable(); err != nil {
		return 0, nil, err
	}
	ver, v, err := t.db.get(t.ctx, t.stmt(stGet), ns, k)
	if err != nil && !errors.Is(err, providers.ErrNotFound) {
		t.fail("read "+k.String(), err)
	}
	return ver, v, err
}

func (t *tx) listKeys(ns []byte, sp space) ([][]byte, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	out, err := queryBytes(t.ctx, t.stmt(stListKeys), "list "+spaceNames[sp], ns, int64(sp))
	if err != nil {
		t.fail("list", err)
	}
	return out, err
}

// delNodes deletes the secret tree nodes of epoch e of group g: one
// statement over the nodes' key range (nodeRange), as listNodes lists
// them.
func (t *tx) delNodes(ns []byte, g []byte, e uint64) error {
	if err := t.usable(); err != nil {
		return err
	}
	lo, hi := nodeRange(e)
	res, err := t.stmt(stDeleteNodes).ExecContext(t.ctx, ns, int64(spaceSecretTree), nonNil(g), lo, hi)
	if err != nil {
		return t.fail(fmt.Sprintf("delete the secret tree of group %x epoch %d", g, e), err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		t.erased = true
	}
	return nil
}

func (t *tx) listNodes(ns []byte, g []byte, e uint64) ([]uint32, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	out, err := queryNodes(t.ctx, t.stmt(stListNodes), ns, g, e)
	if err != nil {
		t.fail("list", err)
	}
	return out, err
}

func (t *tx) listEpochs(ns []byte, sp space, g []byte) ([]uint64, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	out, err := queryEpochs(t.ctx, t.stmt(stListEpochs), "list "+spaceNames[sp], ns, sp, g)
	if err != nil {
		t.fail("list", err)
	}
	return out, err
}

// get reads record k of namespace ns with the statement st (stGet).
func (db *DB) get(ctx context.Context, st *sql.Stmt, ns []byte, k rkey) (uint16, []byte, error) {
	var (
		version int64
		raw     sql.RawBytes
	)
	rows, err := st.QueryContext(ctx, ns, int64(k.space), k.key, k.epoch)
	if err != nil {
		return 0, nil, dbErr("read "+k.String(), err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, nil, dbErr("read "+k.String(), err)
		}
		return 0, nil, fmt.Errorf("sqlitestore: %s: %w", k, providers.ErrNotFound)
	}
	if err := rows.Scan(&version, &raw); err != nil {
		return 0, nil, dbErr("read "+k.String(), err)
	}
	// raw is the driver's own copy: open (or copy) it, then zero it.
	if version < 0 || version > 0xffff {
		return 0, nil, &Error{Op: "read " + k.String(), Kind: ErrCorrupt, Err: fmt.Errorf("version %d", version)}
	}
	v, err := db.open(ns, k, uint16(version), raw)
	clear(raw)
	if err != nil {
		return 0, nil, err
	}
	return uint16(version), v, nil
}

func queryBytes(ctx context.Context, st *sql.Stmt, op string, args ...any) ([][]byte, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	out := [][]byte{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, nonNil(b))
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

// queryNodes lists the nodes of the secret tree of epoch e of group g.
func queryNodes(ctx context.Context, st *sql.Stmt, ns []byte, g []byte, e uint64) ([]uint32, error) {
	lo, hi := nodeRange(e)
	const op = "list secret tree nodes"
	keys, err := queryBytes(ctx, st, op, ns, int64(spaceSecretTree), nonNil(g), lo, hi)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(keys))
	for i, k := range keys {
		if len(k) != 12 {
			return nil, &Error{Op: op, Kind: ErrCorrupt, Err: fmt.Errorf("node key of %d bytes", len(k))}
		}
		out[i] = binary.BigEndian.Uint32(k[8:])
	}
	return out, nil
}

func queryEpochs(ctx context.Context, st *sql.Stmt, op string, ns []byte, sp space, g []byte) ([]uint64, error) {
	keys, err := queryBytes(ctx, st, op, ns, int64(sp), nonNil(g))
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(keys))
	for i, k := range keys {
		if len(k) != 8 {
			return nil, &Error{Op: op, Kind: ErrCorrupt, Err: fmt.Errorf("epoch of %d bytes", len(k))}
		}
		out[i] = binary.BigEndian.Uint64(k)
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// The store outside transactions: reads on the reader pool, every write a
// transaction of one operation.

func (s *Store) closedErr(op string) error {
	if s.db.closed.Load() {
		return &Error{Op: op, Kind: ErrClosed, Err: ErrClosed}
	}
	return nil
}

func (s *Store) write(k rkey, version uint16, value []byte) error {
	return s.db.update("write "+k.String(), func(t *tx) error { return t.write(s.ns, k, version, value) })
}

func (s *Store) del(k rkey) error {
	return s.db.update("delete "+k.String(), func(t *tx) error { return t.del(s.ns, k) })
}

func (s *Store) read(k rkey) (uint16, []byte, error) {
	if err := s.closedErr("read"); err != nil {
		return 0, nil, err
	}
	return s.db.get(context.Background(), s.db.rst.all[stGet], s.ns, k)
}

func (s *Store) readValue(k rkey) ([]byte, error) {
	_, v, err := s.read(k)
	return v, err
}

func (s *Store) listKeys(sp space) ([][]byte, error) {
	if err := s.closedErr("list"); err != nil {
		return nil, err
	}
	return queryBytes(context.Background(), s.db.rst.all[stListKeys], "list "+spaceNames[sp], s.ns, int64(sp))
}

func (s *Store) listNodes(g []byte, e uint64) ([]uint32, error) {
	if err := s.closedErr("list"); err != nil {
		return nil, err
	}
	return queryNodes(context.Background(), s.db.rst.all[stListNodes], s.ns, g, e)
}

func (s *Store) listEpochs(sp space, g []byte) ([]uint64, error) {
	if err := s.closedErr("list"); err != nil {
		return nil, err
	}
	return queryEpochs(context.Background(), s.db.rst.all[stListEpochs], "list "+spaceNames[sp], s.ns, sp, g)
}

// WriteGroupState implements providers.GroupStateStore.
func (s *Store) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	return s.write(flat(spaceGroup, groupID), version, state)
}

// ReadGroupState implements providers.GroupStateStore.
func (s *Store) ReadGroupState(groupID []byte) (uint16, []byte, error) {
	return s.read(flat(spaceGroup, groupID))
}

// DeleteGroupState implements providers.GroupStateStore.
func (s *Store) DeleteGroupState(groupID []byte) error { return s.del(flat(spaceGroup, groupID)) }

// ListGroups implements providers.GroupStateStore.
func (s *Store) ListGroups() ([][]byte, error) { return s.listKeys(spaceGroup) }

// WriteKeyPackage implements providers.KeyPackageStore.
func (s *Store) WriteKeyPackage(ref, bundle []byte) error {
	return s.write(flat(spaceKeyPackage, ref), 0, bundle)
}

// ReadKeyPackage implements providers.KeyPackageStore.
func (s *Store) ReadKeyPackage(ref []byte) ([]byte, error) {
	return s.readValue(flat(spaceKeyPackage, ref))
}

// DeleteKeyPackage implements providers.KeyPackageStore.
func (s *Store) DeleteKeyPackage(ref []byte) error { return s.del(flat(spaceKeyPackage, ref)) }

// ListKeyPackages implements providers.KeyPackageStore.
func (s *Store) ListKeyPackages() ([][]byte, error) { return s.listKeys(spaceKeyPackage) }

// WriteSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) WriteSignatureKeyPair(publicKey, keyPair []byte) error {
	return s.write(flat(spaceSigKey, publicKey), 0, keyPair)
}

// ReadSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) ReadSignatureKeyPair(publicKey []byte) ([]byte, error) {
	return s.readValue(flat(spaceSigKey, publicKey))
}

// DeleteSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) DeleteSignatureKeyPair(publicKey []byte) error {
	return s.del(flat(spaceSigKey, publicKey))
}

// WriteEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) WriteEncryptionKeyPair(publicKey, keyPair []byte) error {
	return s.write(flat(spaceEncKey, publicKey), 0, keyPair)
}

// ReadEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) ReadEncryptionKeyPair(publicKey []byte) ([]byte, error) {
	return s.readValue(flat(spaceEncKey, publicKey))
}

// DeleteEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) DeleteEncryptionKeyPair(publicKey []byte) error {
	return s.del(flat(spaceEncKey, publicKey))
}

// WritePSK implements providers.PSKStore.
func (s *Store) WritePSK(id, psk []byte) error { return s.write(flat(spacePSK, id), 0, psk) }

// ReadPSK implements providers.PSKStore.
func (s *Store) ReadPSK(id []byte) ([]byte, error) { return s.readValue(flat(spacePSK, id)) }

// DeletePSK implements providers.PSKStore.
func (s *Store) DeletePSK(id []byte) error { return s.del(flat(spacePSK, id)) }

// WriteEpochSecrets implements providers.EpochSecretStore.
func (s *Store) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	return s.write(byEpoch(spaceEpochSecrets, groupID, epoch), 0, secrets)
}

// ReadEpochSecrets implements providers.EpochSecretStore.
func (s *Store) ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error) {
	return s.readValue(byEpoch(spaceEpochSecrets, groupID, epoch))
}

// DeleteEpochSecrets implements providers.EpochSecretStore.
func (s *Store) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	return s.del(byEpoch(spaceEpochSecrets, groupID, epoch))
}

// ListEpochs implements providers.EpochSecretStore.
func (s *Store) ListEpochs(groupID []byte) ([]uint64, error) {
	return s.listEpochs(spaceEpochSecrets, groupID)
}

// WriteRatchetTree implements providers.RatchetTreeStore.
func (s *Store) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	return s.write(byEpoch(spaceTree, groupID, epoch), 0, tree)
}

// ReadRatchetTree implements providers.RatchetTreeStore.
func (s *Store) ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error) {
	return s.readValue(byEpoch(spaceTree, groupID, epoch))
}

// DeleteRatchetTree implements providers.RatchetTreeStore.
func (s *Store) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	return s.del(byEpoch(spaceTree, groupID, epoch))
}

// ListRatchetTrees implements providers.RatchetTreeStore.
func (s *Store) ListRatchetTrees(groupID []byte) ([]uint64, error) {
	return s.listEpochs(spaceTree, groupID)
}

// WriteSecretTreeNode implements providers.SecretTreeStore.
func (s *Store) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, value []byte) error {
	return s.write(byNode(groupID, epoch, node), 0, value)
}

// ReadSecretTreeNode implements providers.SecretTreeStore.
func (s *Store) ReadSecretTreeNode(groupID []byte, epoch uint64, node uint32) ([]byte, error) {
	return s.readValue(byNode(groupID, epoch, node))
}

// DeleteSecretTreeNode implements providers.SecretTreeStore.
func (s *Store) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	return s.del(byNode(groupID, epoch, node))
}

// ListSecretTreeNodes implements providers.SecretTreeStore.
func (s *Store) ListSecretTreeNodes(groupID []byte, epoch uint64) ([]uint32, error) {
	return s.listNodes(groupID, epoch)
}

// DeleteSecretTree implements providers.SecretTreeStore: one transaction
// of one statement.
func (s *Store) DeleteSecretTree(groupID []byte, epoch uint64) error {
	return s.db.update(fmt.Sprintf("delete the secret tree of group %x epoch %d", groupID, epoch), func(t *tx) error { return t.delNodes(s.ns, groupID, epoch) })
}

// ---------------------------------------------------------------------------
// A transaction's view of one namespace.

type txView struct {
	t  *tx
	ns []byte
}

var _ providers.Records = (*txView)(nil)

func (v *txView) value(k rkey) ([]byte, error) {
	_, b, err := v.t.read(v.ns, k)
	return b, err
}

func (v *txView) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	return v.t.write(v.ns, flat(spaceGroup, groupID), version, state)
}

func (v *txView) ReadGroupState(groupID []byte) (uint16, []byte, error) {
	return v.t.read(v.ns, flat(spaceGroup, groupID))
}

func (v *txView) DeleteGroupState(groupID []byte) error {
	return v.t.del(v.ns, flat(spaceGroup, groupID))
}

func (v *txView) ListGroups() ([][]byte, error) { return v.t.listKeys(v.ns, spaceGroup) }

func (v *txView) WriteKeyPackage(ref, bundle []byte) error {
	return v.t.write(v.ns, flat(spaceKeyPackage, ref), 0, bundle)
}

func (v *txView) ReadKeyPackage(ref []byte) ([]byte, error) {
	return v.value(flat(spaceKeyPackage, ref))
}

func (v *txView) DeleteKeyPackage(ref []byte) error {
	return v.t.del(v.ns, flat(spaceKeyPackage, ref))
}

func (v *txView) ListKeyPackages() ([][]byte, error) { return v.t.listKeys(v.ns, spaceKeyPackage) }

func (v *txView) WriteSignatureKeyPair(publicKey, keyPair []byte) error {
	return v.t.write(v.ns, flat(spaceSigKey, publicKey), 0, keyPair)
}

func (v *txView) ReadSignatureKeyPair(publicKey []byte) ([]byte, error) {
	return v.value(flat(spaceSigKey, publicKey))
}

func (v *txView) DeleteSignatureKeyPair(publicKey []byte) error {
	return v.t.del(v.ns, flat(spaceSigKey, publicKey))
}

func (v *txView) WriteEncryptionKeyPair(publicKey, keyPair []byte) error {
	return v.t.write(v.ns, flat(spaceEncKey, publicKey), 0, keyPair)
}

func (v *txView) ReadEncryptionKeyPair(publicKey []byte) ([]byte, error) {
	return v.value(flat(spaceEncKey, publicKey))
}

func (v *txView) DeleteEncryptionKeyPair(publicKey []byte) error {
	return v.t.del(v.ns, flat(spaceEncKey, publicKey))
}

func (v *txView) WritePSK(id, psk []byte) error {
	return v.t.write(v.ns, flat(spacePSK, id), 0, psk)
}

func (v *txView) ReadPSK(id []byte) ([]byte, error) { return v.value(flat(spacePSK, id)) }

func (v *txView) DeletePSK(id []byte) error { return v.t.del(v.ns, flat(spacePSK, id)) }

func (v *txView) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	return v.t.write(v.ns, byEpoch(spaceEpochSecrets, groupID, epoch), 0, secrets)
}

func (v *txView) ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error) {
	return v.value(byEpoch(spaceEpochSecrets, groupID, epoch))
}

func (v *txView) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	return v.t.del(v.ns, byEpoch(spaceEpochSecrets, groupID, epoch))
}

func (v *txView) ListEpochs(groupID []byte) ([]uint64, error) {
	return v.t.listEpochs(v.ns, spaceEpochSecrets, groupID)
}

func (v *txView) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	return v.t.write(v.ns, byEpoch(spaceTree, groupID, epoch), 0, tree)
}

func (v *txView) ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error) {
	return v.value(byEpoch(spaceTree, groupID, epoch))
}

func (v *txView) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	return v.t.del(v.ns, byEpoch(spaceTree, groupID, epoch))
}

func (v *txView) ListRatchetTrees(groupID []byte) ([]uint64, error) {
	return v.t.listEpochs(v.ns, spaceTree, groupID)
}

func (v *txView) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, value []byte) error {
	return v.t.write(v.ns, byNode(groupID, epoch, node), 0, value)
}

func (v *txView) ReadSecretTreeNode(groupID []byte, epoch uint64, node uint32) ([]byte, error) {
	return v.value(byNode(groupID, epoch, node))
}

func (v *txView) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	return v.t.del(v.ns, byNode(groupID, epoch, node))
}

func (v *txView) ListSecretTreeNodes(groupID []byte, epoch uint64) ([]uint32, error) {
	return v.t.listNodes(v.ns, groupID, epoch)
}

func (v *txView) DeleteSecretTree(groupID []byte, epoch uint64) error {
	return v.t.delNodes(v.ns, groupID, epoch)
}

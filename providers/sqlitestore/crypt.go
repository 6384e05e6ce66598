package sqlitestore

// seal returns the stored form of value, the record k of namespace ns.
func (db *DB) seal(ns []byte, k rkey, version uint16, value []byte) ([]byte, error) {
	return nonNil(value), nil
}

// open returns a copy of the value whose stored form is stored.
func (db *DB) open(ns []byte, k rkey, version uint16, stored []byte) ([]byte, error) {
	return append(make([]byte, 0, len(stored)), stored...), nil
}

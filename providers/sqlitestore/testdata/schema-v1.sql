-- A database in the layout of schema version 1 (the first release of
-- sqlitestore), written by hand: two clients' records in the v1 table, no
-- meta table. migrate_test.go opens it and expects it migrated.
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE record (
	ns      BLOB    NOT NULL,
	space   INTEGER NOT NULL,
	key     BLOB    NOT NULL,
	epoch   BLOB    NOT NULL,
	version INTEGER NOT NULL,
	value   BLOB    NOT NULL,
	PRIMARY KEY (ns, space, key, epoch)
);
-- alice: a group state (format version 2), its epoch secrets and ratchet
-- trees of epochs 4 and 5, a key package, signature and encryption keys, a PSK.
INSERT INTO record VALUES (x'616c696365', 1, x'67726f7570', x'', 2, x'7374617465');
INSERT INTO record VALUES (x'616c696365', 6, x'67726f7570', x'0000000000000004', 0, x'65706f636834');
INSERT INTO record VALUES (x'616c696365', 6, x'67726f7570', x'0000000000000005', 0, x'65706f636835');
INSERT INTO record VALUES (x'616c696365', 7, x'67726f7570', x'0000000000000005', 0, x'7472656535');
INSERT INTO record VALUES (x'616c696365', 2, x'726566', x'', 0, x'6b70');
INSERT INTO record VALUES (x'616c696365', 3, x'707562', x'', 0, x'7369676b6579');
INSERT INTO record VALUES (x'616c696365', 4, x'707562', x'', 0, x'656e636b6579');
INSERT INTO record VALUES (x'616c696365', 5, x'', x'', 0, x'');
-- bob: only a group state of the same group.
INSERT INTO record VALUES (x'626f62', 1, x'67726f7570', x'', 1, x'626f622073746174');

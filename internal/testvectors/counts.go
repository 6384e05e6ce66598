package testvectors

// committedCases is the number of cases (top-level array entries) of each
// vector file committed in testdata. TestCommittedCases checks it against
// the files; update it together with them.
var committedCases = map[string]int{
	"crypto-basics.json":                  7,
	"deserialization.json":                14,
	"key-schedule.json":                   7,
	"message-protection.json":             7,
	"messages.json":                       300,
	"passive-client-handling-commit.json": 91,
	"passive-client-welcome.json":         56,
	"psk_secret.json":                     77,
	"secret-tree.json":                    21,
	"transcript-hashes.json":              7,
	"tree-math.json":                      10,
	"tree-operations.json":                5,
	"tree-validation.json":                98,
	"treekem.json":                        77,
	"welcome.json":                        7,
}

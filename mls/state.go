package mls

// save writes the group's state to storage. Persistence of the group state
// (a versioned TLS schema for the epoch, tree, keys and secret tree) is not
// implemented yet: groups live in memory (see issue 6's note).
func (g *Group) save() error { return nil }

// saveSecrets writes the secret tree after it advanced; see save.
func (g *Group) saveSecrets() error { return nil }

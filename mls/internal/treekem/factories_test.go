package treekem

func treeFactories() []treeFactory { return []treeFactory{naiveFactory} }

func simFactories() []simFactory { return []simFactory{naiveSimFactory} }

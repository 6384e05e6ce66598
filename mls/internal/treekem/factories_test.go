package treekem

func treeFactories() []treeFactory { return []treeFactory{naiveFactory} }

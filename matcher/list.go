package matcher

// list is an intrusive doubly linked list of queue entries, oldest first. Entries only ever
// join at the tail with a larger sequence number than everyone before them, so every list
// stays ordered by age without sorting, and leaving is O(1) from anywhere.
type list struct {
	head, tail *node
	n          int // entries on the list, for aggregates
}

// node links one entry into one list; an entry embeds one node per list it is on.
type node struct {
	prev, next *node
	list       *list
	e          *entry
}

func (l *list) push(n *node, e *entry) {
	n.e, n.list, n.prev, n.next = e, l, l.tail, nil
	if l.tail != nil {
		l.tail.next = n
	} else {
		l.head = n
	}
	l.tail = n
	l.n++
}

func (l *list) remove(n *node) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next, n.list = nil, nil, nil
	l.n--
}

package tokenizer

// BPE merging of one pre-tokenized word. Symbols start as the word's byte
// tokens and are merged pairwise, lowest merge rank first and leftmost among
// equal ranks, until no adjacent pair has a merge rule. Pairs wait in a
// binary heap; entries made stale by an earlier merge are recognised when
// popped (the pair at that position no longer has that rank) and dropped,
// which keeps each merge O(log n) without deleting from the heap.

type symbol struct {
	id         int32
	prev, next int32 // indices into the word's symbols; -1 at the ends
}

type candidate struct {
	rank int32
	left int32 // index of the left symbol
}

func (a candidate) less(b candidate) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
}

// bpeScratch holds the buffers of one word's merge, reused across words.
type bpeScratch struct {
	syms []symbol
	heap []candidate
}

func (h *bpeScratch) push(c candidate) {
	h.heap = append(h.heap, c)
	i := len(h.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.heap[i].less(h.heap[p]) {
			break
		}
		h.heap[i], h.heap[p] = h.heap[p], h.heap[i]
		i = p
	}
}

func (h *bpeScratch) pop() candidate {
	top := h.heap[0]
	n := len(h.heap) - 1
	h.heap[0] = h.heap[n]
	h.heap = h.heap[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.heap[l].less(h.heap[m]) {
			m = l
		}
		if r < n && h.heap[r].less(h.heap[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.heap[i], h.heap[m] = h.heap[m], h.heap[i]
		i = m
	}
	return top
}

func pairKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// merge is one rule: the pair it applies to merges into id, before any rule
// of higher rank.
type merge struct {
	rank int32
	id   int32
}

// pushPair queues the pair starting at symbol i if a rule covers it.
func (t *Tokenizer) pushPair(s *bpeScratch, i int32) {
	j := s.syms[i].next
	if j < 0 {
		return
	}
	if m, ok := t.merges[pairKey(s.syms[i].id, s.syms[j].id)]; ok {
		s.push(candidate{rank: m.rank, left: i})
	}
}

// bpe appends the tokens of word (raw bytes, not yet in the byte alphabet).
func (t *Tokenizer) bpe(dst []int32, word string, s *bpeScratch) []int32 {
	s.syms = s.syms[:0]
	s.heap = s.heap[:0]
	for i := 0; i < len(word); i++ {
		s.syms = append(s.syms, symbol{id: t.byteID[word[i]], prev: int32(i) - 1, next: int32(i) + 1})
	}
	s.syms[len(s.syms)-1].next = -1
	for i := range s.syms {
		t.pushPair(s, int32(i))
	}
	for len(s.heap) > 0 {
		c := s.pop()
		left := &s.syms[c.left]
		if left.id < 0 || left.next < 0 {
			continue // merged away
		}
		right := &s.syms[left.next]
		m, ok := t.merges[pairKey(left.id, right.id)]
		if !ok || m.rank != c.rank {
			continue // stale: one side changed since it was queued
		}
		left.id = m.id
		left.next = right.next
		if right.next >= 0 {
			s.syms[right.next].prev = c.left
		}
		right.id = -1
		if left.prev >= 0 {
			t.pushPair(s, left.prev)
		}
		t.pushPair(s, c.left)
	}
	for i := int32(0); i >= 0; i = s.syms[i].next {
		dst = append(dst, s.syms[i].id)
	}
	return dst
}

//! The stream's targets by token: a slab, so that finding a datagram's target (once per
//! datagram read, once more per event taken, for its key) is an index and a compare, not a
//! hash lookup. A slot freed by a removal is reused; the token's generation, which a reuse
//! advances, keeps a token of the removed target from finding the new one.

use mio::Token;

/// Bits of a token that hold the slot's index; the rest hold its generation.
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Generations wrap below this, so that no target's token reaches the handle's own tokens
/// (its waker and timers, at the top of the range).
const GENERATION_LIMIT: usize = (1 << (usize::BITS - INDEX_BITS)) - 1;

/// One place of the slab: its target, if any, and the generation of the tokens it gives out.
struct Slot<T> {
    generation: usize,
    target: Option<T>,
}

/// The targets of a stream (`T`), each under the token it was inserted with.
pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Slots without a target, reused before the slab grows.
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// The index of `token`'s slot, if the slot still gives out `token`.
    fn index(&self, token: Token) -> Option<usize> {
        let index = token.0 & INDEX_MASK;
        let slot = self.slots.get(index)?;
        (slot.generation == token.0 >> INDEX_BITS).then_some(index)
    }

    /// The target under `token`.
    pub(super) fn get(&self, token: Token) -> Option<&T> {
        self.slots[self.index(token)?].target.as_ref()
    }

    /// The target under `token`, to change.
    pub(super) fn get_mut(&mut self, token: Token) -> Option<&mut T> {
        let index = self.index(token)?;
        self.slots[index].target.as_mut()
    }

    /// Reserves a slot and returns its token, or `None` when the slab is full (more targets
    /// than a token's index can count). The slot is empty, and not given to anyone else, until
    /// [`put_back`](Self::put_back) fills it or [`release`](Self::release) frees it: the
    /// token can be registered before the target is made.
    pub(super) fn reserve(&mut self) -> Option<Token> {
        let index = match self.free.pop() {
            Some(index) => index,
            None if self.slots.len() < INDEX_MASK => {
                self.slots.push(Slot {
                    generation: 0,
                    target: None,
                });
                self.slots.len() - 1
            }
            None => return None,
        };
        Some(Token(self.slots[index].generation << INDEX_BITS | index))
    }

    /// Frees a slot [`reserve`](Self::reserve)d and never filled; its later tokens differ.
    pub(super) fn release(&mut self, token: Token) {
        if let Some(index) = self.index(token) {
            let slot = &mut self.slots[index];
            if slot.target.is_none() {
                slot.generation = (slot.generation + 1) % GENERATION_LIMIT;
                self.free.push(index);
            }
        }
    }

    /// Inserts `target` in a slot of its own and returns its token (`None`, and `target`
    /// dropped, when the slab is full).
    #[cfg(test)]
    pub(super) fn insert(&mut self, target: T) -> Option<Token> {
        let token = self.reserve()?;
        self.put_back(token, target);
        Some(token)
    }

    /// Removes and returns the target under `token`; its slot's later tokens differ.
    pub(super) fn remove(&mut self, token: Token) -> Option<T> {
        let index = self.index(token)?;
        let slot = &mut self.slots[index];
        let target = slot.target.take()?;
        slot.generation = (slot.generation + 1) % GENERATION_LIMIT;
        self.free.push(index);
        Some(target)
    }

    /// Takes the target under `token` out of the slab without freeing its slot, so that it can
    /// look at the others; [`put_back`](Self::put_back) returns it.
    pub(super) fn take_out(&mut self, token: Token) -> Option<T> {
        let index = self.index(token)?;
        self.slots[index].target.take()
    }

    /// Returns what [`take_out`](Self::take_out) took, or fills a slot
    /// [`reserve`](Self::reserve)d.
    pub(super) fn put_back(&mut self, token: Token, target: T) {
        if let Some(index) = self.index(token) {
            self.slots[index].target = Some(target);
        }
    }

    /// Every target, in no particular order.
    pub(super) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| s.target.as_ref())
    }

    /// Every target, to change.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().filter_map(|s| s.target.as_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_finds_its_target_until_removed_and_never_the_next_one() {
        let mut slab = Slab::default();
        let a = slab.insert("a").unwrap();
        let b = slab.insert("b").unwrap();
        assert_eq!((slab.get(a), slab.get(b)), (Some(&"a"), Some(&"b")));
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        // The freed slot is reused, under a token of its own.
        let c = slab.insert("c").unwrap();
        assert_eq!(c.0 & INDEX_MASK, a.0 & INDEX_MASK);
        assert_ne!(c, a);
        assert_eq!((slab.get(a), slab.get(c)), (None, Some(&"c")));
        *slab.get_mut(c).unwrap() = "c2";
        let mut all: Vec<_> = slab.values().copied().collect();
        all.sort();
        assert_eq!(all, ["b", "c2"]);
    }

    #[test]
    fn a_target_taken_out_keeps_its_slot_and_token() {
        let mut slab = Slab::default();
        let a = slab.insert(1).unwrap();
        let out = slab.take_out(a).unwrap();
        assert_eq!(slab.get(a), None);
        // Its slot is not free meanwhile: a new target goes elsewhere.
        let b = slab.insert(2).unwrap();
        assert_ne!(b.0 & INDEX_MASK, a.0 & INDEX_MASK);
        slab.put_back(a, out + 10);
        assert_eq!((slab.get(a), slab.get(b)), (Some(&11), Some(&2)));
    }

    #[test]
    fn a_reserved_slot_is_nobody_elses_until_filled_or_released() {
        let mut slab = Slab::default();
        let reserved = slab.reserve().unwrap();
        assert_eq!(slab.get(reserved), None);
        let other = slab.insert("other").unwrap();
        assert_ne!(other.0 & INDEX_MASK, reserved.0 & INDEX_MASK);
        // A removal meanwhile frees another slot, not this one.
        slab.remove(other);
        slab.put_back(reserved, "mine");
        assert_eq!(slab.get(reserved), Some(&"mine"));
        // Released unfilled, it is reused under a new token.
        let unused = slab.reserve().unwrap();
        slab.release(unused);
        let next = slab.reserve().unwrap();
        assert_eq!(next.0 & INDEX_MASK, unused.0 & INDEX_MASK);
        assert_ne!(next, unused);
        // A filled slot is not released by mistake.
        slab.release(reserved);
        assert_eq!(slab.get(reserved), Some(&"mine"));
    }

    #[test]
    fn generations_wrap_below_the_handles_own_tokens() {
        let mut slab = Slab::default();
        let mut token = slab.insert(()).unwrap();
        for _ in 0..3 {
            slab.remove(token);
            token = slab.insert(()).unwrap();
        }
        assert_eq!(token.0 >> INDEX_BITS, 3);
        slab.remove(token);
        slab.slots[0].generation = GENERATION_LIMIT - 1;
        let last = slab.insert(()).unwrap();
        assert_eq!(last.0 >> INDEX_BITS, GENERATION_LIMIT - 1);
        slab.remove(last);
        let wrapped = slab.insert(()).unwrap();
        assert_eq!(wrapped.0 >> INDEX_BITS, 0);
        let highest = Token((GENERATION_LIMIT - 1) << INDEX_BITS | (INDEX_MASK - 1));
        assert!(highest.0 < usize::MAX - 2);
        assert_eq!(slab.values_mut().count(), 1);
    }
}

//! The members of a node set ordered by how much of one resource they have free.
//!
//! Members are grouped into runs of equal free capacity; a run holds member positions (name
//! order). A fit query walks the runs from a free amount up (fullest first) or down
//! (emptiest first), and each run in name order. A cluster of identical nodes has few
//! distinct free amounts, so an update — a member's free amount changing — finds its runs in
//! a small map and flips a bit; a cluster where every node differs keeps small inline runs.

use std::collections::{BTreeMap, btree_map};
use std::iter::Rev;
use std::ops::Bound;

/// Most positions a run keeps inline before it switches to a bit set.
const INLINE: usize = 7;
/// A bit-set run with this many positions or fewer goes back inline.
const BACK_INLINE: u32 = 3;

/// Positions sharing one free amount.
#[derive(Clone, Debug)]
pub(crate) enum Run {
    /// Sorted positions.
    Inline { len: u8, items: [u32; INLINE] },
    /// One bit per member position, and how many are set.
    Bits { words: Box<[u64]>, len: u32 },
}

impl Run {
    fn one(pos: u32) -> Self {
        let mut items = [0; INLINE];
        items[0] = pos;
        Run::Inline { len: 1, items }
    }

    fn len(&self) -> usize {
        match self {
            Run::Inline { len, .. } => usize::from(*len),
            Run::Bits { len, .. } => *len as usize,
        }
    }

    fn insert(&mut self, pos: u32, words: usize) {
        match self {
            Run::Inline { len, items } => {
                let n = usize::from(*len);
                let at = items[..n].partition_point(|&p| p < pos);
                if items[..n].get(at) == Some(&pos) {
                    return;
                }
                if n < INLINE {
                    items.copy_within(at..n, at + 1);
                    items[at] = pos;
                    *len += 1;
                } else {
                    let mut bits = vec![0u64; words].into_boxed_slice();
                    for &p in items.iter().chain([&pos]) {
                        bits[p as usize / 64] |= 1 << (p % 64);
                    }
                    *self = Run::Bits {
                        words: bits,
                        len: INLINE as u32 + 1,
                    };
                }
            }
            Run::Bits { words, len } => {
                let (w, bit) = (pos as usize / 64, 1u64 << (pos % 64));
                if words[w] & bit == 0 {
                    words[w] |= bit;
                    *len += 1;
                }
            }
        }
    }

    fn remove(&mut self, pos: u32) {
        match self {
            Run::Inline { len, items } => {
                let n = usize::from(*len);
                if let Ok(at) = items[..n].binary_search(&pos) {
                    items.copy_within(at + 1..n, at);
                    *len -= 1;
                }
            }
            Run::Bits { words, len } => {
                let (w, bit) = (pos as usize / 64, 1u64 << (pos % 64));
                if words[w] & bit != 0 {
                    words[w] &= !bit;
                    *len -= 1;
                }
                if *len <= BACK_INLINE {
                    let mut items = [0; INLINE];
                    let n = *len as u8;
                    let left = Positions::Bits {
                        words,
                        at: 0,
                        current: words[0],
                    };
                    for (slot, p) in items.iter_mut().zip(left) {
                        *slot = p;
                    }
                    *self = Run::Inline { len: n, items };
                }
            }
        }
    }
}

/// The positions of a run, in order.
pub(crate) enum Positions<'a> {
    Inline(std::slice::Iter<'a, u32>),
    Bits {
        words: &'a [u64],
        at: usize,
        current: u64,
    },
}

impl<'a> Positions<'a> {
    fn of(run: &'a Run) -> Self {
        match run {
            Run::Inline { len, items } => Positions::Inline(items[..usize::from(*len)].iter()),
            Run::Bits { words, .. } => Positions::Bits {
                words,
                at: 0,
                current: words.first().copied().unwrap_or(0),
            },
        }
    }
}

impl Iterator for Positions<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        match self {
            Positions::Inline(it) => it.next().copied(),
            Positions::Bits { words, at, current } => loop {
                if *current != 0 {
                    let bit = current.trailing_zeros();
                    *current &= *current - 1;
                    return Some((*at * 64) as u32 + bit);
                }
                *at += 1;
                *current = *words.get(*at)?;
            },
        }
    }
}

/// A walk over an order's positions, run by run (`runs` gives the runs in walking order),
/// as `(free, position)`. Kept small on purpose: placement starts one per pod, and the
/// adapters of the standard library (`flat_map` over a range) made a walk's state several
/// hundred bytes that were copied at every step.
pub(crate) struct Walk<'a, R> {
    runs: R,
    current: Option<(i64, Positions<'a>)>,
}

impl<'a, R> Walk<'a, R> {
    fn new(runs: R) -> Self {
        Walk {
            runs,
            current: None,
        }
    }
}

impl<'a, R: Iterator<Item = (&'a i64, &'a Run)>> Iterator for Walk<'a, R> {
    type Item = (i64, u32);

    #[inline]
    fn next(&mut self) -> Option<(i64, u32)> {
        loop {
            if let Some((free, positions)) = &mut self.current
                && let Some(p) = positions.next()
            {
                return Some((*free, p));
            }
            let (&free, run) = self.runs.next()?;
            self.current = Some((free, Positions::of(run)));
        }
    }
}

/// Member positions ordered by free amount, then position.
#[derive(Clone, Debug)]
pub(crate) struct FreeOrder {
    runs: BTreeMap<i64, Run>,
    /// Bit-set words a run needs for every member position.
    words: usize,
}

impl FreeOrder {
    /// An empty order over `members` positions.
    pub fn new(members: usize) -> Self {
        FreeOrder {
            runs: BTreeMap::new(),
            words: members.div_ceil(64).max(1),
        }
    }

    /// Adds position `pos` with `free`.
    pub fn insert(&mut self, free: i64, pos: u32) {
        match self.runs.get_mut(&free) {
            Some(run) => run.insert(pos, self.words),
            None => {
                self.runs.insert(free, Run::one(pos));
            }
        }
    }

    /// Removes position `pos`, which had `free`.
    pub fn remove(&mut self, free: i64, pos: u32) {
        if let Some(run) = self.runs.get_mut(&free) {
            run.remove(pos);
            if run.len() == 0 {
                self.runs.remove(&free);
            }
        }
    }

    /// Positions with at least `at_least` free, as `(free, position)`: the least free
    /// first, equal free in position order.
    pub fn ascending_from(&self, at_least: i64) -> Walk<'_, btree_map::Range<'_, i64, Run>> {
        Walk::new(self.runs.range(at_least..))
    }

    /// Positions with at least `at_least` and less than `below` (when given) free, as
    /// `(free, position)`: the most free first, equal free in position order.
    pub fn descending_below(
        &self,
        at_least: i64,
        below: Option<i64>,
    ) -> Walk<'_, Rev<btree_map::Range<'_, i64, Run>>> {
        let upper = below.map_or(Bound::Unbounded, Bound::Excluded);
        let range = if below.is_some_and(|b| b <= at_least) {
            // An empty range (BTreeMap::range rejects a start after the end).
            self.runs
                .range((Bound::Excluded(i64::MAX), Bound::Unbounded))
        } else {
            self.runs.range((Bound::Included(at_least), upper))
        };
        Walk::new(range.rev())
    }

    /// Every `(free, position)`, ascending.
    fn entries(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        self.ascending_from(i64::MIN)
    }
}

impl PartialEq for FreeOrder {
    fn eq(&self, other: &Self) -> bool {
        self.words == other.words && self.entries().eq(other.entries())
    }
}

impl Eq for FreeOrder {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn walks_fullest_first_and_emptiest_first_with_ties_in_name_order() {
        let mut o = FreeOrder::new(6);
        for (pos, free) in [4, 2, 4, 0, 2, 4].into_iter().enumerate() {
            o.insert(free, pos as u32);
        }
        let up: Vec<_> = o.ascending_from(1).collect();
        assert_eq!(up, [(2, 1), (2, 4), (4, 0), (4, 2), (4, 5)]);
        let down: Vec<_> = o.descending_below(1, None).collect();
        assert_eq!(down, [(4, 0), (4, 2), (4, 5), (2, 1), (2, 4)]);
        assert_eq!(
            o.descending_below(1, Some(4)).collect::<Vec<_>>(),
            [(2, 1), (2, 4)]
        );
        assert_eq!(o.descending_below(3, Some(2)).count(), 0);
        o.remove(4, 2);
        o.remove(0, 3);
        o.insert(1, 3);
        let up: Vec<_> = o.ascending_from(i64::MIN).collect();
        assert_eq!(up, [(1, 3), (2, 1), (2, 4), (4, 0), (4, 5)]);
    }

    #[test]
    fn a_run_outgrows_its_inline_slots_and_shrinks_back() {
        let mut o = FreeOrder::new(200);
        for pos in (0..200).rev() {
            o.insert(7, pos);
        }
        assert!(matches!(o.runs[&7], Run::Bits { len: 200, .. }));
        assert_eq!(
            o.ascending_from(7).map(|(_, p)| p).collect::<Vec<_>>(),
            (0..200).collect::<Vec<_>>()
        );
        for pos in 0..198 {
            o.remove(7, pos);
        }
        assert!(matches!(o.runs[&7], Run::Inline { len: 2, .. }));
        assert_eq!(
            o.ascending_from(0).collect::<Vec<_>>(),
            [(7, 198), (7, 199)]
        );
    }

    proptest! {
        /// Any sequence of moves leaves the same order as a sorted set of (free, position).
        #[test]
        fn agrees_with_a_sorted_set(
            members in 1usize..150,
            moves in proptest::collection::vec((0usize..150, 0i64..6), 0..400),
            at_least in 0i64..6,
            below in proptest::option::of(0i64..7),
        ) {
            let mut o = FreeOrder::new(members);
            let mut free = vec![0i64; members];
            let mut set = BTreeSet::new();
            for pos in 0..members {
                o.insert(0, pos as u32);
                set.insert((0, pos as u32));
            }
            for (pos, f) in moves {
                let pos = pos % members;
                o.remove(free[pos], pos as u32);
                set.remove(&(free[pos], pos as u32));
                free[pos] = f;
                o.insert(f, pos as u32);
                set.insert((f, pos as u32));
            }
            let up: Vec<_> = set.range((at_least, 0)..).copied().collect();
            prop_assert_eq!(o.ascending_from(at_least).collect::<Vec<_>>(), up);
            let mut down: Vec<(i64, u32)> = set
                .iter()
                .copied()
                .filter(|&(f, _)| f >= at_least && below.is_none_or(|b| f < b))
                .collect();
            down.sort_by_key(|&(f, p)| (std::cmp::Reverse(f), p));
            prop_assert_eq!(o.descending_below(at_least, below).collect::<Vec<_>>(), down);
        }
    }
}

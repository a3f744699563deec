//! The mutable counts of a cluster: what each node has allocated and what each quota node
//! uses, with an undo journal for what-ifs.
//!
//! [`Usage`] is the state; [`Scratch`] wraps it with a journal so that a gang placement or a
//! preemption trial can be rolled back exactly (Volcano's `Statement`, as a log of old cell
//! values). The model applies its own decisions through a `Scratch` too, so there is one
//! code path for every change of usage.

use crate::quantity::Quantity;

/// Allocated node capacity and quota usage, as dense tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    /// `node_alloc[node * resources + resource]`.
    pub(crate) node_alloc: Vec<Quantity>,
    /// `quota[quota_node * frs + fr]`.
    pub(crate) quota: Vec<Quantity>,
}

impl Usage {
    /// An all-zero usage for `nodes × resources` node cells and `quota_cells` quota cells.
    pub fn zero(node_cells: usize, quota_cells: usize) -> Self {
        Usage {
            node_alloc: vec![Quantity::ZERO; node_cells],
            quota: vec![Quantity::ZERO; quota_cells],
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Undo {
    Node(u32, Quantity),
    Quota(u32, Quantity),
}

/// A [`Usage`] being changed, with a journal that can undo changes back to a mark.
#[derive(Debug)]
pub struct Scratch {
    usage: Usage,
    journal: Vec<Undo>,
}

/// A point in a [`Scratch`]'s journal to roll back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark(usize);

impl Scratch {
    /// A scratch over `usage`.
    pub fn new(usage: Usage) -> Self {
        Scratch {
            usage,
            journal: Vec::new(),
        }
    }

    /// The usage as it stands.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Gives the usage back, changes kept.
    pub fn into_usage(self) -> Usage {
        self.usage
    }

    /// Allocated amount of node cell `i`.
    #[inline]
    pub fn node(&self, i: usize) -> Quantity {
        self.usage.node_alloc[i]
    }

    /// Quota usage of cell `i`.
    #[inline]
    pub fn quota(&self, i: usize) -> Quantity {
        self.usage.quota[i]
    }

    /// Sets node cell `i`, remembering its old value.
    #[inline]
    pub fn set_node(&mut self, i: usize, v: Quantity) {
        self.journal
            .push(Undo::Node(i as u32, self.usage.node_alloc[i]));
        self.usage.node_alloc[i] = v;
    }

    /// Sets quota cell `i`, remembering its old value.
    #[inline]
    pub fn set_quota(&mut self, i: usize, v: Quantity) {
        self.journal
            .push(Undo::Quota(i as u32, self.usage.quota[i]));
        self.usage.quota[i] = v;
    }

    /// The current point of the journal.
    pub fn mark(&self) -> Mark {
        Mark(self.journal.len())
    }

    /// Undoes every change made since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        while self.journal.len() > mark.0 {
            match self.journal.pop() {
                Some(Undo::Node(i, v)) => self.usage.node_alloc[i as usize] = v,
                Some(Undo::Quota(i, v)) => self.usage.quota[i as usize] = v,
                None => break,
            }
        }
    }

    /// Forgets the journal: changes so far can no longer be undone. Only valid when no
    /// mark is held.
    pub fn commit_all(&mut self) {
        self.journal.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_restores_exactly_and_nests() {
        let mut s = Scratch::new(Usage::zero(2, 2));
        s.set_node(0, Quantity::from_units(1));
        let outer = s.mark();
        s.set_node(0, Quantity::from_units(2));
        s.set_quota(1, Quantity::from_units(5));
        let inner = s.mark();
        s.set_node(1, Quantity::from_units(7));
        s.rollback(inner);
        assert_eq!(s.node(1), Quantity::ZERO);
        assert_eq!(s.node(0), Quantity::from_units(2));
        s.rollback(outer);
        assert_eq!(s.node(0), Quantity::from_units(1));
        assert_eq!(s.quota(1), Quantity::ZERO);
    }
}

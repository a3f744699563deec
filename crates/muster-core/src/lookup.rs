//! A map that can only be looked up, never iterated.
//!
//! The core never iterates a hash map, because its order could leak into decisions. An
//! index from a key to an id needs no order, only fast lookups: with hundreds of thousands of
//! workloads, a `BTreeMap` of their names spends most of a submission comparing strings.
//! This map hashes with a fixed hasher (no random seed) and offers no way to walk its
//! entries, so no order can leak out of it.

#![allow(clippy::disallowed_types)] // The one hash map of the core: it cannot be iterated.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash};

/// A map from keys to values that answers lookups only.
#[derive(Clone, Debug)]
pub struct LookupMap<K, V>(HashMap<K, V, BuildHasherDefault<DefaultHasher>>);

impl<K, V> Default for LookupMap<K, V> {
    fn default() -> Self {
        LookupMap(HashMap::default())
    }
}

impl<K: Eq + Hash, V> LookupMap<K, V> {
    /// The value of `key`, if it has one.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.0.get(key)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }

    /// Sets `key`'s value; the value it had before, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.0.insert(key, value)
    }

    /// Gives `key` the value `value` if it has none; whether it had none (else the map is
    /// left as it was).
    pub fn insert_new(&mut self, key: K, value: V) -> bool {
        match self.0.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(value);
                true
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let mut m = LookupMap::default();
        assert!(m.is_empty());
        assert_eq!(m.insert("a".to_string(), 1), None);
        assert_eq!(m.insert("b".to_string(), 2), None);
        assert_eq!(m.insert("a".to_string(), 3), Some(1));
        assert_eq!(m.get(&"a".to_string()), Some(&3));
        assert!(m.contains_key(&"b".to_string()));
        assert!(!m.contains_key(&"c".to_string()));
        assert_eq!(m.len(), 2);
        assert!(!m.insert_new("b".to_string(), 4));
        assert_eq!(m.get(&"b".to_string()), Some(&2));
        assert!(m.insert_new("c".to_string(), 5));
        assert_eq!(m.get(&"c".to_string()), Some(&5));
    }
}

//! A least-recently-used cache bounded by the bytes of its values, with counters.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// What a cache did since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// lookups answered from the cache
    pub hits: u64,
    /// lookups that missed
    pub misses: u64,
    /// entries dropped to stay within the budget
    pub evictions: u64,
    /// bytes held now
    pub bytes: u64,
    /// entries held now
    pub entries: u64,
}

/// Values by key, evicting the least recently used beyond `budget` bytes.
pub struct LruCache<K, V> {
    budget: u64,
    entries: HashMap<K, (V, u64, u64)>,
    /// last use (a tick) → key, oldest first
    order: BTreeMap<u64, K>,
    tick: u64,
    counters: CacheCounters,
}

impl<K: Hash + Eq + Clone, V: Clone> LruCache<K, V> {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: u64) -> Self {
        LruCache {
            budget,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            counters: CacheCounters::default(),
        }
    }

    /// The value of `key`, marking it used.
    pub fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        match self.entries.get_mut(key) {
            Some((value, _, used)) => {
                self.order.remove(used);
                *used = tick;
                self.order.insert(tick, key.clone());
                self.counters.hits += 1;
                Some(value.clone())
            }
            None => {
                self.counters.misses += 1;
                None
            }
        }
    }

    /// Stores `value` of `bytes` bytes under `key` (values larger than the whole
    /// budget are not kept), evicting the least recently used entries to fit.
    pub fn put(&mut self, key: K, value: V, bytes: u64) {
        self.remove(&key);
        if bytes > self.budget {
            return;
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (value, bytes, self.tick));
        self.counters.bytes += bytes;
        self.shrink();
    }

    /// The most bytes the cache holds.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Changes the budget, evicting to fit.
    pub fn set_budget(&mut self, budget: u64) {
        self.budget = budget;
        self.shrink();
    }

    /// Drops `key`.
    pub fn remove(&mut self, key: &K) {
        if let Some((_, bytes, used)) = self.entries.remove(key) {
            self.order.remove(&used);
            self.counters.bytes -= bytes;
        }
    }

    /// The counters, with the current size.
    pub fn counters(&self) -> CacheCounters {
        CacheCounters {
            entries: self.entries.len() as u64,
            ..self.counters
        }
    }

    fn shrink(&mut self) {
        while self.counters.bytes > self.budget {
            let Some((_, key)) = self.order.pop_first() else {
                break;
            };
            if let Some((_, bytes, _)) = self.entries.remove(&key) {
                self.counters.bytes -= bytes;
                self.counters.evictions += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let mut cache = LruCache::new(10);
        cache.put("a", 1, 4);
        cache.put("b", 2, 4);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.put("c", 3, 4);
        assert_eq!(cache.get(&"b"), None, "b was least recently used");
        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.get(&"c"), Some(3));
        let c = cache.counters();
        assert_eq!(
            (c.hits, c.misses, c.evictions, c.bytes, c.entries),
            (3, 1, 1, 8, 2)
        );
        cache.put("huge", 4, 11);
        assert_eq!(cache.get(&"huge"), None, "larger than the budget: not kept");
        cache.set_budget(4);
        assert_eq!(cache.counters().entries, 1);
    }
}

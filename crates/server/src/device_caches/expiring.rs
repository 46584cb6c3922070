//! A bounded set of keys that each expire: the device API's memory of serials that are not ours
//! (so a flood of made-up serials costs no database read each) and of signatures already seen
//! (so a replayed request is not metered twice). Per process: another server process keeps its own.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Keys remembered until their expiry; at most `capacity` of them.
#[derive(Debug)]
pub struct ExpiringSet<K> {
    entries: Mutex<HashMap<K, i64>>,
    ttl_ms: i64,
    capacity: usize,
}

impl<K: Eq + Hash> ExpiringSet<K> {
    pub fn new(ttl_ms: i64, capacity: usize) -> ExpiringSet<K> {
        ExpiringSet {
            entries: Mutex::new(HashMap::new()),
            ttl_ms,
            capacity,
        }
    }

    /// Whether `key` is remembered at `now_ms`.
    pub fn contains(&self, key: &K, now_ms: i64) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).is_some_and(|expires| *expires > now_ms)
    }

    /// Remembers `key` from `now_ms`; false when it was already remembered (and unexpired). When
    /// full, expired keys go first, then everything (the set only saves work, it never decides
    /// alone).
    pub fn insert(&self, key: K, now_ms: i64) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, expires| *expires > now_ms);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        match entries.insert(key, now_ms + self.ttl_ms) {
            Some(expires) => expires <= now_ms,
            None => true,
        }
    }

    /// Forgets `key` (a serial imported meanwhile).
    pub fn remove(&self, key: &K) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expire_and_a_full_set_makes_room() {
        let set = ExpiringSet::new(1_000, 2);
        assert!(set.insert("a", 0));
        assert!(!set.insert("a", 500), "seen");
        assert!(set.contains(&"a", 999) && !set.contains(&"a", 1_500));
        assert!(set.insert("a", 2_000), "expired, so new again");
        assert!(set.insert("b", 2_000));
        assert!(set.insert("c", 2_100), "full: room is made");
        assert!(set.contains(&"c", 2_100));
        set.remove(&"c");
        assert!(!set.contains(&"c", 2_100));
    }
}

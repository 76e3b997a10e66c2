//! Document id generation.

use parking_lot::Mutex;
use ulid::Generator;

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

/// A new unique, time-ordered document id (a 26-character ULID).
///
/// Ids made in the same millisecond still sort in creation order.
///
/// ```
/// let a = vego::new_id();
/// let b = vego::new_id();
/// assert!(a < b);
/// assert_eq!(a.len(), 26);
/// ```
pub fn new_id() -> String {
    let mut guard = GENERATOR.lock();
    let generator = guard.get_or_insert_with(Generator::new);
    loop {
        match generator.generate() {
            Ok(id) => return id.to_string(),
            // The 80-bit random part overflowed within one millisecond
            // (practically impossible): wait for the next millisecond.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<String> = (0..10_000).map(|_| super::new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}

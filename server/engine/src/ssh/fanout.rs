//! Running the same work on many hosts at once, at most `forks` at a time (Ansible's `forks`).

use futures::StreamExt;
use std::future::Future;

/// Apply `f` to every item with at most `forks` running at once; results come back in the
/// input's order whatever order they finish in.
///
/// A finished item frees its slot at once, whatever its place in the input: with `buffered`
/// (ordered) a slow host at the head held its finished neighbours' slots until it was done,
/// so with fewer forks than hosts one slow host cut the parallelism of the whole task.
pub async fn bounded<T, R, F, Fut>(items: Vec<T>, forks: usize, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let f = &f;
    let mut done: Vec<(usize, R)> = futures::stream::iter(
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| async move { (i, f(item).await) }),
    )
    .buffer_unordered(forks.max(1))
    .collect()
    .await;
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn never_more_than_forks_and_order_kept() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let out = bounded((0..20u64).collect(), 3, |i| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20 - i)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_slow_item_does_not_hold_the_other_slots() {
        // 2 forks; item 0 takes 1 s, the 9 others 10 ms each: they all go through the second
        // slot while item 0 runs, so item 0 finishes last. (When finished items kept their
        // slot until the items before them were done, items 2..9 waited for item 0.)
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = bounded((0..10u64).collect(), 2, |i| {
            let order = order.clone();
            async move {
                let ms = if i == 0 { 1000 } else { 10 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                order.lock().unwrap().push(i);
                i
            }
        })
        .await;
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        assert_eq!(order.lock().unwrap().last(), Some(&0));
    }
}

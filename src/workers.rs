//! Independent jobs on several threads, each worker with its own kernel thread pool: the
//! pipeline's agent runs and the evaluation's cells. Results come back in the jobs' order, so
//! what is computed does not depend on the number of workers.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` of every item on `workers` threads (at most one per item), each running its jobs inside
/// a rayon pool of `threads` threads (the pool the tensor kernels use), in the items' order.
/// A panic in a job is resumed on the calling thread.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = workers.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads.max(1))
                        .build()
                        .expect("a thread pool");
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, pool.install(|| f(item))));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    out.sort_by_key(|r| r.0);
    out.into_iter().map(|r| r.1).collect()
}

/// `f` inside a rayon pool of `threads` threads (0: every core), the pool the kernels use.
pub fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    let n = if threads == 0 { cores() } else { threads };
    match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
        Ok(pool) => pool.install(f),
        // No pool (threads could not be spawned): the caller's threads do the work.
        Err(_) => f(),
    }
}

/// The number of cores (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_items_order_whatever_the_workers() {
        let items: Vec<u64> = (0..37).collect();
        let want: Vec<u64> = items.iter().map(|x| x * x).collect();
        for workers in [1, 2, 5, 100] {
            assert_eq!(super::map(&items, workers, 1, |x| x * x), want);
        }
        assert!(super::map(&[] as &[u64], 3, 1, |x| *x).is_empty());
    }
}

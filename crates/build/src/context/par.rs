//! A small work queue: run a function over every item of a slice on a few scoped threads.

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::thread;

use crate::error::{BuildError, Result};

/// Items per unit of work handed to a thread.
const CHUNK: usize = 64;
/// Below this many items, threads cost more than they save.
const PARALLEL_FROM: usize = 128;
/// At most this many threads.
const MAX_WORKERS: usize = 4;

/// Calls `work(item, scratch)` for every item, in parallel when there are enough items. Each
/// thread has its own scratch buffer. The first error is returned.
pub(super) fn for_each<T, F>(items: &mut [T], work: F) -> Result<()>
where
    T: Send,
    F: Fn(&mut T, &mut Vec<u8>) -> Result<()> + Sync,
{
    let workers = thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS));
    if workers == 1 || items.len() < PARALLEL_FROM {
        let mut scratch = Vec::new();
        return items.iter_mut().try_for_each(|it| work(it, &mut scratch));
    }
    let queue = Mutex::new(items.chunks_mut(CHUNK));
    let results: Vec<Result<()>> = thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut scratch = Vec::new();
                    loop {
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                        let Some(chunk) = next else {
                            return Ok(());
                        };
                        for it in chunk {
                            work(it, &mut scratch)?;
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(BuildError::io(
                        PathBuf::new(),
                        io::Error::other("a context worker thread panicked"),
                    ))
                })
            })
            .collect()
    });
    results.into_iter().collect()
}

//! Appending to the journal and reading it back, across processes and rotations.
//!
//! Writers: each event is one line written with one `write(2)` on an `O_APPEND` descriptor,
//! so lines from many processes never interleave (the kernel positions and copies an append
//! under the inode's lock). Writers hold a shared `flock` on `lock` from opening the journal
//! to the end of their write; the writer whose line takes the journal past [`ROTATE_AT`]
//! takes the lock exclusively and renames `events.jsonl` to `events.1.jsonl`. So once a
//! reader sees a new `events.jsonl`, every write to the old one has finished, and it can
//! drain its descriptor of the old file before moving on: a follower neither loses nor
//! repeats an event across a rotation (unless it falls two whole files behind).
//!
//! Events are not fsynced: they are a record for people and tools, not state; a crash may
//! lose the last few.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{flock, FlockOperation};

use super::{now_nanos, Event, EventQuery};
use crate::EngineError;

/// The journal's size at which it is rotated (one previous file is kept).
pub const ROTATE_AT: u64 = 8 << 20;

const CURRENT: &str = "events.jsonl";
const PREVIOUS: &str = "events.1.jsonl";
const LOCK: &str = "lock";
/// How often a follower looks for new lines (and for a cancel).
const POLL: Duration = Duration::from_millis(50);
/// How much a reader takes from a file per step, which bounds its memory.
const CHUNK: usize = 64 << 10;

/// The journal of one root.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    rotate_at: u64,
}

pub use crate::Cancel;

impl Journal {
    /// The journal under `root/events`.
    pub fn new(root: &Path) -> Self {
        Self {
            dir: root.join("events"),
            rotate_at: ROTATE_AT,
        }
    }

    /// The same journal, rotated at `bytes` instead of [`ROTATE_AT`] (tests make it small).
    pub fn with_rotate_at(mut self, bytes: u64) -> Self {
        self.rotate_at = bytes;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, what: &str, e: std::io::Error) -> EngineError {
        EngineError::io(format!("events journal {}: {what}", self.dir.display()), e)
    }

    /// Appends `event` as one line, rotating the journal when it has grown past its limit.
    pub fn append(&self, event: &Event) -> Result<(), EngineError> {
        let mut line = serde_json::to_vec(event)
            .map_err(|e| EngineError::bad_input("event", format!("serialize: {e}")))?;
        line.push(b'\n');
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io("create", e))?;
        let lock = self.lock_file()?;
        flock(&lock, FlockOperation::LockShared).map_err(|e| self.io("lock", e.into()))?;
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join(CURRENT))
            .map_err(|e| self.io("open", e))?;
        // One write(2): a short write (a full disk) is reported, never completed by a
        // second write that another process's line could come between.
        let n = file.write(&line).map_err(|e| self.io("write", e))?;
        if n != line.len() {
            return Err(self.io(
                "write",
                std::io::Error::new(ErrorKind::WriteZero, format!("{n} of {} bytes", line.len())),
            ));
        }
        let size = file.metadata().map_err(|e| self.io("stat", e))?.len();
        drop(file);
        if size >= self.rotate_at {
            self.rotate(&lock)?;
        }
        Ok(())
    }

    /// [`Journal::append`] for the engine's hooks: a journal that cannot be written is
    /// logged, never the failure of the operation that made the event.
    pub fn log(&self, event: &Event) {
        if let Err(e) = self.append(event) {
            tracing::warn!(
                error = %e,
                event_type = %event.kind,
                action = %event.action,
                actor = %event.actor.id,
                "cannot record the event"
            );
        }
    }

    fn lock_file(&self) -> Result<File, EngineError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join(LOCK))
            .map_err(|e| self.io("open lock", e))
    }

    /// Renames the full journal aside, alone: no writer holds an open descriptor of it while
    /// the exclusive lock is held. Another writer may have rotated first, hence the re-check.
    fn rotate(&self, lock: &File) -> Result<(), EngineError> {
        // flock converts by unlocking first, so two writers converting at once cannot deadlock.
        flock(lock, FlockOperation::LockExclusive).map_err(|e| self.io("lock", e.into()))?;
        let current = self.dir.join(CURRENT);
        match std::fs::metadata(&current) {
            Ok(m) if m.len() >= self.rotate_at => {
                std::fs::rename(&current, self.dir.join(PREVIOUS))
                    .map_err(|e| self.io("rotate", e))?;
                tracing::debug!(dir = %self.dir.display(), bytes = m.len(), "events journal rotated");
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(self.io("stat", e)),
        }
        Ok(())
    }

    /// The events `query` selects; see [`crate::Engine::events`].
    pub fn stream(&self, query: EventQuery, cancel: Cancel) -> Result<EventStream, EngineError> {
        let history = query.since.is_some() || query.until.is_some();
        let mut previous = None;
        let mut tail = Tail::new(self.dir.clone());
        if self.dir.exists() {
            // Shared, so no rotation comes between opening the two files.
            let lock = self.lock_file()?;
            flock(&lock, FlockOperation::LockShared).map_err(|e| self.io("lock", e.into()))?;
            if history {
                previous = open_lines(&self.dir.join(PREVIOUS)).map_err(|e| self.io("open", e))?;
            }
            tail.cur = open_lines(&self.dir.join(CURRENT)).map_err(|e| self.io("open", e))?;
            if !history {
                if let Some(cur) = &mut tail.cur {
                    cur.file
                        .seek(SeekFrom::End(0))
                        .map_err(|e| self.io("seek", e))?;
                }
            }
        }
        Ok(EventStream {
            dir: self.dir.clone(),
            query,
            cancel,
            previous,
            tail,
            lines: VecDeque::new(),
            failed: false,
        })
    }
}

/// A file read line by line, in chunks; `partial` holds a line whose end is not written yet.
#[derive(Debug)]
struct Lines {
    file: File,
    ino: u64,
    partial: Vec<u8>,
    /// Kept between reads: a follower reads every poll.
    buf: Vec<u8>,
}

fn open_lines(path: &Path) -> std::io::Result<Option<Lines>> {
    match File::open(path) {
        Ok(file) => {
            let ino = file.metadata()?.ino();
            Ok(Some(Lines {
                file,
                ino,
                partial: Vec::new(),
                buf: vec![0; CHUNK],
            }))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Lines {
    /// Reads one chunk, queueing its complete lines; returns the bytes read (0 at the end).
    fn read_chunk(&mut self, out: &mut VecDeque<Vec<u8>>) -> std::io::Result<usize> {
        let n = loop {
            match self.file.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let mut rest = &self.buf[..n];
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..i]);
            out.push_back(line);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(n)
    }

    /// The file will not grow any more: a partial line left is a torn write.
    fn finish(self) {
        if !self.partial.is_empty() {
            tracing::warn!(
                bytes = self.partial.len(),
                "events journal: dropping an unterminated line"
            );
        }
    }
}

/// The inode `events.jsonl` names now, if it exists.
fn current_ino(dir: &Path) -> std::io::Result<Option<u64>> {
    match std::fs::metadata(dir.join(CURRENT)) {
        Ok(m) => Ok(Some(m.ino())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The follower's view of `events.jsonl`, which moves to the new file after a rotation.
#[derive(Debug)]
struct Tail {
    dir: PathBuf,
    cur: Option<Lines>,
}

impl Tail {
    fn new(dir: PathBuf) -> Self {
        Self { dir, cur: None }
    }

    /// Queues what was appended since the last call; false when there was nothing new.
    fn poll(&mut self, out: &mut VecDeque<Vec<u8>>) -> std::io::Result<bool> {
        loop {
            let Some(cur) = &mut self.cur else {
                self.cur = open_lines(&self.dir.join(CURRENT))?;
                if self.cur.is_none() {
                    return Ok(false);
                }
                continue;
            };
            if cur.read_chunk(out)? > 0 {
                return Ok(true);
            }
            if current_ino(&self.dir)? == Some(cur.ino) {
                return Ok(false);
            }
            // Rotated: every write to the old file finished before the rename, so what is
            // left in it now is all there will be.
            if cur.read_chunk(out)? > 0 {
                return Ok(true);
            }
            let old_ino = cur.ino;
            if let Some(done) = self.cur.take() {
                done.finish();
            }
            // Two rotations since the last look: the file in between is wholly unread.
            if let Some(skipped) = open_lines(&self.dir.join(PREVIOUS))? {
                if skipped.ino != old_ino {
                    self.cur = Some(skipped);
                }
            }
        }
    }
}

/// Events read from the journal, oldest first; see [`crate::Engine::events`]. Blocks (in
/// short polls) while following.
#[derive(Debug)]
pub struct EventStream {
    dir: PathBuf,
    query: EventQuery,
    cancel: Cancel,
    /// `events.1.jsonl`, read first when past events are asked for.
    previous: Option<Lines>,
    tail: Tail,
    lines: VecDeque<Vec<u8>>,
    /// Set after a read error has been reported: the stream has ended.
    failed: bool,
}

impl EventStream {
    /// The next queued line that parses and matches the query.
    fn next_queued(&mut self) -> Option<Event> {
        while let Some(line) = self.lines.pop_front() {
            if line.is_empty() {
                continue;
            }
            let event: Event = match serde_json::from_slice(&line) {
                Ok(e) => e,
                // Well-formed JSON of a shape we do not know is a newer berth's event (a kind
                // added since, as `pod` was): not ours to report, and not worth a warning each
                // time the journal is read. A line that is not JSON at all is damage.
                Err(e) if serde_json::from_slice::<serde_json::Value>(&line).is_ok() => {
                    tracing::debug!(error = %e, "events journal: skipping an event of another kind");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), error = %e, "events journal: skipping a bad line");
                    continue;
                }
            };
            let t = event.time_nano;
            if self.query.since.is_some_and(|s| t < s) || self.query.until.is_some_and(|u| t > u) {
                continue;
            }
            if self.query.filter.matches(&event) {
                return Some(event);
            }
        }
        None
    }

    /// Reads more lines into the queue; false when the journal has nothing new.
    fn fill(&mut self) -> std::io::Result<bool> {
        if let Some(prev) = &mut self.previous {
            if prev.read_chunk(&mut self.lines)? > 0 {
                return Ok(true);
            }
            if let Some(done) = self.previous.take() {
                done.finish();
            }
        }
        self.tail.poll(&mut self.lines)
    }

    /// Whether the stream goes on once it has caught up with the journal.
    fn following(&self) -> bool {
        !self.cancel.is_cancelled() && self.query.until.is_none_or(|u| now_nanos() <= u)
    }
}

impl Iterator for EventStream {
    type Item = Result<Event, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed || self.cancel.is_cancelled() {
                return None;
            }
            if let Some(event) = self.next_queued() {
                return Some(Ok(event));
            }
            match self.fill() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    // A failed read ends the stream; reporting it once is enough.
                    self.failed = true;
                    return Some(Err(EngineError::io(
                        format!("events journal {}: read", self.dir.display()),
                        e,
                    )));
                }
            }
            if !self.following() {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Action, EventFilter, EventType};
    use super::*;

    fn event(n: usize, t: i64) -> Event {
        let attrs = BTreeMap::from([("n".to_string(), n.to_string())]);
        Event::at(
            t,
            EventType::Volume,
            &Action::Create,
            format!("v{n}"),
            attrs,
        )
    }

    fn numbers(events: impl Iterator<Item = Result<Event, EngineError>>) -> Vec<usize> {
        events
            .map(|e| e.unwrap().actor.attributes["n"].parse().unwrap())
            .collect()
    }

    fn past(since: i64, until: i64) -> EventQuery {
        EventQuery {
            since: Some(since),
            until: Some(until),
            filter: EventFilter::default(),
        }
    }

    #[test]
    fn past_events_are_read_in_order_within_the_window() {
        let root = tempfile::tempdir().unwrap();
        let j = Journal::new(root.path());
        for n in 0..10 {
            j.append(&event(n, 1_000 + n as i64)).unwrap();
        }
        let got = numbers(j.stream(past(1_003, 1_006), Cancel::new()).unwrap());
        assert_eq!(got, [3, 4, 5, 6]);
        // A journal that was never written is simply empty.
        let empty = tempfile::tempdir().unwrap();
        let none = Journal::new(empty.path())
            .stream(past(0, 1), Cancel::new())
            .unwrap();
        assert_eq!(none.count(), 0);
    }

    #[test]
    fn rotation_keeps_one_previous_file_and_since_reads_across_it() {
        let root = tempfile::tempdir().unwrap();
        let j = Journal::new(root.path()).with_rotate_at(2_000);
        for n in 0..40 {
            j.append(&event(n, 1_000 + n as i64)).unwrap();
        }
        let current = std::fs::metadata(j.dir().join(CURRENT)).unwrap().len();
        let previous = std::fs::metadata(j.dir().join(PREVIOUS)).unwrap().len();
        assert!(
            current < 2_000 + 200 && previous >= 2_000,
            "{current} {previous}"
        );
        let got = numbers(j.stream(past(0, now_nanos()), Cancel::new()).unwrap());
        // The oldest events went with the file before the previous one; the rest are whole,
        // in order, across the two files.
        let first = got[0];
        assert!(first > 0 && got.len() > 10, "{got:?}");
        assert_eq!(got, (first..40).collect::<Vec<_>>());
        let since = numbers(
            j.stream(past(1_000 + first as i64 + 2, now_nanos()), Cancel::new())
                .unwrap(),
        );
        assert_eq!(since, (first + 2..40).collect::<Vec<_>>());
    }

    #[test]
    fn concurrent_writers_leave_whole_lines() {
        let root = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let j = Journal::new(root.path());
                std::thread::spawn(move || {
                    for i in 0..250 {
                        j.append(&event(t * 1000 + i, 1)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(root.path().join("events").join(CURRENT)).unwrap();
        let mut seen: Vec<usize> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Event>(l).unwrap().actor.attributes["n"]
                    .parse()
                    .unwrap()
            })
            .collect();
        seen.sort_unstable();
        let mut want: Vec<usize> = (0..4)
            .flat_map(|t| (0..250).map(move |i| t * 1000 + i))
            .collect();
        want.sort_unstable();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_follower_sees_each_new_event_once_across_rotations() {
        let root = tempfile::tempdir().unwrap();
        let j = Journal::new(root.path()).with_rotate_at(700);
        j.append(&event(9999, 1)).unwrap(); // before the follower: not shown
        let cancel = Cancel::new();
        // Bounded, so that a lost event fails the test instead of hanging it.
        let query = EventQuery {
            since: Some(now_nanos()),
            until: Some(now_nanos() + 20_000_000_000),
            filter: EventFilter::default(),
        };
        let mut stream = j.stream(query, cancel.clone()).unwrap();
        let ino = |name: &str| std::fs::metadata(j.dir().join(name)).ok().map(|m| m.ino());
        let (mut next, mut doubles) = (0, 0);
        // Bursts (3-9 lines of ~140 bytes, 5 to a file) shorter than two files, each read before the next: rotations, and two in a
        // row, happen while the follower holds the old file open.
        for burst in 0..12 {
            let before = ino(CURRENT);
            let start = next;
            next += 3 + burst % 7;
            for n in start..next {
                j.append(&event(n, now_nanos())).unwrap();
            }
            if ino(CURRENT) != before && ino(PREVIOUS) != before {
                doubles += 1;
            }
            let got: Vec<usize> = (start..next)
                .map(|_| {
                    let e = stream.next().unwrap().unwrap();
                    e.actor.attributes["n"].parse().unwrap()
                })
                .collect();
            assert_eq!(got, (start..next).collect::<Vec<_>>(), "burst {burst}");
        }
        assert!(
            doubles > 0,
            "no burst rotated twice: the test proves less than it says"
        );
        let stopper = {
            let c = cancel.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                c.cancel();
            })
        };
        assert!(stream.next().is_none(), "cancel ends a follow");
        stopper.join().unwrap();
    }

    #[test]
    fn a_torn_or_foreign_line_is_skipped() {
        let root = tempfile::tempdir().unwrap();
        let j = Journal::new(root.path());
        j.append(&event(1, 10)).unwrap();
        let path = j.dir().join(CURRENT);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{not json\n").unwrap();
        // A newer berth's kind of event: skipped the same way (quietly).
        f.write_all(b"{\"Type\":\"plugin\",\"Action\":\"enable\",\"time\":1,\"timeNano\":10}\n")
            .unwrap();
        drop(f);
        j.append(&event(2, 11)).unwrap();
        assert_eq!(
            numbers(j.stream(past(0, 100), Cancel::new()).unwrap()),
            [1, 2]
        );
    }
}

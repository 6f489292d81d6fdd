//! A live region of keyed lines at the bottom of the terminal, rewritten in place: docker's
//! per-layer view of `pull` and `push`, and `build --progress=tty`.
//!
//! Each line has a key (a layer's short digest, a build step), a *state* (`abc123def456:
//! Downloading`) and an optional *progress* (`[===>  ]  31.4MB/212.2MB 3s`). On a terminal a
//! change of state redraws at once; a change of progress alone redraws at most every
//! [`INTERVAL`], so the thousands of updates of a fast download cost a few frames. Lines are cut
//! to the terminal's width so that each takes exactly one row and the cursor arithmetic holds.
//! When the output is not a terminal nothing is rewritten: a line is printed each time its state
//! changes, and progress is dropped, which is docker's plain output.
//!
//! It only writes to the writer it is given; it never reads the terminal except for its width.
//!
//! ```ignore
//! let live = Live::new(std::io::stdout(), std::io::stdout().is_terminal());
//! live.set("4f4fb700ef54", "4f4fb700ef54: Pulling fs layer");
//! live.set_progress("4f4fb700ef54", "4f4fb700ef54: Downloading", "[=>   ]  1MB/2MB");
//! live.print("a log line, kept above the region");
//! live.finish();
//! ```

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::units::human_size_precision;

/// The least time between two redraws caused by progress alone.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// The width assumed when the terminal does not tell.
const DEFAULT_WIDTH: usize = 80;

/// A live region over `W`; share it by reference between threads.
pub struct Live<W: Write> {
    inner: Mutex<Inner<W>>,
}

struct Line {
    key: String,
    state: String,
    progress: String,
}

struct Inner<W> {
    out: W,
    tty: bool,
    /// A fixed width; `None` asks the terminal behind stdout at each redraw.
    width: Option<usize>,
    interval: Duration,
    lines: Vec<Line>,
    /// Rows of the region now on screen (the cursor is just below them).
    drawn: usize,
    last_draw: Option<Instant>,
    /// A progress change is not on screen yet.
    dirty: bool,
    /// Lines in the order of their keys, not of their arrival.
    sorted: bool,
}

impl<W: Write> Live<W> {
    /// A region writing to `out`; `tty` says whether `out` is a terminal (redraws) or not
    /// (one line per state).
    pub fn new(out: W, tty: bool) -> Self {
        Live {
            inner: Mutex::new(Inner {
                out,
                tty,
                width: None,
                interval: INTERVAL,
                lines: Vec::new(),
                drawn: 0,
                last_draw: None,
                dirty: false,
                sorted: false,
            }),
        }
    }

    /// Uses `cols` as the terminal's width instead of asking the terminal.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn with_width(self, cols: usize) -> Self {
        self.lock().width = Some(cols);
        self
    }

    /// Changes the least time between two progress redraws.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn with_interval(self, interval: Duration) -> Self {
        self.lock().interval = interval;
        self
    }

    /// Keeps the lines in the order of their keys (a new line goes where its key sorts).
    pub fn sorted(self) -> Self {
        self.lock().sorted = true;
        self
    }

    pub fn is_tty(&self) -> bool {
        self.lock().tty
    }

    /// The width lines are cut to.
    pub fn width(&self) -> usize {
        self.lock().cols()
    }

    /// Adds the line `key`, or replaces its text; `text` is all state (no progress).
    pub fn set(&self, key: &str, text: &str) {
        self.set_progress(key, text, "");
    }

    /// Adds or replaces the line `key`: `state` then `progress`, separated by a space. Only a
    /// new state is shown at once (and, off a terminal, printed); progress waits for the next
    /// frame.
    pub fn set_progress(&self, key: &str, state: &str, progress: &str) {
        let mut g = self.lock();
        let now = Instant::now();
        let changed = match g.lines.iter_mut().find(|l| l.key == key) {
            Some(line) => {
                if line.state == state && line.progress == progress {
                    return;
                }
                let changed = line.state != state;
                line.state = state.to_string();
                line.progress = progress.to_string();
                changed
            }
            None => {
                let at = if g.sorted {
                    g.lines.partition_point(|l| l.key.as_str() < key)
                } else {
                    g.lines.len()
                };
                g.lines.insert(
                    at,
                    Line {
                        key: key.to_string(),
                        state: state.to_string(),
                        progress: progress.to_string(),
                    },
                );
                true
            }
        };
        if !g.tty {
            if changed {
                g.write(&format!("{state}\n"));
            }
            return;
        }
        let due = g
            .last_draw
            .is_none_or(|t| now.duration_since(t) >= g.interval);
        if changed || due {
            g.draw(None, now);
        } else {
            g.dirty = true;
        }
    }

    /// Takes the line `key` out of the region (the rows below it move up).
    pub fn remove(&self, key: &str) {
        let mut g = self.lock();
        let before = g.lines.len();
        g.lines.retain(|l| l.key != key);
        if g.lines.len() == before || !g.tty {
            return;
        }
        // Redraw, clearing the rows the region no longer covers.
        g.draw_clearing(Instant::now());
    }

    /// Prints `text` as permanent output above the region (a log line, a warning).
    pub fn print(&self, text: &str) {
        let mut g = self.lock();
        if g.tty {
            g.draw(Some(text), Instant::now());
        } else {
            g.write(&format!("{text}\n"));
        }
    }

    /// Draws what is pending and leaves the region on screen as it is: later lines start a new
    /// region below it. Also done on drop.
    pub fn finish(&self) {
        let mut g = self.lock();
        if g.tty && g.dirty {
            g.draw(None, Instant::now());
        }
        g.lines.clear();
        g.drawn = 0;
        g.dirty = false;
        g.last_draw = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<W>> {
        // A panic while drawing leaves at worst a half-drawn frame: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<W: Write> Drop for Live<W> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<W: Write> Inner<W> {
    fn cols(&self) -> usize {
        self.width.unwrap_or_else(|| terminal_size().1)
    }

    /// Moves to the top of the region, writes `permanent` (if any) there, then every line of the
    /// region below it, each cleared first.
    fn draw(&mut self, permanent: Option<&str>, now: Instant) {
        let (rows, cols) = terminal_size();
        let cols = self.width.unwrap_or(cols);
        let mut frame = String::new();
        if self.drawn > 0 {
            frame.push_str(&format!("\x1b[{}A", self.drawn));
        }
        if let Some(text) = permanent {
            for l in text.lines() {
                frame.push_str("\r\x1b[2K");
                frame.push_str(l);
                frame.push('\n');
            }
        }
        // A region taller than the terminal would scroll, and the cursor could not get back
        // to its top: the rows that do not fit are left out.
        let shown = self.lines.len().min(rows.saturating_sub(1).max(1));
        for line in &self.lines[..shown] {
            frame.push_str("\r\x1b[2K");
            let text = if line.progress.is_empty() {
                line.state.clone()
            } else {
                format!("{} {}", line.state, line.progress)
            };
            frame.push_str(&fit(&text, cols));
            frame.push('\n');
        }
        self.drawn = shown;
        self.last_draw = Some(now);
        self.dirty = false;
        self.write(&frame);
    }

    /// Draws the region and clears the rows below it, down to those it covered before: its
    /// lines move up by as many as it lost, and the cursor ends just below them.
    fn draw_clearing(&mut self, now: Instant) {
        let old = self.drawn;
        self.draw(None, now);
        let extra = old.saturating_sub(self.drawn);
        if extra > 0 {
            let mut frame = "\r\x1b[2K\n".repeat(extra);
            frame.push_str(&format!("\x1b[{extra}A"));
            self.write(&frame);
        }
    }

    fn write(&mut self, text: &str) {
        // Output that cannot be written (a closed pipe) is not worth failing a pull for.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

/// One row of at most `cols` characters: control characters become spaces.
fn fit(text: &str, cols: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(cols.max(1))
        .collect()
}

/// The rows and columns of the terminal behind stdout (`TIOCGWINSZ`): unlimited rows and
/// [`DEFAULT_WIDTH`] columns when unknown.
fn terminal_size() -> (usize, usize) {
    use std::os::fd::AsFd;
    match berth_runtime::stdio::pty::get_winsize(std::io::stdout().as_fd()) {
        Ok((rows, cols)) if cols > 0 => (
            if rows > 0 {
                usize::from(rows)
            } else {
                usize::MAX
            },
            usize::from(cols),
        ),
        _ => (usize::MAX, DEFAULT_WIDTH),
    }
}

/// docker's progress text (`JSONProgress.String` of its jsonmessage package) for `current` of
/// `total` bytes: `[=====>     ]  31.4MB/212.2MB 3s`. As docker, the bar is drawn only on
/// terminals wider than 110 columns and the time left only on those wider than 50; `left` is
/// the estimate (see [`time_left`]).
pub fn progress_bar(current: u64, total: u64, left: Option<Duration>, cols: usize) -> String {
    if total == 0 {
        return format!("{:>8}", human_size_precision(current, 4));
    }
    let percent = ((current as f64 / total as f64 * 100.0) as u64 / 2).min(50) as usize;
    let mut out = String::new();
    if cols > 110 {
        out.push_str(&format!(
            "[{}>{}] ",
            "=".repeat(percent),
            " ".repeat(50 - percent)
        ));
    }
    let now = human_size_precision(current, 4);
    if current > total {
        out.push_str(&format!("{now:>8}"));
    } else {
        out.push_str(&format!("{now:>8}/{}", human_size_precision(total, 4)));
    }
    if let Some(left) = left.filter(|_| current > 0 && percent < 50 && cols > 50) {
        out.push(' ');
        out.push_str(&go_duration(left));
    }
    out
}

/// The time left at the rate seen so far: `moved` bytes in `elapsed`, `remaining` to go; whole
/// seconds, as docker shows it. `None` before anything moved.
pub fn time_left(moved: u64, remaining: u64, elapsed: Duration) -> Option<Duration> {
    if moved == 0 {
        return None;
    }
    let secs = elapsed.as_secs_f64() * remaining as f64 / moved as f64;
    Some(Duration::from_secs(secs as u64))
}

/// Go's `time.Duration.String` for whole seconds: `0s`, `45s`, `2m5s`, `1h0m3s`.
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read while the region holds it.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        /// What was written since the last call.
        fn take(&self) -> String {
            let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
            String::from_utf8(std::mem::take(&mut *b)).unwrap_or_default()
        }
    }

    fn tty(cols: usize) -> (Live<Shared>, Shared) {
        let out = Shared::default();
        let live = Live::new(out.clone(), true)
            .with_width(cols)
            .with_interval(Duration::from_secs(3600));
        (live, out)
    }

    #[test]
    fn redraw_moves_up_and_clears_each_line() {
        let (live, out) = tty(80);
        live.set("a", "a: Pulling fs layer");
        assert_eq!(out.take(), "\r\x1b[2Ka: Pulling fs layer\n");
        live.set("b", "b: Pulling fs layer");
        assert_eq!(
            out.take(),
            "\x1b[1A\r\x1b[2Ka: Pulling fs layer\n\r\x1b[2Kb: Pulling fs layer\n"
        );
        live.set("a", "a: Pull complete");
        assert_eq!(
            out.take(),
            "\x1b[2A\r\x1b[2Ka: Pull complete\n\r\x1b[2Kb: Pulling fs layer\n"
        );
    }

    #[test]
    fn print_goes_above_the_region() {
        let (live, out) = tty(80);
        live.set("a", "a: Waiting");
        out.take();
        live.print("Step 1/2\nStep 2/2");
        assert_eq!(
            out.take(),
            "\x1b[1A\r\x1b[2KStep 1/2\n\r\x1b[2KStep 2/2\n\r\x1b[2Ka: Waiting\n"
        );
    }

    #[test]
    fn progress_alone_waits_for_the_interval_and_state_does_not() {
        let (live, out) = tty(80);
        live.set_progress("a", "a: Downloading", "1MB/9MB");
        assert_eq!(out.take(), "\r\x1b[2Ka: Downloading 1MB/9MB\n");
        // Same state, new progress, within the interval: nothing drawn yet.
        live.set_progress("a", "a: Downloading", "2MB/9MB");
        live.set_progress("a", "a: Downloading", "3MB/9MB");
        assert_eq!(out.take(), "");
        // A new state is drawn at once, with the latest text.
        live.set("a", "a: Download complete");
        assert_eq!(out.take(), "\x1b[1A\r\x1b[2Ka: Download complete\n");
        // Identical text: nothing to do.
        live.set("a", "a: Download complete");
        assert_eq!(out.take(), "");
    }

    #[test]
    fn progress_is_drawn_once_the_interval_passed_and_on_finish() {
        let out = Shared::default();
        let live = Live::new(out.clone(), true)
            .with_width(80)
            .with_interval(Duration::ZERO);
        live.set_progress("a", "a: Downloading", "1MB/9MB");
        live.set_progress("a", "a: Downloading", "2MB/9MB");
        assert!(out
            .take()
            .ends_with("\x1b[1A\r\x1b[2Ka: Downloading 2MB/9MB\n"));

        let (live, out) = tty(80);
        live.set_progress("a", "a: Downloading", "1MB/9MB");
        live.set_progress("a", "a: Downloading", "5MB/9MB");
        out.take();
        live.finish();
        assert_eq!(out.take(), "\x1b[1A\r\x1b[2Ka: Downloading 5MB/9MB\n");
        // After finish, a new region starts below the old one.
        live.set("b", "b: Pushed");
        assert_eq!(out.take(), "\r\x1b[2Kb: Pushed\n");
    }

    #[test]
    fn lines_are_cut_to_the_width() {
        let (live, out) = tty(10);
        live.set("a", "0123456789abcdef");
        assert_eq!(out.take(), "\r\x1b[2K0123456789\n");
        live.set("b", "tab\there\r");
        assert!(out.take().ends_with("\r\x1b[2Ktab here \n"));
    }

    #[test]
    fn plain_output_prints_each_state_once_and_no_progress() {
        let out = Shared::default();
        let live = Live::new(out.clone(), false);
        live.set("a", "a: Pulling fs layer");
        live.set_progress("a", "a: Pulling fs layer", "[=>  ] 1MB/2MB");
        live.set("b", "b: Already exists");
        live.set_progress("a", "a: Downloading", "[==> ] 1.5MB/2MB");
        live.set_progress("a", "a: Downloading", "[===>] 2MB/2MB");
        live.print("a warning");
        live.set("a", "a: Pull complete");
        live.finish();
        assert_eq!(
            out.take(),
            "a: Pulling fs layer\nb: Already exists\na: Downloading\na warning\na: Pull complete\n"
        );
    }

    /// The rows a terminal shows after `text`, for the escapes the region uses.
    fn screen(text: &str) -> Vec<String> {
        let (mut rows, mut row) = (vec![String::new()], 0usize);
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some(esc) = rest.strip_prefix("\x1b[") {
                let end = esc.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(0);
                match &esc[end..=end] {
                    "A" => row -= esc[..end].parse::<usize>().unwrap_or(1),
                    "K" => rows[row].clear(),
                    other => panic!("unexpected escape {other}"),
                }
                rest = &esc[end + 1..];
                continue;
            }
            match c {
                '\r' => {}
                '\n' => {
                    row += 1;
                    if row == rows.len() {
                        rows.push(String::new());
                    }
                }
                c => rows[row].push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        rows
    }

    #[test]
    fn removed_lines_leave_no_rows_behind_and_sorted_keys_keep_their_place() {
        let (live, out) = tty(40);
        let live = live.sorted();
        live.set("b", "second");
        live.set("a", "first");
        live.set("b-1", "under second");
        live.set("c", "third");
        live.remove("b-1");
        live.remove("a");
        live.print("done: first");
        let screen = screen(&out.take());
        // Rows below the region were cleared, none is left blank inside it.
        let mut rows: Vec<&str> = screen.iter().map(String::as_str).collect();
        while rows.last() == Some(&"") {
            rows.pop();
        }
        assert_eq!(rows, ["done: first", "second", "third"], "{screen:?}");
    }

    #[test]
    fn shared_between_threads() {
        let (live, out) = tty(80);
        live.print("header");
        std::thread::scope(|s| {
            for t in 0..4 {
                let live = &live;
                s.spawn(move || {
                    for i in 0..50 {
                        live.set_progress(
                            &format!("k{t}"),
                            &format!("k{t}: state {}", i / 10),
                            &i.to_string(),
                        );
                        if i % 7 == 0 {
                            live.print(&format!("log {t} {i}"));
                        }
                    }
                });
            }
        });
        live.finish();
        let rows = screen(&out.take());
        assert_eq!(rows[0], "header");
        // 32 log lines, then the region: one row per key at its last text, and the cursor
        // on the empty row below.
        assert_eq!(rows.len(), 1 + 32 + 4 + 1, "{rows:#?}");
        assert!(
            rows[1..33].iter().all(|r| r.starts_with("log ")),
            "{rows:#?}"
        );
        let mut region: Vec<&str> = rows[33..37].iter().map(String::as_str).collect();
        region.sort();
        assert_eq!(
            region,
            [
                "k0: state 4 49",
                "k1: state 4 49",
                "k2: state 4 49",
                "k3: state 4 49"
            ]
        );
        assert_eq!(rows[37], "");
    }

    #[test]
    fn bars_match_docker() {
        let mb = 1_000_000;
        assert_eq!(
            progress_bar(31_400_000, 212_200_000, None, 200),
            format!("[=======>{}]   31.4MB/212.2MB", " ".repeat(43))
        );
        // Narrow terminals get no bar, as docker's.
        assert_eq!(
            progress_bar(31_400_000, 212_200_000, None, 80),
            "  31.4MB/212.2MB"
        );
        assert_eq!(
            progress_bar(212_200_000, 212_200_000, Some(Duration::from_secs(3)), 200),
            format!("[{}>]  212.2MB/212.2MB", "=".repeat(50))
        );
        assert_eq!(
            progress_bar(
                12 * mb,
                212 * mb,
                time_left(12 * mb, 200 * mb, Duration::from_secs(6)),
                200
            ),
            format!("[==>{}]     12MB/212MB 1m40s", " ".repeat(48))
        );
        assert_eq!(progress_bar(32_768, 0, None, 200), " 32.77kB");
        assert_eq!(progress_bar(3 * mb, 2 * mb, None, 80), "     3MB");
    }

    #[test]
    fn durations_as_go_prints_them() {
        for (s, want) in [(0, "0s"), (45, "45s"), (125, "2m5s"), (3603, "1h0m3s")] {
            assert_eq!(go_duration(Duration::from_secs(s)), want);
        }
        assert_eq!(time_left(0, 10, Duration::from_secs(1)), None);
    }
}

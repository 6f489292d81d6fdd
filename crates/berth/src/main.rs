//! `berth`: the command line. Thin by design: parse arguments into typed values, call the
//! engine, render docker-compatible output. No policy lives here.

mod cli;
mod commands;
mod live;
mod output;
mod parse;
mod password;
mod privilege;
mod terminal;
mod timings;
mod units;

use std::process::ExitCode;

use clap::Parser;

/// An error with the exit code docker would use for it.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: Option<String>,
}

impl Exit {
    pub fn code(code: u8) -> Self {
        Self {
            code,
            message: None,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message.as_deref().unwrap_or("exit status"))
    }
}

impl std::error::Error for Exit {}

/// Folds clap's multi-line usage error into docker's two lines: `berth: WHAT` (clap's first
/// line, with what it lists below joined on) and `See 'berth --help'.`.
fn usage_error(rendered: &str) -> String {
    let mut lines = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"));
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let rest: Vec<&str> = lines.filter(|l| !l.starts_with("tip:")).collect();
    let detail = if rest.is_empty() {
        String::new()
    } else {
        format!(" {}", rest.join(" "))
    };
    format!("berth: {first}{detail}\nSee 'berth --help'.")
}

fn main() -> ExitCode {
    timings::note_start();
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            // docker's wording for an unknown flag, which scripts match on.
            if e.kind() == clap::error::ErrorKind::UnknownArgument {
                if let Some(clap::error::ContextValue::String(flag)) =
                    e.get(clap::error::ContextKind::InvalidArg)
                {
                    eprintln!("unknown flag: {flag}\nSee 'berth --help'.");
                    return ExitCode::from(125);
                }
            }
            if !e.use_stderr() {
                // --help, --version: clap's text on stdout, exit 0.
                let _ = e.print();
                return ExitCode::from(0);
            }
            // docker's shape: one line saying what is wrong, one pointing at --help; exit 125.
            eprintln!("{}", usage_error(&e.render().to_string()));
            return ExitCode::from(125);
        }
    };
    // A server logs every request (its operators read that); a command only what went wrong.
    let default_log = if matches!(args.command, cli::Command::Serve(_)) {
        "warn,berth_api=info,libcgroups=off,libcontainer=error"
    } else {
        "warn,libcgroups=off,libcontainer=error"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log)),
        )
        .with_writer(|| LossyStderr)
        .init();
    if privilege::needs_root(&args.command) {
        if let Err(e) = privilege::check(&args.root, &args.run_root) {
            eprintln!("Error: {e}");
            return ExitCode::from(privilege::exit_code(&args.command));
        }
    }
    let root = args.root.clone();
    match commands::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<Exit>() {
                if let Some(m) = &exit.message {
                    eprintln!("Error: {m}");
                    disk_full_hint(m, &root);
                }
                return ExitCode::from(exit.code);
            }
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let text = message(&e);
            eprintln!("Error: {text}");
            disk_full_hint(&text, &root);
            let kind = e
                .chain()
                .find_map(|c| c.downcast_ref::<berth_engine::EngineError>())
                .map(berth_engine::EngineError::kind);
            ExitCode::from(kind.map_or(1, exit_code))
        }
    }
}

/// docker's exit code for each kind of engine failure: one table for every command (`run`
/// and `create` use 125/126/127 instead, as docker does: commands/run.rs).
fn exit_code(kind: berth_engine::ErrorKind) -> u8 {
    use berth_engine::ErrorKind as K;
    match kind {
        // 128 + SIGINT: the shell's code for an interrupted command.
        K::Cancelled => 130,
        K::NotFound
        | K::Conflict
        | K::InvalidArgument
        | K::NotModified
        | K::Unauthorized
        | K::Forbidden
        | K::Unavailable
        | K::Internal => 1,
    }
}

/// The error and its causes, `: `-separated, each cause once: many errors already name their
/// cause in their own text (`read X: No such file or directory`).
pub(crate) fn message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.is_empty() {
            msg = text;
        } else if !msg.ends_with(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

/// Standard error that never reports a failed write. A monitor's stderr is its log file: on a
/// full disk a failed log write must cost the line, not the monitor — tracing answers a
/// writer's error with `eprintln!`, which panics when stderr fails, and the monitor (with it
/// the container) died.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// After an error that says the disk is full, where and how to make room.
fn disk_full_hint(error: &str, root: &std::path::Path) {
    const FULL: [&str; 3] = [
        "No space left on device",
        "database or disk is full",
        "Disk quota exceeded",
    ];
    if FULL.iter().any(|f| error.contains(f)) {
        eprintln!(
            "The disk holding {} is full: make room (berth image prune, berth container prune, berth volume prune, berth system prune) and try again.",
            root.display()
        );
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::usage_error;

    #[test]
    fn clap_errors_become_dockers_two_lines() {
        let invalid = "error: invalid value 'bogus' for '--runtime <RUNTIME>'\n  \
                       [possible values: berth, libcontainer]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error(invalid),
            "berth: invalid value 'bogus' for '--runtime <RUNTIME>' [possible values: berth, libcontainer]\n\
             See 'berth --help'."
        );
        let missing = "error: the following required arguments were not provided:\n  <IMAGE>\n\n\
                       Usage: berth run <IMAGE> [COMMAND]...\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error(missing),
            "berth: the following required arguments were not provided: <IMAGE>\nSee 'berth --help'."
        );
        let tip =
            "error: unexpected argument 'x' found\n\n  tip: to pass 'x' as a value, use '-- x'\n\n\
                   Usage: berth ps [OPTIONS]\n";
        assert_eq!(
            usage_error(tip),
            "berth: unexpected argument 'x' found\nSee 'berth --help'."
        );
    }
}

//! `berth logs [-f] [-t] [--tail N] [--since T] [--until T] CONTAINER`.

use std::io::Write;

use berth_engine::container::LogOptions;
use berth_engine::Engine;
use berth_runtime::stdio::jsonlog::LogStream;

use crate::cli::LogsArgs;
use crate::parse;

pub fn run(engine: &Engine, args: LogsArgs) -> anyhow::Result<()> {
    let tail = parse::tail(args.tail.as_deref())?;
    let opts = LogOptions {
        follow: args.follow,
        tail,
        since: args.since.as_deref().map(parse::time_or_ago).transpose()?,
        until: args.until.as_deref().map(parse::time_or_ago).transpose()?,
        ..Default::default()
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    engine.logs(&args.container, &opts, |entry| {
        let prefix = if args.timestamps {
            format!(
                "{} ",
                entry
                    .time
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            )
        } else {
            String::new()
        };
        match entry.stream {
            LogStream::Stdout => {
                let mut out = stdout.lock();
                write!(out, "{prefix}{}", entry.log)?;
                out.flush()
            }
            LogStream::Stderr => {
                let mut err = stderr.lock();
                write!(err, "{prefix}{}", entry.log)?;
                err.flush()
            }
        }
    })?;
    Ok(())
}

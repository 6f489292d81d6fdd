//! The one error type of the builder core.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong before a step runs: the Dockerfile, its variables, its stages,
/// the `.dockerignore` file and the build context. Dockerfile errors carry the line they come
/// from, printed the way `docker build` prints them: `Dockerfile:7: unknown instruction: RUNN`.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse (unknown instruction, bad flag, wrong argument count …).
    #[error("Dockerfile:{line}: {message}")]
    Syntax { line: usize, message: String },

    /// A `$VAR` / `${VAR…}` reference is malformed, or `${VAR:?msg}` fired.
    #[error("Dockerfile:{line}: failed to process {word:?}: {cause}")]
    Expand {
        line: usize,
        word: String,
        cause: String,
    },

    /// The stages do not form a buildable graph (cycles, bad `--from`, duplicate names …).
    #[error("Dockerfile:{line}: {message}")]
    Stage { line: usize, message: String },

    /// `--target` names no stage.
    #[error("target stage {0:?} could not be found")]
    TargetNotFound(String),

    /// A `.dockerignore` pattern is malformed.
    #[error(".dockerignore:{line}: {message}")]
    Ignore { line: usize, message: String },

    /// A COPY/ADD source does not exist in the context, or `.dockerignore` excludes it.
    #[error("{src}: file not found in build context or excluded by .dockerignore")]
    SourceNotFound { src: String },

    /// A COPY/ADD wildcard matched nothing.
    #[error("{src}: no source files were specified")]
    NoSourceFiles { src: String },

    /// A COPY/ADD source is not a valid path or pattern.
    #[error("{src}: {message}")]
    InvalidSource { src: String, message: String },

    /// A COPY/ADD source (or a symlink it follows) leaves the build context.
    #[error("{src}: forbidden path outside the build context")]
    OutsideContext { src: String },

    /// Reading the build context failed.
    #[error("read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl BuildError {
    pub(crate) fn syntax(line: usize, message: impl Into<String>) -> Self {
        Self::Syntax {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn stage(line: usize, message: impl Into<String>) -> Self {
        Self::Stage {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The Dockerfile line the error points at, if it comes from the Dockerfile.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Syntax { line, .. } | Self::Expand { line, .. } | Self::Stage { line, .. } => {
                Some(*line)
            }
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = BuildError> = std::result::Result<T, E>;

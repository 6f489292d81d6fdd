//! The pure core of `berth build`.
//!
//! This crate turns a Dockerfile and a build context into what the executor needs, without
//! running anything: [`mod@parse`] reads a Dockerfile into a tree with line numbers,
//! [`expand`] substitutes ARG/ENV variables the way Docker's shell lexer does, [`mod@plan`]
//! resolves stages, build args and `--target` into numbered steps, [`ignore`] implements
//! `.dockerignore`, [`context`] walks a context directory and hashes COPY/ADD sources, and
//! [`cache_key`] combines it all into the key of a layer cache entry.
//!
//! It must not start containers, touch the store, talk to a registry or print: the engine's
//! executor does that and calls in here. The only I/O is reading the build context in
//! [`context`].
//!
//! ```
//! use berth_build::{cache_key, parse, plan, Matcher, PlanOptions};
//!
//! let df = parse(
//!     "ARG PY=3.8\n\
//!      FROM python:${PY}-slim\n\
//!      WORKDIR /usr/src/app\n\
//!      COPY requirements.txt ./\n\
//!      RUN pip install -r requirements.txt\n",
//! )?;
//! let plan = plan(&df, &PlanOptions::default())?;
//! let steps = &plan.stages[plan.target].steps;
//! assert_eq!(steps[0].header(), "Step 2/5 : FROM python:3.8-slim");
//! assert_eq!(steps[3].header(), "Step 5/5 : RUN pip install -r requirements.txt");
//!
//! // The executor keys each step on its parent layers, its text and (COPY/ADD) its sources.
//! let parent = berth_image::Digest::of(b"chain id of the layers below");
//! let key = cache_key(Some(&parent), &steps[3].cache_text(), None, &steps[3].build_args);
//! assert_eq!(key.algorithm(), "sha256");
//!
//! let ignore = Matcher::parse("**/*.pyc\n!keep.pyc\n")?;
//! assert!(ignore.excluded("src/app.pyc", false) && !ignore.excluded("keep.pyc", false));
//! # Ok::<(), berth_build::BuildError>(())
//! ```

pub mod cache;
pub mod context;
pub mod error;
pub mod expand;
pub mod ignore;
pub mod parse;
pub mod plan;

pub use cache::cache_key;
pub use context::hash_sources;
pub use error::{BuildError, Result};
pub use ignore::Matcher;
pub use parse::{parse, Dockerfile, Instruction, Kind};
pub use plan::{plan, Plan, PlanOptions, Stage, Step};

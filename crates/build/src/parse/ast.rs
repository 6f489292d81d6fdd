//! The Dockerfile syntax tree. Values are kept as written (quotes and `$VAR` included) until
//! [`crate::expand`] processes the instructions Docker expands.

use std::time::Duration;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character: `\` or the backtick chosen with `# escape=`.
    pub escape: char,
    pub instructions: Vec<Instruction>,
    /// Non-fatal findings, such as empty continuation lines.
    pub warnings: Vec<Warning>,
}

/// Something the parser tolerated but Docker warns about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// First line (1-based) of the instruction.
    pub line: usize,
    /// Last line, including continuation lines and heredoc bodies.
    pub end_line: usize,
    /// The logical line as written, continuations joined, without heredoc bodies.
    pub original: String,
    pub kind: Kind,
}

/// What an instruction does, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    From(From),
    Arg(Vec<ArgDecl>),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Maintainer(String),
    Expose(Vec<String>),
    Workdir(String),
    Copy(CopyArgs),
    Add(CopyArgs),
    Run(Run),
    Cmd(Command),
    Entrypoint(Command),
    User(String),
    Volume(Volume),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    StopSignal(String),
    /// The trigger instruction, stored for the image config and run by images built `FROM` it.
    Onbuild(Box<Instruction>),
}

impl Kind {
    /// The instruction keyword in upper case, as Docker prints it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Kind::From(_) => "FROM",
            Kind::Arg(_) => "ARG",
            Kind::Env(_) => "ENV",
            Kind::Label(_) => "LABEL",
            Kind::Maintainer(_) => "MAINTAINER",
            Kind::Expose(_) => "EXPOSE",
            Kind::Workdir(_) => "WORKDIR",
            Kind::Copy(_) => "COPY",
            Kind::Add(_) => "ADD",
            Kind::Run(_) => "RUN",
            Kind::Cmd(_) => "CMD",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::User(_) => "USER",
            Kind::Volume(_) => "VOLUME",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::Shell(_) => "SHELL",
            Kind::StopSignal(_) => "STOPSIGNAL",
            Kind::Onbuild(_) => "ONBUILD",
        }
    }
}

/// `FROM [--platform=P] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub image: String,
    /// The stage name, lower-cased as Docker does.
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// One name of `ARG name[=default] …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// One pair of `ENV` or `LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// Arguments of `COPY` and `ADD` (ADD-only flags stay empty for COPY).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// Source paths, globs or (ADD) URLs, without the heredoc sources.
    pub srcs: Vec<String>,
    /// Inline files (`COPY <<EOF /dst`), named by their delimiter.
    pub heredocs: Vec<Heredoc>,
    pub dest: String,
    /// `--from=stage|index|image`.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// ADD only: `--checksum=sha256:…` for URL sources.
    pub checksum: Option<String>,
    /// ADD only: `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// Written in JSON form (`COPY ["a b", "/dst/"]`).
    pub json: bool,
}

/// `RUN [--mount=…] [--network=…] [--security=…] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: Command,
    /// Raw `--mount` specs, in order (`type=cache,target=/root/.cache`).
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
    /// Heredocs opened on the RUN line, in order.
    pub heredocs: Vec<Heredoc>,
}

/// What a RUN step should execute, heredocs taken into account (as BuildKit does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunScript<'a> {
    /// Exec form: run these arguments directly.
    Exec(&'a [String]),
    /// Shell form: pass this text to the shell (`SHELL`, default `/bin/sh -c`).
    Shell(String),
    /// `RUN <<EOF` whose body starts with `#!`: write the body to a file (mode 0755) named after
    /// the delimiter and execute that file without a shell.
    File(&'a Heredoc),
}

impl Run {
    /// The command to execute: a lone heredoc runs its body; a command with heredocs gets them
    /// appended so the shell feeds them to it; otherwise the command as written.
    pub fn script(&self) -> RunScript<'_> {
        let line = match &self.command {
            Command::Exec(args) => return RunScript::Exec(args),
            Command::Shell(line) => line,
        };
        if self.heredocs.is_empty() {
            return RunScript::Shell(line.clone());
        }
        let lone = crate::parse::heredoc::parse_word(line.trim());
        match (lone, self.heredocs.as_slice()) {
            (Some(_), [doc]) if doc.content.starts_with("#!") => RunScript::File(doc),
            (Some(_), [doc, ..]) => RunScript::Shell(doc.body()),
            _ => {
                let mut full = line.clone();
                for doc in &self.heredocs {
                    full.push('\n');
                    full.push_str(&doc.content);
                    full.push_str(&doc.name);
                }
                RunScript::Shell(full)
            }
        }
    }
}

/// A here-document: `<<EOF` … `EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter without quotes.
    pub name: String,
    /// False when the delimiter was quoted (`<<"EOF"`): the body is taken literally.
    pub expand: bool,
    /// `<<-EOF`: leading tabs are stripped from body lines and the delimiter line.
    pub chomp: bool,
    /// A file descriptor written before `<<` (`3<<EOF`).
    pub fd: Option<u32>,
    /// The body exactly as written, every line ending in `\n`.
    pub content: String,
    /// Line of the first body line.
    pub line: usize,
}

impl Heredoc {
    /// The body with leading tabs removed when `<<-` was used.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// A command in exec (JSON) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// `VOLUME ["/a", "/b"]` or `VOLUME /a /b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub paths: Vec<String>,
    pub json: bool,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// Disable any healthcheck inherited from the base image.
    None,
    Check(HealthCheck),
}

/// The options and command of `HEALTHCHECK CMD`. Unset durations mean "inherit / default".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub command: Command,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

impl Healthcheck {
    /// The image config `Healthcheck.Test` value: `["NONE"]`, `["CMD", …]` or
    /// `["CMD-SHELL", "…"]`.
    pub fn test(&self) -> Vec<String> {
        match self {
            Healthcheck::None => vec!["NONE".to_owned()],
            Healthcheck::Check(c) => match &c.command {
                Command::Exec(args) => {
                    let mut test = vec!["CMD".to_owned()];
                    test.extend(args.iter().cloned());
                    test
                }
                Command::Shell(line) => vec!["CMD-SHELL".to_owned(), line.clone()],
            },
        }
    }
}

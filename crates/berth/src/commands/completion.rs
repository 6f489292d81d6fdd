//! `berth completion bash|zsh|fish`: the shell's completion script, from the clap definitions
//! (so it always knows every command and flag).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionArgs, CompletionShell};

pub fn run(a: CompletionArgs) -> anyhow::Result<()> {
    let shell = match a.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "berth", &mut script);
    crate::output::write_out(&String::from_utf8(script)?)
}

//! Docker-compatible `--format` templates.

//! Arguments of `run`/`create`'s healthcheck flags, `container update` and `search`.

use clap::Args;

// `run`/`create --health-*`: override the image's `HEALTHCHECK` (durations as Go writes
// them: `30s`, `1m30s`, `500ms`). Not a doc comment: clap would take it for the about text of
// `run` and `create`, whose arguments are built after their own about (deferred).
#[derive(Debug, Args, Default)]
pub struct HealthArgs {
    /// Command to run to check health
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long, allow_negative_numbers = true)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long)]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (stars=N, is-official=true|false)
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long)]
    pub limit: Option<usize>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// The term to search for (REGISTRY/TERM searches that registry)
    pub term: String,
}

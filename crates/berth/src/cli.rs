//! Docker's command line, flag for flag, as clap definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod everyday;
pub use everyday::*;
mod settings;
pub use settings::*;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A Docker-compatible container engine"
)]
pub struct Cli {
    // Before the command, as docker's own options (`docker -H … ps`): as `global` options
    // clap copied them into each of the ~60 commands on every run (~180 KB of a start's heap).
    /// Where berth keeps images and metadata.
    #[arg(
        long,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth",
        hide_env_values = true
    )]
    pub root: PathBuf,
    /// Where berth keeps state that a reboot clears (runtime state, sockets).
    #[arg(
        long,
        env = "BERTH_RUNROOT",
        default_value = "/run/berth",
        hide_env_values = true
    )]
    pub run_root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it runs: building all of them took ~0.5 ms
// of every berth process, the two of a container start included.
#[command(defer = true)]
pub enum Command {
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Return low-level information on objects
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Manage berth
    #[command(subcommand)]
    System(SystemCommand),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Create a Dockerfile, .dockerignore and requirements.txt for a Python app
    Init(crate::commands::init::InitArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Run a registry: Docker Hub in miniature
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Serve the Docker Engine API, for the docker CLI, Compose, docker-py and testcontainers
    Serve(ServeArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(OneContainer),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Search Docker Hub (or REGISTRY/TERM: another registry) for images
    Search(SearchArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Manage pods: containers that share a network (localhost), IPC and hostname
    #[command(subcommand)]
    Pod(PodCommand),
    /// Kubernetes YAML: generate it from pods and containers, play it as pods
    #[command(subcommand)]
    Kube(KubeCommand),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Run a container's monitor (started by berth itself)
    #[command(hide = true)]
    Monitor(MonitorArgs),
    /// Run one exec'd process for its caller (started by berth itself)
    #[command(hide = true)]
    ExecShim(ExecShimArgs),
    /// Show the berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Print a shell completion script (bash, zsh, fish)
    Completion(CompletionArgs),
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum ContainerCommand {
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(PsArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(OneContainer),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (`-h` is --hostname, as in docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Print where the time of the run went, on stderr, when it ends (BERTH_DEBUG_TIMINGS=1)
    #[arg(long, hide = true)]
    pub debug_timings: bool,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Bind mount a volume (HOST:CTR[:ro] or NAME:CTR)
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long, allow_hyphen_values = true)]
    pub cpus: Option<f64>,
    /// Size of /dev/shm (default 64m)
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Add additional groups to join
    #[arg(long)]
    pub group_add: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip; ip may be host-gateway)
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Sysctl options (namespaced ones: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Runtime to use for this container: berth or libcontainer
    #[arg(long, value_parser = ["berth", "libcontainer"])]
    pub runtime: Option<String>,
    /// Logging driver for the container (berth has docker's json-file)
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Log driver options (json-file: max-size=10m, max-file=3)
    #[arg(long)]
    pub log_opt: Vec<String>,
    /// GPU devices to add to the container ('all' to pass all GPUs)
    #[arg(long)]
    pub gpus: Option<String>,
    /// Add a host device to the container (HOST[:CONTAINER][:PERMISSIONS], e.g. /dev/fuse)
    #[arg(long)]
    pub device: Vec<String>,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<u32>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Connect a container to a network (bridge, none, host, container:NAME or a user network)
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Run the container in a pod (name or ID): it shares the pod's network, IPC and hostname
    #[arg(long)]
    pub pod: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<std::net::IpAddr>,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, value_enum, default_value_t = PullPolicy::Missing)]
    pub pull: PullPolicy,
    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub health: HealthArgs,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub image_and_command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print containers using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long)]
    pub last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "CONTAINER COMMAND [ARG...]")]
    pub container_and_command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait for stop before killing it
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u32>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    pub link: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile)
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Set build-time variables
    #[arg(long)]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Networking mode for the RUN instructions during build (bridge, host, none)
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Type of progress output (auto, plain, tty)
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Remove intermediate containers after a successful build (always)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    pub force_rm: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// The build context: a directory, or - for a tar archive on standard input
    pub path: String,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Download all tagged images in the repository
    #[arg(short, long)]
    pub all_tags: bool,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Push all tags of an image to the repository
    #[arg(short, long)]
    pub all_tags: bool,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry (default: Docker Hub)
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum RegistryCommand {
    /// Serve the OCI distribution API (with users, tokens, public and private repositories)
    Serve(RegistryServeArgs),
    /// Remove blobs no manifest references
    Gc(RegistryGcArgs),
    /// Manage the registry's users (its htpasswd file; a running server sees changes at once)
    #[command(subcommand)]
    User(RegistryUserCommand),
    /// Manage the registry's repositories
    #[command(subcommand)]
    Repo(RegistryRepoCommand),
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum RegistryUserCommand {
    /// Add a user (the password is prompted for, or read from stdin)
    Add(RegistryUserArgs),
    /// Change a user's password
    Passwd(RegistryUserArgs),
    /// Remove a user
    #[command(alias = "remove")]
    Rm(RegistryUserNameArgs),
    /// List the users
    #[command(alias = "list")]
    Ls(RegistryHtpasswdArgs),
}

#[derive(Debug, Args)]
pub struct RegistryHtpasswdArgs {
    /// The htpasswd file the server is given (--htpasswd)
    #[arg(long, default_value = "/var/lib/berth-registry/htpasswd")]
    pub htpasswd: PathBuf,
}

#[derive(Debug, Args)]
pub struct RegistryUserArgs {
    #[command(flatten)]
    pub file: RegistryHtpasswdArgs,
    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RegistryUserNameArgs {
    #[command(flatten)]
    pub file: RegistryHtpasswdArgs,
    pub name: String,
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum RegistryRepoCommand {
    /// List the repositories, with their visibility and tags
    #[command(alias = "list")]
    Ls(RegistryRootArgs),
    /// Show a repository: owner, visibility, tags and their digests
    Inspect(RegistryRepoArgs),
    /// Make a repository private (its owner only)
    Private(RegistryRepoArgs),
    /// Make a repository public (anyone may pull)
    Public(RegistryRepoArgs),
    /// Remove a repository (its blobs go at the next `registry gc`)
    #[command(alias = "remove")]
    Rm(RegistryRepoArgs),
}

#[derive(Debug, Args)]
pub struct RegistryRootArgs {
    /// Where the registry keeps its data
    #[arg(long, default_value = "/var/lib/berth-registry")]
    pub root: PathBuf,
    #[command(flatten)]
    pub storage: RegistryStorageArgs,
}

// Where the registry's objects live when not in `--root`. (Not a doc comment: clap would
// take it for the about text of the command it is flattened into.)
#[derive(Debug, Clone, Args)]
pub struct RegistryStorageArgs {
    /// Keep the registry in an S3 bucket, s3://BUCKET[/PREFIX], so that several instances
    /// serve one registry (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); --root then
    /// holds only local files (access.json)
    #[arg(long, value_name = "URL")]
    pub storage: Option<String>,
    /// The S3 endpoint of an S3-compatible store, http(s)://HOST[:PORT] (path-style
    /// addressing); AWS's when omitted
    #[arg(long, value_name = "URL", requires = "storage")]
    pub s3_endpoint: Option<String>,
    /// The bucket's region (default: AWS_REGION, else us-east-1)
    #[arg(long, value_name = "REGION", requires = "storage")]
    pub s3_region: Option<String>,
}

#[derive(Debug, Args)]
pub struct RegistryRepoArgs {
    #[command(flatten)]
    pub root: RegistryRootArgs,
    /// NAMESPACE/NAME
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RegistryServeArgs {
    /// Where the registry keeps its data
    #[arg(long, default_value = "/var/lib/berth-registry")]
    pub root: PathBuf,
    #[command(flatten)]
    pub storage: RegistryStorageArgs,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: std::net::SocketAddr,
    /// Users: an htpasswd file with bcrypt hashes (without it, anyone may push and pull)
    #[arg(long)]
    pub htpasswd: Option<PathBuf>,
    /// New repositories are private (owner only) unless made public
    #[arg(long)]
    pub private_by_default: bool,
    /// Maintenance mode: serve pulls, refuse every push, delete and upload
    #[arg(long)]
    pub read_only: bool,
    /// Access log, one JSON object per request: `-` (stdout), a file to append to, or `off`
    #[arg(long, value_name = "DEST", default_value = "-")]
    pub access_log: String,
    /// TLS certificate (PEM)
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RegistryGcArgs {
    #[arg(long, default_value = "/var/lib/berth-registry")]
    pub root: PathBuf,
    #[command(flatten)]
    pub storage: RegistryStorageArgs,
    /// Only report what would be removed
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH, a local path, or - (a tar stream)
    pub src: String,
    /// CONTAINER:DEST_PATH, a local path, or - (a tar stream)
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct OneContainer {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Pretty-print stats using a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// Check that the published ports have listeners inside the container, and say what to
    /// publish instead when they do not
    #[arg(long)]
    pub check: bool,
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum NetworkCommand {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NetworkRmArgs),
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkConnectArgs),
    /// Remove all unused networks
    Prune(ContainerPruneArgs),
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum KubeCommand {
    /// Describe pods and containers as Kubernetes YAML (Pod or Deployment, and Services)
    Generate(KubeGenerateArgs),
    /// Create pods, containers and volumes from Kubernetes YAML
    Play(KubePlayArgs),
    /// Remove what a YAML file's play made (as kube play --down)
    Down(KubeDownArgs),
}

#[derive(Debug, Args)]
pub struct KubeGenerateArgs {
    /// Also generate a Service for each pod's published ports
    #[arg(short, long)]
    pub service: bool,
    /// What to generate: pod or deployment
    #[arg(short, long = "type", default_value = "pod")]
    pub kind: String,
    /// Write the YAML to this file instead of the standard output
    #[arg(short, long)]
    pub filename: Option<std::path::PathBuf>,
    /// Pods or containers to describe
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KubePlayArgs {
    /// Remove the pods and volumes the file made instead of making them
    #[arg(long)]
    pub down: bool,
    /// Remove pods of the same names first
    #[arg(long)]
    pub replace: bool,
    /// Start the pods (default true)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub start: bool,
    /// YAML files (- for the standard input)
    #[arg(required = true)]
    pub files: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KubeDownArgs {
    /// YAML files (- for the standard input)
    #[arg(required = true)]
    pub files: Vec<String>,
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum PodCommand {
    /// Create a pod (its infra container holds the shared namespaces)
    Create(PodCreateArgs),
    /// List pods
    #[command(alias = "ps", alias = "list")]
    Ls(PodLsArgs),
    /// Display detailed information on one or more pods
    Inspect(PodInspectArgs),
    /// Start one or more pods
    Start(PodNamesArgs),
    /// Stop one or more pods
    Stop(PodStopArgs),
    /// Restart one or more pods
    Restart(PodStopArgs),
    /// Send a signal to the containers of one or more pods
    Kill(PodKillArgs),
    /// Pause all containers of one or more pods
    Pause(PodNamesArgs),
    /// Unpause all containers of one or more pods
    Unpause(PodNamesArgs),
    /// Remove one or more pods and their containers
    #[command(alias = "remove")]
    Rm(PodRmArgs),
    /// Display the running processes of a pod's containers
    Top(PodTopArgs),
    /// Fetch the logs of a pod's containers
    Logs(PodLogsArgs),
    /// Remove all pods with no running container
    Prune(ContainerPruneArgs),
}

#[derive(Debug, Args)]
pub struct PodCreateArgs {
    /// Assign a name to the pod
    #[arg(short, long)]
    pub name: Option<String>,
    /// Publish a port of the pod to the host
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Connect the pod to a network (bridge, none, host or a user network)
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Namespaces the pod's containers share: ipc, net, uts (net always)
    #[arg(long)]
    pub share: Option<String>,
    /// Set metadata on the pod
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// The pod's hostname (default: its name)
    #[arg(long)]
    pub hostname: Option<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<std::net::IpAddr>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodLsArgs {
    /// Only display pod IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Pretty-print pods using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (name, id, label, status)
    #[arg(short, long)]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodInspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodNamesArgs {
    #[arg(required = true)]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodStopArgs {
    /// Seconds to wait for each container to stop before killing it
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u32>,
    #[arg(required = true)]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodKillArgs {
    /// Signal to send to the containers
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodRmArgs {
    /// Stop and remove a pod's running containers too
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodTopArgs {
    pub pod: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodLogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of each container's log
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    pub pod: String,
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
}

#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Pretty-print volumes using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Pretty-print networks using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    pub id: String,
    #[arg(long)]
    pub wait_attach: bool,
    #[arg(long)]
    pub ready_before_create: bool,
}

#[derive(Debug, Args)]
pub struct ExecShimArgs {
    pub id: String,
    pub exec_id: String,
    /// The caller feeds the process's stdin
    #[arg(long)]
    pub stdin: bool,
    /// Nobody is attached: report, then wait for the process alone
    #[arg(long)]
    pub detach: bool,
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Remove unused images
    Prune(PruneArgs),
}

#[derive(Debug, Subcommand)]
// Built only when run (see `Command`).
#[command(defer = true)]
pub enum SystemCommand {
    /// Show disk usage
    Df(DfArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Verify every blob's digest and every reference between records
    Check(CheckArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Remove what a crash left behind (container directories no record names, with their
    /// mounts, runtime state and network attachments), then check again
    #[arg(long)]
    pub repair: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'json' or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (dangling, reference, label, before, since)
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print images using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Only images of this repository (and tag)
    pub repository: Option<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only inspect objects of the given type
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// A tarball path, or - for standard input
    pub source: String,
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Pretty-print using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    /// Every command's description is one line in docker's style ("Create and run a new
    /// container from an image": a capital, no full stop), also once its deferred arguments
    /// are built: a doc comment on an argument struct would replace it (`run --help` once
    /// began with the `--health-*` flags' comment).
    #[test]
    fn every_command_describes_itself_in_docker_style() {
        fn check(cmd: &mut clap::Command, path: &str, seen: &mut usize) {
            cmd.build();
            for sub in cmd.get_subcommands_mut() {
                let path = format!("{path} {}", sub.get_name());
                sub.build();
                let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
                assert!(
                    about.starts_with(|c: char| c.is_ascii_uppercase())
                        && !about.contains('\n')
                        && !about.ends_with('.'),
                    "`{path}` describes itself as {about:?}"
                );
                *seen += 1;
                check(sub, &path, seen);
            }
        }
        let mut seen = 0;
        check(&mut super::Cli::command(), "berth", &mut seen);
        assert!(seen > 100, "{seen} commands");
    }

    #[test]
    fn run_stops_parsing_flags_at_the_image() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "berth", "run", "-it", "--rm", "busybox", "ls", "-l", "-d",
        ])
        .unwrap();
        let super::Command::Run(a) = cli.command else {
            panic!()
        };
        assert!(a.interactive && a.tty && a.rm && !a.detach);
        assert_eq!(a.image_and_command, ["busybox", "ls", "-l", "-d"]);
        let bogus = super::Cli::try_parse_from(["berth", "run", "--bogus", "busybox"]).unwrap_err();
        assert!(bogus.to_string().contains("--bogus"), "{bogus}");
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen: unix://PATH (repeatable), or fd:// for sockets passed by systemd
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///run/berth/berth.sock"
    )]
    pub host: Vec<String>,
    /// Also serve /var/run/docker.sock, when no other server is listening there
    #[arg(long)]
    pub docker_socket: bool,
    /// The group given the sockets (default: berth, when it exists)
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Require TLS with client certificates on tcp:// listeners (the only way tcp is served)
    #[arg(long)]
    pub tlsverify: bool,
    /// The CA that signs client certificates
    #[arg(long)]
    pub tlscacert: Option<std::path::PathBuf>,
    /// The server's certificate (PEM)
    #[arg(long)]
    pub tlscert: Option<std::path::PathBuf>,
    /// The server's key (PEM)
    #[arg(long)]
    pub tlskey: Option<std::path::PathBuf>,
}

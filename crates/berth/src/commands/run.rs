//! `berth run`, `berth create`: flags → `CreateOptions`, then create, start, and (in the
//! foreground) attach until the container exits.

use anyhow::Context;
use berth_engine::container::flags;
use berth_engine::container::health::{parse_go_duration, HealthFlags};
use berth_engine::container::{CreateOptions, StartMode};
use berth_engine::{Engine, EngineError};
use berth_runtime::spec::ContainerSpec;

use super::distribution::{pull_reporting, Report};
use crate::cli::{PullPolicy, RunArgs};
use crate::output::write_out;
use crate::parse::our_env;
use crate::terminal;
use crate::timings::RunTimings;
use crate::Exit;

/// Turns `run`/`create` flags into what the engine takes; bad flags fail here, before
/// anything is recorded.
pub fn create_options(args: &RunArgs) -> anyhow::Result<CreateOptions> {
    let (image, cmd) = args
        .image_and_command
        .split_first()
        .context("\"run\" requires at least 1 argument: IMAGE [COMMAND] [ARG...]")?;
    let mut ports = Vec::new();
    for p in &args.publish {
        ports.extend(berth_net::parse_publish(p)?);
    }
    let network: berth_engine::container::NetworkMode =
        args.network.as_deref().unwrap_or("bridge").parse()?;
    if let Some(p) = args.platform.as_deref().filter(|p| !p.starts_with("linux")) {
        anyhow::bail!("--platform {p}: berth runs linux containers");
    }
    if let Some(bad) = args.env.iter().find(|e| e.is_empty() || e.starts_with('=')) {
        anyhow::bail!(
            "invalid argument {bad:?} for \"-e, --env\" flag: invalid environment variable: {bad}"
        );
    }
    let mut env = Vec::new();
    for f in &args.env_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("--env-file {}", f.display()))?;
        env.extend(flags::env_file(&text, our_env));
    }
    env.extend(args.env.iter().filter_map(|e| flags::env_arg(e, our_env)));
    let mut mounts = Vec::new();
    for v in &args.volume {
        mounts.push(flags::volume(v)?);
    }
    for m in &args.mount {
        mounts.push(flags::mount(m)?);
    }
    for t in &args.tmpfs {
        mounts.push(flags::tmpfs(t)?);
    }
    let mut ulimits = Vec::new();
    for u in &args.ulimit {
        ulimits.push(flags::ulimit(u)?);
    }
    let mut no_new_privileges = false;
    let mut seccomp_unconfined = false;
    for opt in &args.security_opt {
        match opt.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                no_new_privileges = true
            }
            "no-new-privileges:false" | "no-new-privileges=false" => no_new_privileges = false,
            "seccomp=unconfined" | "seccomp:unconfined" => seccomp_unconfined = true,
            other => anyhow::bail!(
                "invalid --security-opt {other:?}: berth supports no-new-privileges and seccomp=unconfined"
            ),
        }
    }
    if let Some(c) = args.cpus {
        if c.is_nan() {
            anyhow::bail!("invalid --cpus {c}: must be a number");
        }
    }
    let mut sysctls = std::collections::BTreeMap::new();
    for kv in &args.sysctl {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("invalid --sysctl {kv:?}: use KEY=VALUE"))?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    let spec = ContainerSpec {
        hostname: args.hostname.clone(),
        entrypoint: args.entrypoint.as_deref().map(flags::entrypoint),
        cmd: cmd.to_vec(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        tty: args.tty,
        console_size: args.tty.then(crate::terminal::size).flatten(),
        open_stdin: args.interactive,
        read_only: args.read_only,
        privileged: args.privileged,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        no_new_privileges,
        seccomp_unconfined,
        mounts,
        memory: args
            .memory
            .as_deref()
            .map(flags::ram_in_bytes)
            .transpose()?,
        memory_swap: args
            .memory_swap
            .as_deref()
            .map(flags::swap_in_bytes)
            .transpose()?,
        cpus: args.cpus,
        pids_limit: args.pids_limit,
        ulimits,
        init: args.init,
        stop_signal: args.stop_signal.clone(),
        labels: flags::labels(&args.label),
        runtime: args.runtime.clone(),
        shm_size: args
            .shm_size
            .as_deref()
            .map(flags::ram_in_bytes)
            .transpose()?,
        group_add: args.group_add.clone(),
        extra_hosts: crate::parse::extra_hosts(&args.add_host)?,
        devices: args
            .device
            .iter()
            .map(|d| berth_runtime::spec::DeviceMapping::parse(d))
            .collect::<Result<_, _>>()?,
        sysctls,
        ..Default::default()
    };
    if let Some(gpus) = &args.gpus {
        // docker's answer when no GPU runtime is installed, with what berth lacks.
        anyhow::bail!(
            "could not select device driver \"\" with capabilities: [[gpu]] (--gpus {gpus}): berth has no GPU support on this host"
        );
    }
    let log = flags::log_options(
        args.log_driver.as_deref(),
        &flags::key_values(&args.log_opt)?,
    )?;
    Ok(CreateOptions {
        log,
        name: args.name.clone(),
        image: image.clone(),
        spec,
        restart: args.restart.parse()?,
        auto_remove: args.rm,
        stop_timeout: args.stop_timeout,
        network,
        ports,
        publish_all: args.publish_all,
        aliases: args.network_alias.clone(),
        dns: args.dns.clone(),
        healthcheck: health_flags(&args.health)?.to_config()?,
        tied_to_client: false,
        pod: args.pod.clone(),
    })
}

/// `--health-*` as docker's CLI reads them: durations in Go's syntax.
fn health_flags(args: &crate::cli::HealthArgs) -> anyhow::Result<HealthFlags> {
    let duration = |flag: &str, v: &Option<String>| -> anyhow::Result<i64> {
        Ok(v.as_deref()
            .map(|v| parse_go_duration(flag, v))
            .transpose()?
            .unwrap_or(0))
    };
    Ok(HealthFlags {
        cmd: args.health_cmd.clone(),
        interval: duration("--health-interval", &args.health_interval)?,
        timeout: duration("--health-timeout", &args.health_timeout)?,
        start_period: duration("--health-start-period", &args.health_start_period)?,
        start_interval: duration("--health-start-interval", &args.health_start_interval)?,
        retries: args.health_retries.unwrap_or(0),
        none: args.no_healthcheck,
    })
}

/// Docker's exit codes for `run` failures: the engine's own errors are 125.
fn run_error(e: EngineError) -> anyhow::Error {
    let code = match &e {
        EngineError::StartFailed { code, .. } => *code,
        _ => 125,
    };
    Exit {
        code: u8::try_from(code).unwrap_or(125),
        message: Some(e.to_string()),
    }
    .into()
}

/// Makes sure the image is here as `--pull` says: pulled when missing (saying so, as docker
/// does), pulled always, or never. A failure is docker's exit 125.
fn ensure_image(engine: &Engine, args: &RunArgs, image: &str) -> anyhow::Result<()> {
    let failed = |e: anyhow::Error| Exit {
        code: 125,
        message: Some(crate::message(&e)),
    };
    if args.pull != PullPolicy::Always {
        match engine.resolve_image(image) {
            Ok(_) => return Ok(()),
            Err(EngineError::ImageNotFound(_)) => {}
            Err(e) => return Err(run_error(e)),
        }
        let familiar = berth_image::Reference::parse(image)
            .map(|r| r.with_default_tag().familiar())
            .unwrap_or_else(|_| image.to_string());
        if args.pull == PullPolicy::Never {
            return Err(failed(anyhow::anyhow!("No such image: {familiar}")).into());
        }
        if !args.quiet {
            eprintln!("Unable to find image '{familiar}' locally");
        }
    }
    pull_reporting(
        engine,
        image,
        args.platform.as_deref(),
        args.quiet,
        Report::Stderr,
    )
    .map_err(failed)?;
    Ok(())
}

pub fn create(engine: &Engine, args: RunArgs) -> anyhow::Result<()> {
    let opts = create_options(&args).map_err(|e| Exit {
        code: 125,
        message: Some(format!("{e:#}")),
    })?;
    ensure_image(engine, &args, &opts.image)?;
    let id = engine.create_container(opts).map_err(run_error)?;
    write_out(&format!("{id}\n"))
}

pub fn run(engine: &Engine, args: RunArgs) -> anyhow::Result<()> {
    let mut timings = RunTimings::begin(args.debug_timings);
    let opts = create_options(&args).map_err(|e| Exit {
        code: 125,
        message: Some(format!("{e:#}")),
    })?;
    ensure_image(engine, &args, &opts.image)?;
    let id = engine.create_container(opts).map_err(run_error)?;
    timings.mark("cli.created");
    let mode = if args.detach {
        StartMode::Detached
    } else {
        StartMode::AttachNow
    };
    // A run that could not start leaves nothing behind (a port conflict, a missing
    // executable): the container it created goes too.
    let not_started = |e: EngineError| {
        let _ = engine.remove_container(&id, true, true);
        run_error(e)
    };
    engine
        .start_container_warning(&id, mode, &mut super::print_warning)
        .map_err(not_started)?;
    if args.detach {
        write_out(&format!("{id}\n"))?;
        if !args.publish.is_empty() || args.publish_all {
            // The tutorial's trap: the app listens on another port than the one published.
            for hint in engine
                .port_hints(&id, std::time::Duration::from_secs(5))
                .unwrap_or_default()
            {
                eprintln!("{hint}");
            }
        }
        timings.report(engine, &id, true);
        return Ok(());
    }
    let (io, terminal) = terminal::streams(terminal::Attach {
        stdin: args.interactive,
        tty: args.tty,
        sig_proxy: args.sig_proxy,
    })?;
    let code = engine.attach(&id, io);
    drop(terminal);
    let code = match code {
        Ok(code) => code,
        // A foreground run learns of a failure to start from its attach: the same.
        Err(e @ EngineError::StartFailed { .. }) => return Err(not_started(e)),
        Err(e) => return Err(run_error(e)),
    };
    timings.report(engine, &id, false);
    if code == 0 {
        Ok(())
    } else {
        Err(Exit::code(u8::try_from(code & 0xff).unwrap_or(1)).into())
    }
}

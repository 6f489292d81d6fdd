//! `berth pod create|ls|inspect|start|stop|restart|kill|pause|unpause|rm|top|logs|prune`.

use anyhow::Context;
use berth_engine::container::{flags, human_duration, LogOptions, NetworkMode};
use berth_engine::pod::{Pod, PodOptions};
use berth_engine::Engine;
use serde_json::{json, Value};

use crate::cli::{
    ContainerPruneArgs, PodCommand, PodCreateArgs, PodInspectArgs, PodLogsArgs, PodLsArgs,
    PodTopArgs,
};
use crate::output::{print_list, print_objects, write_out};

pub fn run(engine: &Engine, cmd: PodCommand) -> anyhow::Result<()> {
    // Each verb prints the pod's ID per pod, as podman does.
    let each = |pods: &[String], f: &dyn Fn(&str) -> Result<String, berth_engine::EngineError>| {
        super::for_each_name(pods, |name| write_out(&format!("{}\n", f(name)?)))
    };
    match cmd {
        PodCommand::Create(a) => create(engine, a),
        PodCommand::Ls(a) => ls(engine, a),
        PodCommand::Inspect(a) => inspect(engine, a),
        PodCommand::Start(a) => each(&a.pods, &|p| engine.start_pod(p)),
        PodCommand::Stop(a) => each(&a.pods, &|p| engine.stop_pod(p, a.time)),
        PodCommand::Restart(a) => each(&a.pods, &|p| engine.restart_pod(p, a.time)),
        PodCommand::Kill(a) => each(&a.pods, &|p| engine.kill_pod(p, &a.signal)),
        PodCommand::Pause(a) => each(&a.pods, &|p| engine.pause_pod(p, true)),
        PodCommand::Unpause(a) => each(&a.pods, &|p| engine.pause_pod(p, false)),
        PodCommand::Rm(a) => each(&a.pods, &|p| engine.remove_pod(p, a.force)),
        PodCommand::Top(a) => top(engine, a),
        PodCommand::Logs(a) => logs(engine, a),
        PodCommand::Prune(a) => prune(engine, a),
    }
}

fn create(engine: &Engine, a: PodCreateArgs) -> anyhow::Result<()> {
    let mut ports = Vec::new();
    for p in &a.publish {
        ports.extend(berth_net::parse_publish(p)?);
    }
    let network = a
        .network
        .as_deref()
        .map(str::parse::<NetworkMode>)
        .transpose()?;
    if let Some(NetworkMode::Container(_)) = network {
        anyhow::bail!(
            "pod create: a pod has a network of its own: --network container:… is not supported"
        );
    }
    let extra_hosts = crate::parse::extra_hosts(&a.add_host)?;
    let id = engine.create_pod(PodOptions {
        name: a.name,
        labels: flags::labels(&a.label),
        ports,
        network,
        share: a.share.map(|s| vec![s]),
        hostname: a.hostname,
        dns: a.dns,
        extra_hosts,
    })?;
    write_out(&format!("{id}\n"))
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "POD ID"),
    ("Name", "NAME"),
    ("Status", "STATUS"),
    ("Created", "CREATED"),
    ("InfraID", "INFRA ID"),
    ("NumberOfContainers", "# OF CONTAINERS"),
];

fn short(id: &str, no_trunc: bool) -> &str {
    if no_trunc {
        id
    } else {
        &id[..id.len().min(12)]
    }
}

/// One row of `pod ls`.
fn row(pod: &Pod, no_trunc: bool) -> Value {
    let created = chrono::DateTime::from_timestamp_nanos(pod.record.created_at);
    let ago = (chrono::Utc::now() - created).num_seconds();
    json!({
        "ID": short(&pod.record.id, no_trunc),
        "Name": pod.record.name,
        "Status": pod.status().to_string(),
        "Created": format!("{} ago", human_duration(ago)),
        "InfraID": short(&pod.config.infra_id, no_trunc),
        "NumberOfContainers": pod.containers.len(),
        "Labels": pod.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    })
}

/// `--filter name=…|id=…|label=K[=V]|status=…`: every key must match (one of its values).
fn matches(pod: &Pod, filters: &[(String, String)]) -> anyhow::Result<bool> {
    for key in ["name", "id", "label", "status"] {
        let wanted: Vec<&str> = filters
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let status = pod.status().to_string().to_lowercase();
        let hit = wanted.iter().any(|w| match key {
            "name" => pod.record.name.contains(w),
            "id" => pod.record.id.starts_with(w),
            "status" => status == w.to_lowercase(),
            _ => match w.split_once('=') {
                Some((k, v)) => pod.config.labels.get(k).is_some_and(|x| x == v),
                None => pod.config.labels.contains_key(*w),
            },
        });
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

fn ls(engine: &Engine, a: PodLsArgs) -> anyhow::Result<()> {
    let mut filters = Vec::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("invalid filter {f:?}: use KEY=VALUE"))?;
        if !["name", "id", "label", "status"].contains(&k) {
            anyhow::bail!("invalid filter {k:?}: pods filter on name, id, label and status");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let mut items = Vec::new();
    for pod in engine.pods()? {
        if matches(&pod, &filters)? {
            items.push(row(&pod, a.no_trunc));
        }
    }
    let default = if a.quiet {
        "{{.ID}}"
    } else {
        "table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}\t{{.NumberOfContainers}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_list(format, default, HEADERS, &items)
}

/// podman's shape of `pod inspect`, with the published ports and networks of the infra.
fn inspect_json(engine: &Engine, pod: &Pod) -> anyhow::Result<Value> {
    let infra = engine.inspect_container(&pod.config.infra_id)?;
    let created = chrono::DateTime::from_timestamp_nanos(pod.record.created_at)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let containers: Vec<Value> = pod
        .containers
        .iter()
        .map(|c| json!({"Id": c.id, "Name": c.name, "State": c.state.as_str()}))
        .collect();
    let networks: Vec<&String> = infra["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    Ok(json!({
        "Id": pod.record.id,
        "Name": pod.record.name,
        "Created": created,
        "State": pod.status().to_string(),
        "Hostname": pod.config.hostname,
        "Labels": pod.config.labels,
        "CreateInfra": true,
        "InfraContainerId": pod.config.infra_id,
        "SharedNamespaces": pod.config.share,
        "NumContainers": pod.containers.len(),
        "Containers": containers,
        "InfraConfig": {
            "PortBindings": infra["HostConfig"]["PortBindings"],
            "Networks": networks,
        },
    }))
}

fn inspect(engine: &Engine, a: PodInspectArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let mut failed = false;
    for name in &a.pods {
        match engine
            .pod(name)
            .map_err(anyhow::Error::from)
            .and_then(|p| inspect_json(engine, &p))
        {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    print_objects(a.format.as_deref(), &out)?;
    if failed {
        return Err(crate::Exit::code(1).into());
    }
    Ok(())
}

/// `ps` of every running container of the pod, with the container's name first.
fn top(engine: &Engine, a: PodTopArgs) -> anyhow::Result<()> {
    let pod = engine.pod(&a.pod)?;
    let mut lines: Vec<Vec<String>> = Vec::new();
    for c in pod.containers.iter().filter(|c| c.state.is_active()) {
        let (header, rows) = engine.top(&c.id, &a.ps_args)?;
        if lines.is_empty() {
            lines.push(
                std::iter::once("CONTAINER".to_string())
                    .chain(header)
                    .collect(),
            );
        }
        for r in rows {
            lines.push(std::iter::once(c.name.clone()).chain(r).collect());
        }
    }
    if lines.is_empty() {
        anyhow::bail!("pod {} has no running container", pod.record.name);
    }
    write_out(&berth_format::tabwrite(&lines))
}

/// The logs of the pod's containers (not the infra, which prints nothing), each line after
/// its container's name; with `-f`, as they come, until every container has stopped.
fn logs(engine: &Engine, a: PodLogsArgs) -> anyhow::Result<()> {
    let pod = engine.pod(&a.pod)?;
    let tail = crate::parse::tail(a.tail.as_deref())?;
    let opts = LogOptions {
        follow: a.follow,
        tail,
        ..Default::default()
    };
    let width = pod.members().map(|c| c.name.len()).max().unwrap_or(0);
    let print = |name: &str, entry: berth_runtime::stdio::jsonlog::LogEntry| {
        super::logs::write_entry(&entry, &format!("{name:width$} | "), a.timestamps)
    };
    if !a.follow {
        for c in pod.members() {
            engine.logs(&c.id, &opts, |e| print(&c.name, e))?;
        }
        return Ok(());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = pod
            .members()
            .map(|c| s.spawn(|| engine.logs(&c.id, &opts, |e| print(&c.name, e))))
            .collect();
        for h in handles {
            match h.join() {
                Ok(r) => r?,
                Err(_) => anyhow::bail!("a log reader failed"),
            }
        }
        Ok(())
    })
}

fn prune(engine: &Engine, a: ContainerPruneArgs) -> anyhow::Result<()> {
    if !a.force
        && !super::confirm(
            "WARNING! This will remove all stopped/exited pods and their containers.",
        )?
    {
        return Ok(());
    }
    let mut out = String::new();
    for id in engine.prune_pods()? {
        out.push_str(&id);
        out.push('\n');
    }
    write_out(&out)
}

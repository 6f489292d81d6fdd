//! `berth version` and `berth info`: docker's layouts over the engine's [`ServerVersion`] and
//! [`SystemInfo`], or the user's `--format`.

use anyhow::Context;
use berth_engine::system::{BuildInfo, ServerVersion, SystemInfo, API_VERSION};
use berth_engine::Engine;
use berth_format::Template;
use serde_json::{json, Value};

use crate::cli::{InfoArgs, VersionArgs};
use crate::output::write_out;
use crate::units::bytes_size;

/// docker's `Client` part of `docker version`.
fn client_version(build: &BuildInfo) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("Platform".into(), json!({"Name": "berth"}));
    obj.insert("Version".into(), build.version.into());
    obj.insert("ApiVersion".into(), API_VERSION.into());
    obj.insert("DefaultAPIVersion".into(), API_VERSION.into());
    if let Some(c) = build.git_commit {
        obj.insert("GitCommit".into(), c.into());
    }
    if let Some(r) = build.rustc {
        obj.insert("GoVersion".into(), r.into());
    }
    obj.insert("Os".into(), "linux".into());
    obj.insert("Arch".into(), berth_engine::image::go_arch().into());
    if let Some(t) = build.built() {
        obj.insert("BuildTime".into(), t.into());
    }
    obj.insert("Context".into(), "default".into());
    Value::Object(obj)
}

/// `--format`: `json` alone is docker's shorthand for `{{json .}}`.
fn render(format: &str, data: &Value) -> anyhow::Result<()> {
    let template = Template::parse(format, &[]).context("--format")?;
    let mut text = template.render_one(data)?;
    text.push('\n');
    write_out(&text)
}

/// One `Label:<tab>value` row as docker's tabwriter (minimum width 20, padding 1) aligns it.
fn row(out: &mut String, label: &str, value: &str) {
    let width = 20.max(label.len() + 1);
    out.push_str(&format!("{label:<width$}{value}\n"));
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn client_text(c: &Value) -> String {
    let mut out = String::from("Client: berth\n");
    for (label, key) in [
        (" Version:", "Version"),
        (" API version:", "ApiVersion"),
        (" Go version:", "GoVersion"),
        (" Git commit:", "GitCommit"),
        (" Built:", "BuildTime"),
    ] {
        if let Some(v) = str_of(c, key) {
            row(&mut out, label, v);
        }
    }
    let os_arch = format!(
        "{}/{}",
        str_of(c, "Os").unwrap_or_default(),
        str_of(c, "Arch").unwrap_or_default()
    );
    row(&mut out, " OS/Arch:", &os_arch);
    row(&mut out, " Context:", "default");
    out
}

fn server_text(s: &ServerVersion) -> String {
    let mut out = String::from("\nServer: berth\n Engine:\n");
    row(&mut out, "  Version:", &s.version);
    row(
        &mut out,
        "  API version:",
        &format!("{} (minimum version {})", s.api_version, s.min_api_version),
    );
    for (label, value) in [
        ("  Go version:", &s.go_version),
        ("  Git commit:", &s.git_commit),
        ("  Built:", &s.build_time),
    ] {
        if let Some(v) = value {
            row(&mut out, label, v);
        }
    }
    row(&mut out, "  OS/Arch:", &format!("{}/{}", s.os, s.arch));
    row(&mut out, "  Experimental:", "false");
    out
}

/// `berth version`. `server` is whether this user may use the engine: without it (not root),
/// the client part still prints, then the reason, as docker does without its daemon.
pub fn version(a: VersionArgs, server: anyhow::Result<()>) -> anyhow::Result<()> {
    let build = BuildInfo::current();
    let client = client_version(&build);
    let server_version = server.as_ref().ok().map(|_| ServerVersion::gather(&build));
    match a.format.as_deref() {
        Some(f) if !f.is_empty() => {
            let mut data = json!({
                "Client": client,
                "Server": server_version.as_ref().map(serde_json::to_value).transpose()?,
            });
            if !is_whole_json(f) {
                go_field_names(&mut data);
            }
            render(f, &data)?;
        }
        _ => {
            let mut text = client_text(&client);
            if let Some(s) = &server_version {
                text.push_str(&server_text(s));
            }
            write_out(&text)?;
        }
    }
    server
}

/// `json` or `{{json .}}`: docker's JSON of the whole object, keys as its JSON tags.
fn is_whole_json(format: &str) -> bool {
    let f: String = format.chars().filter(|c| !c.is_whitespace()).collect();
    f == "json" || f == "{{json.}}"
}

/// docker's templates see Go's field names, and for the API version those differ from the
/// JSON keys (`APIVersion`, serialized `ApiVersion`): scripts write
/// `{{.Server.APIVersion}}`, so templates get that name too.
fn go_field_names(data: &mut Value) {
    for part in ["Client", "Server"] {
        if let Some(obj) = data.get_mut(part).and_then(Value::as_object_mut) {
            if let Some(v) = obj.get("ApiVersion").cloned() {
                obj.insert("APIVersion".into(), v);
            }
        }
    }
}

/// `berth info` / `berth system info`. `allowed` is whether this user may open the engine:
/// without it the client part still prints, then the reason, as docker does without its
/// daemon.
pub fn info(
    a: InfoArgs,
    allowed: anyhow::Result<()>,
    open: impl FnOnce() -> anyhow::Result<Engine>,
) -> anyhow::Result<()> {
    if let Err(e) = allowed {
        if a.format.as_deref().is_none_or(str::is_empty) {
            write_out(&client_info_text())?;
        }
        return Err(e);
    }
    let info = open()?.system_info()?;
    let mut data = serde_json::to_value(&info)?;
    if let Some(obj) = data.as_object_mut() {
        obj.insert(
            "ClientInfo".into(),
            json!({
                "Debug": false,
                "Version": BuildInfo::current().version,
                "Context": "default",
                "Plugins": [],
                "Warnings": null,
            }),
        );
    }
    match a.format.as_deref() {
        Some(f) if !f.is_empty() => render(f, &data),
        _ => write_out(&info_text(&info)),
    }
}

/// The `Client:` part of `docker info`.
fn client_info_text() -> String {
    format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n",
        BuildInfo::current().version
    )
}

/// docker's `docker info` layout, for the fields berth has.
fn info_text(i: &SystemInfo) -> String {
    let mut out = client_info_text();
    out.push_str("\nServer:\n");
    let mut line = |indent: usize, text: String| {
        out.push_str(&" ".repeat(indent));
        out.push_str(&text);
        out.push('\n');
    };
    line(1, format!("Containers: {}", i.containers));
    line(2, format!("Running: {}", i.containers_running));
    line(2, format!("Paused: {}", i.containers_paused));
    line(2, format!("Stopped: {}", i.containers_stopped));
    line(1, format!("Images: {}", i.images));
    line(1, format!("Server Version: {}", i.server_version));
    line(1, format!("Storage Driver: {}", i.driver));
    for [k, v] in &i.driver_status {
        line(2, format!("{k}: {v}"));
    }
    line(1, format!("Logging Driver: {}", i.logging_driver));
    line(1, format!("Cgroup Driver: {}", i.cgroup_driver));
    line(1, format!("Cgroup Version: {}", i.cgroup_version));
    line(1, "Plugins:".into());
    line(2, format!("Volume: {}", i.plugins.volume.join(" ")));
    line(2, format!("Network: {}", i.plugins.network.join(" ")));
    line(2, format!("Log: {}", i.plugins.log.join(" ")));
    let runtimes: Vec<&str> = i.runtimes.keys().map(String::as_str).collect();
    line(1, format!("Runtimes: {}", runtimes.join(" ")));
    line(1, format!("Default Runtime: {}", i.default_runtime));
    line(1, "Security Options:".into());
    for opt in &i.security_options {
        // "name=seccomp,profile=builtin" → "seccomp" and "Profile: builtin" below it.
        for (n, kv) in opt.split(',').enumerate() {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if n == 0 {
                line(2, v.to_string());
            } else {
                line(3, format!("{}: {v}", title(k)));
            }
        }
    }
    line(1, format!("Kernel Version: {}", i.kernel_version));
    line(1, format!("Operating System: {}", i.operating_system));
    line(1, format!("OSType: {}", i.os_type));
    line(1, format!("Architecture: {}", i.architecture));
    line(1, format!("CPUs: {}", i.ncpu));
    line(1, format!("Total Memory: {}", bytes_size(i.mem_total)));
    line(1, format!("Name: {}", i.name));
    line(1, format!("Docker Root Dir: {}", i.docker_root_dir));
    line(1, "Debug Mode: false".into());
    line(1, "Experimental: false".into());
    line(1, "Insecure Registries:".into());
    for c in &i.registry_config.insecure_registry_cidrs {
        line(2, c.clone());
    }
    for (name, c) in &i.registry_config.index_configs {
        if !c.secure {
            line(2, name.clone());
        }
    }
    if !i.registry_config.mirrors.is_empty() {
        line(1, "Registry Mirrors:".into());
        for m in &i.registry_config.mirrors {
            line(2, m.clone());
        }
    }
    line(
        1,
        format!("Live Restore Enabled: {}", i.live_restore_enabled),
    );
    out
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_align_as_docker_tabwriter() {
        let mut out = String::new();
        row(&mut out, " Version:", "24.0.7");
        row(&mut out, "  API version:", "1.44 (minimum version 1.24)");
        assert_eq!(
            out,
            " Version:           24.0.7\n  API version:      1.44 (minimum version 1.24)\n"
        );
    }

    #[test]
    fn templates_see_go_field_names_and_json_sees_json_keys() {
        assert!(is_whole_json("json") && is_whole_json("{{ json . }}"));
        assert!(!is_whole_json("{{json .Server}}"));
        let mut data = json!({"Client": {"ApiVersion": "1.44"}, "Server": null});
        go_field_names(&mut data);
        assert_eq!(data["Client"]["APIVersion"], "1.44");
        assert_eq!(data["Client"]["ApiVersion"], "1.44");
    }

    #[test]
    fn client_part_has_docker_fields() {
        let build = BuildInfo {
            version: "1.2.3",
            rustc: None,
            git_commit: Some("abc1234"),
            built_unix: None,
        };
        let c = client_version(&build);
        assert_eq!(c["Version"], "1.2.3");
        assert_eq!(c["ApiVersion"], "1.44");
        assert!(c.get("GoVersion").is_none(), "no compiler known, no row");
        let text = client_text(&c);
        assert!(
            text.starts_with("Client: berth\n Version:           1.2.3\n"),
            "{text}"
        );
        assert!(text.contains(" Git commit:        abc1234\n"), "{text}");
        assert!(!text.contains("Go version"), "{text}");
    }
}

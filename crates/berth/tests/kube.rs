//! `kube generate` and `kube play` end to end: a web site running under berth becomes YAML
//! that Kubernetes' schemas accept, and the YAML brings the site back on the same host port;
//! a Deployment with replicas, a ConfigMap through envFrom and a Service plays and downs;
//! `--down` removes what the file made and nothing else.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{free_port, http_get, start_registry, wait_for, Sandbox};

const VALIDATOR: &str = "/opt/berth/pyvenv/bin/kubernetes-validate";

/// `kubernetes-validate --strict` on `file`: panics with its report when it fails; false
/// (after a loud SKIP) when the validator is not installed.
fn validate(file: &Path) -> bool {
    if !Path::new(VALIDATOR).exists() {
        eprintln!("SKIP schema check: {VALIDATOR} is missing; run scripts/setup.sh");
        return false;
    }
    let out = std::process::Command::new(VALIDATOR)
        .arg("--strict")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate refused {}:\n{}{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    true
}

/// The tutorial's shape of a site: an image built from a Dockerfile, serving a page.
fn build_site(s: &Sandbox) {
    let ctx = s.root().join("site-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("index.html"), "<h1>the site</h1>\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nWORKDIR /site\nCOPY index.html .\nEXPOSE 5000\nCMD [\"httpd\", \"-f\", \"-p\", \"5000\", \"-h\", \"/site\"]\n",
    )
    .unwrap();
    s.ok(&["build", "-q", "-t", "site:v1", ctx.to_str().unwrap()]);
}

#[test]
fn the_site_round_trips_through_kube_generate_and_play() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    build_site(&s);
    let port = free_port();
    s.ok(&["volume", "create", "uploads"]);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:5000"),
        "-v",
        "uploads:/uploads",
        "-e",
        "MODE=prod",
        "--memory",
        "128m",
        "site:v1",
    ]);
    let url = format!("http://127.0.0.1:{port}/");
    assert!(wait_for(Duration::from_secs(5), || http_get(&url).is_some()));

    let yaml = s.root().join("web.yaml");
    s.ok(&[
        "kube",
        "generate",
        "-s",
        "-f",
        yaml.to_str().unwrap(),
        "web",
    ]);
    let text = std::fs::read_to_string(&yaml).unwrap();
    for want in [
        "kind: Pod",
        "kind: Service",
        "name: web-pod",
        "image: site:v1",
        &format!("hostPort: {port}"),
        "containerPort: 5000",
        "claimName: uploads",
        "name: MODE",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    validate(&yaml);

    // Gone, then back from the YAML on the same host port.
    s.ok(&["rm", "-f", "web"]);
    assert!(http_get(&url).is_none());
    let out = s.ok(&["kube", "play", yaml.to_str().unwrap()]);
    assert!(out.contains("(web-pod)"), "{out}");
    assert!(
        wait_for(Duration::from_secs(5), || http_get(&url).as_deref()
            == Some("<h1>the site</h1>\n")),
        "the site does not answer on {url} after kube play"
    );
    assert_eq!(
        s.inspect("web-pod-web", "{{range .Config.Env}}{{println .}}{{end}}")
            .lines()
            .filter(|l| l.starts_with("MODE="))
            .collect::<Vec<_>>(),
        ["MODE=prod"]
    );
    // A second play of the same file is refused and changes nothing; --replace replaces.
    let r = s.run(&["kube", "play", yaml.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("--replace"), "{}", r.stderr);
    s.ok(&["kube", "play", "--replace", yaml.to_str().unwrap()]);
    assert!(wait_for(Duration::from_secs(5), || http_get(&url).is_some()));

    // Down: no container, pod or network of the play is left; the volume that was there
    // before the play stays.
    s.ok(&["kube", "play", "--down", yaml.to_str().unwrap()]);
    assert_eq!(s.ok(&["ps", "-aq"]), "");
    assert_eq!(s.ok(&["pod", "ls", "-q"]), "");
    assert!(s
        .ok(&["volume", "ls", "-q"])
        .lines()
        .any(|v| v == "uploads"));
    assert!(http_get(&url).is_none());
    assert_eq!(s.mounts(), Vec::<String>::new());
}

const DEPLOYMENT: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  GREETING: hello
  COLOR: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  labels:
    app: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: shop
  template:
    metadata:
      labels:
        app: shop
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c"]
        args: ["echo \"$GREETING $COLOR\" > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
        envFrom:
        - configMapRef:
            name: settings
        ports:
        - name: http
          containerPort: 8080
        volumeMounts:
        - name: data
          mountPath: /data
      volumes:
      - name: data
        persistentVolumeClaim:
          claimName: shop-data
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: shop-data
spec:
  accessModes: ["ReadWriteOnce"]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: v1
kind: Service
metadata:
  name: shop
spec:
  selector:
    app: shop
  ports:
  - port: PORT
    targetPort: http
"#;

#[test]
fn a_deployment_with_a_configmap_and_a_service_plays_and_downs() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let port = free_port();
    let file = s.root().join("shop.yaml");
    std::fs::write(&file, DEPLOYMENT.replace("PORT", &port.to_string())).unwrap();
    validate(&file);
    let out = s.ok(&["kube", "play", file.to_str().unwrap()]);
    assert!(
        out.contains("(shop-pod-0)") && out.contains("(shop-pod-1)"),
        "{out}"
    );
    assert!(out.contains("shop-data"), "{out}");
    // Two replicas, each running; the Service's port reaches one of them, which has the
    // ConfigMap's keys in its environment.
    let pods = s.ok(&["pod", "ls", "--format", "{{.Name}} {{.Status}}"]);
    let mut rows: Vec<&str> = pods.lines().collect();
    rows.sort();
    assert_eq!(rows, ["shop-pod-0 Running", "shop-pod-1 Running"]);
    let url = format!("http://127.0.0.1:{port}/");
    assert!(
        wait_for(Duration::from_secs(5), || http_get(&url).as_deref()
            == Some("hello blue\n")),
        "the Service's port does not answer with the ConfigMap's values: {:?}",
        http_get(&url)
    );
    // The claim is one named volume, shared by the replicas.
    s.ok(&["exec", "shop-pod-0-app", "sh", "-c", "echo x > /data/mark"]);
    assert_eq!(
        s.ok(&["exec", "shop-pod-1-app", "cat", "/data/mark"]),
        "x\n"
    );

    s.ok(&["kube", "play", "--down", file.to_str().unwrap()]);
    assert_eq!(s.ok(&["ps", "-aq"]), "");
    assert_eq!(s.ok(&["pod", "ls", "-q"]), "");
    assert!(
        !s.ok(&["volume", "ls", "-q"])
            .lines()
            .any(|v| v == "shop-data"),
        "the claim's volume, made by the play, is left"
    );
    assert!(http_get(&url).is_none());
}

/// A pod whose image is only on a registry, with a Secret as environment and as files.
const WITH_SECRET: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: creds
type: Opaque
data:
  password: czNjcmV0
stringData:
  user: alice
---
apiVersion: v1
kind: Pod
metadata:
  name: vault
spec:
  containers:
  - name: box
    image: IMAGE
    command: ["sleep", "300"]
    env:
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef:
          name: creds
          key: password
    volumeMounts:
    - name: secret
      mountPath: /run/secrets/creds
      readOnly: true
  volumes:
  - name: secret
    secret:
      secretName: creds
"#;

#[test]
fn play_pulls_missing_images_mounts_secrets_and_can_leave_pods_stopped() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let registry = start_registry();
    let image = format!("127.0.0.1:{}/tools/box:v1", registry.port);
    s.ok(&["tag", "busybox", &image]);
    s.ok(&["push", &image]);
    s.ok(&["rmi", &image]);
    let file = s.root().join("vault.yaml");
    std::fs::write(&file, WITH_SECRET.replace("IMAGE", &image)).unwrap();
    validate(&file);

    // --start=false: created, not running; the image was pulled for it.
    s.ok(&["kube", "play", "--start=false", file.to_str().unwrap()]);
    assert!(s
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .contains("tools/box:v1"));
    assert_eq!(
        s.ok(&["pod", "inspect", "-f", "{{.State}}", "vault"])
            .trim(),
        "Created"
    );
    s.ok(&["pod", "start", "vault"]);
    assert_eq!(
        s.ok(&["exec", "vault-box", "sh", "-c", "echo $DB_PASSWORD"]),
        "s3cret\n"
    );
    assert_eq!(
        s.ok(&[
            "exec",
            "vault-box",
            "cat",
            "/run/secrets/creds/password",
            "/run/secrets/creds/user"
        ]),
        "s3cretalice"
    );
    let r = s.run(&["exec", "vault-box", "touch", "/run/secrets/creds/x"]);
    assert_ne!(r.code, 0, "the secret's files are read-only");
    s.ok(&["kube", "down", file.to_str().unwrap()]);
    assert_eq!(s.ok(&["pod", "ls", "-q"]), "");
    assert_eq!(s.ok(&["ps", "-aq"]), "");
}

#[test]
fn a_kind_berth_does_not_play_is_named_before_anything_is_created() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let file = s.root().join("mixed.yaml");
    let yaml = format!(
        "{}\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec: {{}}\n",
        DEPLOYMENT.replace("PORT", "18099")
    );
    std::fs::write(&file, yaml).unwrap();
    let r = s.run(&["kube", "play", file.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("StatefulSet") && r.stderr.contains("db"),
        "{}",
        r.stderr
    );
    assert_eq!(s.ok(&["ps", "-aq"]), "");
    assert_eq!(s.ok(&["pod", "ls", "-q"]), "");
    assert!(!s.ok(&["volume", "ls", "-q"]).contains("shop-data"));
}

/// A pod named `web` with one container; `container` and `mount` fill in the blanks.
fn pod_yaml(container: &str, mount: &str, port: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: {container}\n    image: busybox\n    command: [\"sleep\", \"300\"]\n{port}{mount}  volumes:\n  - name: data\n    persistentVolumeClaim:\n      claimName: vol\n"
    )
}

#[test]
fn bad_names_and_paths_are_refused_before_anything_is_made_or_replaced() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    // A pod of that name exists: a bad file must not replace it.
    let good = s.root().join("good.yaml");
    std::fs::write(&good, pod_yaml("box", "", "")).unwrap();
    s.ok(&["kube", "play", good.to_str().unwrap()]);
    let before = (s.ok(&["ps", "-aq"]), s.ok(&["volume", "ls", "-q"]));
    // A link in the volume that leads out of it.
    s.ok(&["volume", "create", "vol"]);
    let data = s.root().join("volumes/vol/_data");
    std::os::unix::fs::symlink("/", data.join("escape")).unwrap();
    let mount = |sub: &str, path: &str| {
        format!(
            "    volumeMounts:\n    - name: data\n      mountPath: {path}\n      subPath: {sub}\n"
        )
    };
    let sctp = "    ports:\n    - containerPort: 80\n      hostPort: 18098\n      protocol: SCTP\n";
    for (yaml, says) in [
        (
            pod_yaml("\"x/../../../../tmp/owned\"", "", ""),
            "container name",
        ),
        (
            pod_yaml("box", &mount("../../etc", "/data"), ""),
            "inside its volume",
        ),
        (
            pod_yaml("box", &mount("escape/etc", "/data"), ""),
            "symbolic link",
        ),
        (
            pod_yaml("box", &mount("sub", "relative"), ""),
            "not absolute",
        ),
        (pod_yaml("box", "", sctp), "SCTP"),
    ] {
        let file = s.root().join("bad.yaml");
        std::fs::write(&file, &yaml).unwrap();
        let r = s.run(&["kube", "play", "--replace", file.to_str().unwrap()]);
        assert_ne!(r.code, 0, "{yaml}");
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
        // The pod it would have replaced is still there, and nothing was made.
        assert_eq!(s.ok(&["ps", "-aq"]), before.0, "{yaml}");
        assert_eq!(s.ok(&["pod", "ls", "--format", "{{.Name}}"]).trim(), "web");
    }
    assert!(!Path::new("/tmp/owned-0").exists());
    assert!(!s.root().join("tmp").exists());
    s.ok(&["kube", "down", good.to_str().unwrap()]);
    assert_eq!(s.ok(&["pod", "ls", "-q"]), "");
    let _ = before.1;
}

//! `credsStore` and `credHelpers`: login stores through `docker-credential-<name>`, pulls read
//! through it, logout erases. Alone in its binary because it changes PATH.
#![allow(clippy::unwrap_used)] // test helpers panic on setup failures by design

mod common;

use std::os::unix::fs::PermissionsExt;

use berth_registry::client::{Credential, CredentialStore};
use berth_registry::Reference;
use common::*;

const HELPER: &str = r#"#!/bin/sh
dir="@DIR@"
case "$1" in
  get)
    read server
    f="$dir/$(printf %s "$server" | tr -c 'a-zA-Z0-9' _)"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store)
    cat > "$dir/incoming"
    server=$(sed 's/.*"ServerURL":"\([^"]*\)".*/\1/' "$dir/incoming")
    mv "$dir/incoming" "$dir/$(printf %s "$server" | tr -c 'a-zA-Z0-9' _)" ;;
  erase)
    read server
    f="$dir/$(printf %s "$server" | tr -c 'a-zA-Z0-9' _)"
    if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
"#;

#[test]
fn credential_helpers_store_get_and_erase() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    let vault = tmp.path().join("vault");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&vault).unwrap();
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(&helper, HELPER.replace("@DIR@", vault.to_str().unwrap())).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::env::set_var("PATH", path);

    let users = tmp.path().join("htpasswd");
    std::fs::write(
        &users,
        format!("alice:{}\n", bcrypt::hash("pw", 4).unwrap()),
    )
    .unwrap();
    let srv = start_server(&tmp.path().join("srv"), |c| c.htpasswd = Some(users));

    let cfg = tmp.path().join("docker");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.json"), r#"{"credsStore":"berthtest"}"#).unwrap();
    let store = CredentialStore::in_dir(&cfg);
    let c = client_with(store.clone(), |_| {});
    c.login(&srv.host(), "alice", "pw").unwrap();
    let text = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(
        !text.contains("\"auth\""),
        "secret must stay in the helper: {text}"
    );
    assert_eq!(
        store.get(&srv.host()).unwrap(),
        Some(Credential::new("alice", "pw"))
    );

    let image = make_image(&tmp.path().join("img"), &[1000], 1);
    let r = Reference::parse(&format!("{}/alice/app:1", srv.host())).unwrap();
    c.push(&r, &image.push_image(), &image.blobs, &quiet)
        .unwrap();

    assert!(c.logout(&srv.host()).unwrap());
    assert_eq!(store.get(&srv.host()).unwrap(), None);

    // credHelpers wins over credsStore for its registry; docker.io's key is Docker Hub's URL.
    std::fs::write(
        cfg.join("config.json"),
        r#"{"credsStore":"missing-helper","credHelpers":{"docker.io":"berthtest"}}"#,
    )
    .unwrap();
    store
        .store("docker.io", &Credential::new("hubuser", "hubpw"))
        .unwrap();
    assert!(vault.join("https___index_docker_io_v1_").exists());
    assert_eq!(
        store.get("docker.io").unwrap(),
        Some(Credential::new("hubuser", "hubpw"))
    );
    assert!(
        store.get("other.example").is_err(),
        "credsStore names a helper that does not exist"
    );
}

//! `requirements.txt` from the imports: which imports are third-party, which PyPI distribution
//! each comes from, and the version installed here.

use std::collections::{BTreeMap, BTreeSet};

use super::source::{self, top};
use super::stdlib::is_stdlib;
use super::SourceFile;

/// Import names whose PyPI distribution is named differently, looked up by the longest dotted
/// prefix of the import (so `google.protobuf` is told apart from `google.cloud.storage`).
/// Names that differ only in case, `-` or `_` need no entry: pip normalises them.
pub const PYPI_NAMES: &[(&str, &str)] = &[
    ("Bio", "biopython"),
    ("Crypto", "pycryptodome"),
    ("Cryptodome", "pycryptodomex"),
    ("Levenshtein", "python-Levenshtein"),
    ("MySQLdb", "mysqlclient"),
    ("OpenGL", "PyOpenGL"),
    ("OpenSSL", "pyOpenSSL"),
    ("PIL", "pillow"),
    ("absl", "absl-py"),
    ("attr", "attrs"),
    ("bs4", "beautifulsoup4"),
    ("bson", "pymongo"),
    ("cairo", "pycairo"),
    ("cv2", "opencv-python"),
    ("dateutil", "python-dateutil"),
    ("decouple", "python-decouple"),
    ("discord", "discord.py"),
    ("dns", "dnspython"),
    ("docx", "python-docx"),
    ("dotenv", "python-dotenv"),
    ("engineio", "python-engineio"),
    ("faiss", "faiss-cpu"),
    ("fitz", "PyMuPDF"),
    ("gi", "PyGObject"),
    ("git", "GitPython"),
    ("github", "PyGithub"),
    ("google.api_core", "google-api-core"),
    ("google.auth", "google-auth"),
    ("google.cloud.bigquery", "google-cloud-bigquery"),
    ("google.cloud.firestore", "google-cloud-firestore"),
    ("google.cloud.pubsub", "google-cloud-pubsub"),
    ("google.cloud.storage", "google-cloud-storage"),
    ("google.generativeai", "google-generativeai"),
    ("google.oauth2", "google-auth"),
    ("google.protobuf", "protobuf"),
    ("googleapiclient", "google-api-python-client"),
    ("gridfs", "pymongo"),
    ("grpc", "grpcio"),
    ("jose", "python-jose"),
    ("jwt", "PyJWT"),
    ("kafka", "kafka-python"),
    ("magic", "python-magic"),
    ("markdown", "Markdown"),
    ("memcache", "python-memcached"),
    ("mpl_toolkits", "matplotlib"),
    ("multipart", "python-multipart"),
    ("nacl", "PyNaCl"),
    ("osgeo", "GDAL"),
    ("paho", "paho-mqtt"),
    ("pdfminer", "pdfminer.six"),
    ("pkg_resources", "setuptools"),
    ("pptx", "python-pptx"),
    ("psycopg2", "psycopg2-binary"),
    ("pymysql", "PyMySQL"),
    ("rest_framework", "djangorestframework"),
    ("ruamel", "ruamel.yaml"),
    ("sentencepiece", "sentencepiece"),
    ("serial", "pyserial"),
    ("skimage", "scikit-image"),
    ("sklearn", "scikit-learn"),
    ("slugify", "python-slugify"),
    ("socketio", "python-socketio"),
    ("speech_recognition", "SpeechRecognition"),
    ("talib", "TA-Lib"),
    ("telebot", "pyTelegramBotAPI"),
    ("telegram", "python-telegram-bot"),
    ("tensorflow", "tensorflow"),
    ("torch", "torch"),
    ("umap", "umap-learn"),
    ("usb", "pyusb"),
    ("websocket", "websocket-client"),
    ("yaml", "PyYAML"),
    ("zmq", "pyzmq"),
];

/// A distribution installed on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// The dotted import names it provides (`yaml`, `_yaml`; `google.protobuf`).
    pub imports: Vec<String>,
}

/// One line of the requirements file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub dist: String,
    /// The installed version, when the distribution is installed here.
    pub version: Option<String>,
    /// The top-level import names that asked for it.
    pub imported_as: BTreeSet<String>,
}

/// The third-party modules the project imports: every absolute import of every file, minus
/// the standard library and the project's own modules.
pub fn third_party_imports(files: &[SourceFile]) -> BTreeSet<String> {
    let local = LocalModules::new(files);
    let mut out = BTreeSet::new();
    for f in files {
        let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
        for module in source::imports(&f.text) {
            let t = top(&module);
            if !is_stdlib(t) && !local.contains(dir, t) {
                out.insert(module);
            }
        }
    }
    out
}

/// The names a file can import from the project itself: the modules and packages at the
/// project's root, under `src/`, and next to the importing file (a script's own directory is
/// first on `sys.path`).
struct LocalModules(BTreeMap<String, BTreeSet<String>>);

impl LocalModules {
    fn new(files: &[SourceFile]) -> Self {
        let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in files {
            let parts: Vec<&str> = f.path.split('/').collect();
            for i in 0..parts.len() {
                let name = parts[i].strip_suffix(".py").unwrap_or(parts[i]);
                names
                    .entry(parts[..i].join("/"))
                    .or_default()
                    .insert(name.to_string());
            }
        }
        Self(names)
    }

    fn contains(&self, importer_dir: &str, name: &str) -> bool {
        ["", "src", importer_dir]
            .iter()
            .any(|d| self.0.get(*d).is_some_and(|n| n.contains(name)))
    }
}

/// Maps each import to its distribution and pins what is installed. The table decides first,
/// then what the installed distributions say they provide, then the import's own name.
pub fn resolve(imports: &BTreeSet<String>, installed: &[Installed]) -> Vec<Requirement> {
    let mut provides: BTreeMap<&str, Vec<&Installed>> = BTreeMap::new();
    for d in installed {
        for i in &d.imports {
            provides.entry(i.as_str()).or_default().push(d);
        }
    }
    let mut by_dist: BTreeMap<String, Requirement> = BTreeMap::new();
    for module in imports {
        let t = top(module);
        let dist = prefixes(module)
            .find_map(|p| {
                PYPI_NAMES
                    .iter()
                    .find(|(i, _)| *i == p)
                    .map(|(_, d)| d.to_string())
            })
            .or_else(|| {
                prefixes(module).find_map(|p| {
                    let ds = provides.get(p)?;
                    let own = ds.iter().find(|d| normalize(&d.name) == normalize(p));
                    own.or(ds.first()).map(|d| d.name.clone())
                })
            })
            .unwrap_or_else(|| t.to_string());
        let version = installed
            .iter()
            .find(|d| normalize(&d.name) == normalize(&dist))
            .map(|d| d.version.clone());
        by_dist
            .entry(normalize(&dist))
            .or_insert_with(|| Requirement {
                dist,
                version,
                imported_as: BTreeSet::new(),
            })
            .imported_as
            .insert(t.to_string());
    }
    by_dist.into_values().collect()
}

/// `a.b.c`, `a.b`, `a`.
fn prefixes(module: &str) -> impl Iterator<Item = &str> {
    let mut end = Some(module.len());
    std::iter::from_fn(move || {
        let e = end?;
        let p = &module[..e];
        end = p.rfind('.');
        Some(p)
    })
}

/// PEP 503 normalisation: case-insensitive, runs of `-`, `_`, `.` equal.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The file's text: one requirement a line, `name==version` when installed here.
pub fn render(reqs: &[Requirement]) -> String {
    if reqs.is_empty() {
        return "# berth init found no third-party imports\n".to_string();
    }
    let mut lines: Vec<String> = reqs
        .iter()
        .map(|r| match &r.version {
            Some(v) => format!("{}=={v}", r.dist),
            None => r.dist.clone(),
        })
        .collect();
    lines.sort_by_key(|l| l.to_lowercase());
    lines.join("\n") + "\n"
}

/// Whether a requirements file names distribution `dist` (on any line, any specifier).
pub fn lists(requirements: &str, dist: &str) -> bool {
    requirements.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("").trim();
        let name_len = l
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(l.len());
        !l.is_empty() && normalize(&l[..name_len]) == normalize(dist)
    })
}

/// `Name:` and `Version:` from a `METADATA` or `PKG-INFO` file's headers.
pub fn parse_metadata(text: &str) -> Option<(String, String)> {
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name.get_or_insert_with(|| v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version.get_or_insert_with(|| v.trim().to_string());
        }
    }
    Some((name?, version?))
}

/// The import names a distribution provides, from its `RECORD` (each file it installed) or,
/// without one, its `top_level.txt`. From `RECORD`, namespace packages (directories without
/// `__init__.py`, such as `google/`) are followed down to the package that has one, so that
/// `google-cloud-storage` provides `google.cloud.storage` rather than all of `google`.
pub fn provided_imports(record: Option<&str>, top_level: Option<&str>) -> Vec<String> {
    let mut out = BTreeSet::new();
    if let Some(record) = record {
        let paths: Vec<&str> = record
            .lines()
            .filter_map(|l| l.split(',').next())
            .filter(|p| !p.is_empty() && !p.starts_with("..") && !p.starts_with('/'))
            .collect();
        let files: BTreeSet<&str> = paths.iter().copied().collect();
        for path in &paths {
            let parts: Vec<&str> = path.split('/').collect();
            let first = parts[0];
            if first.ends_with(".dist-info")
                || first.ends_with(".data")
                || first.ends_with(".egg-info")
                || first == "__pycache__"
                || first.ends_with(".pth")
            {
                continue;
            }
            let module = (1..parts.len())
                .find(|&k| files.contains(format!("{}/__init__.py", parts[..k].join("/")).as_str()))
                .map(|k| parts[..k].join("."))
                .unwrap_or_else(|| {
                    let mut m: Vec<&str> = parts.clone();
                    let last = m.pop().unwrap_or_default();
                    m.push(last.split('.').next().unwrap_or(last));
                    m.join(".")
                });
            if module.split('.').all(source::is_identifier) {
                out.insert(module);
            }
        }
    }
    if out.is_empty() {
        for name in top_level.unwrap_or_default().lines().map(str::trim) {
            if !name.is_empty() {
                out.insert(name.replace('/', "."));
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
#[path = "requirements_tests.rs"]
mod tests;

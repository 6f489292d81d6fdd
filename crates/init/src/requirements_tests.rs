use super::*;

fn files(list: &[(&str, &str)]) -> Vec<SourceFile> {
    list.iter()
        .map(|(p, t)| SourceFile {
            path: p.to_string(),
            text: t.to_string(),
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn dist(name: &str, version: &str, imports: &[&str]) -> Installed {
    Installed {
        name: name.into(),
        version: version.into(),
        imports: imports.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn the_issues_project_sklearn_cv2_pil_and_a_local_module() {
    let project = files(&[
        (
            "main.py",
            "import os\nimport sys, json\nfrom sklearn.linear_model import LinearRegression\nimport cv2\nfrom PIL import Image\nimport utils\nfrom utils import helper\n",
        ),
        ("utils.py", "import re\nimport numpy as np\n"),
    ]);
    let imports = third_party_imports(&project);
    assert_eq!(
        imports,
        set(&[
            "PIL.Image",
            "cv2",
            "numpy",
            "sklearn.linear_model.LinearRegression"
        ])
    );
    let main_only: BTreeSet<String> = imports.into_iter().filter(|m| m != "numpy").collect();
    let reqs = resolve(&main_only, &[]);
    assert_eq!(render(&reqs), "opencv-python\npillow\nscikit-learn\n");
}

#[test]
fn mapping_table() {
    let cases: &[(&str, &str)] = &[
        ("sklearn", "scikit-learn"),
        ("cv2", "opencv-python"),
        ("PIL.Image", "pillow"),
        ("yaml", "PyYAML"),
        ("bs4.BeautifulSoup", "beautifulsoup4"),
        ("skimage.io", "scikit-image"),
        ("dateutil.parser", "python-dateutil"),
        ("dotenv.load_dotenv", "python-dotenv"),
        ("jwt", "PyJWT"),
        ("Crypto.Cipher.AES", "pycryptodome"),
        ("attr", "attrs"),
        ("google.protobuf.message", "protobuf"),
        ("google.cloud.storage", "google-cloud-storage"),
        ("serial", "pyserial"),
        ("usb.core", "pyusb"),
        ("magic", "python-magic"),
        ("docx", "python-docx"),
        ("pptx.util", "python-pptx"),
        ("fitz", "PyMuPDF"),
        ("MySQLdb", "mysqlclient"),
        ("psycopg2.extras", "psycopg2-binary"),
        ("zmq", "pyzmq"),
        ("Levenshtein", "python-Levenshtein"),
        ("sentencepiece", "sentencepiece"),
        ("tensorflow.keras", "tensorflow"),
        ("torch.nn", "torch"),
        // Not in the table, not installed: the import's own name.
        ("streamlit", "streamlit"),
        ("flask_cors", "flask_cors"),
    ];
    for (module, want) in cases {
        let reqs = resolve(&set(&[module]), &[]);
        assert_eq!(reqs.len(), 1, "{module}");
        assert_eq!(reqs[0].dist, *want, "{module}");
        assert_eq!(reqs[0].version, None, "{module}");
    }
    // The table is sorted and has no duplicate keys.
    assert!(PYPI_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn installed_versions_pin_and_name() {
    let installed = [
        dist("streamlit", "1.31.0", &["streamlit"]),
        dist("PyYAML", "6.0.1", &["_yaml", "yaml"]),
        dist("Jinja2", "3.1.3", &["jinja2"]),
        dist(
            "protobuf",
            "4.25.1",
            &["google.protobuf", "google._upb._message"],
        ),
        dist("Flask-Cors", "4.0.0", &["flask_cors"]),
    ];
    let reqs = resolve(
        &set(&[
            "streamlit",
            "yaml",
            "jinja2.Template",
            "google.protobuf",
            "flask_cors",
            "pandas",
        ]),
        &installed,
    );
    assert_eq!(
        render(&reqs),
        "Flask-Cors==4.0.0\nJinja2==3.1.3\npandas\nprotobuf==4.25.1\nPyYAML==6.0.1\nstreamlit==1.31.0\n"
    );
}

#[test]
fn several_imports_one_distribution() {
    let reqs = resolve(&set(&["google.auth", "google.oauth2.credentials"]), &[]);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].dist, "google-auth");
    assert_eq!(reqs[0].imported_as, set(&["google"]));
}

#[test]
fn stdlib_relative_future_and_local_modules_are_not_requirements() {
    let project = files(&[
        (
            "src/app.py",
            "from __future__ import annotations\nimport os.path\nimport typing\nfrom . import sibling\nfrom .pages import home\nimport helpers\nimport mypkg.sub\nimport requests\n",
        ),
        ("src/helpers.py", "import asyncio\n"),
        ("mypkg/sub/mod.py", "from mypkg import other\nimport tomli\n"),
        ("scripts/tool.py", "import toolhelp\nimport src\n"),
        ("scripts/toolhelp.py", ""),
        ("tests/test_app.py", "import pytest\nimport helpers\n"),
    ]);
    assert_eq!(
        third_party_imports(&project),
        set(&["pytest", "requests", "tomli"])
    );
}

#[test]
fn empty_requirements() {
    assert_eq!(render(&[]), "# berth init found no third-party imports\n");
}

#[test]
fn requirement_files_listing() {
    let text = "# deps\nFlask==3.0.0\ngunicorn>=21  # server\nuvicorn[standard]\n\n-r other.txt\n";
    assert!(lists(text, "gunicorn"));
    assert!(lists(text, "flask"));
    assert!(lists(text, "uvicorn"));
    assert!(!lists(text, "streamlit"));
    assert!(!lists("# gunicorn\n", "gunicorn"));
    assert!(!lists("gunicorn-extras\n", "gunicorn"));
}

#[test]
fn metadata_headers() {
    let meta = "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\nSummary: YAML\n\nName: not-a-header\n";
    assert_eq!(
        parse_metadata(meta),
        Some(("PyYAML".into(), "6.0.1".into()))
    );
    assert_eq!(parse_metadata("Name: x\n"), None);
}

#[test]
fn imports_provided_by_a_distribution() {
    let record = "yaml/__init__.py,sha256=x,1\nyaml/composer.py,sha256=x,1\n_yaml/__init__.py,,\n\
                  PyYAML-6.0.1.dist-info/METADATA,,\n../../bin/x,,\nyaml/__pycache__/a.pyc,,\n";
    assert_eq!(
        provided_imports(Some(record), Some("ignored\n")),
        vec!["_yaml", "yaml"]
    );
    let record = "google/protobuf/__init__.py,,\ngoogle/protobuf/message.py,,\n\
                  google/_upb/_message.abi3.so,,\nprotobuf-4.25.1.dist-info/RECORD,,\n";
    assert_eq!(
        provided_imports(Some(record), None),
        vec!["google._upb._message", "google.protobuf"]
    );
    let record = "six.py,,\n_cffi_backend.cpython-311-x86_64-linux-gnu.so,,\nsix-1.16.0.dist-info/RECORD,,\n";
    assert_eq!(
        provided_imports(Some(record), None),
        vec!["_cffi_backend", "six"]
    );
    assert_eq!(
        provided_imports(None, Some("attr\nattrs\n")),
        vec!["attr", "attrs"]
    );
}

#[test]
fn pep503() {
    assert_eq!(normalize("Flask_Cors"), "flask-cors");
    assert_eq!(normalize("ruamel.yaml"), "ruamel-yaml");
    assert_eq!(normalize("a-_.b"), "a-b");
}

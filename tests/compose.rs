//! Structural checks of the container stack: docker-compose.yml, the Dockerfile and deploy/
//! must match the configuration keys, commands and binaries the code has, so they cannot rot.
//!
//! No container runs here: the compose file is read as YAML, and the real `segl` binary is run
//! with the nodes' environment (on SQLite) and a copy of the clients file they mount.

// clippy.toml allows `expect` inside #[test] functions only; the helpers here are test code too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The image docker-compose.yml builds from the Dockerfile.
const IMAGE: &str = "segl:local";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

// ----- reading the files -----

/// A YAML node as JSON, which the checks below find easier to walk.
fn yaml_to_json(node: &Yaml) -> Value {
    match node {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(flag)) => Value::Bool(*flag),
        Yaml::Value(Scalar::Integer(number)) => Value::from(*number),
        Yaml::Value(Scalar::FloatingPoint(number)) => Value::from(number.into_inner()),
        Yaml::Value(Scalar::String(text)) => Value::String(text.to_string()),
        Yaml::Representation(text, _, _) => Value::String(text.to_string()),
        Yaml::Tagged(_, inner) => yaml_to_json(inner),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match yaml_to_json(key) {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                // YAML 1.2 has no merge keys: Compose would merge, this check would not.
                assert_ne!(
                    key, "<<",
                    "docker-compose.yml: write keys out or alias a whole value; merge keys (<<) are not checked"
                );
                object.insert(key, yaml_to_json(value));
            }
            Value::Object(object)
        }
        Yaml::Alias(_) | Yaml::BadValue => panic!("docker-compose.yml: unreadable node {node:?}"),
    }
}

fn compose() -> Value {
    let text = read("docker-compose.yml");
    let documents = Yaml::load_from_str(&text)
        .unwrap_or_else(|error| panic!("docker-compose.yml is not YAML: {error}"));
    assert_eq!(documents.len(), 1, "docker-compose.yml holds one document");
    yaml_to_json(&documents[0])
}

fn services(compose: &Value) -> &Map<String, Value> {
    compose["services"]
        .as_object()
        .expect("docker-compose.yml has services")
}

/// A scalar as Compose reads it.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A string or a list of strings (`command`, `entrypoint`, short forms of lists).
fn words(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(text).collect(),
        other => text(other).split_whitespace().map(str::to_owned).collect(),
    }
}

/// A service's environment, from the mapping or the `KEY=value` list form.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Object(variables) => variables
            .iter()
            .map(|(name, value)| {
                assert!(
                    !value.is_array() && !value.is_object(),
                    "{name}: an environment variable holds a string, number or boolean"
                );
                (name.clone(), text(value))
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let item = text(item);
                let (name, value) = item.split_once('=').unwrap_or((&item, ""));
                (name.to_owned(), value.to_owned())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The `depends_on` targets, from the list or the mapping form, with their conditions.
fn dependencies(service: &Value) -> Vec<(String, String)> {
    match &service["depends_on"] {
        Value::Array(items) => items
            .iter()
            .map(|item| (text(item), "service_started".to_owned()))
            .collect(),
        Value::Object(targets) => targets
            .iter()
            .map(|(name, options)| {
                let condition = options["condition"].as_str().unwrap_or("service_started");
                (name.clone(), condition.to_owned())
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug)]
struct Mount {
    kind: String,
    source: String,
    target: String,
    read_only: bool,
}

/// A service's volumes, from the short (`source:target[:ro]`) or the long form.
fn mounts(service: &Value) -> Vec<Mount> {
    let Some(items) = service["volumes"].as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(short) => {
                let parts: Vec<&str> = short.split(':').collect();
                let source = parts[0].to_owned();
                let kind = if source.starts_with('.') || source.starts_with('/') {
                    "bind"
                } else {
                    "volume"
                };
                Mount {
                    kind: kind.to_owned(),
                    source,
                    target: parts.get(1).unwrap_or(&"").to_string(),
                    read_only: parts.get(2).is_some_and(|mode| mode.contains("ro")),
                }
            }
            long => Mount {
                kind: text(&long["type"]),
                source: text(&long["source"]),
                target: text(&long["target"]),
                read_only: long["read_only"].as_bool().unwrap_or(false),
            },
        })
        .collect()
}

/// What a service runs: its entrypoint (the image's, `segl`, unless overridden) and command.
fn entrypoint(service: &Value) -> Vec<String> {
    match &service["entrypoint"] {
        Value::Null => vec!["segl".to_owned()],
        other => words(other),
    }
}

fn runs(service: &Value, binary: &str) -> bool {
    text(&service["image"]) == IMAGE
        && entrypoint(service).first().map(String::as_str) == Some(binary)
}

/// The services running `segl serve`: the provider's nodes.
fn nodes(compose: &Value) -> Vec<(&String, &Value)> {
    let nodes: Vec<_> = services(compose)
        .iter()
        .filter(|(_, service)| {
            runs(service, "segl")
                && words(&service["command"]).first().map(String::as_str) == Some("serve")
        })
        .collect();
    assert!(!nodes.is_empty(), "no service runs `segl serve`");
    nodes
}

/// The services running the demo portal.
fn portals(compose: &Value) -> Vec<(&String, &Value)> {
    let portals: Vec<_> = services(compose)
        .iter()
        .filter(|(_, service)| runs(service, "rp-demo"))
        .collect();
    assert!(!portals.is_empty(), "no service runs rp-demo");
    portals
}

/// The one value every node agrees on for `name`.
fn node_setting(compose: &Value, name: &str) -> String {
    let values: BTreeSet<String> = nodes(compose)
        .iter()
        .map(|(service_name, service)| {
            environment(service)
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("{service_name} does not set {name}"))
        })
        .collect();
    assert_eq!(values.len(), 1, "the nodes disagree on {name}: {values:?}");
    values.into_iter().next().unwrap_or_default()
}

/// `--listen`'s port in a `segl serve` command.
fn listen_port(command: &[String]) -> String {
    let address = command
        .iter()
        .position(|word| word == "--listen")
        .and_then(|at| command.get(at + 1))
        .unwrap_or_else(|| panic!("`{}` has no --listen", command.join(" ")));
    address.rsplit(':').next().unwrap_or_default().to_owned()
}

/// Every leaf key of config/default.toml, as `section.key`.
fn configuration_keys() -> BTreeSet<String> {
    let table: toml::Table = read("config/default.toml")
        .parse()
        .unwrap_or_else(|error| panic!("config/default.toml: {error}"));
    let mut keys = BTreeSet::new();
    for (section, value) in &table {
        match value.as_table() {
            Some(entries) => {
                for (key, value) in entries {
                    assert!(
                        !value.is_table(),
                        "config/default.toml nests deeper than section.key"
                    );
                    keys.insert(format!("{section}.{key}"));
                }
            }
            None => {
                keys.insert(section.clone());
            }
        }
    }
    keys
}

/// String literals in `source` that start with `prefix` and go on in capitals, digits and `_`.
fn literals_with_prefix(source: &str, prefix: &str) -> BTreeSet<String> {
    let quoted = format!("\"{prefix}");
    let mut found = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(&quoted) {
        let candidate = &rest[at + 1..];
        let end = candidate
            .find(|character: char| {
                !(character.is_ascii_uppercase() || character.is_ascii_digit() || character == '_')
            })
            .unwrap_or(candidate.len());
        if candidate[end..].starts_with('"') {
            found.insert(candidate[..end].to_owned());
        }
        rest = &rest[at + quoted.len()..];
    }
    found
}

/// The `SEGL_*` variables (one underscore) the binary reads: literals in `src/`.
fn segl_shorthands() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for entry in fs::read_dir(root().join("src")).expect("src/").flatten() {
        let source = fs::read_to_string(entry.path()).unwrap_or_default();
        found.extend(
            literals_with_prefix(&source, "SEGL_")
                .into_iter()
                .filter(|name| !name.starts_with("SEGL__")),
        );
    }
    assert!(
        found.contains("SEGL_DATABASE_URL"),
        "src/ should read SEGL_DATABASE_URL"
    );
    found
}

/// The `RP_*` variables rp-demo's main.rs reads.
fn rp_variables() -> BTreeSet<String> {
    let found = literals_with_prefix(&read("crates/rp-demo/src/main.rs"), "RP_");
    assert!(
        found.contains("RP_CLIENT_ID"),
        "rp-demo should read RP_CLIENT_ID"
    );
    found
}

/// The clients file the nodes mount, parsed.
fn clients() -> Vec<toml::Table> {
    let table: toml::Table = read("deploy/clients.toml")
        .parse()
        .unwrap_or_else(|error| panic!("deploy/clients.toml: {error}"));
    table["client"]
        .as_array()
        .expect("deploy/clients.toml has [[client]] entries")
        .iter()
        .map(|client| client.as_table().cloned().expect("a [[client]] table"))
        .collect()
}

fn toml_text(table: &toml::Table, key: &str) -> Option<String> {
    table
        .get(key)
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
}

fn toml_list(table: &toml::Table, key: &str) -> Vec<String> {
    table
        .get(key)
        .and_then(toml::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(toml::Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The host of a URL.
fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{url} is not a URL with a host"))
}

/// A site of the Caddyfile: its addresses and the upstreams it proxies to.
#[derive(Debug)]
struct Site {
    hosts: Vec<String>,
    upstreams: Vec<String>,
}

/// Reads the site blocks of a Caddyfile (enough of its syntax for deploy/Caddyfile).
fn caddy_sites(caddyfile: &str) -> Vec<Site> {
    let mut sites: Vec<Site> = Vec::new();
    let mut depth = 0usize;
    for line in caddyfile.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if depth == 0 && line.ends_with('{') {
            let addresses = line.trim_end_matches('{').trim();
            // A block without addresses is the global options.
            if !addresses.is_empty() {
                sites.push(Site {
                    hosts: addresses
                        .split([',', ' '])
                        .filter(|address| !address.is_empty())
                        .map(|address| address.trim_start_matches("https://").to_owned())
                        .collect(),
                    upstreams: Vec::new(),
                });
            }
        } else if depth >= 1 && line.starts_with("reverse_proxy") {
            if let Some(site) = sites.last_mut() {
                site.upstreams.extend(
                    line.split_whitespace()
                        .skip(1)
                        .take_while(|word| *word != "{")
                        .map(str::to_owned),
                );
            }
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
    }
    sites
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (instruction, arguments) = pending.split_once(' ').unwrap_or((&pending, ""));
        instructions.push((
            instruction.to_ascii_uppercase(),
            arguments.trim().to_owned(),
        ));
        pending.clear();
    }
    instructions
}

/// The JSON (exec) form of an instruction's arguments, e.g. `ENTRYPOINT ["segl"]`.
fn exec_form(arguments: &str) -> Vec<String> {
    serde_json::from_str(arguments)
        .unwrap_or_else(|error| panic!("`{arguments}` is not the exec form: {error}"))
}

/// The workspace's packages and the binaries they build (a `src/main.rs` is a binary named
/// after its package).
fn workspace() -> (BTreeSet<String>, BTreeSet<String>) {
    let manifest = |path: &Path| -> toml::Table {
        fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .parse()
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    };
    let root_manifest = manifest(&root().join("Cargo.toml"));
    let mut folders = vec![root()];
    for member in root_manifest["workspace"]["members"]
        .as_array()
        .expect("workspace members")
    {
        folders.push(root().join(member.as_str().unwrap_or_default()));
    }
    let mut packages = BTreeSet::new();
    let mut binaries = BTreeSet::new();
    for folder in folders {
        let name = manifest(&folder.join("Cargo.toml"))["package"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if folder.join("src/main.rs").is_file() {
            binaries.insert(name.clone());
        }
        packages.insert(name);
    }
    (packages, binaries)
}

/// The names of the variables a value interpolates (`${NAME}`, `${NAME:?message}`, ...).
fn interpolated_names(value: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = value.replace("$$", "");
    while let Some(at) = rest.find("${") {
        let inner = &rest[at + 2..];
        let end = inner.find('}').unwrap_or(inner.len());
        let name_end = inner[..end]
            .find(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
            .unwrap_or(end);
        names.push(inner[..name_end].to_owned());
        rest = inner[end..].to_owned();
    }
    names
}

/// A value with its `${...}` interpolations replaced by `values`, as Compose would.
fn interpolate(value: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {value}"));
            let expression = &inner[..end];
            let name_end = expression
                .find(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
                .unwrap_or(expression.len());
            let name = &expression[..name_end];
            let replacement = values
                .get(name)
                .unwrap_or_else(|| panic!("no test value for ${{{name}}}"));
            out.push_str(replacement);
            rest = &inner[end + 1..];
        } else {
            panic!("{value}: write ${{NAME}} rather than $NAME");
        }
    }
    out.push_str(rest);
    out
}

/// Whether a value is one interpolation and nothing else, e.g. `${SEGL_MASTER_KEY:?...}`.
fn is_only_an_interpolation(value: &str) -> bool {
    value.starts_with("${") && value.ends_with('}') && value[2..].find('}') == Some(value.len() - 3)
}

// ----- running segl -----

fn segl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_segl"));
    // Only what the test gives: nothing from the machine's environment (RUST_LOG, SEGL_...).
    command.env_clear();
    command
}

fn run(mut command: Command) -> String {
    let output = command.output().expect("run segl");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `segl serve` until it logs that it is serving (it has loaded the clients file and the
/// signing keys by then), then stops it.
fn serve_until_ready(mut command: Command) {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("start segl serve");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let ready = loop {
        match received.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let ready = line.contains("segl is serving");
                log.push(line);
                if ready {
                    break true;
                }
            }
            // The process ended (its stderr closed) or took too long.
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "segl serve did not start:\n{}", log.join("\n"));
}

// ----- the checks -----

#[test]
fn every_segl_variable_names_a_configuration_key() {
    let compose = compose();
    let keys = configuration_keys();
    let shorthands = segl_shorthands();
    let mut checked = 0;
    let mut unknown = Vec::new();
    let mut variables: Vec<(String, String)> = Vec::new();
    for (service_name, service) in services(&compose) {
        for name in environment(service).into_keys() {
            variables.push((service_name.clone(), name));
        }
    }
    for (instruction, arguments) in dockerfile_instructions() {
        if instruction == "ENV" {
            for pair in arguments.split_whitespace() {
                let name = pair.split('=').next().unwrap_or_default();
                variables.push(("Dockerfile".to_owned(), name.to_owned()));
            }
        }
    }
    for (place, name) in variables {
        if let Some(path) = name.strip_prefix("SEGL__") {
            // config's Environment source: lower case, `__` between section and key.
            let key = path.to_ascii_lowercase().replace("__", ".");
            if !keys.contains(&key) {
                unknown.push(format!(
                    "{place}: {name} (no key {key} in config/default.toml)"
                ));
            }
            checked += 1;
        } else if name.starts_with("SEGL_") {
            if !shorthands.contains(&name) {
                unknown.push(format!("{place}: {name} (the binary reads {shorthands:?})"));
            }
            checked += 1;
        }
    }
    assert!(
        unknown.is_empty(),
        "variables the binary does not read: {unknown:#?}"
    );
    assert!(
        checked >= 5,
        "expected the nodes' SEGL variables, found {checked}"
    );
}

#[test]
fn every_rp_variable_is_one_rp_demo_reads() {
    let compose = compose();
    let known = rp_variables();
    for (service_name, service) in services(&compose) {
        let environment = environment(service);
        for name in environment.keys().filter(|name| name.starts_with("RP_")) {
            assert!(
                known.contains(name),
                "{service_name}: rp-demo does not read {name} (it reads {known:?})"
            );
            assert!(
                runs(service, "rp-demo"),
                "{service_name} sets {name} but does not run rp-demo"
            );
        }
    }
    for (service_name, service) in portals(&compose) {
        let environment = environment(service);
        for required in [
            "RP_CLIENT_ID",
            "RP_PRIVATE_KEY_FILE",
            "RP_ISSUER",
            "RP_PUBLIC_URL",
            "RP_LISTEN",
        ] {
            assert!(
                environment.contains_key(required),
                "{service_name} does not set {required}"
            );
        }
        // rp-demo takes no arguments besides generate-key: everything comes from RP_*.
        assert!(
            words(&service["command"]).is_empty(),
            "{service_name}: rp-demo takes no command"
        );
    }
}

#[test]
fn secrets_come_only_from_the_environment_or_mounted_files() {
    let compose = compose();
    let header = read("docker-compose.yml");
    let mut required = BTreeSet::new();
    for (service_name, service) in services(&compose) {
        for (name, value) in environment(service) {
            assert!(
                !value.contains("PRIVATE KEY"),
                "{service_name}: {name} holds a key"
            );
            let upper = name.to_ascii_uppercase();
            let secret = ["PASSWORD", "SECRET", "MASTER_KEY"]
                .iter()
                .any(|word| upper.contains(word))
                && !upper.ends_with("_FILE");
            if secret {
                assert!(
                    is_only_an_interpolation(&value),
                    "{service_name}: {name} must come from the environment (${{...}}), not be written here"
                );
            }
            if let Some((_, after_scheme)) = value.split_once("://") {
                if let Some((credentials, _)) = after_scheme.split_once('@') {
                    let password = credentials.split_once(':').map(|(_, password)| password);
                    assert!(
                        password.is_some_and(is_only_an_interpolation),
                        "{service_name}: the password in {name} must come from the environment"
                    );
                }
            }
            for interpolated in interpolated_names(&value) {
                required.insert(interpolated);
            }
        }
    }
    // Every variable the operator must set is named in the steps at the top.
    assert!(!required.is_empty());
    for name in &required {
        assert!(
            header.contains(&format!("{name}=")),
            "the comments at the top of docker-compose.yml do not say how to set {name}"
        );
    }
    // Mounted secrets live in deploy/secrets/, which neither git nor the image build sees.
    let declared = compose["secrets"].as_object().expect("top-level secrets");
    for (secret_name, secret) in declared {
        let file = text(&secret["file"]);
        assert!(
            file.starts_with("./deploy/secrets/"),
            "secret {secret_name} must be a file in deploy/secrets/, not {file}"
        );
    }
    let ignored = read("deploy/secrets/.gitignore");
    assert!(
        ignored.lines().any(|line| line.trim() == "*"),
        "deploy/secrets/.gitignore must ignore everything"
    );
    let dockerignore = read(".dockerignore");
    for excluded in ["deploy/secrets", "target", ".git"] {
        assert!(
            dockerignore.lines().any(|line| line.trim() == excluded),
            ".dockerignore must exclude {excluded}"
        );
    }
}

#[test]
fn every_service_volume_secret_and_dependency_named_exists() {
    let compose = compose();
    let services = services(&compose);
    let volumes = compose["volumes"].as_object().cloned().unwrap_or_default();
    let secrets = compose["secrets"].as_object().cloned().unwrap_or_default();
    for (service_name, service) in services {
        for (target, condition) in dependencies(service) {
            let Some(dependency) = services.get(&target) else {
                panic!("{service_name} depends on {target}, which is not a service");
            };
            match condition.as_str() {
                "service_healthy" => assert!(
                    dependency["healthcheck"].is_object(),
                    "{service_name} waits for {target} to be healthy, but {target} has no healthcheck"
                ),
                "service_completed_successfully" => assert_eq!(
                    text(&dependency["restart"]),
                    "no",
                    "{target} is a one-shot step: it must not restart"
                ),
                "service_started" => {}
                other => panic!("{service_name}: unknown depends_on condition {other}"),
            }
        }
        for secret in words(&service["secrets"]) {
            assert!(
                secrets.contains_key(&secret),
                "{service_name} uses undeclared secret {secret}"
            );
        }
        for mount in mounts(service) {
            match mount.kind.as_str() {
                "volume" => assert!(
                    volumes.contains_key(&mount.source),
                    "{service_name} mounts undeclared volume {}",
                    mount.source
                ),
                "bind" => assert!(
                    root().join(&mount.source).exists(),
                    "{service_name} mounts {}, which is not in the repository",
                    mount.source
                ),
                other => panic!("{service_name}: unexpected mount type {other}"),
            }
        }
        if text(&service["image"]) == IMAGE {
            assert_eq!(
                text(&service["build"]),
                ".",
                "{service_name}: {IMAGE} is built from the Dockerfile"
            );
        } else {
            assert!(
                service["build"].is_null(),
                "{service_name}: only {IMAGE} is built here"
            );
            let image = text(&service["image"]);
            assert!(image.contains(':'), "{service_name}: pin a tag for {image}");
        }
    }
}

#[test]
fn segl_services_run_commands_the_binary_has() {
    let compose = compose();
    let mut checked = 0;
    for (service_name, service) in services(&compose) {
        if !runs(service, "segl") {
            continue;
        }
        let command = words(&service["command"]);
        assert!(!command.is_empty(), "{service_name}: give segl a command");
        // clap parses the arguments before printing help: an unknown command or flag fails.
        let mut help = segl();
        help.args(&command).arg("--help");
        run(help);
        checked += 1;
    }
    let instructions = dockerfile_instructions();
    let image_command = instructions
        .iter()
        .rev()
        .find(|(instruction, _)| instruction == "CMD")
        .map(|(_, arguments)| exec_form(arguments))
        .expect("the Dockerfile has a CMD");
    let mut help = segl();
    help.args(&image_command).arg("--help");
    run(help);
    assert!(
        checked >= 3,
        "expected migrate and two nodes, found {checked} segl services"
    );
}

#[test]
fn the_dockerfile_builds_a_small_non_root_image_of_the_workspace_binaries() {
    let instructions = dockerfile_instructions();
    let (packages, binaries) = workspace();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, (instruction, _))| instruction == "FROM")
        .map(|(at, _)| at)
        .collect();
    assert!(stages.len() >= 2, "the Dockerfile must be multi-stage");
    let last = *stages.last().unwrap_or(&0);
    let runtime = &instructions[last..];
    let runtime_image = &runtime[0].1;
    assert!(
        runtime_image.contains("-slim") || runtime_image.contains("distroless"),
        "the runtime image {runtime_image} should be a small one"
    );
    let user = runtime
        .iter()
        .rev()
        .find(|(instruction, _)| instruction == "USER")
        .map(|(_, user)| user.split(':').next().unwrap_or_default().to_owned())
        .expect("the runtime stage sets a USER");
    assert!(
        user != "root" && user != "0",
        "the image must not run as root"
    );

    // The build names packages and binaries the workspace has.
    for (instruction, arguments) in &instructions[..last] {
        if instruction != "RUN" || !arguments.contains("cargo build") {
            continue;
        }
        let words: Vec<&str> = arguments.split_whitespace().collect();
        for pair in words.windows(2) {
            match pair[0] {
                "-p" | "--package" => assert!(packages.contains(pair[1]), "no package {}", pair[1]),
                "--bin" => assert!(binaries.contains(pair[1]), "no binary {}", pair[1]),
                _ => {}
            }
        }
        assert!(arguments.contains("--release") && arguments.contains("--locked"));
    }
    // The image holds workspace binaries, and every binary docker-compose.yml runs.
    let mut installed = BTreeSet::new();
    for (instruction, arguments) in runtime {
        if instruction == "COPY" && arguments.starts_with("--from=") {
            let paths: Vec<&str> = arguments.split_whitespace().skip(1).collect();
            for source in &paths[..paths.len().saturating_sub(1)] {
                let name = source.rsplit('/').next().unwrap_or_default().to_owned();
                assert!(
                    binaries.contains(&name),
                    "the image copies {name}, which the workspace does not build"
                );
                installed.insert(name);
            }
        }
    }
    let entrypoint = runtime
        .iter()
        .rev()
        .find(|(instruction, _)| instruction == "ENTRYPOINT")
        .map(|(_, arguments)| exec_form(arguments))
        .expect("the Dockerfile has an ENTRYPOINT");
    assert_eq!(entrypoint, ["segl"]);
    let compose = compose();
    for (service_name, service) in services(&compose) {
        if text(&service["image"]) == IMAGE {
            let binary = entrypoint_binary(service);
            assert!(
                installed.contains(&binary),
                "{service_name} runs {binary}, which the image lacks"
            );
        }
    }
    assert_eq!(installed, binaries, "the image should hold both binaries");
}

fn entrypoint_binary(service: &Value) -> String {
    entrypoint(service).first().cloned().unwrap_or_default()
}

#[test]
fn portals_match_their_registration_in_the_clients_file() {
    let compose = compose();
    let issuer = node_setting(&compose, "SEGL__SERVER__ISSUER");
    assert!(
        issuer.starts_with("https://"),
        "the issuer {issuer} must be https"
    );
    let clients = clients();
    let secrets = compose["secrets"].as_object().cloned().unwrap_or_default();
    let mut registered: BTreeSet<String> = clients
        .iter()
        .filter_map(|client| toml_text(client, "id"))
        .collect();
    for (service_name, service) in portals(&compose) {
        let environment = environment(service);
        let variable = |name: &str| environment.get(name).cloned().unwrap_or_default();
        assert_eq!(
            variable("RP_ISSUER"),
            issuer,
            "{service_name} must trust the nodes' issuer"
        );
        let client_id = variable("RP_CLIENT_ID");
        let client = clients
            .iter()
            .find(|client| toml_text(client, "id").as_deref() == Some(client_id.as_str()))
            .unwrap_or_else(|| {
                panic!("{service_name}: client {client_id} is not in deploy/clients.toml")
            });
        registered.remove(&client_id);
        // What rp-demo sends (config.rs: redirect_uri, post_logout_redirect_uri; lib.rs:
        // backchannel_logout_uri) must be registered exactly.
        let public_url = variable("RP_PUBLIC_URL").trim_end_matches('/').to_owned();
        assert!(
            public_url.starts_with("https://"),
            "{service_name}: RP_PUBLIC_URL must be https"
        );
        assert!(
            toml_list(client, "redirect_uris").contains(&format!("{public_url}/callback")),
            "{client_id}: redirect_uris must hold {public_url}/callback"
        );
        assert!(
            toml_list(client, "post_logout_redirect_uris").contains(&format!("{public_url}/")),
            "{client_id}: post_logout_redirect_uris must hold {public_url}/"
        );
        assert_eq!(
            toml_text(client, "backchannel_logout_uri"),
            Some(format!("{public_url}/backchannel-logout")),
            "{client_id}: backchannel_logout_uri"
        );
        assert_eq!(
            toml_text(client, "auth_method").as_deref(),
            Some("private_key_jwt")
        );
        // A scope the client may not use fails every login (invalid_scope).
        let allowed = toml_list(client, "scopes");
        let requested = environment
            .get("RP_SCOPES")
            .cloned()
            .unwrap_or_else(|| "profile email".to_owned());
        for scope in requested
            .split([' ', ','])
            .filter(|scope| !scope.is_empty() && *scope != "openid")
        {
            assert!(
                allowed.contains(&scope.to_owned()),
                "{client_id} asks for {scope} but may not use it"
            );
        }
        // The private key is the portal's own secret, named after the client like its JWK Set
        // (step 3 at the top of docker-compose.yml writes both).
        let key_file = variable("RP_PRIVATE_KEY_FILE");
        let secret_name = key_file.strip_prefix("/run/secrets/").unwrap_or_else(|| {
            panic!("{service_name}: RP_PRIVATE_KEY_FILE should be a Compose secret")
        });
        assert_eq!(
            words(&service["secrets"]),
            [secret_name],
            "{service_name} sees only its own key"
        );
        assert_eq!(
            text(&secrets[secret_name]["file"]),
            format!("./deploy/secrets/{client_id}.key.pem")
        );
        assert_eq!(
            toml_text(client, "jwks_file"),
            Some(format!("jwks/{client_id}.jwks.json")),
            "{client_id}: jwks_file"
        );
        // The portal listens where the proxy sends its traffic.
        let port = variable("RP_LISTEN")
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let sites = caddy_sites(&read("deploy/Caddyfile"));
        let site = sites
            .iter()
            .find(|site| site.hosts.contains(&host(&public_url)))
            .unwrap_or_else(|| panic!("deploy/Caddyfile has no site for {public_url}"));
        assert_eq!(site.upstreams, [format!("{service_name}:{port}")]);
    }
    assert!(
        registered.is_empty(),
        "clients without a portal in docker-compose.yml: {registered:?}"
    );
}

#[test]
fn the_proxy_serves_every_public_name_and_balances_every_node() {
    let compose = compose();
    let sites = caddy_sites(&read("deploy/Caddyfile"));
    let issuer = node_setting(&compose, "SEGL__SERVER__ISSUER");
    let mut public_hosts: BTreeSet<String> = BTreeSet::from([host(&issuer)]);
    for (_, portal) in portals(&compose) {
        public_hosts.insert(host(&environment(portal)["RP_PUBLIC_URL"]));
    }
    let site_hosts: BTreeSet<String> = sites.iter().flat_map(|site| site.hosts.clone()).collect();
    assert_eq!(site_hosts, public_hosts, "deploy/Caddyfile's sites");

    let issuer_site = sites
        .iter()
        .find(|site| site.hosts.contains(&host(&issuer)))
        .expect("a site for the issuer");
    let node_upstreams: BTreeSet<String> = nodes(&compose)
        .iter()
        .map(|(name, node)| format!("{name}:{}", listen_port(&words(&node["command"]))))
        .collect();
    assert!(node_upstreams.len() >= 2, "the stack runs two nodes");
    assert_eq!(
        issuer_site
            .upstreams
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        node_upstreams,
        "the issuer's site must balance over every node"
    );

    // The proxy: the Caddyfile mounted where Caddy reads it, the public names resolving to it
    // inside the stack, and HTTPS published.
    let (_, proxy) = services(&compose)
        .iter()
        .find(|(_, service)| text(&service["image"]).starts_with("caddy:"))
        .expect("a caddy service");
    assert!(mounts(proxy)
        .iter()
        .any(|mount| mount.source == "./deploy/Caddyfile"
            && mount.target == "/etc/caddy/Caddyfile"
            && mount.read_only));
    let aliases: BTreeSet<String> = words(&proxy["networks"]["default"]["aliases"])
        .into_iter()
        .collect();
    assert_eq!(aliases, public_hosts, "the proxy's network aliases");
    assert!(words(&proxy["ports"])
        .iter()
        .any(|port| port.ends_with(":443")));
}

/// Readiness, not liveness, decides whether a node is healthy and in the proxy's rotation:
/// `/readyz` is 503 while the node cannot reach its database, `/healthz` stays 200.
#[test]
fn health_checks_and_the_proxy_ask_readyz() {
    let compose = compose();
    for (name, node) in nodes(&compose) {
        let check = words(&node["healthcheck"]["test"]).join(" ");
        assert!(
            check.contains("GET /readyz "),
            "{name}'s healthcheck must ask /readyz: {check}"
        );
        assert!(
            check.contains("HTTP/1.[01] 200 "),
            "{name}'s healthcheck must require status 200: {check}"
        );
        assert!(!check.contains("/healthz"), "{name}: {check}");
    }
    let caddyfile = read("deploy/Caddyfile");
    let health_uris: Vec<&str> = caddyfile
        .lines()
        .filter_map(|line| line.trim().strip_prefix("health_uri "))
        .map(str::trim)
        .collect();
    assert_eq!(
        health_uris,
        ["/readyz"],
        "deploy/Caddyfile's active health check"
    );
}

#[test]
fn the_nodes_start_with_their_environment_and_the_clients_file_they_mount() {
    let compose = compose();
    let folder = tempfile::TempDir::new().expect("temp dir");

    // The database URL points at the postgres service with its user, password and database.
    let database_url = node_setting(&compose, "SEGL_DATABASE_URL");
    let postgres = environment(&services(&compose)["postgres"]);
    let password = postgres["POSTGRES_PASSWORD"].clone();
    let password_name = interpolated_names(&password).join("");
    let expected = format!(
        "postgres://{user}:${{{password_name}}}@postgres:5432/{database}",
        user = postgres["POSTGRES_USER"],
        database = postgres["POSTGRES_DB"],
    );
    assert_eq!(
        database_url, expected,
        "SEGL_DATABASE_URL must reach the postgres service"
    );

    // The clients file and the JWK Sets beside it, as the nodes mount them: the JWK Sets are
    // made here as `rp-demo generate-key` makes them.
    let clients_target = node_setting(&compose, "SEGL__PROVIDER__CLIENTS_FILE");
    let clients_folder = Path::new(&clients_target)
        .parent()
        .expect("a folder")
        .to_owned();
    for (service_name, node) in nodes(&compose) {
        let node_mounts = mounts(node);
        let clients_mount = node_mounts
            .iter()
            .find(|mount| mount.target == clients_target)
            .unwrap_or_else(|| panic!("{service_name} does not mount {clients_target}"));
        assert_eq!(clients_mount.source, "./deploy/clients.toml");
        assert!(
            clients_mount.read_only,
            "{service_name}: mount the clients file read-only"
        );
        for client in clients() {
            let Some(jwks_file) = toml_text(&client, "jwks_file") else {
                continue;
            };
            // Where the node reads it, and where that is in the repository.
            let in_container = clients_folder.join(&jwks_file);
            let on_host = node_mounts
                .iter()
                .filter(|mount| mount.kind == "bind")
                .find_map(|mount| {
                    let rest = in_container.strip_prefix(&mount.target).ok()?;
                    Some(Path::new(&mount.source).join(rest))
                })
                .unwrap_or_else(|| {
                    panic!("{service_name} does not mount {}", in_container.display())
                });
            assert_eq!(on_host, Path::new("./deploy").join(&jwks_file));
        }
    }
    let clients_file = folder.path().join("clients.toml");
    fs::copy(root().join("deploy/clients.toml"), &clients_file).expect("copy the clients file");
    let mut client_ids = Vec::new();
    for client in clients() {
        client_ids.push(toml_text(&client, "id").unwrap_or_default());
        if let Some(jwks_file) = toml_text(&client, "jwks_file") {
            let (_, jwks, _) = rp_demo::generate_client_key().expect("a client key");
            let path = folder.path().join(jwks_file);
            fs::create_dir_all(path.parent().expect("a folder")).expect("the JWK Set's folder");
            fs::write(&path, jwks.to_string()).expect("write the JWK Set");
        }
    }

    // The interpolated variables get test values; the database becomes a SQLite file.
    let master_key = run({
        let mut command = segl();
        command.args(["keys", "generate-master"]);
        command
    })
    .trim()
    .to_owned();
    let values = BTreeMap::from([
        ("SEGL_MASTER_KEY", master_key),
        ("POSTGRES_PASSWORD", "test-password".to_owned()),
    ]);
    let sqlite_url = format!("sqlite://{}", folder.path().join("segl.db").display());
    let node_environment = |service: &Value| -> Vec<(String, String)> {
        environment(service)
            .into_iter()
            // Not Segl's: where the portals' CA is, for outgoing https calls.
            .filter(|(name, _)| name != "SSL_CERT_FILE")
            .map(|(name, value)| {
                let value = match name.as_str() {
                    "SEGL_DATABASE_URL" => sqlite_url.clone(),
                    "SEGL__PROVIDER__CLIENTS_FILE" => clients_file.display().to_string(),
                    _ => interpolate(&value, &values),
                };
                (name, value)
            })
            .collect()
    };

    // As in the stack: the migrate step, then a node, then an administrator's command.
    let migrate = &services(&compose)["migrate"];
    let mut command = segl();
    command
        .args(words(&migrate["command"]))
        .envs(node_environment(migrate));
    run(command);

    let (_, node) = nodes(&compose)[0];
    let mut serve_command = words(&node["command"]);
    let at = serve_command
        .iter()
        .position(|word| word == "--listen")
        .expect("--listen");
    serve_command[at + 1] = "127.0.0.1:0".to_owned();
    let mut command = segl();
    command.args(&serve_command).envs(node_environment(node));
    serve_until_ready(command);

    let mut command = segl();
    command
        .args(["client", "list"])
        .envs(node_environment(node));
    let listed = run(command);
    for client in clients() {
        let id = toml_text(&client, "id").unwrap_or_default();
        let line = listed
            .lines()
            .find(|line| line.split_whitespace().next() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("segl client list does not show {id}:\n{listed}"));
        assert!(
            line.contains("source=config"),
            "{id} should come from the clients file: {line}"
        );
        for uri in toml_list(&client, "redirect_uris") {
            assert!(line.contains(&uri), "{id} should redirect to {uri}: {line}");
        }
    }
    assert_eq!(listed.lines().count(), client_ids.len(), "{listed}");
}

#[test]
fn the_comments_say_how_to_make_the_secrets_and_start_the_stack() {
    let header: String = read("docker-compose.yml")
        .lines()
        .take_while(|line| line.starts_with('#') || line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    for step in [
        "keys generate-master",
        "rp-demo generate-key",
        "docker build",
        "docker compose",
        " up",
    ] {
        assert!(
            header.contains(step),
            "the comments at the top should show `{step}`"
        );
    }
    // Step 3 makes a key pair for exactly the clients in deploy/clients.toml, named as the
    // compose secrets and jwks_file expect.
    let portals_line = header
        .lines()
        .find(|line| line.contains("for portal in"))
        .expect("a loop over the portals");
    let named: BTreeSet<&str> = portals_line
        .split("for portal in")
        .nth(1)
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ids: BTreeSet<String> = clients()
        .iter()
        .filter_map(|client| toml_text(client, "id"))
        .collect();
    assert_eq!(
        named,
        ids.iter().map(String::as_str).collect(),
        "step 3's portals"
    );
    assert!(header
        .contains("generate-key /deploy/secrets/$portal.key.pem /deploy/jwks/$portal.jwks.json"));
}

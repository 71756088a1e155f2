//! The layout holds (DESIGN.md section 2): no import cycles between the crate's top-level modules, every module
//! sits in a layer and imports only its own layer or those below it (nothing imports the HTTP side), and `domain`
//! (the pure rules) imports nothing of the database, the repositories, the use cases or the HTTP side. Read from
//! the sources' `crate::` paths, leaving out each file's test module (tests may reach across layers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules `domain` may not import: I/O and everything above the rules.
const FORBIDDEN_FOR_DOMAIN: &[&str] =
    &["db", "repo", "jobs", "service", "auth", "channels", "scheduler", "routes", "web", "app", "startup"];

/// The layers, lowest first: the pipeline http -> application -> {domain, repo, jobs} -> db, with the composition
/// (`startup`) on top. A module may import its own layer (without a cycle) and the layers below it. A new
/// top-level module must be placed here, which is the point: where it sits is a decision.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundation: time, errors, the rules and their words", &["clock", "error", "domain", "views", "telemetry"]),
    ("the database", &["db"]),
    ("configuration and the repositories", &["settings", "repo"]),
    ("background jobs: claim and run", &["jobs"]),
    ("the application: use cases", &["auth", "service"]),
    ("workers and channels that drive the use cases", &["scheduler", "channels", "tzdata", "demo", "prometheus"]),
    ("the state the HTTP side is given", &["app"]),
    ("the HTTP side: the API and the pages", &["routes", "web"]),
    ("the composition root", &["startup"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/service/apply.rs` -> `service`), `None` for the crate roots.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
    (first != "lib" && first != "main").then_some(first)
}

/// The top-level modules a file's code (before its `#[cfg(test)]` module) names through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// The edges between top-level modules, each with a file that makes it.
fn graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let Some(from) = top_module(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for to in imports(&text) {
            if to != from {
                let shown = file.strip_prefix(&src).unwrap_or(&file).display().to_string();
                edges.entry(from.clone()).or_default().entry(to).or_insert(shown);
            }
        }
    }
    edges
}

/// Every module reachable from `start`, with the path that reaches it.
fn reachable(edges: &BTreeMap<String, BTreeMap<String, String>>, start: &str) -> BTreeMap<String, Vec<String>> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut queue = vec![vec![start.to_string()]];
    while let Some(path) = queue.pop() {
        let last = path.last().expect("a path is never empty").clone();
        for next in edges.get(&last).map(|e| e.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            if let std::collections::btree_map::Entry::Vacant(slot) = seen.entry(next.clone()) {
                let mut longer = path.clone();
                longer.push(next);
                slot.insert(longer.clone());
                queue.push(longer);
            }
        }
    }
    seen
}

#[test]
fn no_import_cycles_between_top_level_modules() {
    let edges = graph();
    let mut cycles = Vec::new();
    for module in edges.keys() {
        if let Some(path) = reachable(&edges, module).get(module) {
            let shown: Vec<String> = path
                .windows(2)
                .map(|pair| format!("{} -> {} ({})", pair[0], pair[1], edges[&pair[0]][&pair[1]]))
                .collect();
            cycles.push(shown.join(", "));
        }
    }
    assert!(cycles.is_empty(), "import cycles between top-level modules:\n{}", cycles.join("\n"));
}

#[test]
fn the_domain_imports_no_io_and_nothing_above_it() {
    let edges = graph();
    let wrong: Vec<String> = edges
        .get("domain")
        .map(|to| {
            to.iter()
                .filter(|(module, _)| FORBIDDEN_FOR_DOMAIN.contains(&module.as_str()))
                .map(|(module, file)| format!("domain -> {module} ({file})"))
                .collect()
        })
        .unwrap_or_default();
    assert!(wrong.is_empty(), "the domain reaches outside its layer:\n{}", wrong.join("\n"));
}

#[test]
fn every_module_imports_only_its_own_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let unplaced: BTreeSet<String> =
        files.iter().filter_map(|f| top_module(&src, f)).filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "top-level modules missing from LAYERS: {unplaced:?}");
    let mut upward = Vec::new();
    for (from, to) in graph() {
        let from_layer = layer_of(&from).expect("placed");
        for (module, file) in to {
            let Some(to_layer) = layer_of(&module) else { continue };
            if to_layer > from_layer {
                upward
                    .push(format!("{from} ({}) -> {module} ({}) in {file}", LAYERS[from_layer].0, LAYERS[to_layer].0));
            }
        }
    }
    assert!(upward.is_empty(), "imports that go up a layer:\n{}", upward.join("\n"));
}

#[test]
fn the_reader_sees_imports_the_way_the_code_writes_them() {
    let text = "use crate::db::Tx;\nfn f() { crate::repo::x(); }\n#[cfg(test)]\nmod tests { use crate::web; }";
    assert_eq!(imports(text), BTreeSet::from(["db".to_string(), "repo".to_string()]));
}

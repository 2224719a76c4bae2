//! The import graph of `src/`: files are nodes, every path a file names
//! (`use crate::…`, `super::…`, `self::…`, a child module, or an inline
//! `crate::x::f()`) is an edge to the file that defines it. The graph must
//! have no cycle, and no edge may climb the floors declared in [`FLOORS`]
//! (commands on top, primitives at the bottom).
//!
//! `cargo test --test integration layers -- --nocapture` prints the summary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors of `src/`, top first: a file is on the floor of the longest
/// prefix naming it, and may only use files on its own floor or below.
pub const FLOORS: &[(&str, &[&str])] = &[
    ("the binary", &["src/main.rs"]),
    ("commands", &["src/cmd/", "src/exit.rs"]),
    ("pipeline", &["src/pipeline/"]),
    ("report", &["src/report/"]),
    ("the run's record", &["src/manifest.rs"]),
    ("stage 3: load", &["src/load/"]),
    ("stage 2: match", &["src/matching/"]),
    ("stage 1: extract", &["src/extract/"]),
    ("the external sort", &["src/sort/"]),
    ("run directory and files", &["src/rundir/"]),
    ("settings", &["src/settings.rs", "src/budget.rs"]),
    ("arguments and connections", &["src/cli.rs", "src/db.rs", "src/logging.rs", "src/mysql_db.rs", "src/progress.rs"]),
    (
        "primitives",
        &[
            "src/activity.rs",
            "src/bug.rs",
            "src/causes.rs",
            "src/checksummed.rs",
            "src/clean.rs",
            "src/damage.rs",
            "src/disk_full.rs",
            "src/env.rs",
            "src/failpoint.rs",
            "src/fixtures/",
            "src/key.rs",
            "src/metrics.rs",
            "src/model.rs",
            "src/pem.rs",
            "src/record/",
            "src/secret.rs",
            "src/stop.rs",
            "src/table.rs",
        ],
    ),
];

/// Floors, top first: each a name and the files and folders on it.
pub type Floors<'a> = &'a [(&'a str, &'a [&'a str])];

/// The import graph of one source tree.
pub struct Graph {
    /// Every file, relative to the crate root (`src/...`).
    pub files: BTreeSet<String>,
    /// `from -> to`, between files.
    pub edges: BTreeSet<(String, String)>,
}

/// Reads every `.rs` file under `root/src` (test modules left out).
pub fn read(root: &Path) -> Graph {
    let mut files = BTreeSet::new();
    collect(&root.join("src"), root, &mut files);
    let mut edges = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let tokens = without_tests(tokenize(&text));
        for target in references(file, &tokens, &files) {
            if &target != file && target != "src/lib.rs" {
                edges.insert((file.clone(), target));
            }
        }
    }
    Graph { files, edges }
}

fn collect(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            out.insert(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Punct(&'static str),
    Other,
}

/// Identifiers, `::`, braces, `,`, `;`, `#`, `[`, `]`, `(`, `)`; comments,
/// strings and characters are dropped.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && is_raw_string(&chars, i) {
            i = skip_raw_string(&chars, i);
            tokens.push(Token::Other);
        } else if c == 'b' && next == Some('"') {
            i = skip_string(&chars, i + 1);
            tokens.push(Token::Other);
        } else if c == '"' {
            i = skip_string(&chars, i);
            tokens.push(Token::Other);
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
            tokens.push(Token::Other);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == ':' && next == Some(':') {
            tokens.push(Token::Punct("::"));
            i += 2;
        } else {
            let punct = match c {
                '{' => Token::Punct("{"),
                '}' => Token::Punct("}"),
                ',' => Token::Punct(","),
                ';' => Token::Punct(";"),
                '#' => Token::Punct("#"),
                '[' => Token::Punct("["),
                ']' => Token::Punct("]"),
                '(' => Token::Punct("("),
                ')' => Token::Punct(")"),
                '*' => Token::Punct("*"),
                c if c.is_whitespace() => {
                    i += 1;
                    continue;
                }
                _ => Token::Other,
            };
            tokens.push(punct);
            i += 1;
        }
    }
    tokens
}

fn is_raw_string(chars: &[char], i: usize) -> bool {
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"') && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
}

fn skip_raw_string(chars: &[char], i: usize) -> usize {
    let mut j = i + 1;
    let mut hashes = 0;
    while chars[j] == '#' {
        hashes += 1;
        j += 1;
    }
    j += 1;
    loop {
        if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
            return j + 1 + hashes;
        }
        j += 1;
    }
}

fn skip_string(chars: &[char], i: usize) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 2,
            '"' => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// `'x'`, `'\n'`, `'\u{1F980}'` are characters; `'a` is a lifetime.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}

/// Drops every item marked `#[cfg(test)]` (a `mod tests;` line or a whole block).
fn without_tests(tokens: Vec<Token>) -> Vec<Token> {
    let cfg_test = [Token::Punct("#"), Token::Punct("["), ident("cfg"), Token::Punct("("), ident("test")];
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i..].starts_with(&cfg_test) {
            // Skip the attribute, then the item: to its `;` or its balanced block.
            while tokens[i] != Token::Punct("]") {
                i += 1;
            }
            i += 1;
            let mut depth = 0;
            while i < tokens.len() {
                match &tokens[i] {
                    Token::Punct("{") => depth += 1,
                    Token::Punct("}") => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    Token::Punct(";") if depth == 0 => {
                        i += 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

fn ident(s: &str) -> Token {
    Token::Ident(s.to_string())
}

/// The module path of a file: `src/sort/merge.rs` is `sort::merge`.
fn module_of(file: &str) -> Vec<String> {
    let inner = file.trim_start_matches("src/").trim_end_matches(".rs");
    let mut path: Vec<String> = inner.split('/').map(str::to_string).collect();
    if matches!(path.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        path.pop();
    }
    path
}

/// The file defining the longest prefix of `path` that is a module with a file.
fn file_of(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    for len in (0..=path.len()).rev() {
        let module = path[..len].join("/");
        if len == 0 {
            return Some("src/lib.rs".to_string());
        }
        for candidate in [format!("src/{module}.rs"), format!("src/{module}/mod.rs")] {
            if files.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

/// Every file that `file`'s tokens name.
fn references(file: &str, tokens: &[Token], files: &BTreeSet<String>) -> BTreeSet<String> {
    let is_binary = file == "src/main.rs";
    let file_module = module_of(file);
    // Child modules declared with `mod x;` (files), and inline `mod x { }` scopes.
    let mut children = BTreeSet::new();
    for window in tokens.windows(3) {
        if let [Token::Ident(m), Token::Ident(name), Token::Punct(";")] = window {
            if m == "mod" {
                children.insert(name.clone());
            }
        }
    }
    let mut found = BTreeSet::new();
    let mut scope: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let module: Vec<String> = file_module.iter().cloned().chain(scope.iter().map(|(m, _)| m.clone())).collect();
        match &tokens[i] {
            Token::Punct("{") => depth += 1,
            Token::Punct("}") => {
                depth = depth.saturating_sub(1);
                if scope.last().is_some_and(|(_, d)| *d == depth) {
                    scope.pop();
                }
            }
            Token::Ident(kw) if kw == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Punct("{"))) = (tokens.get(i + 1), tokens.get(i + 2)) {
                    scope.push((name.clone(), depth));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Token::Ident(kw) if kw == "use" => {
                let end = (i..tokens.len()).find(|j| tokens[*j] == Token::Punct(";")).unwrap_or(tokens.len());
                for path in expand_use(&tokens[i + 1..end]) {
                    if let Some(target) = resolve(&path, &module, &children, scope.is_empty(), is_binary, files) {
                        found.insert(target);
                    }
                }
                i = end;
                continue;
            }
            Token::Ident(first) if tokens.get(i + 1) == Some(&Token::Punct("::")) => {
                let preceded_by_path = i > 0 && tokens[i - 1] == Token::Punct("::");
                if !preceded_by_path {
                    let mut path = vec![first.clone()];
                    let mut j = i + 1;
                    while tokens.get(j) == Some(&Token::Punct("::")) {
                        match tokens.get(j + 1) {
                            Some(Token::Ident(segment)) => path.push(segment.clone()),
                            _ => break,
                        }
                        j += 2;
                    }
                    if let Some(target) = resolve(&path, &module, &children, scope.is_empty(), is_binary, files) {
                        found.insert(target);
                    }
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The paths a `use` tree names, brace groups expanded.
fn expand_use(tokens: &[Token]) -> Vec<Vec<String>> {
    fn tree(tokens: &[Token], prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                Token::Ident(s) if s == "as" => break,
                Token::Ident(s) if s == "self" && !path.is_empty() => {}
                Token::Ident(s) => path.push(s.clone()),
                Token::Punct("{") => {
                    let mut depth = 0;
                    let mut start = i + 1;
                    for j in i..tokens.len() {
                        match tokens[j] {
                            Token::Punct("{") => depth += 1,
                            Token::Punct("}") => {
                                depth -= 1;
                                if depth == 0 {
                                    tree(&tokens[start..j], &path, out);
                                    return;
                                }
                            }
                            Token::Punct(",") if depth == 1 => {
                                tree(&tokens[start..j], &path, out);
                                start = j + 1;
                            }
                            _ => {}
                        }
                    }
                    return;
                }
                _ => {}
            }
            i += 1;
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
    let mut out = Vec::new();
    // Skip visibility: `pub`, `pub(crate)`, `pub(super)`.
    let mut i = 0;
    if tokens.first() == Some(&ident("pub")) {
        i = 1;
        if tokens.get(1) == Some(&Token::Punct("(")) {
            i = tokens.iter().position(|t| *t == Token::Punct(")")).map_or(1, |p| p + 1);
        }
    }
    tree(&tokens[i..], &[], &mut out);
    out
}

/// The file a path names, if it names one of this crate's modules.
fn resolve(
    path: &[String],
    module: &[String],
    children: &BTreeSet<String>,
    at_file_scope: bool,
    is_binary: bool,
    files: &BTreeSet<String>,
) -> Option<String> {
    let mut absolute: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") if !is_binary => Vec::new(),
        Some("vendor_match") if is_binary => Vec::new(),
        Some("super") => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return file_of(&base, files);
        }
        Some("self") => module.to_vec(),
        Some(first) if at_file_scope && children.contains(first) => {
            let mut base = module.to_vec();
            base.extend(path.iter().cloned());
            return file_of(&base, files);
        }
        _ => return None,
    };
    absolute.extend(path[1..].iter().cloned());
    if absolute.is_empty() {
        return None;
    }
    file_of(&absolute, files)
}

/// The floor of a file (0 = top): the floor of the longest prefix naming it.
fn floor_of(file: &str, floors: Floors<'_>) -> Option<usize> {
    let members = floors.iter().enumerate().flat_map(|(floor, (_, members))| members.iter().map(move |m| (floor, *m)));
    members
        .filter(|(_, prefix)| file.starts_with(prefix))
        .max_by_key(|(_, prefix)| prefix.len())
        .map(|(floor, _)| floor)
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let nodes: Vec<&String> = graph.files.iter().collect();
    let index_of: BTreeMap<&String, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut adjacency = vec![Vec::new(); nodes.len()];
    for (from, to) in &graph.edges {
        if let (Some(a), Some(b)) = (index_of.get(from), index_of.get(to)) {
            adjacency[*a].push(*b);
        }
    }
    struct State {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<Vec<usize>>,
    }
    fn visit(v: usize, adjacency: &[Vec<usize>], s: &mut State) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &adjacency[v] {
            match s.index[w] {
                None => {
                    visit(w, adjacency, s);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(index) if s.on_stack[w] => s.low[v] = s.low[v].min(index),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.components.push(component);
        }
    }
    let n = nodes.len();
    let mut state = State {
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..n {
        if state.index[v].is_none() {
            visit(v, &adjacency, &mut state);
        }
    }
    let mut out: Vec<Vec<String>> = state
        .components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut files: Vec<String> = c.into_iter().map(|i| nodes[i].clone()).collect();
            files.sort();
            files
        })
        .collect();
    out.sort();
    out
}

/// What the graph looks like against `floors`: its summary and its faults.
pub fn summary(graph: &Graph, floors: Floors<'_>) -> (String, Vec<Vec<String>>, Vec<String>, Vec<String>) {
    let cycles = cycles(graph);
    let unplaced: Vec<String> =
        graph.files.iter().filter(|f| *f != "src/lib.rs" && floor_of(f, floors).is_none()).cloned().collect();
    let climbing: Vec<String> = graph
        .edges
        .iter()
        .filter(|(from, to)| matches!((floor_of(from, floors), floor_of(to, floors)), (Some(a), Some(b)) if a > b))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    let folders: BTreeSet<(String, String)> =
        graph.edges.iter().map(|(a, b)| (room(a), room(b))).filter(|(a, b)| a != b).collect();
    let text = format!(
        "files {}, floors {}, edges {} (between files and folders: {}), cycles {}, climbing edges {}",
        graph.files.len(),
        floors.len(),
        graph.edges.len(),
        folders.len(),
        cycles.len(),
        climbing.len()
    );
    (text, cycles, climbing, unplaced)
}

/// A file's folder under `src/` (`src/sort/`), or the file itself at the top.
fn room(file: &str) -> String {
    let inner = file.trim_start_matches("src/");
    match inner.split_once('/') {
        Some((folder, _)) => format!("src/{folder}/"),
        None => file.to_string(),
    }
}

#[test]
fn the_import_graph_of_src_has_no_cycle_and_no_edge_that_climbs() {
    let graph = read(Path::new(env!("CARGO_MANIFEST_DIR")));
    let (text, cycles, climbing, unplaced) = summary(&graph, FLOORS);
    println!("{text}");
    for cycle in &cycles {
        println!("cycle: {}", cycle.join(", "));
    }
    for edge in &climbing {
        println!("climbs: {edge}");
    }
    assert!(unplaced.is_empty(), "files on no floor (add them to FLOORS): {unplaced:?}");
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
    assert!(climbing.is_empty(), "edges that climb: {climbing:?}");
}

#[test]
fn the_reader_sees_use_trees_super_paths_and_inline_crate_paths() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path: PathBuf = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("src/lib.rs", "pub mod a; pub mod b; pub mod c;");
    write(
        "src/a/mod.rs",
        "mod x;\nuse x::X;\nuse crate::{b::{self, B}, c};\n#[cfg(test)]\nmod tests { use crate::c::Z; }",
    );
    write(
        "src/a/x.rs",
        "pub struct X; fn f() { super::super::c::g(); } // crate::b::nothing\nconst S: &str = \"crate::b\";",
    );
    write("src/b.rs", "pub struct B; fn f() { crate::a::x::X; }");
    write("src/c.rs", "pub fn g() {}");
    let graph = read(dir.path());
    let edges: Vec<String> = graph.edges.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
    assert_eq!(
        edges,
        [
            "src/a/mod.rs -> src/a/x.rs",
            "src/a/mod.rs -> src/b.rs",
            "src/a/mod.rs -> src/c.rs",
            "src/a/x.rs -> src/c.rs",
            "src/b.rs -> src/a/x.rs"
        ]
    );
    let floors: Floors<'_> = &[("top", &["src/b.rs"]), ("middle", &["src/a/"]), ("bottom", &["src/c.rs"])];
    let (_, cycles, climbing, unplaced) = summary(&graph, floors);
    assert!(cycles.is_empty() && unplaced.is_empty());
    assert_eq!(climbing, ["src/a/mod.rs -> src/b.rs"]);
}

//! Checks of the source tree's shape that anyone can run (`cargo test --test layout`), from the
//! environment-seam issue: the seam holds only while the stages stay layered, readable and apart
//! from the synthetic world.
//!
//! - `no_import_cycles_between_modules`: no import cycle among the modules of `src/` (a file is a
//!   module). A cycle means two stages can no longer be read, tested or replaced apart. A parent
//!   `mod.rs` re-exporting its children is no cycle; `main.rs` and `src/cli/` (the binary) are
//!   left out.
//! - `no_function_over_120_lines`: no `fn` whose body spans more than 120 lines, so that a step
//!   fits on a screen or two.
//! - `only_one_module_outside_synth_imports_synth`: outside `src/synth/`, only the adaptors in
//!   [`SYNTH_ADAPTORS`] name `synth::`; every other stage sees a synthetic world through the
//!   environment seam, never through synth's types.
//!
//! The files are read as text through a small lexer (comments dropped, literals blanked) instead
//! of a Rust parser, to keep the test std-only. Each file's `#[cfg(test)] mod tests` block, which
//! ends the file, is left out of every check.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The longest function allowed, in lines from `fn name` to its closing brace.
const MAX_FN_LINES: usize = 120;

/// Where synth lives; its own files name `synth::` freely.
const SYNTH_HOME: &str = "src/synth/";

/// Files (or folders, ending in `/`) outside [`SYNTH_HOME`] allowed to name `synth::`: the one
/// adaptor that sees a world's hidden model (`eval/world.rs`, the true model as an environment
/// and the references), and the fronts that run the `synth` stage itself (the CLI's commands and
/// the pipeline's `[synth]` step of `segue demo`).
const SYNTH_ADAPTORS: &[&str] = &["src/eval/world.rs", "src/pipeline.rs", "src/cli/"];

#[test]
fn no_import_cycles_between_modules() {
    let sources = read_sources();
    let modules: BTreeMap<Module, &Source> = sources
        .iter()
        .filter_map(|s| Some((module_of(&s.path)?, s)))
        .collect();
    let edges = import_edges(&modules);
    let nodes: Vec<Module> = modules.keys().cloned().collect();
    let mut report = String::new();
    for cycle in strongly_connected(&nodes, &edges) {
        if cycle.len() < 2 {
            continue;
        }
        let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
        writeln!(report, "cycle: {}", names.join(", ")).unwrap();
        for m in &cycle {
            let inside = edges
                .iter()
                .find(|((from, to), _)| from == m && cycle.contains(to));
            if let Some(((from, to), edge)) = inside {
                let (from, to) = (from.join("::"), to.join("::"));
                let Edge { file, line, path } = edge;
                writeln!(report, "  {from} -> {to}  ({file}:{line}: {path})").unwrap();
            }
        }
    }
    assert!(
        report.is_empty(),
        "import cycles among src/ modules (break one edge of each):\n{report}"
    );
}

#[test]
fn no_function_over_120_lines() {
    let long: Vec<String> = read_sources().iter().flat_map(long_functions).collect();
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines (split them):\n{}",
        long.join("\n")
    );
}

#[test]
fn only_one_module_outside_synth_imports_synth() {
    let mut found = Vec::new();
    for source in read_sources() {
        let allowed = source.path.starts_with(SYNTH_HOME)
            || SYNTH_ADAPTORS.iter().any(|a| source.path.starts_with(a));
        if allowed {
            continue;
        }
        let lines: BTreeSet<usize> = source
            .tokens
            .windows(2)
            .filter(|w| w[0].text == "synth" && w[1].text == "::")
            .map(|w| w[0].line)
            .collect();
        let text: Vec<&str> = source.text.lines().collect();
        for line in lines {
            found.push(format!("{}:{line}: {}", source.path, text[line - 1].trim()));
        }
    }
    assert!(
        found.is_empty(),
        "synth:: outside {SYNTH_HOME} and the adaptors {SYNTH_ADAPTORS:?} (go through the \
         environment seam):\n{}",
        found.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Reading the sources.

/// One file under `src/`.
struct Source {
    /// Relative to the crate root, with `/`: `src/a/b.rs`.
    path: String,
    text: String,
    /// The tokens before the file's `#[cfg(test)] mod tests` block.
    tokens: Vec<Token>,
}

/// A token: an identifier or keyword, `::`, one other punctuation character, or [`LITERAL`].
struct Token {
    text: String,
    line: usize,
}

/// Any string, char or number literal, whose contents no check looks at.
const LITERAL: &str = "<literal>";

/// The start of the unit tests that end a file.
const TEST_BLOCK: [&str; 9] = ["#", "[", "cfg", "(", "test", ")", "]", "mod", "tests"];

fn read_sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect_rs(&root.join("src"), &mut files);
    let mut sources: Vec<Source> = files
        .iter()
        .map(|file| {
            let text = fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            let relative = file
                .strip_prefix(root)
                .expect("a file under the crate root");
            Source {
                path: relative.to_string_lossy().replace('\\', "/"),
                tokens: without_tests(tokenize(&text)),
                text,
            }
        })
        .collect();
    sources.sort_by(|a, b| a.path.cmp(&b.path));
    sources
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn without_tests(mut tokens: Vec<Token>) -> Vec<Token> {
    let start = tokens
        .windows(TEST_BLOCK.len())
        .position(|w| w.iter().zip(TEST_BLOCK).all(|(t, s)| t.text == s));
    if let Some(start) = start {
        tokens.truncate(start);
    }
    tokens
}

fn tokenize(src: &str) -> Vec<Token> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
        tokens: Vec::new(),
    };
    while let Some(c) = lx.peek(0) {
        match c {
            '/' if lx.peek(1) == Some('/') => lx.skip_while(|c| c != '\n'),
            '/' if lx.peek(1) == Some('*') => lx.block_comment(),
            '"' => lx.string(),
            '\'' => lx.char_or_lifetime(),
            ':' if lx.peek(1) == Some(':') => {
                lx.push("::");
                lx.bump_n(2);
            }
            c if is_ident_start(c) => lx.word(),
            c if c.is_ascii_digit() => {
                lx.push(LITERAL);
                lx.skip_while(is_ident_char);
            }
            c if c.is_whitespace() => lx.bump(),
            c => {
                lx.push(&c.to_string());
                lx.bump();
            }
        }
    }
    lx.tokens
}

/// Every step goes through [`Lexer::bump`], which counts the lines.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    tokens: Vec<Token>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) {
        if self.peek(0) == Some('\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    fn bump_n(&mut self, n: usize) {
        (0..n).for_each(|_| self.bump());
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek(0).is_some_and(&keep) {
            self.bump();
        }
    }

    fn push(&mut self, text: &str) {
        let line = self.line;
        self.tokens.push(Token {
            text: text.to_string(),
            line,
        });
    }

    /// Block comments nest in Rust.
    fn block_comment(&mut self) {
        let mut depth = 0;
        while let Some(c) = self.peek(0) {
            match (c, self.peek(1)) {
                ('/', Some('*')) => {
                    depth += 1;
                    self.bump_n(2);
                }
                ('*', Some('/')) => {
                    depth -= 1;
                    self.bump_n(2);
                    if depth == 0 {
                        return;
                    }
                }
                _ => self.bump(),
            }
        }
    }

    /// A `"..."` string with escapes (a `b` or `c` prefix stays behind as an identifier).
    fn string(&mut self) {
        self.push(LITERAL);
        self.bump();
        while let Some(c) = self.peek(0) {
            self.bump();
            match c {
                '\\' => self.bump(),
                '"' => return,
                _ => {}
            }
        }
    }

    /// `'x'` and `'\n'` are literals; `'a` is a lifetime or a label, dropped.
    fn char_or_lifetime(&mut self) {
        if self.peek(1) == Some('\\') {
            self.push(LITERAL);
            self.bump_n(3); // the quote, the backslash and the escaped character
            self.skip_while(|c| c != '\'');
            self.bump();
        } else if self.peek(2) == Some('\'') {
            self.push(LITERAL);
            self.bump_n(3);
        } else {
            self.bump();
            self.skip_while(is_ident_char);
        }
    }

    /// An identifier or keyword; or the prefix of a raw string (`r#"..."#`, whose quotes and
    /// backslashes are plain characters) or of a raw identifier (`r#type`).
    fn word(&mut self) {
        let start = self.pos;
        self.skip_while(is_ident_char);
        let word: String = self.chars[start..self.pos].iter().collect();
        if matches!(word.as_str(), "r" | "br" | "cr") {
            let hashes = (0..).take_while(|&k| self.peek(k) == Some('#')).count();
            if self.peek(hashes) == Some('"') {
                return self.raw_string(hashes);
            }
            if word == "r" && hashes == 1 && self.peek(1).is_some_and(is_ident_start) {
                self.bump();
                return self.word();
            }
        }
        self.push(&word);
    }

    fn raw_string(&mut self, hashes: usize) {
        self.push(LITERAL);
        self.bump_n(hashes + 1);
        while let Some(c) = self.peek(0) {
            let closes = c == '"' && (1..=hashes).all(|k| self.peek(k) == Some('#'));
            self.bump();
            if closes {
                self.bump_n(hashes);
                return;
            }
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_ident(text: &str) -> bool {
    text.starts_with(is_ident_start)
}

fn text_at(tokens: &[Token], k: usize) -> Option<&str> {
    tokens.get(k).map(|t| t.text.as_str())
}

// ---------------------------------------------------------------------------------------------
// Long functions.

/// `file:line name (N lines)` for each `fn` of `source` longer than [`MAX_FN_LINES`].
fn long_functions(source: &Source) -> Vec<String> {
    let tokens = &source.tokens;
    let mut long = Vec::new();
    for k in 0..tokens.len().saturating_sub(1) {
        if tokens[k].text != "fn" || !is_ident(&tokens[k + 1].text) {
            continue; // `fn(u32) -> u32` is a type
        }
        let Some(close) = body_open(tokens, k).and_then(|open| matching_brace(tokens, open)) else {
            continue;
        };
        let lines = tokens[close].line - tokens[k].line + 1;
        if lines > MAX_FN_LINES {
            let (path, line, name) = (&source.path, tokens[k].line, &tokens[k + 1].text);
            long.push(format!("{path}:{line} {name} ({lines} lines)"));
        }
    }
    long
}

/// The `{` opening the body of the `fn` at `k`; None for a declaration (`fn f();`). Brackets are
/// counted because a signature may hold a `;` (`[f32; 4]`).
fn body_open(tokens: &[Token], k: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, token) in tokens.iter().enumerate().skip(k + 2) {
        match token.text.as_str() {
            "(" | "[" => depth += 1,
            ")" | "]" => depth = depth.saturating_sub(1),
            "{" if depth == 0 => return Some(j),
            ";" if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

fn matching_brace(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        match token.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The import graph.

/// A module's path from the crate root: `a::b` is `["a", "b"]`.
type Module = Vec<String>;

/// Where one module first names another.
struct Edge {
    file: String,
    line: usize,
    path: String,
}

/// A path rooted at `crate`, `super` or `self`, as written.
struct PathRef {
    segments: Vec<String>,
    line: usize,
    /// The inline modules (`mod x { .. }`) around it, which `super` and `self` count from.
    scope: Vec<String>,
}

/// Item kinds a parent module may re-export from a child.
const ITEM_KINDS: &[&str] = &[
    "struct", "enum", "trait", "type", "fn", "const", "static", "union",
];

/// What may stand between `pub` and an item's kind: `pub(crate) const unsafe fn`.
const QUALIFIERS: &[&str] = &[
    "async", "unsafe", "extern", "const", LITERAL, "(", ")", "crate", "super", "self", "in",
];

/// The module a library file defines: `src/a/b.rs` is `a::b`, `src/a/mod.rs` is `a`. None for
/// the crate root and the binary (`main.rs`, `src/cli/`), which the graph leaves out.
fn module_of(path: &str) -> Option<Module> {
    let stem = path.strip_prefix("src/")?.strip_suffix(".rs")?;
    let mut parts: Module = stem.split('/').map(String::from).collect();
    if parts == ["lib"] || parts == ["main"] || parts[0] == "cli" {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    Some(parts)
}

/// Every edge between two modules, with where it first appears.
fn import_edges(modules: &BTreeMap<Module, &Source>) -> BTreeMap<(Module, Module), Edge> {
    let mut edges = BTreeMap::new();
    for (from, source) in modules {
        for r in crate_paths(&source.tokens) {
            let here = [from.as_slice(), r.scope.as_slice()].concat();
            let target = absolute(&r.segments, &here).and_then(|p| defining_module(&p, modules));
            let Some(to) = target else { continue };
            // A parent re-exporting its children is how a stage shows its API, not a cycle.
            if to == *from || is_descendant(&to, from) {
                continue;
            }
            edges.entry((from.clone(), to)).or_insert_with(|| {
                let shown = match r.segments.split_last() {
                    Some((last, head)) if last == "self" && !head.is_empty() => head,
                    _ => &r.segments[..],
                };
                Edge {
                    file: source.path.clone(),
                    line: r.line,
                    path: shown.join("::"),
                }
            });
        }
    }
    edges
}

/// Every path rooted at `crate`, `super` or `self` in `tokens`; a use tree `a::{b::C, d}` gives
/// one path per leaf.
fn crate_paths(tokens: &[Token]) -> Vec<PathRef> {
    let mut paths = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new(); // name, brace depth outside it
    let mut depth = 0usize;
    let mut k = 0;
    while let Some(text) = text_at(tokens, k) {
        let after_colons = k > 0 && tokens[k - 1].text == "::";
        match text {
            "mod"
                if text_at(tokens, k + 1).is_some_and(is_ident)
                    && text_at(tokens, k + 2) == Some("{") =>
            {
                inline.push((tokens[k + 1].text.clone(), depth));
                depth += 1;
                k += 3;
                continue;
            }
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|&(_, d)| d == depth) {
                    inline.pop();
                }
            }
            "crate" | "super" | "self" if text_at(tokens, k + 1) == Some("::") && !after_colons => {
                let scope: Vec<String> = inline.iter().map(|(name, _)| name.clone()).collect();
                let mut leaves = Vec::new();
                k = use_tree(tokens, k, &[], &mut leaves);
                paths.extend(leaves.into_iter().map(|(segments, line)| PathRef {
                    segments,
                    line,
                    scope: scope.clone(),
                }));
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    paths
}

/// Reads the path or use tree at `k` under `prefix`, pushes `(segments, line)` for each leaf and
/// returns the index after it.
fn use_tree(
    tokens: &[Token],
    mut k: usize,
    prefix: &[String],
    leaves: &mut Vec<(Vec<String>, usize)>,
) -> usize {
    let mut path = prefix.to_vec();
    let mut line = tokens[k].line;
    while let Some(token) = tokens.get(k) {
        if token.text == "{" {
            k += 1;
            while text_at(tokens, k).is_some_and(|t| t != "}") {
                k = use_tree(tokens, k, &path, leaves);
                // Past an `as Alias` to the next item.
                while text_at(tokens, k).is_some_and(|t| t != "," && t != "}") {
                    k += 1;
                }
                if text_at(tokens, k) == Some(",") {
                    k += 1;
                }
            }
            return k + 1;
        }
        let glob = token.text == "*";
        if !glob && !is_ident(&token.text) {
            break;
        }
        if !glob {
            path.push(token.text.clone());
        }
        line = token.line;
        k += 1;
        if glob || text_at(tokens, k) != Some("::") {
            break;
        }
        k += 1;
    }
    if !path.is_empty() {
        leaves.push((path, line));
    }
    k
}

/// `segments` from the crate root, seen from module `here`; None when `super` climbs above it.
fn absolute(segments: &[String], here: &[String]) -> Option<Vec<String>> {
    let mut path = if segments.first()? == "crate" {
        Vec::new()
    } else {
        here.to_vec()
    };
    for segment in segments {
        match segment.as_str() {
            "crate" | "self" => {}
            "super" => {
                path.pop()?;
            }
            _ => path.push(segment.clone()),
        }
    }
    Some(path)
}

/// The module `path` names something in: its longest prefix that is a module; but when that
/// module does not declare the item itself (a `mod.rs` re-exporting it), the descendant that
/// does, so that `crate::simulator::Simulator` points at `simulator::memory`.
fn defining_module(path: &[String], modules: &BTreeMap<Module, &Source>) -> Option<Module> {
    let n = (1..=path.len())
        .rev()
        .find(|&n| modules.contains_key(&path[..n]))?;
    let (module, rest) = path.split_at(n);
    let Some(item) = rest.first() else {
        return Some(module.to_vec());
    };
    if declares(&modules[module].tokens, item) {
        return Some(module.to_vec());
    }
    let child = modules
        .iter()
        .find(|(m, s)| is_descendant(m, module) && declares(&s.tokens, item));
    Some(child.map_or_else(|| module.to_vec(), |(m, _)| m.clone()))
}

/// Whether `tokens` declare a public item `name` (`pub struct Name`, `pub(crate) fn name`).
fn declares(tokens: &[Token], name: &str) -> bool {
    tokens.windows(2).enumerate().any(|(i, w)| {
        ITEM_KINDS.contains(&w[0].text.as_str()) && w[1].text == name && {
            let mut before = tokens[..i].iter().rev().map(|t| t.text.as_str());
            before.find(|t| !QUALIFIERS.contains(t)) == Some("pub")
        }
    })
}

fn is_descendant(module: &[String], ancestor: &[String]) -> bool {
    module.len() > ancestor.len() && module.starts_with(ancestor)
}

/// Tarjan's strongly connected components, each sorted.
fn strongly_connected(
    nodes: &[Module],
    edges: &BTreeMap<(Module, Module), Edge>,
) -> Vec<Vec<Module>> {
    let id = |m: &Module| {
        nodes
            .binary_search(m)
            .expect("an edge between known modules")
    };
    let mut succ = vec![Vec::new(); nodes.len()];
    for (from, to) in edges.keys() {
        succ[id(from)].push(id(to));
    }
    let mut tarjan = Tarjan {
        succ,
        index: vec![None; nodes.len()],
        low: vec![0; nodes.len()],
        on_stack: vec![false; nodes.len()],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..nodes.len() {
        if tarjan.index[v].is_none() {
            tarjan.visit(v);
        }
    }
    let mut components: Vec<Vec<Module>> = tarjan
        .components
        .into_iter()
        .map(|c| {
            let mut c: Vec<Module> = c.into_iter().map(|v| nodes[v].clone()).collect();
            c.sort();
            c
        })
        .collect();
    components.sort();
    components
}

struct Tarjan {
    succ: Vec<Vec<usize>>,
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for w in self.succ[v].clone() {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            loop {
                let w = self.stack.pop().expect("v is on the stack");
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

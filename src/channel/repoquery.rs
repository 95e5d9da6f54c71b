//! `krait repoquery depends|whoneeds`: mamba's dependency queries over a pool of records, the
//! packages of an environment (conda-meta) or of channels (repodata).
//!
//! As in mamba, a spec stands for its highest matching version (ties go to the
//! higher-priority channel). `depends` follows each dependency to the highest version that
//! satisfies it (an unsatisfied one shows as `>>> NOT FOUND <<<`); `whoneeds` follows every
//! record with a dependency the package satisfies. The graph is built depth first, in
//! dependency order, which is also the order the tree prints in: a node reached again prints
//! as `already visited`.

use super::repodata::{self, RepodataError};
use super::search::{self, SearchError, SearchMode};
use rattler_conda_types::{
    Channel, MatchSpec, Matches, ParseMatchSpecOptions, RepoDataRecord, Subdir,
};
use rattler_repodata_gateway::Gateway;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Errors of a dependency query.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RepoqueryError {
    #[error("no package matches {spec:?} in {searched}")]
    #[diagnostic(help(
        "check the name with `krait list` (environments) or `krait search` (channels); query channels with -c CHANNEL or --remote"
    ))]
    NoMatch { spec: String, searched: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Spec(#[from] SearchError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repodata(#[from] RepodataError),
}

/// Which way the dependency edges are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// From a package to what it depends on.
    Depends,
    /// From a package to what depends on it.
    WhoNeeds,
}

impl QueryKind {
    fn as_str(self) -> &'static str {
        match self {
            QueryKind::Depends => "depends",
            QueryKind::WhoNeeds => "whoneeds",
        }
    }
}

/// A package of the graph, or a dependency nothing in the pool satisfies.
enum Node<'a> {
    Package(&'a RepoDataRecord),
    Missing(String),
}

impl Node<'_> {
    fn name(&self) -> &str {
        match self {
            Node::Package(record) => record.package_record.name.as_normalized(),
            Node::Missing(dep) => dep,
        }
    }

    /// mamba's `name[version]`.
    fn tree_label(&self) -> String {
        match self {
            Node::Package(record) => {
                let r = &record.package_record;
                format!("{}[{}]", r.name.as_normalized(), r.version)
            }
            Node::Missing(dep) => format!("{dep} >>> NOT FOUND <<<"),
        }
    }
}

/// The answer to one query: node 0 is the package the spec names.
pub struct DependencyGraph<'a> {
    kind: QueryKind,
    query: String,
    nodes: Vec<Node<'a>>,
    /// Each node's successors, in dependency order.
    edges: Vec<Vec<usize>>,
    /// The dependency (as its record spells it) through which each node was first reached.
    via: Vec<String>,
}

/// The records of `channels` (in `subdir` and noarch) a query over `spec` needs: the spec's
/// packages and everything they may depend on for `depends`, every record for `whoneeds`.
pub async fn channel_records(
    gateway: &Gateway,
    channels: &[Channel],
    subdir: Subdir,
    kind: QueryKind,
    spec: &str,
) -> Result<Vec<RepoDataRecord>, RepoqueryError> {
    let spec = search::parse_query(spec, SearchMode::default())?;
    let (specs, recursive) = match kind {
        QueryKind::Depends => (vec![spec], true),
        QueryKind::WhoNeeds => (
            vec![search::parse_query("*", SearchMode::default())?],
            false,
        ),
    };
    Ok(repodata::query(gateway, channels, subdir, specs, recursive).await?)
}

/// Answers `kind` for `spec` over `pool`; `transitive` follows edges past the first level.
/// `searched` names the pool in the error when nothing matches.
pub fn query<'a>(
    kind: QueryKind,
    pool: &'a [RepoDataRecord],
    spec: &str,
    transitive: bool,
    searched: &str,
) -> Result<DependencyGraph<'a>, RepoqueryError> {
    let parsed = search::parse_query(spec, SearchMode::default())?;
    let matching: Vec<usize> = (0..pool.len())
        .filter(|&i| parsed.matches(&pool[i]))
        .collect();
    let root = best(pool, matching.iter().copied()).ok_or_else(|| RepoqueryError::NoMatch {
        spec: spec.to_string(),
        searched: searched.to_string(),
    })?;
    let mut graph = DependencyGraph {
        kind,
        query: spec.to_string(),
        nodes: vec![Node::Package(&pool[root])],
        edges: vec![Vec::new()],
        via: vec![String::new()],
    };
    let mut walk = Walk {
        pool,
        transitive,
        visited: HashMap::from([(root, 0)]),
        missing: HashMap::new(),
    };
    match kind {
        QueryKind::Depends => walk.depends(&mut graph, &index_by_name(pool), 0, root),
        // The first level is what needs any record the spec matches, as mamba asks it.
        QueryKind::WhoNeeds => walk.whoneeds(&mut graph, &reverse_index(pool), 0, &matching),
    }
    Ok(graph)
}

/// The highest version (then build number) of `candidates`; the first wins a tie.
fn best(pool: &[RepoDataRecord], candidates: impl Iterator<Item = usize>) -> Option<usize> {
    candidates.fold(None, |best: Option<usize>, i| match best {
        Some(b) => {
            let (r, br) = (&pool[i].package_record, &pool[b].package_record);
            let higher = (&r.version, r.build_number) > (&br.version, br.build_number);
            Some(if higher { i } else { b })
        }
        None => Some(i),
    })
}

fn parse_dependency(dep: &str) -> Option<MatchSpec> {
    MatchSpec::from_str(dep, ParseMatchSpecOptions::lenient()).ok()
}

fn index_by_name(pool: &[RepoDataRecord]) -> HashMap<&str, Vec<usize>> {
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, record) in pool.iter().enumerate() {
        by_name
            .entry(record.package_record.name.as_normalized())
            .or_default()
            .push(i);
    }
    by_name
}

/// For each package name, the records depending on it: (record, its dependency, parsed).
type ReverseIndex = HashMap<String, Vec<(usize, String, MatchSpec)>>;

fn reverse_index(pool: &[RepoDataRecord]) -> ReverseIndex {
    let mut index = ReverseIndex::new();
    for (i, record) in pool.iter().enumerate() {
        for dep in &record.package_record.depends {
            let Some(spec) = parse_dependency(dep) else {
                continue;
            };
            if let Some(name) = spec.name.as_exact() {
                let name = name.as_normalized().to_string();
                index.entry(name).or_default().push((i, dep.clone(), spec));
            }
        }
    }
    index
}

/// The records with a dependency one of `targets` satisfies, each once, by name and version.
fn needing(
    pool: &[RepoDataRecord],
    dependents: &ReverseIndex,
    targets: &[usize],
) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for &target in targets {
        let name = pool[target].package_record.name.as_normalized();
        for (record, dep, spec) in dependents.get(name).into_iter().flatten() {
            if *record != target
                && spec.matches(&pool[target])
                && !found.iter().any(|(r, _)| r == record)
            {
                found.push((*record, dep.clone()));
            }
        }
    }
    found.sort_by(|(a, _), (b, _)| {
        let (a, b) = (&pool[*a].package_record, &pool[*b].package_record);
        (a.name.as_normalized(), &a.version).cmp(&(b.name.as_normalized(), &b.version))
    });
    found
}

/// The state of a walk over the pool, depth first.
struct Walk<'a> {
    pool: &'a [RepoDataRecord],
    transitive: bool,
    /// Pool index to graph node.
    visited: HashMap<usize, usize>,
    /// Unsatisfied dependency to its graph node.
    missing: HashMap<String, usize>,
}

impl<'a> Walk<'a> {
    /// Adds the dependencies of `record` (graph node `node`).
    fn depends(
        &mut self,
        graph: &mut DependencyGraph<'a>,
        by_name: &HashMap<&str, Vec<usize>>,
        node: usize,
        record: usize,
    ) {
        for dep in &self.pool[record].package_record.depends {
            let provider = parse_dependency(dep).and_then(|spec| {
                let candidates = by_name.get(spec.name.as_exact()?.as_normalized())?;
                let satisfying = candidates.iter().copied();
                best(
                    self.pool,
                    satisfying.filter(|&i| spec.matches(&self.pool[i])),
                )
            });
            match provider {
                Some(provider) => {
                    if let Some(added) = self.reach(graph, node, provider, dep) {
                        self.depends(graph, by_name, added, provider);
                    }
                }
                None => match self.missing.get(dep) {
                    Some(&seen) => graph.edges[node].push(seen),
                    None => {
                        let added = graph.add(node, Node::Missing(dep.clone()), dep.clone());
                        self.missing.insert(dep.clone(), added);
                    }
                },
            }
        }
    }

    /// Adds the records that need one of `targets` (graph node `node`).
    fn whoneeds(
        &mut self,
        graph: &mut DependencyGraph<'a>,
        dependents: &ReverseIndex,
        node: usize,
        targets: &[usize],
    ) {
        for (record, dep) in needing(self.pool, dependents, targets) {
            if let Some(added) = self.reach(graph, node, record, &dep) {
                self.whoneeds(graph, dependents, added, &[record]);
            }
        }
    }

    /// Links `node` to pool record `record`: the new graph node when it is reached for the
    /// first time and the walk goes on past it, else None.
    fn reach(
        &mut self,
        graph: &mut DependencyGraph<'a>,
        node: usize,
        record: usize,
        via: &str,
    ) -> Option<usize> {
        if let Some(&seen) = self.visited.get(&record) {
            graph.edges[node].push(seen);
            return None;
        }
        let added = graph.add(node, Node::Package(&self.pool[record]), via.to_string());
        self.visited.insert(record, added);
        self.transitive.then_some(added)
    }
}

impl<'a> DependencyGraph<'a> {
    fn add(&mut self, parent: usize, node: Node<'a>, via: String) -> usize {
        self.nodes.push(node);
        self.edges.push(Vec::new());
        self.via.push(via);
        let id = self.nodes.len() - 1;
        self.edges[parent].push(id);
        id
    }

    /// The rows of the table and of `--json`: every package node sorted by name then version,
    /// without the queried package for `whoneeds` (it lists what needs it, as mamba does).
    fn listed(&self) -> Vec<usize> {
        let skip = usize::from(self.kind == QueryKind::WhoNeeds);
        let mut rows: Vec<usize> = (skip..self.nodes.len()).collect();
        rows.sort_by(|&a, &b| {
            let version = |n: usize| match &self.nodes[n] {
                Node::Package(r) => Some(r.package_record.version.clone()),
                Node::Missing(_) => None,
            };
            (self.nodes[a].name(), version(a)).cmp(&(self.nodes[b].name(), version(b)))
        });
        rows
    }

    /// mamba's table: Name, Version, Build, Channel (`whoneeds` adds the dependency that
    /// needs the package, and the subdir).
    pub fn table(&self) -> String {
        let whoneeds = self.kind == QueryKind::WhoNeeds;
        let headers: &[&str] = if whoneeds {
            &["Name", "Version", "Build", "Depends", "Channel", "Subdir"]
        } else {
            &["Name", "Version", "Build", "Channel"]
        };
        let listed = self.listed();
        if listed.is_empty() {
            return format!("No entries matching \"{}\" found\n", self.query);
        }
        let rows: Vec<Vec<String>> = listed
            .into_iter()
            .map(|n| {
                let [name, version, build, channel, subdir] = match &self.nodes[n] {
                    Node::Package(record) => {
                        let r = &record.package_record;
                        [
                            r.name.as_normalized().to_string(),
                            r.version.to_string(),
                            r.build.to_string(),
                            search::channel_name(record),
                            r.subdir.clone(),
                        ]
                    }
                    Node::Missing(_) => {
                        let mut cells: [String; 5] = Default::default();
                        cells[0] = self.nodes[n].tree_label();
                        cells
                    }
                };
                if whoneeds {
                    vec![name, version, build, self.via[n].clone(), channel, subdir]
                } else {
                    vec![name, version, build, channel]
                }
            })
            .collect();
        aligned_table(headers, &rows)
    }

    /// mamba's `--tree`: `name[version]` lines under box-drawing branches.
    pub fn tree(&self) -> String {
        let mut out = format!("{}\n", self.nodes[0].tree_label());
        let mut printed = vec![false; self.nodes.len()];
        printed[0] = true;
        self.print_children(0, "  ", &mut printed, &mut out);
        out
    }

    fn print_children(&self, node: usize, indent: &str, printed: &mut [bool], out: &mut String) {
        let children = &self.edges[node];
        for (i, &child) in children.iter().enumerate() {
            let last = i + 1 == children.len();
            let branch = if last { "└─ " } else { "├─ " };
            if std::mem::replace(&mut printed[child], true) {
                let _ = writeln!(
                    out,
                    "{indent}{branch}{} already visited",
                    self.nodes[child].name()
                );
                continue;
            }
            let _ = writeln!(out, "{indent}{branch}{}", self.nodes[child].tree_label());
            let deeper = format!("{indent}{}", if last { "   " } else { "│  " });
            self.print_children(child, &deeper, printed, out);
        }
    }

    /// mamba's `--json`: the query, and the listed packages with the queried one as root.
    pub fn to_json(&self) -> Value {
        let pkgs: Vec<Value> = self
            .listed()
            .into_iter()
            .filter_map(|n| match &self.nodes[n] {
                Node::Package(record) => Some(search::record_json(record)),
                Node::Missing(_) => None,
            })
            .collect();
        let root = match &self.nodes[0] {
            Node::Package(record) => search::record_json(record),
            Node::Missing(dep) => json!(dep),
        };
        let msg = if pkgs.is_empty() {
            format!("No entries matching \"{}\" found", self.query)
        } else {
            String::new()
        };
        json!({
            "query": {"query": self.query, "type": self.kind.as_str()},
            "result": {"msg": msg, "status": "OK", "pkgs": pkgs, "graph_roots": [root]},
        })
    }
}

/// Left-aligned columns under a rule, as mamba's table printer lays them out.
fn aligned_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .chain([headers[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!(" {}", text.join("  ")).trim_end().to_string() + "\n"
    };
    let mut out = line(&mut headers.iter().copied());
    let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1) + 1;
    out.push_str(&"─".repeat(total));
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

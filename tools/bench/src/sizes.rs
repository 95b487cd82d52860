//! Package size: the zips `cargo lambda build --output-format zip` makes, the binaries in them,
//! and what the biggest binary is made of (by ELF section: its symbols are stripped).

use std::path::Path;
use std::process::Command;

/// One function's package.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub zip_bytes: Option<u64>,
    pub binary_bytes: Option<u64>,
}

/// One ELF section.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct SizeReport {
    pub packages: Vec<Package>,
    /// `(binary, its largest sections)`.
    pub sections: Vec<(String, Vec<Section>)>,
    /// `rustup target list --installed`.
    pub installed_targets: Vec<String>,
    /// The architecture the zips were built for, e.g. `x86_64`.
    pub built_for: String,
}

impl SizeReport {
    pub fn has_target(&self, triple: &str) -> bool {
        self.installed_targets.iter().any(|t| t == triple)
    }
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Sizes of `target/lambda/<name>/bootstrap.zip` and of the binary `bin_dir/<name>`.
pub fn measure(lambda_dir: &Path, bin_dir: &Path, names: &[&str], built_for: &str) -> SizeReport {
    let packages: Vec<Package> = names
        .iter()
        .map(|name| Package {
            name: (*name).to_owned(),
            zip_bytes: file_size(&lambda_dir.join(name).join("bootstrap.zip")),
            binary_bytes: file_size(&bin_dir.join(name)),
        })
        .collect();
    let largest = packages
        .iter()
        .filter(|p| p.name != "hello-lambda")
        .max_by_key(|p| p.binary_bytes.unwrap_or(0))
        .map(|p| p.name.clone());
    let sections = largest
        .into_iter()
        .chain(std::iter::once("hello-lambda".to_owned()))
        .filter_map(|name| {
            let sections = elf_sections(&bin_dir.join(&name))?;
            Some((name, sections))
        })
        .collect();
    SizeReport {
        packages,
        sections,
        installed_targets: installed_targets(),
        built_for: built_for.to_owned(),
    }
}

/// `size -A`: the allocated sections, largest first.
fn elf_sections(binary: &Path) -> Option<Vec<Section>> {
    let out = Command::new("size").arg("-A").arg(binary).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut sections: Vec<Section> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            let bytes = fields.next()?.parse().ok()?;
            let address: u64 = fields.next()?.parse().ok()?;
            // Address 0: not loaded (comments, notes).
            (name.starts_with('.') && address != 0).then(|| Section {
                name: name.to_owned(),
                bytes,
            })
        })
        .collect();
    sections.sort_by_key(|s| std::cmp::Reverse(s.bytes));
    Some(sections)
}

fn installed_targets() -> Vec<String> {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

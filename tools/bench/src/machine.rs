//! The machine and versions a run happened on.

use std::process::Command;

#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    pub cargo_lambda: String,
    pub ministack: String,
    pub anvil: String,
    pub commit: String,
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Reads `/proc`, asks the tools their versions, and names the commit (`+ changes` when the
/// work tree differs from it).
pub fn describe(root: &std::path::Path, tools: &std::path::Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let commit = first_line(
        "git",
        &[
            "-C",
            &root.to_string_lossy(),
            "rev-parse",
            "--short=12",
            "HEAD",
        ],
    );
    let dirty = Command::new("git")
        .args(["-C", &root.to_string_lossy(), "status", "--porcelain"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let ministack = std::fs::read_dir(tools.join("ministack"))
        .ok()
        .and_then(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find_map(|n| n.strip_prefix(".installed-").map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let anvil_bin = tools.join("anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    Machine {
        cpu_model,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        memory_gib,
        kernel: first_line("uname", &["-r"]),
        rustc: first_line("rustc", &["-V"]),
        cargo_lambda: first_line(
            &tools
                .join("cargo-lambda/bin/cargo-lambda")
                .to_string_lossy(),
            &["lambda", "--version"],
        ),
        ministack,
        anvil: first_line(&anvil_bin.to_string_lossy(), &["--version"]),
        commit: if dirty {
            format!("{commit} + uncommitted changes")
        } else {
            commit
        },
    }
}

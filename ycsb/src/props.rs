//! YCSB property files (`java.util.Properties` syntax) and `-p name=value` overrides.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// Properties this harness understands. Anything else is reported on stderr (never silently
/// ignored) — see [`Props::report_unknown`].
pub const KNOWN: &[&str] = &[
    // YCSB Client
    "workload",
    "db",
    "threadcount",
    "operationcount",
    "recordcount",
    "exporter",
    "exportfile",
    "measurementtype",
    "status.interval",
    "maxexecutiontime",
    "hdrhistogram.percentiles",
    // CoreWorkload
    "table",
    "fieldcount",
    "fieldlength",
    "minfieldlength",
    "fieldlengthdistribution",
    "fieldnameprefix",
    "readallfields",
    "writeallfields",
    "readproportion",
    "updateproportion",
    "insertproportion",
    "scanproportion",
    "readmodifywriteproportion",
    "requestdistribution",
    "insertorder",
    "insertstart",
    "insertcount",
    "maxscanlength",
    "minscanlength",
    "scanlengthdistribution",
    "zeropadding",
    "keyprefix",
    "hotspotdatafraction",
    "hotspotopnfraction",
    "dataintegrity",
    // this harness
    "dir",
    "durability",
    "loaddurability",
    "syncintervalms",
    "verify",
    "verifyfraction",
    "seed",
    "lmdb.mapsize",
    "floor.filesize",
    "kind",
    "inject",
    "daxkv.cleaning",
    "daxkv.space_amplification",
];

/// Properties YCSB defines that this harness accepts but does not implement; a warning says so.
pub const ACCEPTED_UNIMPLEMENTED: &[&str] = &[
    "target",
    "fieldlengthhistogram",
    "core_workload_insertion_retry_limit",
    "core_workload_insertion_retry_interval",
    "zipfian.constant",
    "measurement.interval",
    "measurement.histogram.verbose",
];

#[derive(Clone, Debug, Default)]
pub struct Props {
    map: BTreeMap<String, String>,
}

impl Props {
    pub fn new() -> Self {
        Props::default()
    }

    /// Parses a `.properties` file: `key=value`, `key: value` or `key value`; `#`/`!` comments;
    /// trailing-backslash line continuations; `\` escapes for `:=# ` and `\t\n\r`.
    pub fn load_str(&mut self, text: &str) {
        let mut logical = String::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let trimmed = line.trim_start();
            if logical.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!')) {
                continue;
            }
            // A line continues when it ends with an odd number of backslashes.
            let trailing = trimmed.chars().rev().take_while(|&c| c == '\\').count();
            if trailing % 2 == 1 {
                logical.push_str(&trimmed[..trimmed.len() - 1]);
                continue;
            }
            logical.push_str(trimmed);
            let (k, v) = split_kv(&logical);
            self.map.insert(k, v);
            logical.clear();
            let _ = &mut lines;
        }
        if !logical.is_empty() {
            let (k, v) = split_kv(&logical);
            self.map.insert(k, v);
        }
    }

    pub fn load_file(&mut self, path: &str) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read workload file {path}: {e}"))?;
        self.load_str(&text);
        Ok(())
    }

    pub fn set(&mut self, k: &str, v: &str) {
        self.map.insert(k.to_string(), v.to_string());
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(|s| s.as_str())
    }

    pub fn str_or(&self, k: &str, default: &str) -> String {
        self.get(k).unwrap_or(default).to_string()
    }

    pub fn parse_or<T: FromStr>(&self, k: &str, default: T) -> Result<T, String>
    where
        T::Err: Display,
    {
        match self.get(k) {
            None => Ok(default),
            Some(s) => s.trim().parse::<T>().map_err(|e| format!("property {k}={s:?}: {e}")),
        }
    }

    pub fn bool_or(&self, k: &str, default: bool) -> Result<bool, String> {
        match self.get(k).map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(s) if s == "true" => Ok(true),
            Some(s) if s == "false" => Ok(false),
            Some(s) => Err(format!("property {k}={s:?}: expected true or false")),
        }
    }

    /// Warns on stderr about every property that is neither known nor an engine option
    /// (`<engine>.*` is not accepted either: there are none besides `lmdb.mapsize`,
    /// `daxkv.cleaning` and `daxkv.space_amplification`).
    pub fn report_unknown(&self) -> usize {
        let mut n = 0;
        for k in self.map.keys() {
            if KNOWN.contains(&k.as_str()) {
                continue;
            }
            if ACCEPTED_UNIMPLEMENTED.contains(&k.as_str()) {
                eprintln!("WARNING: property {k} is a YCSB property this harness does not implement; ignored");
            } else {
                eprintln!("WARNING: unknown property {k}={:?}; ignored", self.map[k]);
            }
            n += 1;
        }
        n
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.map.iter()
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn split_kv(line: &str) -> (String, String) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = unescape(&line[..i]);
    let mut rest = line[i..].trim_start_matches([' ', '\t']);
    if rest.starts_with('=') || rest.starts_with(':') {
        rest = rest[1..].trim_start_matches([' ', '\t']);
    }
    (key, unescape(rest.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_properties() {
        let mut p = Props::new();
        p.load_str("# c\n! c\nrecordcount=1000\nreadproportion : 0.5\nkeyprefix user\nlong=a\\\n  b\n");
        assert_eq!(p.get("recordcount"), Some("1000"));
        assert_eq!(p.get("readproportion"), Some("0.5"));
        assert_eq!(p.get("keyprefix"), Some("user"));
        assert_eq!(p.get("long"), Some("ab"));
    }
}

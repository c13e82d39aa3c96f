//! The benchmark's TOML file: a zoo (its own file, shared with `mown zoo` and `mown eval-method`),
//! the methods, alpha, and settings shared by the methods that take them.
//!
//! ```toml
//! title = "Fashion-MNIST, 2-core zoo"
//! zoo = "zoo-fmnist-cpu.toml"          # relative to this file
//! methods = ["all"]                     # or ["ipguard", "sac-m", "extfeat[style=patch]"]
//! skip = ["dataset-inference"]          # entries left out of "all"
//! alpha = 0.05
//! [settings]                            # KEY = VALUE for every method that has KEY
//! n = "100"
//! [uap]                                 # the UAP encoder's reference models (never zoo members)
//! piracy = ["ftal(1,lr=0.005)"]
//! homologous = ["train(arc-c,fmnist,seed=41,epochs=4,part=2/4)"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use mown_adversary::zoo::Zoo;
use mown_methods::registry;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    title: Option<String>,
    zoo: PathBuf,
    #[serde(default = "all_methods")]
    methods: Vec<String>,
    #[serde(default)]
    skip: Vec<String>,
    alpha: Option<f64>,
    #[serde(default)]
    settings: BTreeMap<String, toml::Value>,
    #[serde(default)]
    uap: UapReferences,
}

fn all_methods() -> Vec<String> {
    vec!["all".into()]
}

/// UAP's encoder references (seed 003): recipes applied to the victim (piracy) and train(...)
/// chains (homologous).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UapReferences {
    #[serde(default)]
    pub piracy: Vec<String>,
    #[serde(default)]
    pub homologous: Vec<String>,
}

/// A loaded benchmark config.
pub struct BenchConfig {
    pub path: PathBuf,
    pub text: String,
    /// SHA-256 of the config text and the zoo file's text: shard files must agree on it.
    pub fingerprint: String,
    pub title: String,
    pub zoo: Zoo,
    /// Method specs, "all" expanded to every registry entry (less `skip`).
    pub methods: Vec<String>,
    pub alpha: f64,
    /// Shared settings, applied to each method that has the key.
    pub settings: Vec<(String, String)>,
    pub uap: UapReferences,
}

impl BenchConfig {
    pub fn load(path: &Path) -> anyhow::Result<BenchConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// A config made of its parts (`mown eval-method`'s flags): written as TOML and parsed by the
    /// same code as a file, so it is checked alike and has a fingerprint. `zoo` is made absolute.
    pub fn from_parts(
        title: &str,
        zoo: &Path,
        methods: &[String],
        alpha: f64,
        settings: &[(String, String)],
        uap: &UapReferences,
    ) -> anyhow::Result<BenchConfig> {
        let zoo_abs = std::path::absolute(zoo).with_context(|| format!("the zoo path {}", zoo.display()))?;
        let strings = |v: &[String]| toml::Value::Array(v.iter().cloned().map(toml::Value::from).collect());
        let mut file = toml::Table::new();
        file.insert("title".into(), title.into());
        file.insert("zoo".into(), zoo_abs.display().to_string().into());
        file.insert("methods".into(), strings(methods));
        file.insert("alpha".into(), alpha.into());
        file.insert(
            "settings".into(),
            settings.iter().map(|(k, v)| (k.clone(), v.as_str().into())).collect::<toml::Table>().into(),
        );
        let mut refs = toml::Table::new();
        refs.insert("piracy".into(), strings(&uap.piracy));
        refs.insert("homologous".into(), strings(&uap.homologous));
        file.insert("uap".into(), refs.into());
        let text = toml::to_string(&file)?;
        Self::parse(&zoo_abs.with_extension("eval-method.toml"), &text)
            .context("in mown eval-method's flags (written as a bench config)")
    }

    /// Parses `text` as if read from `path` (relative zoo paths resolve against its folder).
    pub fn parse(path: &Path, text: &str) -> anyhow::Result<BenchConfig> {
        let file: ConfigFile =
            toml::from_str(text).with_context(|| format!("{} is not a bench config", path.display()))?;
        let zoo_path = if file.zoo.is_absolute() {
            file.zoo.clone()
        } else {
            path.parent().unwrap_or(Path::new(".")).join(&file.zoo)
        };
        let zoo = Zoo::load(&zoo_path).with_context(|| format!("the zoo of {}", path.display()))?;
        let zoo_text = std::fs::read_to_string(&zoo_path)?;
        let skip: Vec<String> = file.skip.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        for s in &skip {
            registry::entry(s).with_context(|| format!("skip = [\"{s}\"] in {}", path.display()))?;
        }
        let mut methods = Vec::new();
        for spec in &file.methods {
            if spec.trim().eq_ignore_ascii_case("all") {
                methods
                    .extend(registry::names().into_iter().filter(|n| !skip.iter().any(|s| s == n)).map(String::from));
            } else {
                for one in registry::split_specs(spec)? {
                    let (name, _) =
                        registry::parse_spec(&one).with_context(|| format!("method '{one}' in {}", path.display()))?;
                    registry::entry(&name).with_context(|| format!("method '{one}' in {}", path.display()))?;
                    methods.push(one);
                }
            }
        }
        if methods.is_empty() {
            anyhow::bail!("{} names no method (methods = [\"all\"] runs every one)", path.display());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = methods.iter().find(|m| !seen.insert(m.as_str())) {
            anyhow::bail!("method '{dup}' is listed twice in {}", path.display());
        }
        let alpha = file.alpha.unwrap_or(mown_eval::DEFAULT_ALPHA);
        if !(alpha > 0.0 && alpha < 1.0) {
            anyhow::bail!("alpha must be in (0, 1), got {alpha} in {}", path.display());
        }
        let settings = file
            .settings
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.replace('-', "_"), value)
            })
            .collect();
        let fingerprint = hex::encode(Sha256::digest(format!("{text}\u{0}{zoo_text}").as_bytes()));
        let title = file.title.unwrap_or_else(|| format!("mown bench methods: {}", path.display()));
        Ok(BenchConfig {
            path: path.to_path_buf(),
            text: text.to_string(),
            fingerprint,
            title,
            zoo,
            methods,
            alpha,
            settings,
            uap: file.uap,
        })
    }
}

/// Which part of the work one process does: `index` of `count` (`--shard 2/8` is index 1 of 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether item `i` (a method for evidence, a zoo member for scores) is this shard's.
    pub fn owns(self, i: usize) -> bool {
        i % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;
    /// `I/N` with 1 <= I <= N, as Slurm's and Kubernetes' indices are turned into it in the docs.
    fn from_str(s: &str) -> anyhow::Result<Shard> {
        let (i, n) = s.split_once('/').with_context(|| format!("shard '{s}' is not I/N (e.g. 1/4)"))?;
        let (i, n): (usize, usize) = (
            i.trim().parse().with_context(|| format!("shard '{s}': '{i}' is not a number"))?,
            n.trim().parse().with_context(|| format!("shard '{s}': '{n}' is not a number"))?,
        );
        if n == 0 || i == 0 || i > n {
            anyhow::bail!("shard '{s}': I/N needs 1 <= I <= N");
        }
        Ok(Shard { index: i - 1, count: n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bench: &str) -> anyhow::Result<BenchConfig> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("zoo.toml"), "victim = \"train(mlp,digits,seed=1,epochs=1)\"\n")?;
        BenchConfig::parse(&dir.path().join("bench.toml"), bench)
    }

    #[test]
    fn all_expands_to_the_registry_less_skip() {
        let cfg = parse("zoo = \"zoo.toml\"\nskip = [\"uap\", \"dataset-inference\"]\n").unwrap();
        let names = registry::names();
        assert_eq!(cfg.methods.len(), names.len() - 2);
        assert!(!cfg.methods.iter().any(|m| m == "uap" || m == "dataset-inference"));
        assert_eq!(cfg.alpha, mown_eval::DEFAULT_ALPHA);
    }

    #[test]
    fn bad_configs_are_refused_by_name() {
        let err = |text: &str| format!("{:#}", parse(text).err().expect("refused"));
        assert!(err("zoo = \"zoo.toml\"\nmethods = [\"ipguard\", \"ipguard\"]\n").contains("listed twice"));
        assert!(err("zoo = \"zoo.toml\"\nmethods = [\"nosuch\"]\n").contains("unknown method"));
        assert!(err("zoo = \"zoo.toml\"\nalpha = 1.5\n").contains("alpha must be in (0, 1)"));
        assert!(err("zoo = \"missing.toml\"\n").contains("the zoo of"));
        assert!(err("zoo = \"zoo.toml\"\nmethod = [\"ipguard\"]\n").contains("unknown field"));
        assert!(err("zoo = \"zoo.toml\"\nmethods = []\n").contains("names no method"));
    }

    #[test]
    fn shards_parse_one_based_and_split_the_work() {
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!(s, Shard { index: 1, count: 3 });
        assert_eq!(s.to_string(), "2/3");
        assert!((0..9).filter(|&i| s.owns(i)).eq([1, 4, 7]));
        for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
